//! The iris example as the integration tests read it: the committed spec and data, and a
//! small regression spec on the same data (petal width from the other measurements).
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;

use arc::Result;
use arc::data::Table;
use arc::spec::{ArcSpec, Config};
use arc::train::{Trained, train};

/// The iris spec, relative to the workspace root.
pub const SPEC: &str = "examples/specs/iris.yaml";
/// The iris data, relative to the workspace root.
pub const DATA: &str = "examples/data/iris.csv";

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The iris spec's text.
pub fn spec_text() -> String {
    std::fs::read_to_string(root().join(SPEC)).expect("the iris spec is committed")
}

/// The iris data, loaded by the CSV source.
pub fn table() -> Result<Table> {
    let pm = arc::get_plugin_manager();
    pm.get_data_source("csv")?.create(&Config::new())?.load(&root().join(DATA).display().to_string())
}

/// The iris spec with `epochs` epochs and `extra` lines appended to `trainer.config`.
pub fn with_config(epochs: usize, extra: &str) -> String {
    let mut text = spec_text().replace("epochs: 100", &format!("epochs: {epochs}"));
    for line in extra.lines() {
        text = text.replace("    seed: 42\n", &format!("    seed: 42\n    {line}\n"));
    }
    text
}

/// Trains spec `text` (read as if from the iris spec's path) on the iris data.
pub fn run(text: &str) -> Result<Trained> {
    let spec = ArcSpec::from_yaml(text, SPEC)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    train(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut |_| {})
}

/// A linear regression of petal width on the other three (standardized) measurements, with
/// `config` as its `trainer.config` flow mapping (e.g. `{epochs: 20, seed: 3}`).
pub fn petal_regression_spec(config: &str) -> String {
    format!(
        "\
model_name: petal
features:
  feature_columns: [sepal_length, sepal_width, petal_length]
  processors:
    - {{name: x, op: transform.assemble_vector, inputs: {{columns: feature_columns}}, outputs: {{output: tensors.raw}}}}
    - {{name: scale, op: StandardNormalization, inputs: {{x: tensors.raw}}, outputs: {{output: tensors.features}}}}
    - {{name: y, op: transform.assemble_vector, inputs: {{columns: [petal_width]}}, outputs: {{output: tensors.width}}}}
model:
  inputs: {{features: [null, 3]}}
  graph: [{{name: fc, type: Linear, params: {{in_features: 3, out_features: 1}}}}]
trainer:
  optimizer: {{type: SGD}}
  loss: {{type: MSELoss, inputs: {{pred: model.fc, target: tensors.width}}}}
  config: {config}
"
    )
}
