//! The typed `features` and `predictor` sections.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ProcessorStep;

/// The spec's `features` section: the columns and the processor steps.
///
/// Steps bind their outputs into three namespaces: `tensors.X` (tensors),
/// `vars.X` (scalars such as `vars.n_features`) and `states.X` (fitted
/// state); later steps, model input shapes and node params read them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesSpec {
    /// The model's input columns (a step names them as `feature_columns`). Default none.
    #[serde(default)]
    pub feature_columns: Vec<String>,
    /// The target columns (`target_columns`, or `target_columns.Y` in the loss). Default none.
    #[serde(default)]
    pub target_columns: Vec<String>,
    /// The processor steps, run in order. Default none.
    #[serde(default)]
    pub processors: Vec<ProcessorStep>,
}

/// The spec's `predictor` section: what prediction returns.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorSpec {
    /// The model outputs prediction returns, by name (`logits` or
    /// `model.logits`). With neither this nor `outputs`, every output.
    #[serde(default)]
    pub returns: Vec<String>,
    /// Named prediction columns: `{column: model.<output>}`; each output
    /// named here is returned under that column name (a classifier's
    /// decoded label column, or its value columns). Default none.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Columns decoded through a fitted state: `{column: states.<name>}`
    /// (the later Python format's). Checked to name a defined state; the
    /// decoding itself always uses the state of the step that made the
    /// loss target. Default none.
    #[serde(default)]
    pub decode: BTreeMap<String, String>,
}
