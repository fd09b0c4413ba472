//! Arc: neural networks declared in YAML, every component a plugin.
//!
//! This facade re-exports [`arc_core`] and links the plugin crates that the
//! enabled Cargo features select. rustc links only crates that some code
//! references, so each plugin crate has an anchor below; a user's own plugin
//! crate is linked with one line, [`link_plugins!`].
//!
//! The `arc` command line is [`cli::main`]: a binary of your own that links
//! your plugin crates and calls it is a complete `arc` with your plugins
//! (`examples/my_arc.rs`):
//!
//! ```no_run
//! arc::link_plugins!(arc_core); // your plugin crates here
//!
//! fn main() -> std::process::ExitCode {
//!     arc::cli::main()
//! }
//! ```
//!
//! ```
//! let pm = arc::get_plugin_manager();
//! // Every linked plugin is registered, in name order, with no code.
//! let names: Vec<_> = pm.list_plugins().iter().map(|p| p.name.to_string()).collect();
//! let mut sorted = names.clone();
//! sorted.sort();
//! assert_eq!(names, sorted);
//! ```

// Lets the CLI's `arc::...` paths resolve inside this crate.
extern crate self as arc;

pub use arc_core::predictor::Predictor;
pub use arc_core::*;

pub mod cli;

/// The README's Rust snippets, compiled (and run, unless marked `no_run`) by
/// `cargo test --doc`, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// Anchors: a plugin crate that no code names is not linked, and its
// plugins would vanish from `discover_plugins` without a word.
#[cfg(any(
    feature = "layers",
    feature = "processors",
    feature = "optimizers",
    feature = "losses",
    feature = "validators",
    feature = "data-sources",
    feature = "exporters"
))]
use arc_builtins as _;
#[cfg(feature = "example-plugin")]
use arc_example_plugin as _;

/// Links plugin crates into the binary, so that
/// [`discover_plugins`](arc_core::PluginManager::discover_plugins) finds
/// their plugins: `arc::link_plugins!(my_plugin, other_plugin);` at the top
/// level of the binary (or of a library it uses).
///
/// rustc leaves out a dependency that no code references, and with it the
/// plugins it would add to the link-time plugin list; this names each crate
/// once so it is kept.
#[macro_export]
macro_rules! link_plugins {
    ($($plugin_crate:ident),+ $(,)?) => {
        $(
            #[allow(unused_imports)]
            use $plugin_crate as _;
        )+
    };
}
