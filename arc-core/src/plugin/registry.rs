//! Component registries: every `register_*` hook's answers merged into one
//! name index per component kind.
//!
//! A refresh merges about a thousand names, so a registry keeps every name
//! in one string arena and indexes it with a hash table of offsets: no
//! allocation per component. A full name made of a namespace and a short
//! name (`core.Linear`) is not indexed on its own: it is found through its
//! short name, which halves the index a refresh builds.

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::component::{ComponentKind, Factory, Registration, Registrations};
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

/// One component: where its names are and which registration it is.
#[derive(Clone)]
struct Slot {
    /// Full name, in the arena.
    name: Span,
    /// Where its short name starts in the arena (a tail of the full name);
    /// `name.start` when it has none (registered with a dot).
    short: u32,
    /// Its plugin's answer, in `Registry::answers`.
    plugin: u32,
    /// Its registration within that answer.
    item: u32,
    /// The component registered before it with the same short name, or
    /// [`NONE`].
    prev_short: u32,
    /// Whether a later component took over its full name.
    shadowed: bool,
}

impl Slot {
    /// Its namespace; only for a slot with a short name (which follows the
    /// namespace and a dot).
    fn namespace<'a>(&self, arena: &'a str) -> &'a [u8] {
        registry_bytes(arena, &(self.name.start..self.short - 1))
    }
}

/// No slot.
const NONE: u32 = u32::MAX;

/// An index key: a name in the arena and the component it resolves to.
///
/// Keys are short names, aliases and full names registered with a dot. A
/// full name made of namespace and short name is found through the short
/// name's key: `short_head` and the slots' `prev_short` chain every
/// component with that short name, latest first.
#[derive(Clone)]
struct Key {
    name: Span,
    /// The component registered last under this text (as short name, alias
    /// or dotted full name).
    slot: u32,
    /// The component registered last with this short name, or [`NONE`].
    short_head: u32,
}

/// The components of one kind, by name.
pub struct Registry<C: ?Sized> {
    kind: ComponentKind,
    arena: String,
    /// Every plugin's answer, in registration order; slots point into it,
    /// so a refresh copies no factory.
    answers: Vec<(Arc<PluginInfo>, Registrations<C>)>,
    slots: Vec<Slot>,
    index: HashTable<Key>,
    /// Whether some key has a dot (so a full name may be a key too).
    dotted_keys: bool,
    /// How many slots keep their full name.
    live: usize,
}

/// A component in a registry: its names, its plugin, its constructor.
pub struct ComponentRef<'a, C: ?Sized> {
    registry: &'a Registry<C>,
    slot: &'a Slot,
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
        &self.registry.answers[self.slot.plugin as usize].0
    }

    fn registration(&self) -> &'a Registration<C> {
        &self.registry.answers[self.slot.plugin as usize].1.as_slice()[self.slot.item as usize]
    }

    /// Its short name (when registered without a dot) and aliases.
    pub fn aliases(&self) -> Vec<&'a str> {
        let Slot { name, short, .. } = self.slot;
        let short = (*short != name.start).then(|| self.registry.text(&(*short..name.end)));
        short.into_iter().chain(self.registration().aliases.iter().map(|a| &**a)).collect()
    }

    /// Its constructor.
    pub fn factory(&self) -> &'a Factory<C> {
        &self.registration().factory
    }

    /// Builds the component from its config. A factory that panics is an
    /// [`Error::ComponentPanicked`] naming the plugin and the component (the
    /// graph builder adds the node and its YAML line); the manager stays usable.
    pub fn create(&self, config: &Config) -> Result<Box<C>> {
        let factory = self.factory();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory.create(config))).unwrap_or_else(|payload| {
            if let Some(refused) = payload.downcast_ref::<crate::tensor::AllocationRefused>() {
                return Err(Error::TooLarge {
                    what: format!("{} `{}`", self.registry.kind, self.name()),
                    message: refused.to_string(),
                });
            }
            Err(Error::ComponentPanicked {
                plugin: self.plugin().name.to_string(),
                kind: self.registry.kind,
                component: self.name().to_owned(),
                message: super::hook::panic_message(payload.as_ref()),
            })
        })
    }

    /// The elements of its parameters and buffers for `config`, from its
    /// [`StateSize`](super::StateSize); `None` when its plugin registered
    /// none. A panicking size function is an error, as a factory's is.
    pub fn state_size(&self, config: &Config) -> Option<Result<u64>> {
        let size = self.registration().state_size?;
        Some(std::panic::catch_unwind(|| size(config)).unwrap_or_else(|payload| {
            Err(Error::ComponentPanicked {
                plugin: self.plugin().name.to_string(),
                kind: self.registry.kind,
                component: self.name().to_owned(),
                message: super::hook::panic_message(payload.as_ref()),
            })
        }))
    }

    /// The JSON Schema of its params, made now; `None` when its plugin
    /// registered none.
    pub fn params_schema(&self) -> Option<serde_json::Value> {
        self.registration().params_schema.map(|make| make())
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

/// Whether `name` holds a `.`, eight bytes at a time (names are short:
/// this beats both a byte loop and memchr's set-up).
#[inline]
fn has_dot(name: &[u8]) -> bool {
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // A byte of `w ^ DOTS` is zero where `w` has a dot; the classic
    // zero-byte test is exact about whether there is one.
    let dot_in = |w: [u8; 8]| {
        let x = u64::from_ne_bytes(w) ^ DOTS;
        x.wrapping_sub(LOW) & !x & HIGH != 0
    };
    match name.len() {
        0..8 => name.contains(&b'.'),
        len => {
            let (words, _) = name.as_chunks::<8>();
            // The last eight bytes cover the tail the words leave.
            let last = name[len - 8..].try_into().expect("eight bytes");
            words.iter().any(|&w| dot_in(w)) || dot_in(last)
        }
    }
}

#[inline]
fn hash_bytes(name: &[u8]) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl<C: ?Sized> Registry<C> {
    /// An empty registry.
    pub fn empty(kind: ComponentKind) -> Self {
        Self {
            kind,
            arena: String::new(),
            answers: Vec::new(),
            slots: Vec::new(),
            index: HashTable::new(),
            dotted_keys: false,
            live: 0,
        }
    }

    /// Merges the answers of one `register_*` hook, given in registration
    /// order (first registered first, whatever order the hook called them
    /// in): where two plugins register one name, the later registered wins,
    /// and a warning names both.
    pub fn build(
        kind: ComponentKind,
        answers: Vec<(Arc<PluginInfo>, Registrations<C>)>,
        warnings: &mut Vec<RegistryWarning>,
    ) -> Self {
        // The answers come in registration order; they are kept, not copied.
        let (mut total, mut keys, mut text) = (0, 0, 0);
        for (plugin, registrations) in &answers {
            let namespace_len = plugin.namespace().len() + 1;
            for reg in registrations.iter() {
                keys += 1 + reg.aliases.len();
                text += namespace_len + reg.name.len() + reg.aliases.iter().map(|a| a.len()).sum::<usize>();
            }
            total += registrations.len();
        }
        let mut arena = String::with_capacity(text);
        let mut slots = Vec::with_capacity(total);
        // All text first, then the index: hashing a name just copied would
        // stall on reading back the copy's stores.
        for (plugin_at, (plugin, registrations)) in answers.iter().enumerate() {
            let namespace = plugin.namespace();
            for (item, reg) in registrations.iter().enumerate() {
                let has_dot = has_dot(reg.name.as_bytes());
                let start = arena.len() as u32;
                if !has_dot {
                    arena.push_str(namespace);
                    arena.push('.');
                }
                let short = arena.len() as u32;
                arena.push_str(&reg.name);
                let end = arena.len() as u32;
                // Aliases follow the name in the arena.
                for alias in &reg.aliases {
                    arena.push_str(alias);
                }
                slots.push(Slot {
                    name: start..end,
                    short: if has_dot { start } else { short },
                    plugin: plugin_at as u32,
                    item: item as u32,
                    prev_short: NONE,
                    shadowed: false,
                });
            }
        }
        let mut names = Names {
            kind,
            arena: &arena,
            answers: &answers,
            slots: &mut slots,
            index: HashTable::with_capacity(keys),
            dotted_keys: false,
            warnings,
        };
        let registrations = answers.iter().flat_map(|(_, r)| r.iter());
        for (slot, reg) in (0..total as u32).zip(registrations) {
            let Slot { name: full, short, .. } = names.slots[slot as usize].clone();
            if short == full.start {
                names.insert(full.clone(), slot);
            } else {
                names.insert_short(short..full.end, slot);
            }
            let mut start = full.end;
            for alias in &reg.aliases {
                let end = start + alias.len() as u32;
                names.insert(start..end, slot);
                start = end;
            }
        }
        let (index, dotted_keys) = (names.index, names.dotted_keys);
        let live = slots.iter().filter(|s| !s.shadowed).count();
        Self { kind, arena, answers, slots, index, dotted_keys, live }
    }

    fn text(&self, span: &Span) -> &str {
        registry_text(&self.arena, span)
    }

    fn slot_of(&self, name: &str) -> Option<u32> {
        let name = name.as_bytes();
        let key = find_key(&self.index, &self.arena, name);
        // Without dotted keys, a key found is no full name: the common case.
        if key.is_some() && !self.dotted_keys || !has_dot(name) {
            return key;
        }
        // The later of a key and a full name made of namespace and short name.
        key.max(find_full(&self.index, &self.arena, &self.slots, name))
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
        self.slots.iter().filter(|s| !s.shadowed).map(|slot| ComponentRef { registry: self, slot })
    }

    /// The full names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries().map(|e| e.name()).collect()
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every name that resolves (full names, short names and aliases).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        // Full names made of namespace and short name are no keys: each
        // once, where no key has its text.
        let full_names = (0..self.slots.len() as u32).filter_map(|at| {
            let slot = &self.slots[at as usize];
            let name = registry_bytes(&self.arena, &slot.name);
            let is_own = slot.short != slot.name.start
                && find_full(&self.index, &self.arena, &self.slots, name) == Some(at)
                && find_key(&self.index, &self.arena, name).is_none();
            is_own.then(|| self.text(&slot.name))
        });
        self.index.iter().map(|k| self.text(&k.name)).chain(full_names)
    }
}

/// Byte comparisons skip the char-boundary checks of `str` slicing.
fn registry_bytes<'a>(arena: &'a str, span: &Span) -> &'a [u8] {
    &arena.as_bytes()[span.start as usize..span.end as usize]
}

fn registry_text<'a>(arena: &'a str, span: &Span) -> &'a str {
    &arena[span.start as usize..span.end as usize]
}

/// The slot the key `name` resolves to.
#[inline]
fn find_key(index: &HashTable<Key>, arena: &str, name: &[u8]) -> Option<u32> {
    index.find(hash_bytes(name), |k| registry_bytes(arena, &k.name) == name).map(|k| k.slot)
}

/// The latest slot whose full name, made of namespace and short name, is
/// `name`.
fn find_full(index: &HashTable<Key>, arena: &str, slots: &[Slot], name: &[u8]) -> Option<u32> {
    // Short names have no dot: the namespace ends at the last one.
    let dot = name.iter().rposition(|&b| b == b'.')?;
    let (namespace, short) = (&name[..dot], &name[dot + 1..]);
    let head = index.find(hash_bytes(short), |k| registry_bytes(arena, &k.name) == short)?.short_head;
    latest_in(slots, arena, head, namespace)
}

/// The first slot from `head` down its `prev_short` chain in `namespace`.
fn latest_in(slots: &[Slot], arena: &str, head: u32, namespace: &[u8]) -> Option<u32> {
    let mut at = head;
    while at != NONE {
        let slot = &slots[at as usize];
        if slot.namespace(arena) == namespace {
            return Some(at);
        }
        at = slot.prev_short;
    }
    None
}

/// The index being built, and what a build needs to report names taken over.
struct Names<'a, C: ?Sized> {
    kind: ComponentKind,
    arena: &'a str,
    answers: &'a [(Arc<PluginInfo>, Registrations<C>)],
    slots: &'a mut [Slot],
    index: HashTable<Key>,
    dotted_keys: bool,
    warnings: &'a mut Vec<RegistryWarning>,
}

impl<C: ?Sized> Names<'_, C> {
    /// Points the key `name` (an alias or a dotted full name) at `slot`.
    fn insert(&mut self, name: Span, slot: u32) {
        let arena = self.arena;
        let bytes = registry_bytes(arena, &name);
        let entry = self.index.entry(
            hash_bytes(bytes),
            |k| registry_bytes(arena, &k.name) == bytes,
            |k| hash_bytes(registry_bytes(arena, &k.name)),
        );
        let key = match entry {
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Key { name: name.clone(), slot, short_head: NONE });
                None
            }
            hashbrown::hash_table::Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().slot, slot)),
        };
        let full = if has_dot(bytes) {
            self.dotted_keys = true;
            find_full(&self.index, arena, self.slots, bytes)
        } else {
            None
        };
        if let Some(old) = key.max(full).filter(|&old| old != slot) {
            self.taken_over(&name, old, slot);
        }
    }

    /// Points the short name `short` (the tail of `slot`'s full name) at
    /// `slot`, and the full name with it.
    #[inline]
    fn insert_short(&mut self, short: Span, slot: u32) {
        let arena = self.arena;
        let bytes = registry_bytes(arena, &short);
        let entry = self.index.entry(
            hash_bytes(bytes),
            |k| registry_bytes(arena, &k.name) == bytes,
            |k| hash_bytes(registry_bytes(arena, &k.name)),
        );
        let (key, head) = match entry {
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Key { name: short.clone(), slot, short_head: slot });
                if !self.dotted_keys {
                    return;
                }
                (None, NONE)
            }
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let k = o.get_mut();
                let head = std::mem::replace(&mut k.short_head, slot);
                (Some(std::mem::replace(&mut k.slot, slot)), head)
            }
        };
        self.slots[slot as usize].prev_short = head;
        self.short_taken(short, slot, key, head);
    }

    /// The rest of [`insert_short`](Self::insert_short) where the short
    /// name was known or a key may be the full name: who held the full
    /// name and the short name before `slot`.
    #[cold]
    #[inline(never)]
    fn short_taken(&mut self, short: Span, slot: u32, key: Option<u32>, head: u32) {
        let full = self.slots[slot as usize].name.clone();
        let full_bytes = registry_bytes(self.arena, &full);
        let namespace = self.slots[slot as usize].namespace(self.arena);
        let by_key = if self.dotted_keys { find_key(&self.index, self.arena, full_bytes) } else { None };
        if let Some(old) = by_key.max(latest_in(self.slots, self.arena, head, namespace)) {
            self.taken_over(&full, old, slot);
        }
        if let Some(old) = key.filter(|&old| old != slot) {
            self.taken_over(&short, old, slot);
        }
    }

    /// `name` moved from slot `old` to the later `slot`: `old` loses it,
    /// and a warning names both plugins when they differ.
    #[cold]
    #[inline(never)]
    fn taken_over(&mut self, name: &Span, old: u32, slot: u32) {
        let text = registry_text(self.arena, name);
        let loser_slot = &mut self.slots[old as usize];
        if registry_text(self.arena, &loser_slot.name) == text {
            loser_slot.shadowed = true;
        }
        let plugin_of = |s: u32| &self.answers[self.slots[s as usize].plugin as usize].0.name;
        let (winner, loser) = (plugin_of(slot), plugin_of(old));
        if loser != winner {
            let warning = RegistryWarning {
                kind: self.kind,
                name: text.to_owned(),
                winner: winner.to_string(),
                loser: loser.to_string(),
            };
            tracing::warn!("{warning}");
            self.warnings.push(warning);
        }
    }
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

    /// The elements its parameters and buffers hold for `config`, without
    /// building it; see [`ComponentRef::state_size`].
    pub fn state_size(&self, config: &Config) -> Option<Result<u64>> {
        self.get().state_size(config)
    }
}

impl<C: ?Sized> std::fmt::Debug for Component<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_dot_finds_a_dot_anywhere() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert!(!super::has_dot(&plain));
            for at in 0..len {
                let mut dotted = plain.clone();
                dotted[at] = b'.';
                assert!(super::has_dot(&dotted), "len {len}, dot at {at}");
            }
        }
        // Bytes next to '.' (0x2e) in value, and multi-byte text.
        assert!(!super::has_dot("-/-/-/-/-/-/-/-/-".as_bytes()));
        assert!(!super::has_dot("ÿé€ü😀ÿé€ü😀".as_bytes()));
    }
}
