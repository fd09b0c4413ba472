//! Attribute macros of Arc: `#[hookspec]`, `#[hookimpl]` and `#[arc_plugin]`.
//!
//! Each macro parses its input into a small typed form, validates it
//! (collecting every problem, each spanned on the offending token), then
//! expands it. On error the user's item is emitted unchanged beside the
//! `compile_error!`s, so the rest of their crate still type-checks.
//! Generated code reaches the runtime only through `::arc_core::__private`
//! (or `crate = path` when given).

mod attr;
mod fallback;
mod hookimpl;
mod hookspec;
mod plugin;

use proc_macro::TokenStream;
use syn::{ItemImpl, ItemStruct, ItemTrait, parse_macro_input};

/// Turns a trait into a hook specification.
///
/// Per hook method: `#[hookspec(firstresult)]` (stop at the first `Some`;
/// the method must return `Option<_>`), `#[hookspec(historic)]` (calls are
/// remembered and replayed to plugins registered later), and
/// `#[hookspec(monitor_args)]` (monitors see the arguments, which must be
/// `Debug`). A hook returning `Result<T, E>` is fallible: an implementation's
/// `Err` stops the call. Every hook method needs a default body, so plugins
/// implement only the hooks they want; a `#[deprecated]` hook warns where it
/// is implemented. Generates `<Trait>Relay`, the typed caller. On the trait
/// itself: `#[hookspec(crate = path)]` names the runtime crate (default
/// `::arc_core`).
#[proc_macro_attribute]
pub fn hookspec(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemTrait);
    match hookspec::parse(args.into(), &item) {
        Ok(spec) => hookspec::expand(spec),
        Err(errors) => fallback::hookspec(errors, item),
    }
    .into()
}

/// Records a plugin's implementation of a hook spec, so the plugin manager
/// calls the hooks written in the block (and only those).
///
/// Per method: `#[hookimpl(tryfirst)]`, `#[hookimpl(trylast)]`,
/// `#[hookimpl(wrapper)]`, and `before = "plugin"` / `after = ["a", "b"]`
/// (call order inside the method's band). A wrapper takes one more argument,
/// `&mut arc_core::plugin::Inner`, the rest of the call: `inner.call()` runs
/// it and gives the outcome to read or change in place (`Answers<R>` for a
/// collecting hook). On the block:
/// `crate = path`, and `before` / `after` for every method of the block.
#[proc_macro_attribute]
pub fn hookimpl(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemImpl);
    match hookimpl::parse(args.into(), &item) {
        Ok(block) => hookimpl::expand(block),
        Err(errors) => fallback::hookimpl(errors, item),
    }
    .into()
}

/// Registers a plugin struct, with its metadata, among the plugins linked
/// into the binary: `#[arc_plugin(name = "..", version = "..", description
/// = "..", namespace = "..")]`. Only `name` is required; `version` defaults
/// to the crate's version, `namespace` to `core`. The struct must implement
/// `Default` (that is how linked plugins are made).
#[proc_macro_attribute]
pub fn arc_plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemStruct);
    match plugin::parse(args.into(), &item) {
        Ok(plugin) => plugin::expand(plugin, &item),
        Err(errors) => fallback::plugin(errors, &item),
    }
    .into()
}
