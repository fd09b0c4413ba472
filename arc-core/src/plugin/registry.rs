//! Component registries: every `register_*` hook's answers merged into one
//! name index per component kind.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::component::{ComponentKind, Factory, Registrations};
use super::metadata::PluginInfo;
use crate::error::{DidYouMean, Error};
use crate::nn::{Layer, Loss, Optimizer};
use crate::{Result, data::DataSource, export::Exporter, process::Processor, validate::Validator};

/// One component in a registry.
pub struct ComponentEntry<C: ?Sized> {
    /// Its full name, e.g. `core.Linear`.
    pub name: Arc<str>,
    /// The plugin that registered it.
    pub plugin: Arc<str>,
    /// Other names that resolved to it when it was registered.
    pub aliases: Vec<Arc<str>>,
    /// Its constructor.
    pub factory: Factory<C>,
}

impl<C: ?Sized> std::fmt::Debug for ComponentEntry<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentEntry")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("aliases", &self.aliases)
            .finish_non_exhaustive()
    }
}

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

/// The components of one kind, by name.
pub struct Registry<C: ?Sized> {
    kind: ComponentKind,
    entries: Vec<Arc<ComponentEntry<C>>>,
    index: FxHashMap<Box<str>, u32>,
}

impl<C: ?Sized> Registry<C> {
    /// An empty registry.
    pub fn empty(kind: ComponentKind) -> Self {
        Self {
            kind,
            entries: Vec::new(),
            index: FxHashMap::default(),
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
        let mut registry = Self {
            kind,
            entries: Vec::with_capacity(total),
            index: FxHashMap::default(),
        };
        registry.index.reserve(total * 2);
        for (plugin, registrations) in answers.into_iter().rev() {
            for reg in registrations {
                let at = registry.entries.len() as u32;
                let (full, short): (Box<str>, Option<Box<str>>) = if reg.name.contains('.') {
                    (reg.name.as_ref().into(), None)
                } else {
                    (
                        format!("{}.{}", plugin.namespace(), reg.name).into(),
                        Some(reg.name.as_ref().into()),
                    )
                };
                let aliases: Vec<Arc<str>> = short
                    .iter()
                    .map(|s| Arc::from(&**s))
                    .chain(reg.aliases.iter().map(|a| Arc::from(&**a)))
                    .collect();
                registry.entries.push(Arc::new(ComponentEntry {
                    name: Arc::from(&*full),
                    plugin: plugin.name.clone(),
                    aliases,
                    factory: reg.factory,
                }));
                registry.insert(full, at, warnings);
                if let Some(short) = short {
                    registry.insert(short, at, warnings);
                }
                for alias in reg.aliases {
                    registry.insert(alias.as_ref().into(), at, warnings);
                }
            }
        }
        registry
    }

    fn insert(&mut self, key: Box<str>, at: u32, warnings: &mut Vec<RegistryWarning>) {
        let winner = &self.entries[at as usize].plugin;
        if let Some(old) = self.index.insert(key.clone(), at) {
            let loser = &self.entries[old as usize].plugin;
            if loser != winner {
                let warning = RegistryWarning {
                    kind: self.kind,
                    name: key.into(),
                    winner: winner.to_string(),
                    loser: loser.to_string(),
                };
                tracing::warn!("{warning}");
                warnings.push(warning);
            }
        }
    }

    /// The component a name resolves to (full name, short name or alias).
    pub fn get(&self, name: &str) -> Option<&Arc<ComponentEntry<C>>> {
        self.index.get(name).map(|&i| &self.entries[i as usize])
    }

    /// Like [`get`](Self::get), but an unknown name is an error with
    /// did-you-mean suggestions.
    pub fn resolve(&self, name: &str) -> Result<&Arc<ComponentEntry<C>>> {
        self.get(name).ok_or_else(|| Error::UnknownComponent {
            kind: self.kind,
            name: name.to_owned(),
            hint: DidYouMean::among(name, self.index.keys().map(|k| &**k)),
        })
    }

    /// The components each name resolves to now, in registration order
    /// (a component whose full name was taken over is left out).
    pub fn entries(&self) -> impl Iterator<Item = &Arc<ComponentEntry<C>>> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| self.index.get(&*e.name) == Some(&(*i as u32)))
            .map(|(_, e)| e)
    }

    /// The full names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries().map(|e| &*e.name).collect()
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every name that resolves (full names, short names and aliases).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(|k| &**k)
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
    pub fn layer(&self, name: &str) -> Result<&Arc<ComponentEntry<dyn Layer>>> {
        let name = super::legacy::legacy_layer_name(name).unwrap_or(name);
        self.layers.resolve(name)
    }

    /// The full names of every component of `kind`, in registration order.
    pub fn names(&self, kind: ComponentKind) -> Vec<&str> {
        match kind {
            ComponentKind::Layer => self.layers.names(),
            ComponentKind::Processor => self.processors.names(),
            ComponentKind::Optimizer => self.optimizers.names(),
            ComponentKind::Loss => self.losses.names(),
            ComponentKind::Validator => self.validators.names(),
            ComponentKind::DataSource => self.data_sources.names(),
            ComponentKind::Exporter => self.exporters.names(),
        }
    }

    /// The full name `name` resolves to among components of `kind`, the
    /// legacy table included for layers.
    pub fn full_name(&self, kind: ComponentKind, name: &str) -> Result<Arc<str>> {
        Ok(match kind {
            ComponentKind::Layer => self.layer(name)?.name.clone(),
            ComponentKind::Processor => self.processors.resolve(name)?.name.clone(),
            ComponentKind::Optimizer => self.optimizers.resolve(name)?.name.clone(),
            ComponentKind::Loss => self.losses.resolve(name)?.name.clone(),
            ComponentKind::Validator => self.validators.resolve(name)?.name.clone(),
            ComponentKind::DataSource => self.data_sources.resolve(name)?.name.clone(),
            ComponentKind::Exporter => self.exporters.resolve(name)?.name.clone(),
        })
    }
}
