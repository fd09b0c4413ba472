//! The plugin manager: registration, blocking, hook relays, registries.

use std::any::{Any, TypeId};
use std::ops::Deref;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rustc_hash::{FxHashMap, FxHashSet};

use super::component::{ComponentKind, Registrations};
use super::hook::{HookDecl, HookImplOpts, HookResults, HookSpec, PluginImpl, SpecRelay};
use super::linked::{hook_impl, hook_impls_of, linked_plugins};
use super::metadata::{Plugin, PluginInfo, PluginMetadata, PluginOrigin};
use super::monitor::{AfterHook, BeforeHook, HookCallInfo, HookMonitors, HookOutcome, MonitorId};
use super::order::{OrderItem, call_order};
use super::registry::{Component, Registries, Registry, RegistryWarning};
use super::specs::*;
use crate::error::{DidYouMean, Error};
use crate::nn::{Layer, Loss, Optimizer};
use crate::spec::Config;
use crate::{Result, data::DataSource, export::Exporter, process::Processor, spec::Validator};

/// A registered plugin instance.
struct Registered {
    info: Arc<PluginInfo>,
    instance: Arc<dyn Any + Send + Sync>,
    type_id: TypeId,
}

/// A built relay for one spec, kept until a registration changes the set.
struct RelaySlot {
    relay: Arc<dyn Any + Send + Sync>,
    is_fresh: bool,
    /// Replays this spec's historic calls to a newly registered plugin.
    replay: fn(&(dyn Any + Send + Sync), &Registered) -> Result<()>,
}

#[derive(Default)]
struct State {
    plugins: Vec<Registered>,
    /// The next registration's [`PluginInfo::registration_order`].
    next_seq: u64,
    /// How many registered plugins' `before`/`after` options name each
    /// plugin name.
    order_named: FxHashMap<Box<str>, usize>,
    blocked: FxHashSet<Box<str>>,
    relays: FxHashMap<TypeId, RelaySlot>,
}

/// Holds plugins, calls their hooks and keeps the component registries.
///
/// Thread-safe: every method takes `&self`. Hook calls go through
/// [`hook`](Self::hook), which hands out an immutable snapshot of one spec's
/// callers; hold it on hot paths (a call through it takes no lock).
///
/// ```
/// use arc_core::plugin::{LayerHookSpec, PluginManager};
///
/// let pm = PluginManager::new();
/// assert!(pm.list_plugins().is_empty());
/// // No plugin: the hook returns no registrations.
/// assert!(pm.hook::<dyn LayerHookSpec>().register_layers()?.is_empty());
/// # Ok::<(), arc_core::Error>(())
/// ```
pub struct PluginManager {
    state: RwLock<State>,
    registries: RwLock<Arc<Registries>>,
    monitors: Arc<HookMonitors>,
}

impl Default for PluginManager {
    fn default() -> Self {
        Self::new()
    }
}

/// A snapshot of one spec's hook callers; derefs to the generated relay
/// (e.g. `LayerHookSpecRelay`), whose methods call the hooks.
pub struct Hook<S: ?Sized + HookSpec> {
    built: Arc<Built<S>>,
}

/// A relay with the implementations it was built from.
struct Built<S: ?Sized + HookSpec> {
    relay: S::Relay,
    impls: Vec<PluginImpl<S>>,
    monitors: Arc<HookMonitors>,
}

impl<S: ?Sized + HookSpec> Built<S> {
    fn new(impls: Vec<PluginImpl<S>>, monitors: &Arc<HookMonitors>, prev: Option<&S::Relay>) -> Self {
        Self { relay: S::Relay::build(&impls, monitors, prev), impls, monitors: monitors.clone() }
    }
}

impl<S: ?Sized + HookSpec> Clone for Hook<S> {
    fn clone(&self) -> Self {
        Self { built: self.built.clone() }
    }
}

impl<S: ?Sized + HookSpec> Deref for Hook<S> {
    type Target = S::Relay;
    fn deref(&self) -> &S::Relay {
        &self.built.relay
    }
}

impl<S: ?Sized + HookSpec> Hook<S> {
    /// These callers plus `plugin`'s implementations of `S`, as if it were
    /// registered after every plugin (pluggy's `call_extra`: with no
    /// options it runs first among the unmarked implementations). Nothing
    /// is registered; historic calls made through the result are
    /// remembered as usual.
    ///
    /// Errors: `P` has no `#[hookimpl]` block for `S`; its `before`/`after`
    /// options close a cycle.
    pub fn with_extra<P: Plugin>(&self, name: &str, plugin: Arc<P>) -> Result<Hook<S>> {
        let info = Arc::new(PluginInfo::runtime(name, plugin.metadata()));
        let record = hook_impl(TypeId::of::<S>(), TypeId::of::<P>())
            .ok_or_else(|| Error::NotAHookImpl { plugin: name.to_owned(), spec: S::NAME })?;
        let extra = (record.cast)(plugin)
            .and_then(|b| b.downcast::<Arc<S>>().ok())
            .ok_or_else(|| Error::NotAHookImpl { plugin: name.to_owned(), spec: S::NAME })?;
        let mut impls = self.built.impls.clone();
        impls.push(PluginImpl { plugin: *extra, info, methods: record.methods });
        check_order::<S>(&impls)?;
        Ok(self.rebuilt(impls))
    }

    /// These callers without the implementations of the plugins named in
    /// `names` (pluggy's `subset_hook_caller`). Historic calls made through
    /// the result are remembered as usual.
    pub fn without(&self, names: &[&str]) -> Hook<S> {
        let impls = self.built.impls.iter().filter(|i| !names.contains(&&*i.info.name)).cloned().collect();
        self.rebuilt(impls)
    }

    fn rebuilt(&self, impls: Vec<PluginImpl<S>>) -> Hook<S> {
        Hook { built: Arc::new(Built::new(impls, &self.built.monitors, Some(&self.built.relay))) }
    }
}

/// A hook a plugin implements, with its options (see
/// [`PluginManager::get_hookcallers`]).
#[derive(Clone, Copy, Debug)]
pub struct ImplementedHook {
    /// The spec trait's name.
    pub spec: &'static str,
    /// The hook's declaration.
    pub decl: &'static HookDecl,
    /// The plugin's options for it.
    pub opts: HookImplOpts,
}

/// A `before`/`after` option naming no registered plugin: it is ignored
/// until such a plugin is registered (see [`PluginManager::order_warnings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderWarning {
    /// The plugin whose option it is.
    pub plugin: String,
    /// The spec trait's name.
    pub spec: &'static str,
    /// The hook.
    pub hook: &'static str,
    /// The name no registered plugin has.
    pub names: String,
}

impl std::fmt::Display for OrderWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "plugin `{}` orders its `{}.{}` relative to `{}`, which is not registered: the option is ignored",
            self.plugin, self.spec, self.hook, self.names
        )
    }
}

/// The global manager, holding every linked plugin with its registries
/// refreshed. Made on first use.
///
/// ```
/// let pm = arc_core::plugin::get_plugin_manager();
/// assert!(std::ptr::eq(pm, arc_core::plugin::get_plugin_manager()));
/// ```
pub fn get_plugin_manager() -> &'static PluginManager {
    static GLOBAL: OnceLock<PluginManager> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let pm = PluginManager::new();
        if let Err(e) = pm.discover_plugins().and_then(|_| pm.refresh_registries()) {
            tracing::error!("while loading the linked plugins: {e}");
        }
        pm
    })
}

impl PluginManager {
    /// An empty manager; [`discover_plugins`](Self::discover_plugins) fills it.
    pub fn new() -> Self {
        Self { state: RwLock::default(), registries: RwLock::default(), monitors: Arc::default() }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panicking plugin never runs under this lock, so poisoning can
        // only come from a bug here; the state stays consistent either way.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers every plugin linked into the binary (the entry-point
    /// analogue), in name order. Returns how many were registered; linked
    /// plugins already registered or blocked are skipped.
    pub fn discover_plugins(&self) -> Result<usize> {
        let mut count = 0;
        for linked in linked_plugins() {
            let name = &*linked.metadata.name;
            let skip = {
                let state = self.read();
                state.blocked.contains(name) || state.plugins.iter().any(|p| &*p.info.name == name)
            };
            if skip {
                continue;
            }
            let info = PluginInfo {
                name: Arc::from(name),
                metadata: linked.metadata.clone(),
                origin: PluginOrigin::Linked,
                seq: 0,
            };
            self.insert(info, (linked.construct)(), (linked.type_id)())?;
            count += 1;
        }
        Ok(count)
    }

    /// Registers a plugin instance under `name`, made at run time.
    ///
    /// Errors: the name is taken or blocked. Call
    /// [`refresh_registries`](Self::refresh_registries) afterwards to see
    /// its components.
    pub fn register_plugin<P: Plugin>(&self, plugin: P, name: &str) -> Result<()> {
        self.register_shared(Arc::new(plugin), name)
    }

    /// Registers a shared plugin instance; registering the same instance
    /// twice (under any name) is an error.
    pub fn register_shared<P: Plugin>(&self, plugin: Arc<P>, name: &str) -> Result<()> {
        let metadata = plugin.metadata();
        let info = PluginInfo::runtime(name, metadata);
        self.insert(info, plugin, TypeId::of::<P>())
    }

    fn insert(&self, mut info: PluginInfo, instance: Arc<dyn Any + Send + Sync>, type_id: TypeId) -> Result<()> {
        let mut state = self.write();
        info.seq = state.next_seq;
        let registered = Registered { info: Arc::new(info), instance, type_id };
        let replays: Vec<_> = {
            let name = &*registered.info.name;
            if state.blocked.contains(name) {
                return Err(Error::PluginBlocked { name: name.to_owned() });
            }
            if let Some(other) = state.plugins.iter().find(|p| Arc::ptr_eq(&p.instance, &registered.instance)) {
                return Err(Error::PluginAlreadyRegistered {
                    name: name.to_owned(),
                    as_name: other.info.name.to_string(),
                });
            }
            if state.plugins.iter().any(|p| &*p.info.name == name) {
                return Err(Error::PluginNameTaken { name: name.to_owned() });
            }
            check_new_order(&state.plugins, &registered, &state.order_named)?;
            count_order_names(&mut state.order_named, type_id, true);
            state.next_seq += 1;
            state.plugins.push(Registered {
                info: registered.info.clone(),
                instance: registered.instance.clone(),
                type_id,
            });
            for slot in state.relays.values_mut() {
                slot.is_fresh = false;
            }
            let replays = state.relays.values().map(|s| (s.relay.clone(), s.replay)).collect();
            drop(state);
            replays
        };
        // Historic calls are replayed outside the lock: a plugin may call
        // back into the manager.
        for (relay, replay) in replays {
            replay(&*relay, &registered)?;
        }
        Ok(())
    }

    /// Unregisters the plugin named `name`; returns its metadata, or
    /// `None` when the name is blocked and not registered (pluggy's
    /// `unregister` of a blocked name).
    ///
    /// Errors: no plugin of that name is registered and it is not blocked.
    pub fn unregister(&self, name: &str) -> Result<Option<PluginMetadata>> {
        let mut state = self.write();
        let Some(at) = state.plugins.iter().position(|p| &*p.info.name == name) else {
            if state.blocked.contains(name) {
                return Ok(None);
            }
            return Err(self.not_found(&state, name));
        };
        let removed = state.plugins.remove(at);
        count_order_names(&mut state.order_named, removed.type_id, false);
        for slot in state.relays.values_mut() {
            slot.is_fresh = false;
        }
        Ok(Some(removed.info.metadata.clone()))
    }

    /// The hooks the plugin registered as `name` implements, spec by spec,
    /// with its options (pluggy's `get_hookcallers`).
    pub fn get_hookcallers(&self, name: &str) -> Result<Vec<ImplementedHook>> {
        let state = self.read();
        let p = state.plugins.iter().find(|p| &*p.info.name == name).ok_or_else(|| self.not_found(&state, name))?;
        let mut out = Vec::new();
        for record in hook_impls_of(p.type_id) {
            for m in record.methods {
                if let Some(decl) = record.spec_hooks.iter().find(|d| d.name == m.hook) {
                    out.push(ImplementedHook { spec: record.spec_name, decl, opts: m.opts });
                }
            }
        }
        Ok(out)
    }

    /// The `before`/`after` options that name no registered plugin (they
    /// are ignored; the other plugin may be optional or come later).
    pub fn order_warnings(&self) -> Vec<OrderWarning> {
        let state = self.read();
        let known = |n: &str| state.plugins.iter().any(|p| &*p.info.name == n);
        let mut out = Vec::new();
        for p in &state.plugins {
            for record in hook_impls_of(p.type_id) {
                for m in record.methods {
                    for name in m.opts.before.iter().chain(m.opts.after).filter(|n| !known(n)) {
                        out.push(OrderWarning {
                            plugin: p.info.name.to_string(),
                            spec: record.spec_name,
                            hook: m.hook,
                            names: (*name).to_owned(),
                        });
                    }
                }
            }
        }
        out
    }

    /// A caller of spec `S`'s hooks that leaves out the plugins named in
    /// `names` (pluggy's `subset_hook_caller`); see [`Hook::without`].
    pub fn subset_hook_caller<S: ?Sized + HookSpec>(&self, names: &[&str]) -> Hook<S> {
        self.hook::<S>().without(names)
    }

    fn not_found(&self, state: &State, name: &str) -> Error {
        Error::PluginNotFound {
            name: name.to_owned(),
            hint: DidYouMean::among(name, state.plugins.iter().map(|p| &*p.info.name)),
        }
    }

    /// Blocks `name`: unregisters it if registered, and refuses it from now
    /// on (also in `discover_plugins`).
    pub fn set_blocked(&self, name: &str) {
        let mut state = self.write();
        state.blocked.insert(name.into());
        if let Some(at) = state.plugins.iter().position(|p| &*p.info.name == name) {
            let removed = state.plugins.remove(at);
            count_order_names(&mut state.order_named, removed.type_id, false);
            for slot in state.relays.values_mut() {
                slot.is_fresh = false;
            }
        }
    }

    /// Whether `name` is blocked.
    pub fn is_blocked(&self, name: &str) -> bool {
        self.read().blocked.contains(name)
    }

    /// Lifts a block; returns whether `name` was blocked.
    pub fn unblock(&self, name: &str) -> bool {
        self.write().blocked.remove(name)
    }

    /// Whether a plugin named `name` is registered.
    pub fn is_registered(&self, name: &str) -> bool {
        self.read().plugins.iter().any(|p| &*p.info.name == name)
    }

    /// The registered plugins, in registration order.
    pub fn list_plugins(&self) -> Vec<PluginInfo> {
        self.read().plugins.iter().map(|p| (*p.info).clone()).collect()
    }

    /// The metadata of the plugin registered as `name`.
    pub fn get_plugin_metadata(&self, name: &str) -> Result<PluginMetadata> {
        let state = self.read();
        state
            .plugins
            .iter()
            .find(|p| &*p.info.name == name)
            .map(|p| p.info.metadata.clone())
            .ok_or_else(|| self.not_found(&state, name))
    }

    /// The callers of spec `S`'s hooks over the plugins registered now.
    ///
    /// The snapshot is built once per change of the plugin set and shared;
    /// a registration after this call is not seen by it.
    pub fn hook<S: ?Sized + HookSpec>(&self) -> Hook<S> {
        let key = TypeId::of::<S>();
        if let Some(slot) = self.read().relays.get(&key).filter(|s| s.is_fresh) {
            return Hook { built: downcast_built::<S>(&slot.relay) };
        }
        let mut state = self.write();
        if let Some(slot) = state.relays.get(&key).filter(|s| s.is_fresh) {
            return Hook { built: downcast_built::<S>(&slot.relay) };
        }
        let impls = impls_of::<S>(&state.plugins);
        let prev = state.relays.get(&key).map(|s| downcast_built::<S>(&s.relay));
        let built = Arc::new(Built::new(impls, &self.monitors, prev.as_deref().map(|b| &b.relay)));
        state.relays.insert(key, RelaySlot { relay: built.clone(), is_fresh: true, replay: replay_historic::<S> });
        Hook { built }
    }

    /// Calls every `register_*` hook and rebuilds the component registries.
    /// Duplicate names are resolved by call order (the later-registered
    /// plugin wins) and reported in [`registry_warnings`](Self::registry_warnings).
    pub fn refresh_registries(&self) -> Result<()> {
        let mut warnings = Vec::new();
        let registries = Registries {
            layers: self.build_registry::<dyn LayerHookSpec, _>(ComponentKind::Layer, &mut warnings, |h, v| {
                h.visit_register_layers(v)
            })?,
            processors: self.build_registry::<dyn ProcessorHookSpec, _>(
                ComponentKind::Processor,
                &mut warnings,
                |h, v| h.visit_register_processors(v),
            )?,
            optimizers: self.build_registry::<dyn OptimizerHookSpec, _>(
                ComponentKind::Optimizer,
                &mut warnings,
                |h, v| h.visit_register_optimizers(v),
            )?,
            losses: self.build_registry::<dyn LossHookSpec, _>(ComponentKind::Loss, &mut warnings, |h, v| {
                h.visit_register_losses(v)
            })?,
            validators: self.build_registry::<dyn ValidatorHookSpec, _>(
                ComponentKind::Validator,
                &mut warnings,
                |h, v| h.visit_register_validators(v),
            )?,
            data_sources: self.build_registry::<dyn DataSourceHookSpec, _>(
                ComponentKind::DataSource,
                &mut warnings,
                |h, v| h.visit_register_data_sources(v),
            )?,
            exporters: self.build_registry::<dyn ExportHookSpec, _>(
                ComponentKind::Exporter,
                &mut warnings,
                |h, v| h.visit_register_exporters(v),
            )?,
            warnings: Vec::new(),
        };
        let registries = Registries { warnings, ..registries };
        *self.registries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registries);
        Ok(())
    }

    fn build_registry<S, C>(
        &self,
        kind: ComponentKind,
        warnings: &mut Vec<RegistryWarning>,
        visit: impl FnOnce(
            &S::Relay,
            &mut dyn FnMut(&Arc<PluginInfo>, Registrations<C>) -> std::ops::ControlFlow<()>,
        ) -> Result<()>,
    ) -> Result<Registry<C>>
    where
        S: ?Sized + HookSpec,
        C: ?Sized,
    {
        let hook = self.hook::<S>();
        let mut answers = Vec::new();
        visit(&hook, &mut |info, regs| {
            answers.push((info.clone(), regs));
            std::ops::ControlFlow::Continue(())
        })?;
        // Which plugin wins a duplicate name follows registration order,
        // whatever order the hooks were called in. Unmarked implementations
        // are called last-registered first: reversing first leaves the
        // stable sort little to do.
        answers.reverse();
        answers.sort_by_key(|(info, _)| info.seq);
        Ok(Registry::build(kind, answers, warnings))
    }

    /// The registries as of the last [`refresh_registries`](Self::refresh_registries):
    /// an immutable snapshot, cheap to hold.
    pub fn registries(&self) -> Arc<Registries> {
        self.registries.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Duplicate component names found by the last refresh.
    pub fn registry_warnings(&self) -> Vec<RegistryWarning> {
        self.registries().warnings.clone()
    }

    /// Validates a component's config: `Ok(false)` if any plugin's
    /// `validate_*_config` hook rejects it. The name is resolved first (an
    /// unknown name is an error with suggestions) and the hooks see the
    /// full name (`core.Linear`).
    pub fn validate_component_config(&self, kind: ComponentKind, name: &str, config: &Config) -> Result<bool> {
        let registries = self.registries();
        let full = registries.full_name(kind, name)?;
        let answers = match kind {
            ComponentKind::Layer => self.hook::<dyn LayerHookSpec>().validate_layer_config(full, config)?,
            ComponentKind::Processor => self.hook::<dyn ProcessorHookSpec>().validate_processor_config(full, config)?,
            ComponentKind::Optimizer => self.hook::<dyn OptimizerHookSpec>().validate_optimizer_config(full, config)?,
            ComponentKind::Loss => self.hook::<dyn LossHookSpec>().validate_loss_config(full, config)?,
            ComponentKind::DataSource => {
                self.hook::<dyn DataSourceHookSpec>().validate_data_source_config(full, config)?
            }
            ComponentKind::Exporter => self.hook::<dyn ExportHookSpec>().validate_export_config(full, config)?,
            // Validators take no config.
            ComponentKind::Validator => HookResults::new(),
        };
        Ok(answers.into_iter().all(|ok| ok))
    }

    /// Adds monitoring callbacks run before and after every hook call of
    /// this manager; remove them with [`remove_hookcall_monitoring`](Self::remove_hookcall_monitoring).
    pub fn add_hookcall_monitoring(
        &self,
        before: impl Fn(&HookCallInfo<'_>) + Send + Sync + 'static,
        after: impl Fn(&HookCallInfo<'_>, HookOutcome<'_>) + Send + Sync + 'static,
    ) -> MonitorId {
        let (before, after): (BeforeHook, AfterHook) = (Box::new(before), Box::new(after));
        self.monitors.add(before, after)
    }

    /// Removes a monitor pair; returns whether it was installed.
    pub fn remove_hookcall_monitoring(&self, id: MonitorId) -> bool {
        self.monitors.remove(id)
    }
}

macro_rules! getters {
    ($($(#[$doc:meta])* $one:ident, $all:ident, $field:ident: $ty:ty;)*) => {
        impl PluginManager {
            $(
                $(#[$doc])*
                pub fn $one(&self, name: &str) -> Result<Component<$ty>> {
                    Component::new(self.registries(), |r| &r.$field, name)
                }

                /// (full name, plugin) of every component of this kind.
                pub fn $all(&self) -> Vec<(String, String)> {
                    self.registries().$field.entries().map(|e| (e.name().to_owned(), e.plugin().name.to_string())).collect()
                }
            )*
        }
    };
}

getters! {
    /// The processor `name` resolves to.
    get_processor, get_processors, processors: dyn Processor;
    /// The optimizer `name` resolves to.
    get_optimizer, get_optimizers, optimizers: dyn Optimizer;
    /// The loss `name` resolves to.
    get_loss, get_losses, losses: dyn Loss;
    /// The validator `name` resolves to.
    get_validator, get_validators, validators: dyn Validator;
    /// The data source `name` resolves to.
    get_data_source, get_data_sources, data_sources: dyn DataSource;
    /// The exporter `name` resolves to.
    get_exporter, get_exporters, exporters: dyn Exporter;
}

impl PluginManager {
    /// The layer a type name resolves to: the legacy `torch.nn.*` table
    /// first, then full names, short names and aliases; an unknown name is
    /// an error with did-you-mean suggestions.
    pub fn get_layer(&self, name: &str) -> Result<Component<dyn Layer>> {
        let name = super::legacy::legacy_layer_name(name).unwrap_or(name);
        Component::new(self.registries(), |r| &r.layers, name)
    }

    /// (full name, plugin) of every layer.
    pub fn get_layers(&self) -> Vec<(String, String)> {
        self.registries().layers.entries().map(|e| (e.name().to_owned(), e.plugin().name.to_string())).collect()
    }
}

fn downcast_built<S: ?Sized + HookSpec>(relay: &Arc<dyn Any + Send + Sync>) -> Arc<Built<S>> {
    relay
        .clone()
        .downcast::<Built<S>>()
        .unwrap_or_else(|_| unreachable!("relay slots are keyed by their spec's TypeId"))
}

/// Every plugin name a plugin type's `before`/`after` options name.
fn order_names(type_id: TypeId) -> impl Iterator<Item = &'static str> {
    hook_impls_of(type_id)
        .iter()
        .flat_map(|r| r.methods)
        .flat_map(|m| m.opts.before.iter().chain(m.opts.after))
        .copied()
}

/// Counts, in `named`, the names a plugin's options name (`add` false: uncounts).
fn count_order_names(named: &mut FxHashMap<Box<str>, usize>, type_id: TypeId, add: bool) {
    for name in order_names(type_id) {
        if add {
            *named.entry(name.into()).or_default() += 1;
        } else if let Some(n) = named.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                named.remove(name);
            }
        }
    }
}

/// Refuses a `before`/`after` cycle among `impls`, hook by hook.
fn check_order<S: ?Sized + HookSpec>(impls: &[PluginImpl<S>]) -> Result<()> {
    for decl in S::HOOKS {
        let items: Vec<_> = impls
            .iter()
            .flat_map(|i| i.methods.iter().filter(|m| m.hook == decl.name).map(|m| (&*i.info.name, &m.opts)))
            .map(|(plugin, opts)| OrderItem { plugin, opts })
            .collect();
        call_order(&items, true).map_err(|plugins| Error::HookOrderCycle {
            spec: S::NAME,
            hook: decl.name,
            plugins,
        })?;
    }
    Ok(())
}

/// Refuses a registration whose `before`/`after` options close a cycle
/// with the registered plugins: only hooks the new plugin implements can
/// be affected.
fn check_new_order(plugins: &[Registered], new: &Registered, named: &FxHashMap<Box<str>, usize>) -> Result<()> {
    // A cycle through the new plugin needs an option of its own or one
    // naming it: most registrations have neither and skip the scan.
    if order_names(new.type_id).next().is_none() && !named.contains_key(&*new.info.name) {
        return Ok(());
    }
    for record in hook_impls_of(new.type_id) {
        let spec = (record.spec)();
        for m in record.methods {
            let mut items = Vec::new();
            for p in plugins {
                if let Some(other) = hook_impl(spec, p.type_id) {
                    for om in other.methods.iter().filter(|om| om.hook == m.hook) {
                        items.push(OrderItem { plugin: &p.info.name, opts: &om.opts });
                    }
                }
            }
            items.push(OrderItem { plugin: &new.info.name, opts: &m.opts });
            let constrained = items.iter().any(|i| !i.opts.before.is_empty() || !i.opts.after.is_empty());
            if constrained {
                call_order(&items, true).map_err(|plugins| Error::HookOrderCycle {
                    spec: record.spec_name,
                    hook: m.hook,
                    plugins,
                })?;
            }
        }
    }
    Ok(())
}

/// The registered plugins that implement `S`, in registration order.
fn impls_of<S: ?Sized + HookSpec>(plugins: &[Registered]) -> Vec<PluginImpl<S>> {
    let spec = TypeId::of::<S>();
    plugins.iter().filter_map(|p| plugin_impl::<S>(spec, p)).collect()
}

fn plugin_impl<S: ?Sized + HookSpec>(spec: TypeId, p: &Registered) -> Option<PluginImpl<S>> {
    let record = hook_impl(spec, p.type_id)?;
    let plugin = (record.cast)(p.instance.clone())?.downcast::<Arc<S>>().ok()?;
    Some(PluginImpl { plugin: *plugin, info: p.info.clone(), methods: record.methods })
}

fn replay_historic<S: ?Sized + HookSpec>(relay: &(dyn Any + Send + Sync), plugin: &Registered) -> Result<()> {
    let Some(built) = relay.downcast_ref::<Built<S>>() else {
        return Ok(());
    };
    let relay = &built.relay;
    let Some(imp) = plugin_impl::<S>(TypeId::of::<S>(), plugin) else {
        return Ok(());
    };
    for decl in S::HOOKS.iter().filter(|d| d.historic) {
        let Some(caller) = relay.caller(decl.name) else {
            continue;
        };
        for method in imp.methods.iter().filter(|m| m.hook == decl.name) {
            caller.replay(&super::hook::HookImpl::new(imp.plugin.clone(), imp.info.clone(), method.opts))?;
        }
    }
    Ok(())
}
