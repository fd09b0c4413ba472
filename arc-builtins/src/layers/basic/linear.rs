//! `Linear`: PyTorch's `torch.nn.Linear`.

use std::sync::Arc;

use arc_core::lower::{OnnxGraph, OnnxLowering, OnnxNode, RowInputs, RowKernel, RowOp, kernels};
use arc_core::nn::{Layer, Param, ShapeSpec, init, join_name};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, show, single, yes};

/// Params of `core.Linear` (`torch.nn.Linear`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Size of each input sample (required).
    pub in_features: usize,
    /// Size of each output sample (required).
    pub out_features: usize,
    /// Whether the layer learns an additive bias. Default `true`.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl LayerConfig for LinearConfig {
    const NAME: &'static str = "core.Linear";

    /// A layer of no features computes nothing: almost surely a wrong var or a typo.
    fn check(&self) -> Result<()> {
        if self.in_features == 0 || self.out_features == 0 {
            return Err(Error::InvalidConfig {
                component: Self::NAME.into(),
                message: format!(
                    "in_features and out_features must be at least 1, got {} and {}",
                    self.in_features, self.out_features
                ),
            });
        }
        Ok(())
    }

    fn state_size(&self) -> Result<u64> {
        let tally = crate::layers::size::Tally::new(Self::NAME).tensor(&[self.out_features, self.in_features])?;
        Ok(tally.tensor_if(self.bias, &[self.out_features])?.total())
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Linear::new(&self)?))
    }
}

/// A fully connected layer: `y = x W^T + b`.
///
/// # Shapes
/// input `[..., in_features]` (any number of leading dims, including none),
/// output `[..., out_features]`.
///
/// # Parameters and initialisation (PyTorch's)
/// - `weight`: `[out_features, in_features]`, `kaiming_uniform_(a = sqrt(5))`,
///   i.e. `U(-k, k)` with `k = 1 / sqrt(in_features)`;
/// - `bias` (when `bias: true`): `[out_features]`, `U(-k, k)`, drawn after the weight.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let linear = create("Linear", "{in_features: 2, out_features: 1}")?;
/// linear.visit_params("", &mut |name, p| {
///     let value = if name == "weight" { vec![1.0, -1.0] } else { vec![0.5] };
///     p.set(Tensor::from_vec(value, &p.shape()).unwrap()).unwrap();
/// });
/// // [1, 2] . [1, -1] + 0.5 = -0.5 and [3, 1] . [1, -1] + 0.5 = 2.5
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 1.0], &[2, 2])?;
/// assert_eq!(linear.forward_single(&x)?.to_vec()?, [-0.5, 2.5]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    weight: Param,
    bias: Option<Param>,
}

impl Linear {
    /// A layer with freshly initialised parameters.
    pub fn new(config: &LinearConfig) -> Result<Self> {
        let (fan_in, fan_out) = (config.in_features, config.out_features);
        let weight = Param::new(init::kaiming_uniform(&[fan_out, fan_in], fan_in))?;
        let bias = if config.bias { Some(Param::new(init::kaiming_uniform(&[fan_out], fan_in))?) } else { None };
        Ok(Self { in_features: fan_in, out_features: fan_out, weight, bias })
    }
}

impl Layer for Linear {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        if input.shape().last() != Some(&self.in_features) {
            return Err(bad_input(
                LinearConfig::NAME,
                format!("an input [..., {}]", self.in_features),
                format!("shape {:?}", input.shape()),
            ));
        }
        let bias = self.bias.as_ref().map(Param::value);
        input.linear(&self.weight.value(), bias.as_ref())
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        visit(&join_name(prefix, "weight"), &self.weight);
        if let Some(bias) = &self.bias {
            visit(&join_name(prefix, "bias"), bias);
        }
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        if input_widths != [self.in_features] {
            return None;
        }
        let weight = self.weight.value().to_vec().ok()?;
        let bias = match &self.bias {
            Some(b) => Some(b.value().to_vec().ok()?),
            None => None,
        };
        let weight_t = kernels::transpose(&weight, self.out_features, self.in_features);
        Some(RowOp::kernel(self.out_features, LinearRow { weight_t, bias }))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(LinearOnnx))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(LinearConfig::NAME, inputs)?;
        match input.last() {
            Some(last) if last.is_none_or(|d| d == self.in_features) => {
                let mut out = input.clone();
                *out.last_mut().expect("the shape has a last dim: matched above") = Some(self.out_features);
                Ok(out)
            }
            _ => Err(bad_input(LinearConfig::NAME, format!("an input [..., {}]", self.in_features), show(input))),
        }
    }
}

/// `y = W x + b` over one row, `W` stored transposed and padded
/// ([`kernels::transpose`]).
#[derive(Debug)]
struct LinearRow {
    weight_t: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl RowKernel for LinearRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        kernels::linear(&self.weight_t, self.bias.as_deref(), inputs.first(), output);
    }
}

/// ONNX: `MatMul` by the weight stored transposed (`{node}.weight_t`), then
/// `Add` of the bias when the layer has one.
#[derive(Debug)]
struct LinearOnnx;

impl OnnxLowering for LinearOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let name = node.weight_name("weight");
        let w = g.tensor(&name).ok_or_else(|| node.unsupported("the model has no `weight`"))?;
        let [out_f, in_f] = *w.shape() else {
            return Err(node.unsupported(&format!("`{name}` has shape {:?}", w.shape())));
        };
        let values = w.to_vec()?;
        let mut transposed = vec![0.0; values.len()];
        for o in 0..out_f {
            for i in 0..in_f {
                transposed[i * out_f + o] = values[o * in_f + i];
            }
        }
        let wt = g.constant(&node.weight_name("weight_t"), &[in_f, out_f], &transposed);
        let x = node.input()?;
        if g.tensor(&node.weight_name("bias")).is_some() {
            let y = g.op("MatMul", node.name, vec![x, wt], Vec::new());
            let bias = g.weight(&node.weight_name("bias"))?;
            g.node("Add", node.name, vec![y, bias], node.output, Vec::new());
        } else {
            g.node("MatMul", node.name, vec![x, wt], node.output, Vec::new());
        }
        Ok(())
    }
}
