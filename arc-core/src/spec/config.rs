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

    /// Deserializes the whole config into `T` (a config struct with
    /// `#[serde(deny_unknown_fields)]`); `component` names it in errors. An
    /// unknown parameter is [`Error::UnknownParam`] with did-you-mean
    /// suggestions, a missing one [`Error::MissingParam`].
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct LinearConfig { in_features: usize, out_features: usize, #[serde(default)] bias: Option<bool> }
    ///
    /// let config = arc_core::spec::Config::from_yaml("in_features: 4\nout_feature: 2")?;
    /// let err = config.parse::<LinearConfig>("core.Linear").err().unwrap();
    /// assert_eq!(err.to_string(), "core.Linear: unknown parameter `out_feature` (did you mean `out_features`?)");
    /// let config = arc_core::spec::Config::from_yaml("in_features: 4")?;
    /// let err = config.parse::<LinearConfig>("core.Linear").err().unwrap();
    /// assert_eq!(err.to_string(), "core.Linear: missing parameter `out_features`");
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn parse<T: DeserializeOwned>(&self, component: &str) -> Result<T> {
        // An absent `params:` is an empty mapping, not null.
        let value = if self.0.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { self.0.clone() };
        serde_yaml::from_value(value).map_err(|e| config_error(component, &e.to_string()))
    }
}

impl Config {
    /// A copy with every string `vars.X` (at any depth) replaced by the
    /// var's value: an integer when the value is integral, a float
    /// otherwise. A `vars.X` with no value is `Err` with the ref.
    pub fn resolve_vars(&self, vars: &std::collections::BTreeMap<String, f64>) -> std::result::Result<Self, String> {
        fn walk(
            v: &serde_yaml::Value,
            vars: &std::collections::BTreeMap<String, f64>,
        ) -> std::result::Result<serde_yaml::Value, String> {
            use serde_yaml::Value;
            Ok(match v {
                Value::String(s) => match s.strip_prefix("vars.") {
                    Some(name) => {
                        let value = *vars.get(name).ok_or_else(|| s.clone())?;
                        if value.fract() == 0.0 && value.abs() < 9.0e15 {
                            Value::from(value as i64)
                        } else {
                            Value::from(value)
                        }
                    }
                    None => v.clone(),
                },
                Value::Sequence(items) => {
                    Value::Sequence(items.iter().map(|i| walk(i, vars)).collect::<std::result::Result<_, _>>()?)
                }
                Value::Mapping(m) => {
                    let mut out = serde_yaml::Mapping::new();
                    for (k, item) in m {
                        out.insert(k.clone(), walk(item, vars)?);
                    }
                    Value::Mapping(out)
                }
                other => other.clone(),
            })
        }
        walk(&self.0, vars).map(Self)
    }

    /// Every string `vars.X` in the config, at any depth: (path inside the
    /// config, as `key` / `key[0].inner`, and `X`), in document order.
    ///
    /// ```
    /// let config = arc_core::spec::Config::from_yaml("in_features: vars.n\nsizes: [2, vars.m]")?;
    /// assert_eq!(config.var_refs(), [("in_features".into(), "n".into()), ("sizes[1]".into(), "m".into())]);
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn var_refs(&self) -> Vec<(String, String)> {
        fn walk(v: &serde_yaml::Value, path: String, out: &mut Vec<(String, String)>) {
            use serde_yaml::Value;
            match v {
                Value::String(s) => {
                    if let Some(name) = s.strip_prefix("vars.") {
                        out.push((path, name.to_owned()));
                    }
                }
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, format!("{path}[{i}]"), out);
                    }
                }
                Value::Mapping(m) => {
                    for (k, item) in m {
                        let key = k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}"));
                        walk(item, super::source::join(&path, &key), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.0, String::new(), &mut out);
        out
    }

    /// `error` (from building a component with this config, `vars.X`
    /// substituted from `vars`) explained when it comes from a var whose
    /// value is fractional where the component takes a whole number:
    /// [`Error::FractionalVar`] naming the param and the var. Any other
    /// error is returned unchanged.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use arc_core::{Error, spec::Config};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Params { max_length: usize }
    /// let written = Config::from_yaml("max_length: vars.mean_length")?;
    /// let vars = BTreeMap::from([("mean_length".to_owned(), 4.5)]);
    /// let err = written.resolve_vars(&vars).unwrap().parse::<Params>("hash_and_pad").unwrap_err();
    /// let err = written.explain_fractional_var(&vars, err);
    /// assert_eq!(err.to_string(), "hash_and_pad: param `max_length` takes a whole number, but `vars.mean_length` is 4.5");
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn explain_fractional_var(&self, vars: &std::collections::BTreeMap<String, f64>, error: Error) -> Error {
        let text = error.to_string();
        let component = match &error {
            Error::InvalidConfig { component, .. } => component.clone(),
            _ => return error,
        };
        let found = self.var_refs().into_iter().find_map(|(param, var)| {
            let value = *vars.get(&var)?;
            (value.fract() != 0.0 && text.contains(&format!("floating point `{value}`"))).then_some((param, var, value))
        });
        match found {
            Some((param, var, value)) => Error::FractionalVar { component, param, var, value },
            None => error,
        }
    }

    /// Whether the config is empty (null or an empty mapping).
    pub fn is_empty(&self) -> bool {
        self.0.is_null() || self.0.as_mapping().is_some_and(|m| m.is_empty())
    }

    /// The config as YAML text.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.0).unwrap_or_default()
    }
}

impl serde::Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Turns serde's messages for unknown and missing fields into typed errors.
fn config_error(component: &str, message: &str) -> Error {
    let quoted = |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = quoted(rest);
        if let Some((param, expected)) = names.split_first() {
            return Error::UnknownParam {
                component: component.to_owned(),
                param: param.clone(),
                hint: crate::DidYouMean::among(param, expected.iter().map(String::as_str)),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("missing field ")
        && let Some(param) = quoted(rest).into_iter().next()
    {
        return Error::MissingParam { component: component.to_owned(), param };
    }
    Error::InvalidConfig { component: component.to_owned(), message: message.to_owned() }
}
