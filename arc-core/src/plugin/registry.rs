//! Component registries: every `register_*` hook's answers merged into one
//! name index per component kind.
//!
//! A refresh merges about a thousand names, so a registry keeps every name
//! in one string arena and indexes it with a hash table of offsets: no
//! allocation per component.

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::component::{ComponentKind, Factory, ParamsSchema, Registrations};
use super::metadata::PluginInfo;
use crate::error::{DidYouMean, Error};
use crate::nn::{Layer, Loss, Optimizer};
use crate::spec::Config;
use crate::{Result, data::DataSource, export::Exporter, process::Processor, spec::Validator};

/// A duplicate component name: the later-registered plugin won.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryWarning {
    /// The component kind.
    pub kind: ComponentKind,
    /// The name both registered.
    pub name: String,
    /// The plugin whose component the name now resolves to.
    pub winner: String,
    /// The plugin whose component it no longer resolves to.
    pub loser: String,
}

impl std::fmt::Display for RegistryWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} `{}` is registered by plugins `{}` and `{}`; `{}` (registered later) wins",
            self.kind, self.name, self.loser, self.winner, self.winner
        )
    }
}

type Span = Range<u32>;

struct Slot<C: ?Sized> {
    /// Full name, in the arena.
    name: Span,
    /// Short name and aliases, in `alias_spans`.
    aliases: Span,
    plugin: u32,
    factory: Factory<C>,
    params_schema: Option<ParamsSchema>,
}

/// An index key: a name in the arena and the component it resolves to.
#[derive(Clone)]
struct Key {
    name: Span,
    slot: u32,
}

/// The components of one kind, by name.
pub struct Registry<C: ?Sized> {
    kind: ComponentKind,
    arena: String,
    alias_spans: Vec<Span>,
    plugins: Vec<Arc<PluginInfo>>,
    slots: Vec<Slot<C>>,
    index: HashTable<Key>,
}

/// A component in a registry: its names, its plugin, its constructor.
pub struct ComponentRef<'a, C: ?Sized> {
    registry: &'a Registry<C>,
    slot: &'a Slot<C>,
}

impl<C: ?Sized> Clone for ComponentRef<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: ?Sized> Copy for ComponentRef<'_, C> {}

impl<'a, C: ?Sized> ComponentRef<'a, C> {
    /// Its full name, e.g. `core.Linear`.
    pub fn name(&self) -> &'a str {
        self.registry.text(&self.slot.name)
    }

    /// The plugin that registered it.
    pub fn plugin(&self) -> &'a PluginInfo {
        &self.registry.plugins[self.slot.plugin as usize]
    }

    /// Its short name (when registered without a dot) and aliases.
    pub fn aliases(&self) -> Vec<&'a str> {
        let Span { start, end } = self.slot.aliases.clone();
        self.registry.alias_spans[start as usize..end as usize].iter().map(|s| self.registry.text(s)).collect()
    }

    /// Its constructor.
    pub fn factory(&self) -> &'a Factory<C> {
        &self.slot.factory
    }

    /// Builds the component from its config.
    pub fn create(&self, config: &Config) -> Result<Box<C>> {
        self.slot.factory.create(config)
    }

    /// The JSON Schema of its params, made now; `None` when its plugin
    /// registered none.
    pub fn params_schema(&self) -> Option<serde_json::Value> {
        self.slot.params_schema.map(|make| make())
    }
}

impl<C: ?Sized> std::fmt::Debug for ComponentRef<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.name())
            .field("plugin", &&*self.plugin().name)
            .finish_non_exhaustive()
    }
}

fn hash_bytes(name: &[u8]) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl<C: ?Sized> Registry<C> {
    /// An empty registry.
    pub fn empty(kind: ComponentKind) -> Self {
        Self {
            kind,
            arena: String::new(),
            alias_spans: Vec::new(),
            plugins: Vec::new(),
            slots: Vec::new(),
            index: HashTable::new(),
        }
    }

    /// Merges the answers of one `register_*` hook, given in call order
    /// (as the hook returned them): walked in reverse, so where two plugins
    /// register one name, the one called first — the later registered —
    /// wins, and a warning names both.
    pub fn build(
        kind: ComponentKind,
        answers: Vec<(Arc<PluginInfo>, Registrations<C>)>,
        warnings: &mut Vec<RegistryWarning>,
    ) -> Self {
        let total: usize = answers.iter().map(|(_, r)| r.len()).sum();
        let mut registry = Self::empty(kind);
        registry.slots.reserve(total);
        registry.index.reserve(total * 2, |k| hash_bytes(registry_bytes(&registry.arena, &k.name)));
        registry.arena.reserve(total * 24);
        for (plugin, registrations) in answers {
            let plugin_at = registry.plugins.len() as u32;
            let namespace_len = plugin.namespace().len() + 1;
            registry.plugins.push(plugin.clone());
            for reg in registrations.iter() {
                let slot = registry.slots.len() as u32;
                // Names are short: a byte scan beats memchr's set-up.
                let has_dot = reg.name.bytes().any(|b| b == b'.');
                let full = if has_dot {
                    registry.push_text(&[&reg.name])
                } else {
                    registry.push_text(&[plugin.namespace(), ".", &reg.name])
                };
                let aliases_start = registry.alias_spans.len() as u32;
                if !has_dot {
                    // The short name is the full name's tail: no new text.
                    registry.alias_spans.push(full.start + namespace_len as u32..full.end);
                }
                for alias in &reg.aliases {
                    let span = registry.push_text(&[alias]);
                    registry.alias_spans.push(span);
                }
                let aliases = aliases_start..registry.alias_spans.len() as u32;
                registry.slots.push(Slot {
                    name: full.clone(),
                    aliases: aliases.clone(),
                    plugin: plugin_at,
                    factory: reg.factory.clone(),
                    params_schema: reg.params_schema,
                });
                registry.insert(Key { name: full, slot }, warnings);
                for at in aliases.start..aliases.end {
                    let name = registry.alias_spans[at as usize].clone();
                    registry.insert(Key { name, slot }, warnings);
                }
            }
        }
        registry
    }

    fn push_text(&mut self, parts: &[&str]) -> Span {
        let start = self.arena.len() as u32;
        for p in parts {
            self.arena.push_str(p);
        }
        start..self.arena.len() as u32
    }

    fn text(&self, span: &Span) -> &str {
        registry_text(&self.arena, span)
    }

    #[inline]
    fn insert(&mut self, key: Key, warnings: &mut Vec<RegistryWarning>) {
        let arena = &self.arena;
        let name = registry_bytes(arena, &key.name);
        let entry = self.index.entry(
            hash_bytes(name),
            |k| registry_bytes(arena, &k.name) == name,
            |k| hash_bytes(registry_bytes(arena, &k.name)),
        );
        let old = match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => std::mem::replace(&mut o.get_mut().slot, key.slot),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(key);
                return;
            }
        };
        let winner = &self.plugins[self.slots[key.slot as usize].plugin as usize].name;
        let loser = &self.plugins[self.slots[old as usize].plugin as usize].name;
        if loser != winner {
            let warning = RegistryWarning {
                kind: self.kind,
                name: self.text(&key.name).to_owned(),
                winner: winner.to_string(),
                loser: loser.to_string(),
            };
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
    }

    fn slot_of(&self, name: &str) -> Option<u32> {
        let name = name.as_bytes();
        self.index.find(hash_bytes(name), |k| registry_bytes(&self.arena, &k.name) == name).map(|k| k.slot)
    }

    fn at(&self, slot: u32) -> ComponentRef<'_, C> {
        ComponentRef { registry: self, slot: &self.slots[slot as usize] }
    }

    /// The component a name resolves to (full name, short name or alias).
    pub fn get(&self, name: &str) -> Option<ComponentRef<'_, C>> {
        self.slot_of(name).map(|s| self.at(s))
    }

    /// Like [`get`](Self::get), but an unknown name is an error with
    /// did-you-mean suggestions.
    pub fn resolve(&self, name: &str) -> Result<ComponentRef<'_, C>> {
        self.get(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownComponent { kind: self.kind, name: name.to_owned(), hint: DidYouMean::among(name, self.keys()) }
    }

    /// The components their full names resolve to, in registration order
    /// (one whose full name another plugin took over is left out).
    pub fn entries(&self) -> impl Iterator<Item = ComponentRef<'_, C>> {
        (0..self.slots.len() as u32)
            .filter(|&s| self.slot_of(self.text(&self.slots[s as usize].name)) == Some(s))
            .map(|s| self.at(s))
    }

    /// The full names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries().map(|e| e.name()).collect()
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every name that resolves (full names, short names and aliases).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.iter().map(|k| self.text(&k.name))
    }
}

/// Byte comparisons skip the char-boundary checks of `str` slicing.
fn registry_bytes<'a>(arena: &'a str, span: &Span) -> &'a [u8] {
    &arena.as_bytes()[span.start as usize..span.end as usize]
}

fn registry_text<'a>(arena: &'a str, span: &Span) -> &'a str {
    &arena[span.start as usize..span.end as usize]
}

/// Every component registry, built by `refresh_registries`.
pub struct Registries {
    /// Layers.
    pub layers: Registry<dyn Layer>,
    /// Feature processors.
    pub processors: Registry<dyn Processor>,
    /// Optimizers.
    pub optimizers: Registry<dyn Optimizer>,
    /// Losses.
    pub losses: Registry<dyn Loss>,
    /// Model validators.
    pub validators: Registry<dyn Validator>,
    /// Data sources.
    pub data_sources: Registry<dyn DataSource>,
    /// Exporters.
    pub exporters: Registry<dyn Exporter>,
    /// Duplicate names found while merging.
    pub warnings: Vec<RegistryWarning>,
}

impl Default for Registries {
    fn default() -> Self {
        Self {
            layers: Registry::empty(ComponentKind::Layer),
            processors: Registry::empty(ComponentKind::Processor),
            optimizers: Registry::empty(ComponentKind::Optimizer),
            losses: Registry::empty(ComponentKind::Loss),
            validators: Registry::empty(ComponentKind::Validator),
            data_sources: Registry::empty(ComponentKind::DataSource),
            exporters: Registry::empty(ComponentKind::Exporter),
            warnings: Vec::new(),
        }
    }
}

impl Registries {
    /// The layer a spec's type name stands for: the legacy `torch.nn.*`
    /// table first, then the registry.
    pub fn layer(&self, name: &str) -> Result<ComponentRef<'_, dyn Layer>> {
        let name = super::legacy::legacy_layer_name(name).unwrap_or(name);
        self.layers.resolve(name)
    }

    /// (full name, plugin) of every component of `kind`, in registration order.
    pub fn components(&self, kind: ComponentKind) -> Vec<(&str, &str)> {
        fn pairs<C: ?Sized>(r: &Registry<C>) -> Vec<(&str, &str)> {
            r.entries().map(|e| (e.name(), &*e.plugin().name)).collect()
        }
        match kind {
            ComponentKind::Layer => pairs(&self.layers),
            ComponentKind::Processor => pairs(&self.processors),
            ComponentKind::Optimizer => pairs(&self.optimizers),
            ComponentKind::Loss => pairs(&self.losses),
            ComponentKind::Validator => pairs(&self.validators),
            ComponentKind::DataSource => pairs(&self.data_sources),
            ComponentKind::Exporter => pairs(&self.exporters),
        }
    }

    /// The full name `name` resolves to among components of `kind`, the
    /// legacy table included for layers.
    pub fn full_name(&self, kind: ComponentKind, name: &str) -> Result<&str> {
        Ok(match kind {
            ComponentKind::Layer => self.layer(name)?.name(),
            ComponentKind::Processor => self.processors.resolve(name)?.name(),
            ComponentKind::Optimizer => self.optimizers.resolve(name)?.name(),
            ComponentKind::Loss => self.losses.resolve(name)?.name(),
            ComponentKind::Validator => self.validators.resolve(name)?.name(),
            ComponentKind::DataSource => self.data_sources.resolve(name)?.name(),
            ComponentKind::Exporter => self.exporters.resolve(name)?.name(),
        })
    }
}

/// An owned handle on a component, valid as long as it is held (it keeps
/// the registries snapshot it came from alive).
pub struct Component<C: ?Sized> {
    registries: Arc<Registries>,
    select: fn(&Registries) -> &Registry<C>,
    slot: u32,
}

impl<C: ?Sized> Component<C> {
    pub(crate) fn new(
        registries: Arc<Registries>,
        select: fn(&Registries) -> &Registry<C>,
        name: &str,
    ) -> Result<Self> {
        let slot = select(&registries).slot_of(name).ok_or_else(|| select(&registries).unknown(name))?;
        Ok(Self { registries, select, slot })
    }

    /// The component, borrowed.
    pub fn get(&self) -> ComponentRef<'_, C> {
        (self.select)(&self.registries).at(self.slot)
    }

    /// Its full name.
    pub fn name(&self) -> &str {
        self.get().name()
    }

    /// The plugin that registered it.
    pub fn plugin(&self) -> &PluginInfo {
        (self.select)(&self.registries).at(self.slot).plugin()
    }

    /// Builds the component from its config.
    pub fn create(&self, config: &Config) -> Result<Box<C>> {
        self.get().create(config)
    }
}

impl<C: ?Sized> std::fmt::Debug for Component<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}
