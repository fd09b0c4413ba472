//! Getting features out of the table: `transform.assemble_vector` builds
//! the feature tensor, `inspect.feature_stats` reports its size (for the
//! model's `vars.n_features`) and per-feature moments.

use arc_core::lower::RowTransform;
use arc_core::process::{OnnxProcessor, Processor, ProcessorInputs, ProcessorOutputs, RowTransformContext};
use arc_core::spec::Config;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::common::{Columns, Features, mean_std};

/// `transform.assemble_vector {columns}` -> `output`.
pub const ASSEMBLE_VECTOR: &str = "transform.assemble_vector";
/// `inspect.feature_stats {tensor}` -> `n_features`, `n_samples`, `mean`, `std`.
pub const FEATURE_STATS: &str = "inspect.feature_stats";

/// `transform.assemble_vector`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssembleConfig {
    /// The numeric columns, in output order: a list, or one bare column
    /// (required).
    columns: Columns,
}

/// `transform.assemble_vector`: the numeric `columns` as one f32 tensor
/// `[rows, columns]`, row-major ([`arc_core::data::Table::to_tensor`]). A
/// missing column, a text column or a missing value is an error naming
/// the column (and the row).
#[derive(Debug)]
pub struct AssembleVector {
    columns: Vec<String>,
}

impl AssembleVector {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let AssembleConfig { columns } = config.parse(ASSEMBLE_VECTOR)?;
        Ok(Box::new(Self { columns: columns.names().to_vec() }))
    }
}

impl Processor for AssembleVector {
    fn name(&self) -> &str {
        ASSEMBLE_VECTOR
    }

    fn input_ports(&self) -> &[&str] {
        &[]
    }

    fn output_ports(&self) -> &[&str] {
        &["output"]
    }

    fn input_columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn needs_numeric_columns(&self) -> bool {
        true
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let columns: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        Ok(ProcessorOutputs::new().tensor("output", inputs.table().to_tensor(&columns)?))
    }

    fn row_transform(&self, _: &RowTransformContext<'_>) -> Result<Option<RowTransform>> {
        Ok(Some(RowTransform {
            columns: self.columns.clone(),
            inputs: Vec::new(),
            width: self.columns.len(),
            kernel: Box::new(super::row::AssembleRow),
        }))
    }

    /// The columns themselves: an exported graph takes them raw.
    fn onnx(&self) -> Option<OnnxProcessor> {
        Some(OnnxProcessor::RawColumns(self.columns.clone()))
    }
}

/// `inspect.feature_stats` takes no params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NoParams {}

/// `inspect.feature_stats` (train-only): of a tensor whose last dimension
/// holds the features (a 1-D tensor is one feature), the vars
/// `n_features` and `n_samples` (the first dimension), and the tensors
/// `mean` and `std` (population, divisor `n`) per feature, `[n_features]`.
#[derive(Debug)]
pub struct FeatureStats;

impl FeatureStats {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        config.parse::<NoParams>(FEATURE_STATS)?;
        Ok(Box::new(Self))
    }
}

impl Processor for FeatureStats {
    fn name(&self) -> &str {
        FEATURE_STATS
    }

    fn input_ports(&self) -> &[&str] {
        &["tensor"]
    }

    fn output_ports(&self) -> &[&str] {
        &["n_features", "n_samples", "mean", "std"]
    }

    fn is_train_only(&self) -> bool {
        true
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let x = Features::read(inputs.tensor("tensor")?, "feature_stats")?;
        let (mean, std): (Vec<f32>, Vec<f32>) = (0..x.width)
            .map(|j| {
                let (m, s) = mean_std(&x.column(j));
                (m as f32, s as f32)
            })
            .unzip();
        Ok(ProcessorOutputs::new()
            .var("n_features", x.width as f64)
            .var("n_samples", x.shape[0] as f64)
            .tensor("mean", Tensor::from_vec(mean, &[x.width])?)
            .tensor("std", Tensor::from_vec(std, &[x.width])?))
    }
}
