//! What the macros' generated code names. Not a public API.

pub use std::borrow::Cow;
pub use std::sync::Arc;

pub use linkme;

pub use crate::Result;
pub use crate::plugin::linked::{HOOK_IMPLS, PLUGINS};
pub use crate::plugin::{
    Answers, HookCaller, HookDecl, HookImpl, HookImplMethod, HookImplOpts, HookMonitors, HookResults, HookSpec, Inner,
    LinkedHookImpl, LinkedPlugin, MonitorArgs, Plugin, PluginImpl, PluginInfo, PluginMetadata, SpecRelay,
};

/// Makes a linked plugin's instance; the bound is reported on the struct.
pub fn construct_plugin<P: Default + Plugin>() -> Arc<dyn std::any::Any + Send + Sync> {
    Arc::new(P::default())
}

/// Hook arguments are handed to every implementation.
#[diagnostic::on_unimplemented(
    message = "hook argument type `{Self}` is not `Clone`",
    label = "every implementation gets its own copy of each argument",
    note = "take the argument by reference (`&T`) instead"
)]
pub trait HookArg: Clone {}
impl<T: Clone> HookArg for T {}

/// Checks a hook argument type (spanned on the type).
pub fn assert_hook_arg<T: HookArg>() {}

/// Historic calls are stored and replayed later, from any thread.
#[diagnostic::on_unimplemented(
    message = "historic hook argument type `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "historic calls are stored and replayed to plugins registered later",
    note = "pass owned data (`String`, `Arc<T>`) instead of references"
)]
pub trait HistoricArg: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> HistoricArg for T {}

/// Checks a historic hook argument type (spanned on the type).
pub fn assert_historic_arg<T: HistoricArg>() {}

/// Monitors are shown the arguments of `#[hookspec(monitor_args)]` hooks.
#[diagnostic::on_unimplemented(
    message = "hook argument type `{Self}` is not `Debug`",
    label = "`#[hookspec(monitor_args)]` shows monitors every argument, printed with `Debug`",
    note = "derive or implement `Debug` for it, or drop `monitor_args`"
)]
pub trait MonitorArg: std::fmt::Debug {}
impl<T: std::fmt::Debug> MonitorArg for T {}

/// A monitored hook argument, as monitors see it (the bound is reported
/// on the argument's type).
pub fn shown<'a, T: MonitorArg + 'a>(arg: &'a T) -> &'a (dyn std::fmt::Debug + 'a) {
    arg
}
