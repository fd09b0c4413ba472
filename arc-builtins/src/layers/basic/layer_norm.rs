//! `LayerNorm`: PyTorch's `torch.nn.LayerNorm`, over the fused `Tensor::layer_norm` kernel.

use std::sync::Arc;

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode, RowInputs, RowKernel, RowOp, kernels};
use arc_core::nn::{Layer, Param, ShapeSpec, join_name};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, check_eps, default_eps, invalid, show, single, yes};

/// `normalized_shape`: one size or a list of sizes.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NormalizedShape {
    /// The last dim's size.
    One(usize),
    /// The sizes of the last dims.
    Many(Vec<usize>),
}

impl NormalizedShape {
    fn dims(&self) -> Vec<usize> {
        match self {
            Self::One(d) => vec![*d],
            Self::Many(ds) => ds.clone(),
        }
    }
}

/// Params of `core.LayerNorm` (`torch.nn.LayerNorm`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerNormConfig {
    /// The trailing dims normalised over: an int (the last dim) or a list
    /// (required; sizes at least 1).
    pub normalized_shape: NormalizedShape,
    /// Added to the variance for numerical stability. Default `1e-5`.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Whether the layer learns an elementwise `weight` (and `bias`). Default `true`.
    #[serde(default = "yes")]
    pub elementwise_affine: bool,
    /// Whether it learns a `bias` when `elementwise_affine`. Default `true`.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl LayerConfig for LayerNormConfig {
    const NAME: &'static str = "core.LayerNorm";

    fn state_size(&self) -> Result<u64> {
        let dims = self.normalized_shape.dims();
        let tally = crate::layers::size::Tally::new(Self::NAME).tensor_if(self.elementwise_affine, &dims)?;
        Ok(tally.tensor_if(self.elementwise_affine && self.bias, &dims)?.total())
    }

    fn check(&self) -> Result<()> {
        let dims = self.normalized_shape.dims();
        if dims.is_empty() || dims.contains(&0) {
            return Err(invalid(Self::NAME, format!("`normalized_shape` must be sizes >= 1, got {dims:?}")));
        }
        check_eps(Self::NAME, self.eps)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(LayerNorm::new(&self)?))
    }
}

/// Layer normalisation (Ba et al., 2016) over the trailing `normalized_shape`
/// dims: `y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`, the mean and
/// the biased variance taken over those dims of each sample. Runs the fused
/// `Tensor::layer_norm` kernel (a multi-dim shape is flattened to one row).
///
/// # Shapes
/// input `[*, normalized_shape...]`; the output has its shape.
///
/// # Parameters and initialisation (PyTorch's)
/// `weight` ones and `bias` zeros, both of shape `normalized_shape`, when
/// `elementwise_affine` (`bias` only when `bias` too).
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let ln = create("LayerNorm", "{normalized_shape: [2, 2], eps: 0.0}")?;
/// // Over all four values: mean 2.5, variance 1.25.
/// let y = ln.forward_single(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 2])?)?;
/// let want = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
/// assert!(y.to_vec()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct LayerNorm {
    shape: Vec<usize>,
    eps: f32,
    weight: Option<Param>,
    bias: Option<Param>,
}

impl LayerNorm {
    /// A layer with PyTorch's initial parameters.
    pub fn new(config: &LayerNormConfig) -> Result<Self> {
        let shape = config.normalized_shape.dims();
        let affine = config.elementwise_affine;
        let weight = if affine { Some(Param::new(Tensor::ones(&shape))?) } else { None };
        let bias = if affine && config.bias { Some(Param::new(Tensor::zeros(&shape))?) } else { None };
        Ok(Self { shape, eps: config.eps, weight, bias })
    }

    fn check_shape(&self, shape: &[Option<usize>]) -> Result<()> {
        let k = self.shape.len();
        let fits = shape.len() >= k
            && shape[shape.len() - k..].iter().zip(&self.shape).all(|(a, b)| a.is_none_or(|a| a == *b));
        if fits {
            Ok(())
        } else {
            let want: Vec<String> = self.shape.iter().map(usize::to_string).collect();
            Err(bad_input(LayerNormConfig::NAME, format!("an input [*, {}]", want.join(", ")), show(shape)))
        }
    }
}

impl Layer for LayerNorm {
    fn forward_single(&self, x: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = x.shape().iter().map(|&d| Some(d)).collect();
        self.check_shape(&shape)?;
        let weight = self.weight.as_ref().map(Param::value);
        let bias = self.bias.as_ref().map(Param::value);
        if self.shape.len() == 1 {
            return x.layer_norm(weight.as_ref(), bias.as_ref(), self.eps);
        }
        // The fused kernel normalises the last dim: view the normalised dims as one.
        let d: usize = self.shape.iter().product();
        let mut rows = x.shape()[..x.rank() - self.shape.len()].to_vec();
        rows.push(d);
        let weight = weight.map(|w| w.reshape(&[d])).transpose()?;
        let bias = bias.map(|b| b.reshape(&[d])).transpose()?;
        x.reshape(&rows)?.layer_norm(weight.as_ref(), bias.as_ref(), self.eps)?.reshape(x.shape())
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        if let Some(w) = &self.weight {
            visit(&join_name(prefix, "weight"), w);
        }
        if let Some(b) = &self.bias {
            visit(&join_name(prefix, "bias"), b);
        }
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        if input_widths != self.shape.as_slice() {
            return None;
        }
        let values = |p: &Option<Param>| match p {
            Some(p) => p.value().to_vec().ok().map(Some),
            None => Some(None),
        };
        let kernel = LayerNormRow { weight: values(&self.weight)?, bias: values(&self.bias)?, eps: self.eps };
        Some(RowOp::kernel(self.shape[0], kernel))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        let (affine, bias) = (self.weight.is_some(), self.bias.is_some());
        Some(Arc::new(LayerNormOnnx { shape: self.shape.clone(), eps: self.eps, affine, bias }))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(LayerNormConfig::NAME, inputs)?;
        self.check_shape(input)?;
        Ok(input.clone())
    }
}

/// Layer norm over one row.
#[derive(Debug)]
struct LayerNormRow {
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    eps: f32,
}

impl RowKernel for LayerNormRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        kernels::layer_norm(inputs.first(), output, self.weight.as_deref(), self.bias.as_deref(), self.eps);
    }
}

/// ONNX `LayerNormalization` over the normalised dims (a scale of ones
/// without `elementwise_affine`).
#[derive(Debug)]
struct LayerNormOnnx {
    shape: Vec<usize>,
    eps: f32,
    affine: bool,
    bias: bool,
}

impl OnnxLowering for LayerNormOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let size: usize = self.shape.iter().product();
        let scale = if self.affine {
            g.weight(&node.weight_name("weight"))?
        } else {
            g.constant(&node.weight_name("weight"), &self.shape, &vec![1.0; size])
        };
        let mut inputs = vec![node.input()?, scale];
        if self.bias {
            inputs.push(g.weight(&node.weight_name("bias"))?);
        }
        let attrs = vec![Attr::int("axis", -(self.shape.len() as i64)), Attr::float("epsilon", self.eps)];
        g.node("LayerNormalization", node.name, inputs, node.output, attrs);
        Ok(())
    }
}
