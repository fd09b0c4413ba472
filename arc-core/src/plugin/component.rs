//! What a `register_*` hook returns: names and aliases mapped to
//! constructors that build a component from its config.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::Result;
use crate::spec::Config;
pub use crate::types::ComponentKind;

/// A constructor closure shared between registries.
pub type SharedFactory<C> = Arc<dyn Fn(&Config) -> Result<Box<C>> + Send + Sync>;

/// Builds a component of type `C` (e.g. `dyn Layer`) from its config.
///
/// Cloning is cheap: a function pointer or a shared closure.
pub enum Factory<C: ?Sized> {
    /// A plain function, e.g. `Linear::from_config`.
    Fn(fn(&Config) -> Result<Box<C>>),
    /// A closure that captures state.
    Shared(SharedFactory<C>),
}

impl<C: ?Sized> Factory<C> {
    /// Builds the component.
    pub fn create(&self, config: &Config) -> Result<Box<C>> {
        match self {
            Self::Fn(f) => f(config),
            Self::Shared(f) => f(config),
        }
    }
}

impl<C: ?Sized> Clone for Factory<C> {
    fn clone(&self) -> Self {
        match self {
            Self::Fn(f) => Self::Fn(*f),
            Self::Shared(f) => Self::Shared(f.clone()),
        }
    }
}

impl<C: ?Sized> fmt::Debug for Factory<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fn(_) => "Factory::Fn",
            Self::Shared(_) => "Factory::Shared",
        })
    }
}

/// One registered component: its name, aliases and constructor.
#[derive(Debug)]
pub struct Registration<C: ?Sized> {
    /// The name as given: with a dot it is used as is, without one it gets
    /// the plugin's namespace (`Linear` is stored as `core.Linear`, and
    /// `Linear` resolves to it).
    pub name: Cow<'static, str>,
    /// Other names that resolve to it, used as given.
    pub aliases: Vec<Cow<'static, str>>,
    /// Its constructor.
    pub factory: Factory<C>,
    /// The JSON Schema of its params (called on demand, e.g. by `arc schema`).
    pub params_schema: Option<ParamsSchema>,
    /// How many elements its parameters and buffers hold for a config,
    /// worked out without building it (the memory budget's estimate).
    pub state_size: Option<StateSize>,
}

/// The elements of a component's parameters and buffers for a config,
/// computed from the config alone (nothing allocated), with checked
/// arithmetic: an overflow is an error. Lets `arc validate` and the trainer
/// hold a model against the memory budget before building it.
///
/// ```
/// use arc_core::plugin::StateSize;
/// use arc_core::spec::Config;
///
/// fn dense_size(config: &Config) -> arc_core::Result<u64> {
///     let units = config.get_u64("units").unwrap_or(1);
///     Ok(units * 4)
/// }
/// let size: StateSize = dense_size;
/// assert_eq!(size(&Config::from_yaml("units: 3")?)?, 12);
/// # Ok::<(), arc_core::Error>(())
/// ```
pub type StateSize = fn(&Config) -> Result<u64>;

/// Makes the JSON Schema (draft 2020-12) of a component's params: an object
/// schema whose properties are the params, each with its type, default,
/// allowed values and one-line doc. [`schema_of`] derives it from the
/// config type (`#[derive(Deserialize, schemars::JsonSchema)]`), so the
/// config type stays the one source of truth.
pub type ParamsSchema = fn() -> serde_json::Value;

/// The JSON Schema of config type `T` (a [`ParamsSchema`]):
/// `.params_schema(schema_of::<LinearConfig>)`.
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(T).to_value()
}

impl<C: ?Sized> Clone for Registration<C> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            aliases: self.aliases.clone(),
            factory: self.factory.clone(),
            params_schema: self.params_schema,
            state_size: self.state_size,
        }
    }
}

/// What a `register_*` hook returns.
///
/// ```
/// use arc_core::plugin::Registrations;
/// use arc_core::spec::Config;
/// use arc_core::validate::Validator;
///
/// struct NoCycles;
/// impl Validator for NoCycles {}
///
/// let regs: Registrations<dyn Validator> = Registrations::new()
///     .add("graph.NoCycles", |_: &Config| Ok(Box::new(NoCycles) as Box<dyn Validator>))
///     .alias("NoCycles");
/// assert_eq!(regs.len(), 1);
/// assert_eq!(regs.iter().next().unwrap().aliases, ["NoCycles"]);
/// ```
///
/// Cloning is cheap (the list is shared until changed), so a plugin can
/// build its registrations once and hand out clones.
#[derive(Debug)]
pub struct Registrations<C: ?Sized> {
    items: Arc<Vec<Registration<C>>>,
}

impl<C: ?Sized> Clone for Registrations<C> {
    fn clone(&self) -> Self {
        Self { items: self.items.clone() }
    }
}

impl<C: ?Sized> Default for Registrations<C> {
    fn default() -> Self {
        Self { items: Arc::new(Vec::new()) }
    }
}

impl<C: ?Sized> Registrations<C> {
    /// No registrations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name` with a plain constructor function.
    pub fn add(self, name: impl Into<Cow<'static, str>>, factory: fn(&Config) -> Result<Box<C>>) -> Self {
        self.add_factory(name, Factory::Fn(factory))
    }

    /// Registers `name` with a constructor closure.
    pub fn add_shared(
        self,
        name: impl Into<Cow<'static, str>>,
        factory: impl Fn(&Config) -> Result<Box<C>> + Send + Sync + 'static,
    ) -> Self {
        self.add_factory(name, Factory::Shared(Arc::new(factory)))
    }

    /// Registers `name` with a [`Factory`].
    pub fn add_factory(mut self, name: impl Into<Cow<'static, str>>, factory: Factory<C>) -> Self {
        let registration =
            Registration { name: name.into(), aliases: Vec::new(), factory, params_schema: None, state_size: None };
        Arc::make_mut(&mut self.items).push(registration);
        self
    }

    /// Gives the component added last the JSON Schema of its params
    /// ([`ParamsSchema`]); does nothing when none was added.
    pub fn params_schema(mut self, schema: ParamsSchema) -> Self {
        if let Some(last) = Arc::make_mut(&mut self.items).last_mut() {
            last.params_schema = Some(schema);
        }
        self
    }

    /// Gives the component added last its [`StateSize`]; does nothing when
    /// none was added. Without one, the budget check counts the component
    /// only once built.
    pub fn state_size(mut self, size: StateSize) -> Self {
        if let Some(last) = Arc::make_mut(&mut self.items).last_mut() {
            last.state_size = Some(size);
        }
        self
    }

    /// Adds an alias to the component added last; does nothing when none was.
    pub fn alias(mut self, alias: impl Into<Cow<'static, str>>) -> Self {
        if let Some(last) = Arc::make_mut(&mut self.items).last_mut() {
            last.aliases.push(alias.into());
        }
        self
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The registrations, in the order added, as a slice.
    pub(crate) fn as_slice(&self) -> &[Registration<C>] {
        &self.items
    }

    /// The registrations, in the order added.
    pub fn iter(&self) -> std::slice::Iter<'_, Registration<C>> {
        self.items.iter()
    }
}
