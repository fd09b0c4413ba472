//! The activations `ReLU`, `Sigmoid`, `Tanh`, `GELU` and `Softmax`: one
//! elementwise (or row-wise) function each, no parameters, the same shape out
//! as in.

use std::sync::Arc;

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode, RowInputs, RowKernel, RowOp, kernels, onnx};
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, normalize_dim, single};

/// Params of `core.ReLU` (`torch.nn.ReLU`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReluConfig {
    /// Accepted for PyTorch compatibility; Arc never overwrites the input,
    /// so the result is the same either way. Default `false`.
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for PyTorch compatibility, never needed")]
    pub inplace: bool,
}

/// Params of `core.Sigmoid` (`torch.nn.Sigmoid`): none.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigmoidConfig {}

/// Params of `core.Tanh` (`torch.nn.Tanh`): none.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TanhConfig {}

/// How `GELU` computes `Phi(x)`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approximate {
    /// The exact `Phi(x) = (1 + erf(x / sqrt(2))) / 2`.
    #[default]
    None,
    /// `Phi(x) ~ (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2`.
    Tanh,
}

/// Params of `core.GELU` (`torch.nn.GELU`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeluConfig {
    /// `none` (exact, erf-based) or `tanh`. Default `none`.
    #[serde(default)]
    pub approximate: Approximate,
}

/// Params of `core.Softmax` (`torch.nn.Softmax`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SoftmaxConfig {
    /// The dim the probabilities sum to 1 over; negative counts from the end.
    /// Default `-1`. (PyTorch's default `None` picks a dim from the input's
    /// rank and is deprecated; the last dim is what that choice gives for
    /// the usual `[N, C]` and `[C]` inputs, and what models mean.)
    #[serde(default = "last_dim")]
    pub dim: isize,
}

fn last_dim() -> isize {
    -1
}

/// Which function an [`Activation`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `x Phi(x)`, `Phi` the standard normal CDF.
    Gelu(Approximate),
    /// `exp(x_i) / sum_j exp(x_j)` along the dim.
    Softmax(isize),
}

/// A parameter-free activation; input and output have the same shape.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let x = Tensor::from_vec(vec![-1.0, 3f32.ln()], &[1, 2])?;
/// assert_eq!(create("ReLU", "")?.forward_single(&x)?.to_vec()?, [0.0, 3f32.ln()]);
/// // softmax([0, ln 3]) = [1, 3] / 4
/// let p = create("Softmax", "dim: -1")?.forward_single(&x.relu()?)?.to_vec()?;
/// assert!((p[0] - 0.25).abs() < 1e-6 && (p[1] - 0.75).abs() < 1e-6);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Activation {
    function: Function,
    name: &'static str,
}

impl LayerConfig for ReluConfig {
    const NAME: &'static str = "core.ReLU";
    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation { function: Function::Relu, name: Self::NAME }))
    }
}

impl LayerConfig for SigmoidConfig {
    const NAME: &'static str = "core.Sigmoid";
    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation { function: Function::Sigmoid, name: Self::NAME }))
    }
}

impl LayerConfig for TanhConfig {
    const NAME: &'static str = "core.Tanh";
    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation { function: Function::Tanh, name: Self::NAME }))
    }
}

impl LayerConfig for GeluConfig {
    const NAME: &'static str = "core.GELU";
    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation { function: Function::Gelu(self.approximate), name: Self::NAME }))
    }
}

impl LayerConfig for SoftmaxConfig {
    const NAME: &'static str = "core.Softmax";
    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Activation { function: Function::Softmax(self.dim), name: Self::NAME }))
    }
}

impl Layer for Activation {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        match self.function {
            Function::Relu => input.relu(),
            Function::Sigmoid => input.sigmoid(),
            Function::Tanh => input.tanh(),
            Function::Gelu(Approximate::None) => input.gelu(),
            Function::Gelu(Approximate::Tanh) => input.gelu_tanh(),
            Function::Softmax(dim) => {
                normalize_dim(self.name, dim, input.rank())?;
                input.softmax(dim)
            }
        }
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let &[width] = input_widths else { return None };
        // A row is [batch, width]: softmax over dim 1 (or -1) only.
        if matches!(self.function, Function::Softmax(dim) if dim != -1 && dim != 1) {
            return None;
        }
        Some(RowOp::kernel(width, self.function))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(self.function))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(self.name, inputs)?;
        if let Function::Softmax(dim) = self.function {
            normalize_dim(self.name, dim, input.len())?;
        }
        Ok(input.clone())
    }
}

impl RowKernel for Function {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        let x = inputs.first();
        let map = |f: fn(f32) -> f32, output: &mut [f32]| output.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x));
        match self {
            Self::Relu => map(|x| x.max(0.0), output),
            Self::Sigmoid => map(kernels::sigmoid, output),
            Self::Tanh => map(f32::tanh, output),
            Self::Gelu(Approximate::None) => map(kernels::gelu_exact, output),
            Self::Gelu(Approximate::Tanh) => map(kernels::gelu_tanh, output),
            Self::Softmax(_) => kernels::softmax(x, output),
        }
    }
}

/// ONNX: `Relu`, `Sigmoid`, `Tanh`, `Softmax(axis)`; GELU as `Gelu` from
/// opset 20, below it the formula ([`onnx::gelu_formula`]).
impl OnnxLowering for Function {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let x = node.input()?;
        let (name, out) = (node.name, node.output);
        match self {
            Self::Relu => g.node("Relu", name, vec![x], out, Vec::new()),
            Self::Sigmoid => g.node("Sigmoid", name, vec![x], out, Vec::new()),
            Self::Tanh => g.node("Tanh", name, vec![x], out, Vec::new()),
            Self::Softmax(dim) => g.node("Softmax", name, vec![x], out, vec![Attr::int("axis", *dim as i64)]),
            Self::Gelu(approximate) => {
                let tanh = *approximate == Approximate::Tanh;
                if g.opset() >= 20 {
                    let attrs = vec![Attr::text("approximate", if tanh { "tanh" } else { "none" })];
                    g.node("Gelu", name, vec![x], out, attrs)
                } else {
                    onnx::gelu_formula(g, name, x, out, tanh)
                }
            }
        };
        Ok(())
    }
}
