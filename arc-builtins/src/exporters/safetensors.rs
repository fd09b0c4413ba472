//! `core.safetensors`: the weights and buffers as a PyTorch `state_dict`.
//!
//! Arc's layers keep PyTorch's parameter names and layouts (`Linear.weight`
//! is `[out_features, in_features]`, `BatchNorm1d` has `running_mean`,
//! `running_var` and an i64 `num_batches_tracked`), so the file loads with
//! `model.load_state_dict(safetensors.torch.load_file(path), strict=True)`
//! into the equivalent torch modules (see `docs/EXPORT.md`).

use std::path::Path;

use arc_core::export::{ExportModel, Exporter, write_atomic};
use arc_core::spec::Config;
use arc_core::{DType, Error, Result, Tensor};
use serde::Deserialize;

/// The format's registered name.
pub const NAME: &str = "core.safetensors";

/// Config of the `safetensors` exporter.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SafetensorsConfig {
    /// Whether the header's `__metadata__` records `format: pt`, the model
    /// name and the exporter. Default `true`.
    #[serde(default = "yes")]
    pub metadata: bool,
}

fn yes() -> bool {
    true
}

/// Writes [`ExportModel::weights`] as one safetensors file.
#[derive(Debug)]
pub struct SafetensorsExporter {
    config: SafetensorsConfig,
}

impl SafetensorsExporter {
    /// Builds the exporter; unknown keys are errors.
    pub fn from_config(config: &Config) -> Result<Box<dyn Exporter>> {
        Ok(Box::new(Self { config: config.parse(NAME)? }))
    }
}

/// Little-endian bytes and the safetensors dtype of one tensor.
fn tensor_bytes(t: &Tensor) -> Result<(safetensors::Dtype, Vec<u8>)> {
    Ok(match t.dtype() {
        DType::F32 => (safetensors::Dtype::F32, t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::I64 => (safetensors::Dtype::I64, t.to_vec_i64()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
    })
}

/// The safetensors bytes of `model`'s weights, in [`ExportModel::weights`] order.
pub fn encode(model: &ExportModel, metadata: bool) -> Result<Vec<u8>> {
    let fail = |message: String| Error::Export { format: "safetensors".into(), message };
    let data = model
        .weights
        .iter()
        .map(|(n, t)| Ok((n.as_str(), t.shape().to_vec(), tensor_bytes(t)?)))
        .collect::<Result<Vec<_>>>()?;
    let views = data
        .iter()
        .map(|(n, shape, (dtype, bytes))| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (*n, v))
                .map_err(|e| fail(format!("`{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = metadata.then(|| {
        std::collections::HashMap::from([
            ("format".to_owned(), "pt".to_owned()),
            ("arc.model_name".to_owned(), model.spec.model_name.clone()),
            ("arc.exporter".to_owned(), NAME.to_owned()),
        ])
    });
    safetensors::tensor::serialize(views, meta).map_err(|e| fail(e.to_string()))
}

impl Exporter for SafetensorsExporter {
    fn extension(&self) -> &str {
        "safetensors"
    }

    fn export(&self, model: &ExportModel, out: &Path) -> Result<()> {
        write_atomic(out, "safetensors", &encode(model, self.config.metadata)?)
    }
}
