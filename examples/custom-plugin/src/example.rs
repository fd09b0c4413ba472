//! The `example` plugin: its registration, its config checks, and its two
//! smaller layers.

use std::sync::Arc;

use arc_core::lower::{OnnxLowering, RowOp};
use arc_core::nn::{Layer, Param, ShapeSpec};
use arc_core::plugin::{LayerHookSpec, LayerRegistrations, Registrations, schema_of};
use arc_core::spec::Config;
use arc_core::{Result, Tensor, arc_plugin, hookimpl};
use serde::Deserialize;

use crate::lowering::{GeluTanhOnnx, GeluTanhRow, RmsNormOnnx, RmsNormRow};
use crate::rope::RotaryEmbedding;
use crate::swiglu::SwiGlu;

/// [`GeluTanh`]'s config: no parameters.
#[derive(Debug, Deserialize, arc_core::schemars::JsonSchema)]
#[schemars(crate = "arc_core::schemars")]
#[serde(deny_unknown_fields)]
struct GeluConfig {}

/// `example.GELU` (alias `GELUTanh`): the tanh approximation,
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. Shapes unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct GeluTanh;

impl GeluTanh {
    /// Builds the layer from its spec params (none).
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        let GeluConfig {} = config.parse("example.GELU")?;
        Ok(Box::new(Self))
    }
}

impl Layer for GeluTanh {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        input.gelu_tanh()
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let &[width] = input_widths else { return None };
        Some(RowOp::kernel(width, GeluTanhRow))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(GeluTanhOnnx))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(inputs.first().cloned().unwrap_or_default())
    }
}

/// [`RmsNorm`]'s config.
#[derive(Debug, Deserialize, arc_core::schemars::JsonSchema)]
#[schemars(crate = "arc_core::schemars")]
#[serde(deny_unknown_fields)]
struct RmsNormConfig {
    /// Size of the normalised last dimension (required).
    normalized_shape: usize,
    /// Added to the mean square (default 1e-6).
    #[serde(default = "default_eps")]
    eps: f32,
    /// Learn a per-feature scale, initialised to ones (default true).
    #[serde(default = "default_true")]
    elementwise_affine: bool,
}

fn default_eps() -> f32 {
    1e-6
}

fn default_true() -> bool {
    true
}

/// `example.RMSNorm` (alias `RMSNorm`), Zhang & Sennrich (2019):
/// `y = x / sqrt(mean(x^2, last dim) + eps) * weight`. Shapes unchanged;
/// `weight` is `[normalized_shape]`, initialised to ones.
#[derive(Debug)]
pub struct RmsNorm {
    weight: Option<Param>,
    eps: f32,
}

impl RmsNorm {
    /// Builds the layer from its spec params.
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        let c: RmsNormConfig = config.parse("example.RMSNorm")?;
        let weight = c.elementwise_affine.then(|| Param::new(Tensor::ones(&[c.normalized_shape]))).transpose()?;
        Ok(Box::new(Self { weight, eps: c.eps }))
    }
}

impl Layer for RmsNorm {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let weight = self.weight.as_ref().map(Param::value);
        input.rms_norm(weight.as_ref(), self.eps)
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let &[width] = input_widths else { return None };
        let weight = match &self.weight {
            Some(w) if w.shape() == [width] => Some(w.value().to_vec().ok()?),
            Some(_) => return None,
            None => None,
        };
        Some(RowOp::kernel(width, RmsNormRow { weight, eps: self.eps }))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(RmsNormOnnx { affine: self.weight.is_some(), eps: self.eps }))
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        if let Some(w) = &self.weight {
            visit(&arc_core::nn::join_name(prefix, "weight"), w);
        }
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(inputs.first().cloned().unwrap_or_default())
    }
}

/// The `example` namespace's layers: GELU (tanh), SwiGLU, RMSNorm, RoPE.
#[arc_plugin(
    name = "example",
    version = "1.0.0",
    description = "Example layers: GELU (tanh), SwiGLU, RMSNorm, rotary embedding",
    namespace = "example"
)]
#[derive(Debug, Default)]
pub struct ExamplePlugin;

#[hookimpl]
impl LayerHookSpec for ExamplePlugin {
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new()
            .add("GELU", GeluTanh::from_config)
            .params_schema(schema_of::<GeluConfig>)
            .alias("GELUTanh")
            .add("SwiGLU", SwiGlu::from_config)
            .params_schema(schema_of::<crate::swiglu::SwiGluConfig>)
            .alias("SwiGLU")
            .add("RMSNorm", RmsNorm::from_config)
            .params_schema(schema_of::<RmsNormConfig>)
            .alias("RMSNorm")
            .add("RotaryEmbedding", RotaryEmbedding::from_config)
            .params_schema(schema_of::<crate::rope::RopeConfig>)
            .alias("RoPE")
    }

    /// Each layer's config must parse: required parameters present, no
    /// unknown ones, `dim` of RoPE even.
    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        let ok = match layer_type {
            "example.GELU" => config.parse::<GeluConfig>(layer_type).is_ok(),
            "example.SwiGLU" => config.parse::<crate::swiglu::SwiGluConfig>(layer_type).is_ok(),
            "example.RMSNorm" => config.parse::<RmsNormConfig>(layer_type).is_ok(),
            "example.RotaryEmbedding" => RotaryEmbedding::from_config(config).is_ok(),
            _ => return None,
        };
        Some(ok)
    }
}
