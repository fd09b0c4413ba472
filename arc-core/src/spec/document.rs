//! The top level of an Arc-Graph spec document.

use serde::Deserialize;

use super::Config;
use crate::{Error, Result};

/// An Arc-Graph spec: the YAML document a user writes.
///
/// The top-level fields are typed; the sections (`features`, `model`,
/// `trainer`, `predictor`, `modules`) are kept as [`Config`] values.
///
/// ```
/// use arc_core::spec::ArcSpec;
///
/// let spec = ArcSpec::from_yaml("model_name: iris\nversion: '1'\nmodel: {}", "iris.yaml")?;
/// assert_eq!(spec.model_name, "iris");
/// assert!(ArcSpec::from_yaml("version: '1'", "bad.yaml").unwrap_err().to_string().contains("model_name"));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcSpec {
    /// The spec format's version.
    #[serde(default)]
    pub version: Option<String>,
    /// The model's name (required).
    pub model_name: String,
    /// What the model does.
    #[serde(default)]
    pub description: Option<String>,
    /// Feature columns and processor steps.
    #[serde(default)]
    pub features: Option<Config>,
    /// Reusable sub-graphs, used as `module.<name>`.
    #[serde(default)]
    pub modules: Option<Config>,
    /// Inputs, graph nodes and outputs.
    #[serde(default)]
    pub model: Option<Config>,
    /// Optimizer, loss and training settings.
    #[serde(default)]
    pub trainer: Option<Config>,
    /// What prediction returns.
    #[serde(default)]
    pub predictor: Option<Config>,
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde_yaml::Value::deserialize(d).map(|v| Config::from_value(v).unwrap_or_default())
    }
}

impl ArcSpec {
    /// Parses a spec; `origin` (a file name) is named in errors, which carry
    /// the YAML line and column.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        serde_yaml::from_str(text).map_err(|e| Error::Yaml { origin: origin.into(), message: e.to_string() })
    }
}
