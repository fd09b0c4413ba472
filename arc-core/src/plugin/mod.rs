//! The plugin system: hook specs, the call loop, the manager and the
//! component registries.
//!
//! A plugin is a plain struct marked `#[arc_plugin(..)]` that implements one
//! or more hook-spec traits under `#[hookimpl]`. Linked plugins are found by
//! [`PluginManager::discover_plugins`] with no registration code; others are
//! registered at run time with [`PluginManager::register_plugin`].

mod answers;
mod component;
mod hook;
mod legacy;
pub(crate) mod linked;
mod manager;
mod metadata;
mod monitor;
mod open;
mod order;
mod registry;
mod specs;

pub use answers::{Answers, Inner, Owner, Plugins};
pub use component::{
    ComponentKind, Factory, ParamsSchema, Registration, Registrations, SharedFactory, StateSize, schema_of,
};
pub use hook::{
    BoxError, HookCaller, HookDecl, HookImpl, HookImplMethod, HookImplOpts, HookResults, HookSpec, MonitorArgs,
    PluginImpl, ResultCallback, SpecRelay,
};
pub use legacy::{legacy_layer_name, legacy_names_of};
pub use linked::{AnyPlugin, LinkedHookImpl, LinkedPlugin};
pub use manager::{Hook, ImplementedHook, OrderWarning, PluginManager, get_plugin_manager};
pub use metadata::{Plugin, PluginInfo, PluginMetadata, PluginOrigin};
pub use monitor::{AfterHook, BeforeHook, HookCallInfo, HookOutcome, MonitorId};
pub use open::open_table;
pub use registry::{Component, ComponentRef, Registries, Registry, RegistryWarning};
pub use specs::*;

pub use monitor::HookMonitors;
