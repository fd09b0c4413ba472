//! A component's config: the `params` / `config` mapping from a spec.

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A component's config, as written in the spec (a YAML mapping, usually).
///
/// ```
/// use arc_core::spec::Config;
///
/// let config = Config::from_yaml("in_features: 4\nout_features: 3")?;
/// assert_eq!(config.get_u64("in_features"), Some(4));
/// assert!(config.contains_key("out_features"));
/// assert!(!config.contains_key("bias"));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config(serde_yaml::Value);

impl Default for Config {
    /// An empty mapping.
    fn default() -> Self {
        Self(serde_yaml::Value::Mapping(Default::default()))
    }
}

impl Config {
    /// An empty mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a YAML document.
    pub fn from_yaml(text: &str) -> Result<Self> {
        serde_yaml::from_str(text)
            .map(Self)
            .map_err(|e| Error::Yaml { origin: "<string>".into(), message: e.to_string() })
    }

    /// Builds a config from any serializable value (e.g. a struct).
    pub fn from_value(value: impl serde::Serialize) -> Result<Self> {
        serde_yaml::to_value(value)
            .map(Self)
            .map_err(|e| Error::InvalidConfig { component: "<config>".into(), message: e.to_string() })
    }

    /// Sets `key` to a value (turning a non-mapping config into a mapping).
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Result<Self> {
        let value = serde_yaml::to_value(value)
            .map_err(|e| Error::InvalidConfig { component: key.into(), message: e.to_string() })?;
        if !self.0.is_mapping() {
            self.0 = serde_yaml::Value::Mapping(Default::default());
        }
        if let serde_yaml::Value::Mapping(m) = &mut self.0 {
            m.insert(key.into(), value);
        }
        Ok(self)
    }

    /// Whether the mapping has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.get(key).is_some()
    }

    /// The keys of the mapping, in document order.
    pub fn keys(&self) -> Vec<&str> {
        match &self.0 {
            serde_yaml::Value::Mapping(m) => m.keys().filter_map(|k| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// `key` as an unsigned integer.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.0.get(key)?.as_u64()
    }

    /// `key` as a number.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.0.get(key)?.as_f64()
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    /// `key` as a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.0.get(key)?.as_bool()
    }

    /// Deserializes the whole config into `T` (typically a config struct
    /// with `#[serde(deny_unknown_fields)]`); `component` names it in errors.
    pub fn parse<T: DeserializeOwned>(&self, component: &str) -> Result<T> {
        serde_yaml::from_value(self.0.clone())
            .map_err(|e| Error::InvalidConfig { component: component.into(), message: e.to_string() })
    }
}
