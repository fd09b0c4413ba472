//! Who a plugin is: its metadata (the seed's `__plugin_metadata__`).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

/// A plugin's metadata, given by `#[arc_plugin(name, version, description,
/// namespace)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginMetadata {
    /// The plugin's name, e.g. `builtin_layers`.
    pub name: Cow<'static, str>,
    /// Its version.
    pub version: Cow<'static, str>,
    /// What it provides.
    pub description: Cow<'static, str>,
    /// The prefix of component names it registers without a dot
    /// (`Linear` becomes `core.Linear`); `core` by default.
    pub namespace: Cow<'static, str>,
}

impl PluginMetadata {
    /// Metadata with a name, an empty version and description, namespace `core`.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            version: Cow::Borrowed(""),
            description: Cow::Borrowed(""),
            namespace: Cow::Borrowed("core"),
        }
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<Cow<'static, str>>) -> Self {
        self.namespace = namespace.into();
        self
    }
}

/// A plugin: anything shareable between threads that knows its metadata.
///
/// `#[arc_plugin]` implements it; implement it by hand for a plugin that
/// should only ever be registered at run time (it is then not linked into
/// [`discover_plugins`](super::PluginManager::discover_plugins)).
pub trait Plugin: Any + Send + Sync {
    /// This plugin's metadata.
    fn metadata(&self) -> PluginMetadata;
}

/// How a plugin came into a manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Linked into the binary and found by `discover_plugins`.
    Linked,
    /// Registered at run time with `register_plugin`.
    Runtime,
}

impl PluginOrigin {
    /// `linked` or `runtime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::Runtime => "runtime",
        }
    }
}

/// A registered plugin's identity: the name it was registered under, its
/// metadata and origin.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    /// The name it is registered under.
    pub name: Arc<str>,
    /// Its metadata.
    pub metadata: PluginMetadata,
    /// How it came in.
    pub origin: PluginOrigin,
    /// Registration order within its manager: later is larger.
    pub(crate) seq: u64,
}

impl PluginInfo {
    /// Stands for "several plugins" where results were merged by wrappers.
    pub(crate) fn anonymous() -> Arc<Self> {
        static ANONYMOUS: std::sync::OnceLock<Arc<PluginInfo>> = std::sync::OnceLock::new();
        let make = || Self {
            name: Arc::from("<wrapped>"),
            metadata: PluginMetadata::named("<wrapped>"),
            origin: PluginOrigin::Runtime,
            seq: u64::MAX,
        };
        ANONYMOUS.get_or_init(|| Arc::new(make())).clone()
    }

    /// A plugin's identity, registered at run time as `name`.
    pub fn runtime(name: &str, metadata: PluginMetadata) -> Self {
        Self { name: Arc::from(name), metadata, origin: PluginOrigin::Runtime, seq: u64::MAX }
    }

    /// Where it stands in registration order (later registrations are
    /// larger); what decides which plugin wins a duplicate component name.
    pub fn registration_order(&self) -> u64 {
        self.seq
    }

    /// The namespace for component names given without a dot.
    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
}
