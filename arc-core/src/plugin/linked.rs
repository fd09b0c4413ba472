//! The distributed slices that `#[arc_plugin]` and `#[hookimpl]` fill at
//! link time, and the index over them.

use std::any::{Any, TypeId};
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

use super::hook::{HookDecl, HookImplMethod};
use super::metadata::PluginMetadata;

/// A plugin instance of unknown type.
pub type AnyPlugin = Arc<dyn Any + Send + Sync>;

/// A plugin linked into the binary (`#[arc_plugin]`).
pub struct LinkedPlugin {
    /// Its metadata.
    pub metadata: PluginMetadata,
    /// Its concrete type.
    pub type_id: fn() -> TypeId,
    /// Makes an instance (`Default::default()`).
    pub construct: fn() -> AnyPlugin,
}

/// One `#[hookimpl] impl Spec for Plugin` block.
pub struct LinkedHookImpl {
    /// `TypeId` of `dyn Spec`.
    pub spec: fn() -> TypeId,
    /// The spec trait's name.
    pub spec_name: &'static str,
    /// The spec's hooks.
    pub spec_hooks: &'static [HookDecl],
    /// `TypeId` of the plugin type.
    pub plugin: fn() -> TypeId,
    /// Turns an instance of the plugin type into `Box<Arc<dyn Spec>>`.
    pub cast: fn(AnyPlugin) -> Option<Box<dyn Any>>,
    /// The hooks the block implements.
    pub methods: &'static [HookImplMethod],
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static PLUGINS: [LinkedPlugin];

#[doc(hidden)]
#[linkme::distributed_slice]
pub static HOOK_IMPLS: [LinkedHookImpl];

/// The `#[hookimpl]` block for (spec, plugin type), if one is linked.
pub(crate) fn hook_impl(spec: TypeId, plugin: TypeId) -> Option<&'static LinkedHookImpl> {
    static INDEX: OnceLock<FxHashMap<(TypeId, TypeId), &'static LinkedHookImpl>> = OnceLock::new();
    INDEX
        .get_or_init(|| HOOK_IMPLS.iter().map(|h| (((h.spec)(), (h.plugin)()), h)).collect())
        .get(&(spec, plugin))
        .copied()
}

/// Every `#[hookimpl]` block of a plugin type.
pub(crate) fn hook_impls_of(plugin: TypeId) -> &'static [&'static LinkedHookImpl] {
    static INDEX: OnceLock<FxHashMap<TypeId, Vec<&'static LinkedHookImpl>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index: FxHashMap<TypeId, Vec<&'static LinkedHookImpl>> = FxHashMap::default();
        for h in HOOK_IMPLS.iter() {
            index.entry((h.plugin)()).or_default().push(h);
        }
        index
    });
    index.get(&plugin).map_or(&[], |v| v.as_slice())
}

/// The linked plugins, in name order (linkme's own order is not stable
/// between builds).
pub(crate) fn linked_plugins() -> Vec<&'static LinkedPlugin> {
    let mut plugins: Vec<_> = PLUGINS.iter().collect();
    plugins.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    plugins
}
