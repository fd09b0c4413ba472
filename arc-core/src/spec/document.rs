//! The top level of an Arc-Graph spec document.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::{Config, FeaturesSpec, Location, ModelSpec, PredictorSpec, SourceMap, TrainerSpec};
use crate::types::ValidationIssue;
use crate::{Error, Result};

/// An Arc-Graph spec: the YAML document a user writes, typed section by
/// section.
///
/// [`from_yaml`](Self::from_yaml) keeps the document's [`SourceMap`], so
/// later checks (refs, cycles, types, shapes) can name the line and column
/// of the node they are about ([`locate`](Self::locate)). Component
/// `params` / `config` mappings stay [`Config`] values: their plugins parse
/// them.
///
/// ```
/// use arc_core::spec::ArcSpec;
///
/// let spec = ArcSpec::from_yaml("model_name: iris\nversion: '1'\nmodel: {graph: [{name: a, type: ReLU}]}", "iris.yaml")?;
/// assert_eq!(spec.model_name, "iris");
/// assert_eq!(spec.model.graph[0].layer_type, "ReLU");
/// assert_eq!(spec.locate("model.graph[0].type").map(|l| l.to_string()).as_deref(), Some("iris.yaml:3:33"));
/// let err = ArcSpec::from_yaml("version: '1'\nmodel: {}", "bad.yaml").unwrap_err();
/// assert_eq!(err.to_string(), "bad.yaml:1:1: spec: missing required key `model_name`");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcSpec {
    /// The spec format's version (a string or a number). Default none.
    #[serde(default, deserialize_with = "text")]
    pub version: Option<String>,
    /// The model's name (required).
    pub model_name: String,
    /// What the model does. Default none.
    #[serde(default)]
    pub description: Option<String>,
    /// Feature columns and processor steps. Default: none of either.
    #[serde(default)]
    pub features: FeaturesSpec,
    /// Reusable sub-graphs, used by nodes as `type: module.<name>`. Default none.
    #[serde(default)]
    pub modules: BTreeMap<String, ModelSpec>,
    /// Inputs, graph nodes and outputs (required).
    pub model: ModelSpec,
    /// Optimizer, loss and training settings. Default none (the spec cannot be trained).
    #[serde(default)]
    pub trainer: Option<TrainerSpec>,
    /// What prediction returns. Default none.
    #[serde(default)]
    pub predictor: Option<PredictorSpec>,
    /// Where every value is in the text; none for a spec not parsed from text.
    #[serde(skip)]
    source: Option<Arc<SourceMap>>,
}

/// A version written as a string or a number.
fn text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<serde_yaml::Value>::deserialize(d)? {
        None | Some(serde_yaml::Value::Null) => None,
        Some(serde_yaml::Value::String(s)) => Some(s),
        Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(serde::de::Error::custom(format!("expected a string or a number, got {other:?}"))),
    })
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde_yaml::Value::deserialize(d).map(|v| Config::from_value(v).unwrap_or_default())
    }
}

impl ArcSpec {
    /// Parses a spec; `origin` (a file name) is named in errors. Every error
    /// is [`Error::Located`] with the YAML line and column: invalid YAML, an
    /// unknown key ([`Error::UnknownKey`], with did-you-mean, pointing at
    /// the key), a missing required key ([`Error::MissingKey`], pointing at
    /// the mapping that lacks it), a value of the wrong type
    /// ([`Error::InvalidValue`]).
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| syntax_error(&e, origin))?;
        let map = SourceMap::build(text, origin);
        let value = if value.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { value };
        if !value.is_mapping() {
            let found = match &value {
                serde_yaml::Value::Sequence(_) => "a list",
                serde_yaml::Value::String(_) => "a string",
                serde_yaml::Value::Number(_) => "a number",
                serde_yaml::Value::Bool(_) => "a boolean",
                _ => "a tagged value",
            };
            let location = map.locate("").unwrap_or(super::Location { origin: origin.to_owned(), line: 1, column: 1 });
            let message =
                format!("a spec is a mapping of sections (`model_name`, `features`, `model`...), not {found}");
            let error = Error::InvalidValue { path: "spec".into(), message };
            return Err(Error::Located { location, error: Box::new(error) });
        }
        let mut spec: ArcSpec = serde_path_to_error::deserialize(value).map_err(|e| {
            match super::located::serde_error(e, &map) {
                located @ Error::Located { .. } => located,
                // An empty document has no place to point at: its first line.
                other => {
                    let location = super::Location { origin: origin.to_owned(), line: 1, column: 1 };
                    Error::Located { location, error: Box::new(other) }
                }
            }
        })?;
        spec.model.modules = spec.modules.clone();
        spec.source = Some(Arc::new(map));
        Ok(spec)
    }

    /// The location of the value (or key) at `path` (`model.graph[1].type`),
    /// or of the nearest enclosing value that exists.
    pub fn locate(&self, path: &str) -> Option<Location> {
        self.source.as_ref()?.locate(path)
    }

    /// The position index of the text this spec was parsed from.
    pub fn source_map(&self) -> Option<&SourceMap> {
        self.source.as_deref()
    }

    /// The file this spec was parsed from (`<string>` when unknown).
    pub fn origin(&self) -> &str {
        self.source.as_ref().map_or("<string>", |s| s.origin())
    }

    /// The trainer section, or a located error saying the spec has none.
    pub fn trainer(&self) -> Result<&TrainerSpec> {
        self.trainer
            .as_ref()
            .ok_or_else(|| Error::MissingKey { section: "spec".into(), key: "trainer".into() }.located(self.locate("")))
    }
}

impl ValidationIssue {
    /// Fills `location` from `path` through `spec`'s source map, if unset.
    pub(crate) fn locate_in(mut self, spec: &ArcSpec) -> Self {
        if self.location.is_none() {
            self.location = spec.locate(self.path.as_deref().unwrap_or(""));
        }
        self
    }
}

/// serde_yaml's parse error, located.
fn syntax_error(e: &serde_yaml::Error, origin: &str) -> Error {
    let message = e.to_string();
    let Some(at) = e.location() else {
        return Error::YamlSyntax { message }.located(Some(Location { origin: origin.into(), line: 1, column: 1 }));
    };
    // serde_yaml says " at line L column C" of the error's own place, which
    // the location gives already; another place (where a bracket opened) stays.
    let message = message.replacen(&format!(" at line {} column {}", at.line(), at.column()), "", 1);
    Error::YamlSyntax { message }.located(Some(Location {
        origin: origin.into(),
        line: at.line(),
        column: at.column(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
model_name: m
features:
  feature_columns: [a, b]
  processors:
    - {name: s, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.x: output}}
model:
  inputs: {x: [null, 2]}
  graph:
    - name: fc
      type: Linear
      params: {in_features: 2, out_features: 1}
trainer:
  optimizer: {type: SGD, config: {lr: 0.1}}
  loss: {type: MSELoss, inputs: {pred: model.fc, target: tensors.y}}
  config: {epochs: 3}
predictor: {returns: [fc]}
";

    fn err(text: &str) -> String {
        ArcSpec::from_yaml(text, "t.yaml").err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn typed_sections_parse() -> Result<()> {
        let spec = ArcSpec::from_yaml(SPEC, "t.yaml")?;
        assert_eq!(spec.features.feature_columns, ["a", "b"]);
        assert_eq!(spec.features.processors[0].op, "transform.assemble_vector");
        assert_eq!(spec.model.graph[0].name, "fc");
        let trainer = spec.trainer()?;
        assert_eq!((trainer.optimizer.component_type.as_str(), trainer.config.epochs), ("SGD", 3));
        assert_eq!(trainer.loss.inputs["pred"], "model.fc");
        assert_eq!(spec.predictor.as_ref().map(|p| p.returns.clone()), Some(vec!["fc".to_owned()]));
        assert_eq!(spec.locate("trainer.loss.inputs.target").map(|l| (l.line, l.column)), Some((14, 58)));
        Ok(())
    }

    #[test]
    fn unknown_keys_point_at_the_key_with_a_suggestion() {
        assert_eq!(
            err(&SPEC.replace("      type: Linear", "      typ: Linear")),
            "t.yaml:10:7: model.graph[0]: unknown key `typ` (did you mean `type`?)"
        );
        assert_eq!(
            err(&SPEC.replace("model_name: m", "model_name: m\nmodel_nmae: x")),
            "t.yaml:2:1: spec: unknown key `model_nmae` (did you mean `model_name`?)"
        );
        assert_eq!(
            err(&SPEC.replace("{epochs: 3}", "{epochs: 3, batchsize: 2}")),
            "t.yaml:15:23: trainer.config: unknown key `batchsize` (did you mean `batch_size`?)"
        );
        assert_eq!(
            err(&SPEC.replace("feature_columns: [a, b]", "feature_colums: [a, b]")),
            "t.yaml:3:3: features: unknown key `feature_colums` (did you mean `feature_columns`?)"
        );
    }

    #[test]
    fn missing_keys_point_at_the_mapping() {
        assert_eq!(
            err(&SPEC.replace("      type: Linear\n", "")),
            "t.yaml:9:7: model.graph[0]: missing required key `type`"
        );
        assert_eq!(
            err(&SPEC.replace("  optimizer: {type: SGD, config: {lr: 0.1}}\n", "")),
            "t.yaml:13:3: trainer: missing required key `optimizer`"
        );
        assert_eq!(err("model_name: m\n"), "t.yaml:1:1: spec: missing required key `model`");
        assert_eq!(err(""), "t.yaml:1:1: spec: missing required key `model_name`");
    }

    #[test]
    fn bad_values_and_bad_yaml_are_located() {
        assert_eq!(
            err(&SPEC.replace("{epochs: 3}", "{epochs: three}")),
            "t.yaml:15:20: trainer.config.epochs: invalid type: string \"three\", expected usize"
        );
        let e = ArcSpec::from_yaml("model_name: m\nmodel: {graph: [}\n", "t.yaml").unwrap_err();
        assert!(matches!(&e, Error::Located { error, .. } if matches!(**error, Error::YamlSyntax { .. })), "{e}");
        assert_eq!(e.location().map(|l| l.line), Some(2));
    }
}
