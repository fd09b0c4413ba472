//! Arc: neural networks declared in YAML, every component a plugin.
//!
//! This facade re-exports [`arc_core`] and links the plugin crates that the
//! enabled Cargo features select. rustc links only crates that some code
//! references, so each plugin crate has an anchor below; a user's own plugin
//! crate is linked with one line, [`link_plugins!`].
//!
//! ```
//! let pm = arc::get_plugin_manager();
//! // Every linked plugin is registered, in name order, with no code.
//! let names: Vec<_> = pm.list_plugins().iter().map(|p| p.name.to_string()).collect();
//! let mut sorted = names.clone();
//! sorted.sort();
//! assert_eq!(names, sorted);
//! ```

pub use arc_core::predictor::Predictor;
pub use arc_core::*;

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
