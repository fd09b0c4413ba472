//! The basic layers, registered in namespace `core` under PyTorch's class
//! names with PyTorch's constructor parameters and defaults: `Linear`;
//! the activations `ReLU`, `Sigmoid`, `Tanh`, `GELU`, `Softmax`;
//! `Dropout`; the norms `BatchNorm1d`, `LayerNorm`; `Embedding`;
//! `PositionalEncoding`; the multi-input `Concatenate` and `Add`; `Flatten`;
//! `Select` (one index along a dim: a sequence's last step).
//!
//! Each layer has a config struct beside it (`deny_unknown_fields`), so an
//! unknown parameter is an error with a did-you-mean hint and a missing one
//! names it; values out of range are [`Error::InvalidConfig`]. Parameters are
//! drawn from [`arc_core::nn::init`]'s seeded stream, in PyTorch's order and
//! with PyTorch's distributions, and are visited under PyTorch's state_dict
//! names. Layers start in training mode, as PyTorch modules do.
//!
//! ```
//! use arc_builtins::BuiltinLayerPlugin;
//! use arc_core::plugin::{ComponentKind, PluginManager};
//! use arc_core::spec::Config;
//! use arc_core::Tensor;
//!
//! let pm = PluginManager::new();
//! pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
//! pm.refresh_registries()?;
//! let config = Config::from_yaml("in_features: 3\nout_features: 2")?;
//! let linear = pm.get_layer("torch.nn.Linear")?.create(&config)?;
//! assert_eq!(linear.forward_single(&Tensor::ones(&[4, 3]))?.shape(), &[4, 2]);
//! assert_eq!(linear.output_shape(&[vec![None, Some(3)]])?, vec![None, Some(2)]);
//! let bad = Config::from_yaml("in_features: 3\nout_feature: 2")?;
//! assert!(!pm.validate_component_config(ComponentKind::Layer, "Linear", &bad)?);
//! # Ok::<(), arc_core::Error>(())
//! ```

use arc_core::lower::{OnnxGraph, OnnxLowering, OnnxNode};
use arc_core::nn::{Layer, Param, ShapeSpec};
use arc_core::plugin::{LayerRegistrations, schema_of};
use arc_core::spec::Config;
use std::borrow::Cow;

use arc_core::{Error, Result, Tensor};
use serde::de::DeserializeOwned;

mod activation;
mod batch_norm;
mod batch_norm_kernel;
mod combine;
mod dropout;
mod embedding;
mod layer_norm;
mod linear;
mod positional;
mod reshape;
mod select;

use activation::{GeluConfig, ReluConfig, SigmoidConfig, SoftmaxConfig, TanhConfig};
use batch_norm::BatchNorm1dConfig;
use combine::{AddConfig, ConcatenateConfig};
use dropout::DropoutConfig;
pub(super) use dropout::device_dropout;
use embedding::EmbeddingConfig;
use layer_norm::LayerNormConfig;
use linear::LinearConfig;
use positional::PositionalEncodingConfig;
use reshape::FlattenConfig;
use select::SelectConfig;

/// A layer's config: parsed from the spec's params, checked, then built.
trait LayerConfig: DeserializeOwned + schemars::JsonSchema {
    /// The layer's full name, e.g. `core.Linear`, used in errors.
    const NAME: &'static str;

    /// Checks values serde cannot (ranges, combinations).
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Builds the layer (drawing its parameters from `nn::init`'s stream).
    fn build(self) -> Result<Box<dyn Layer>>;

    /// The elements of its parameters and buffers, from the config alone (the memory
    /// budget's estimate); none by default.
    fn state_size(&self) -> Result<u64> {
        Ok(0)
    }
}

/// Parses and checks a config.
fn load<T: LayerConfig>(config: &Config) -> Result<T> {
    let parsed: T = config.parse(T::NAME)?;
    parsed.check()?;
    Ok(parsed)
}

fn build<T: LayerConfig>(config: &Config) -> Result<Box<dyn Layer>> {
    load::<T>(config)?.build()
}

fn size<T: LayerConfig>(config: &Config) -> Result<u64> {
    load::<T>(config)?.state_size()
}

fn check<T: LayerConfig>(config: &Config) -> Result<()> {
    load::<T>(config).map(drop)
}

type Build = fn(&Config) -> Result<Box<dyn Layer>>;
type Check = fn(&Config) -> Result<()>;
type Schema = arc_core::plugin::ParamsSchema;
type Size = arc_core::plugin::StateSize;

/// The family's layers: short name (stored as `core.<name>`), constructor, config check,
/// params schema, state size.
const LAYERS: &[(&str, Build, Check, Schema, Size)] = &[
    ("Linear", build::<LinearConfig>, check::<LinearConfig>, schema_of::<LinearConfig>, size::<LinearConfig>),
    ("ReLU", build::<ReluConfig>, check::<ReluConfig>, schema_of::<ReluConfig>, size::<ReluConfig>),
    ("Sigmoid", build::<SigmoidConfig>, check::<SigmoidConfig>, schema_of::<SigmoidConfig>, size::<SigmoidConfig>),
    ("Tanh", build::<TanhConfig>, check::<TanhConfig>, schema_of::<TanhConfig>, size::<TanhConfig>),
    ("GELU", build::<GeluConfig>, check::<GeluConfig>, schema_of::<GeluConfig>, size::<GeluConfig>),
    ("Softmax", build::<SoftmaxConfig>, check::<SoftmaxConfig>, schema_of::<SoftmaxConfig>, size::<SoftmaxConfig>),
    ("Dropout", build::<DropoutConfig>, check::<DropoutConfig>, schema_of::<DropoutConfig>, size::<DropoutConfig>),
    (
        "BatchNorm1d",
        build::<BatchNorm1dConfig>,
        check::<BatchNorm1dConfig>,
        schema_of::<BatchNorm1dConfig>,
        size::<BatchNorm1dConfig>,
    ),
    (
        "LayerNorm",
        build::<LayerNormConfig>,
        check::<LayerNormConfig>,
        schema_of::<LayerNormConfig>,
        size::<LayerNormConfig>,
    ),
    (
        "Embedding",
        build::<EmbeddingConfig>,
        check::<EmbeddingConfig>,
        schema_of::<EmbeddingConfig>,
        size::<EmbeddingConfig>,
    ),
    (
        "PositionalEncoding",
        build::<PositionalEncodingConfig>,
        check::<PositionalEncodingConfig>,
        schema_of::<PositionalEncodingConfig>,
        size::<PositionalEncodingConfig>,
    ),
    (
        "Concatenate",
        build::<ConcatenateConfig>,
        check::<ConcatenateConfig>,
        schema_of::<ConcatenateConfig>,
        size::<ConcatenateConfig>,
    ),
    ("Add", build::<AddConfig>, check::<AddConfig>, schema_of::<AddConfig>, size::<AddConfig>),
    ("Flatten", build::<FlattenConfig>, check::<FlattenConfig>, schema_of::<FlattenConfig>, size::<FlattenConfig>),
    ("Select", build::<SelectConfig>, check::<SelectConfig>, schema_of::<SelectConfig>, size::<SelectConfig>),
];

/// Adds this family's layers (names without a dot: the plugin's namespace, `core`, is added).
pub fn register(registrations: LayerRegistrations) -> LayerRegistrations {
    LAYERS.iter().fold(registrations, |registrations, &(name, build, _, schema, size)| {
        registrations.add(name, build).params_schema(schema).state_size(size)
    })
}

/// Checks a config of this family's layers (full names, `core.Linear`):
/// `Some(true)` when it parses and its values are in range; `None` for
/// other layers.
pub fn validate(layer_type: &str, config: &Config) -> Option<bool> {
    let short = layer_type.strip_prefix("core.")?;
    LAYERS.iter().find(|(name, ..)| *name == short).map(|&(_, _, check, _, _)| check(config).is_ok())
}

// ---- helpers shared by the family ----------------------------------------

/// `serde(default)` for flags that default to `true`.
fn yes() -> bool {
    true
}

/// PyTorch's default `eps` of the norms.
fn default_eps() -> f32 {
    1e-5
}

/// A norm's `eps`: finite and not negative.
fn check_eps(component: &str, eps: f32) -> Result<()> {
    if eps >= 0.0 && eps.is_finite() {
        Ok(())
    } else {
        Err(invalid(component, format!("`eps` must be a finite number >= 0, got {eps}")))
    }
}

/// The contiguous f32 data of a tensor, borrowed when it is contiguous on the CPU.
fn data(t: &Tensor) -> Result<Cow<'_, [f32]>> {
    Ok(match t.as_f32_slice() {
        Some(slice) => slice.into(),
        None => t.to_vec()?.into(),
    })
}

/// A parameter's value, checked to have the layer's shape: `Param::set` does not check, and
/// the fused kernels index by it.
fn param_value(layer: &'static str, param: &Param, shape: &[usize]) -> Result<Tensor> {
    let value = param.value();
    if value.shape() == shape {
        Ok(value)
    } else {
        Err(Error::ShapeMismatch { op: layer, lhs: shape.to_vec(), rhs: value.shape().to_vec() })
    }
}

/// An out-of-range config value.
fn invalid(component: &str, message: impl Into<String>) -> Error {
    Error::InvalidConfig { component: component.to_owned(), message: message.into() }
}

/// Input that does not fit the layer (shape inference or forward).
fn bad_input(layer: &str, expected: impl Into<String>, got: impl Into<String>) -> Error {
    Error::LayerInputs { layer: layer.to_owned(), expected: expected.into(), got: got.into() }
}

/// A shape spec as text, `?` for unknown sizes: `[?, 3]`.
fn show(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or_else(|| "?".to_owned(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

/// The one input shape of a single-input layer.
fn single<'a>(layer: &str, inputs: &'a [ShapeSpec]) -> Result<&'a ShapeSpec> {
    match inputs {
        [one] => Ok(one),
        _ => Err(bad_input(layer, "one input shape", format!("{} input shapes", inputs.len()))),
    }
}

/// A PyTorch-style dim (negative counts from the end) as an index below `rank`.
fn normalize_dim(layer: &str, dim: isize, rank: usize) -> Result<usize> {
    let d = if dim < 0 { dim + rank as isize } else { dim };
    if (0..rank as isize).contains(&d) {
        Ok(d as usize)
    } else {
        Err(bad_input(layer, format!("a dim {dim} in range for the input"), format!("an input of rank {rank}")))
    }
}

/// ONNX `Identity` (a layer that is the identity at inference).
#[derive(Debug)]
pub(super) struct IdentityOnnx;

impl OnnxLowering for IdentityOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        g.node("Identity", node.name, vec![node.input()?], node.output, Vec::new());
        Ok(())
    }
}
