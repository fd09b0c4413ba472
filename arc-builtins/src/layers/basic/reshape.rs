//! `Flatten`: PyTorch's `torch.nn.Flatten`.

use std::sync::Arc;

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode, RowOp};
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, normalize_dim, show, single};

fn one() -> isize {
    1
}

fn last_dim() -> isize {
    -1
}

/// Params of `core.Flatten` (`torch.nn.Flatten`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlattenConfig {
    /// First dim merged; negative counts from the end. Default `1` (keeps the batch dim).
    #[serde(default = "one")]
    pub start_dim: isize,
    /// Last dim merged; negative counts from the end. Default `-1`.
    #[serde(default = "last_dim")]
    pub end_dim: isize,
}

impl LayerConfig for FlattenConfig {
    const NAME: &'static str = "core.Flatten";

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Flatten { start_dim: self.start_dim, end_dim: self.end_dim }))
    }
}

/// Merges dims `start_dim ..= end_dim` into one (a reshape, so the gradient
/// is reshaped back).
///
/// # Shapes
/// input `[d_0, ..., d_{r-1}]`, output
/// `[d_0, ..., d_{s-1}, d_s * ... * d_e, d_{e+1}, ...]`; a rank-0 input
/// becomes `[1]`, as in PyTorch.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let flatten = create("Flatten", "")?;
/// assert_eq!(flatten.forward_single(&Tensor::zeros(&[2, 3, 4]))?.shape(), &[2, 12]);
/// assert_eq!(flatten.output_shape(&[vec![None, Some(3), Some(4)]])?, [None, Some(12)]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Flatten {
    start_dim: isize,
    end_dim: isize,
}

impl Flatten {
    fn flattened(&self, shape: &[Option<usize>]) -> Result<ShapeSpec> {
        let name = FlattenConfig::NAME;
        if shape.is_empty() {
            // PyTorch treats a scalar as a one-element vector here.
            return self.flattened(&[Some(1)]);
        }
        let start = normalize_dim(name, self.start_dim, shape.len())?;
        let end = normalize_dim(name, self.end_dim, shape.len())?;
        if start > end {
            let want = format!("start_dim {} not after end_dim {}", self.start_dim, self.end_dim);
            return Err(bad_input(name, want, show(shape)));
        }
        let merged = shape[start..=end].iter().try_fold(1usize, |acc, d| d.map(|d| acc * d));
        Ok([&shape[..start], &[merged], &shape[end + 1..]].concat())
    }
}

impl Layer for Flatten {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = input.shape().iter().map(|&d| Some(d)).collect();
        let out: Vec<usize> = self.flattened(&shape)?.into_iter().map(|d| d.unwrap_or(1)).collect();
        input.reshape(&out)
    }

    /// A `[batch, width]` row stays as it is.
    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let row_dims = |d: isize| d == 1 || d == -1;
        (input_widths.len() == 1 && row_dims(self.start_dim) && row_dims(self.end_dim)).then_some(RowOp::Identity)
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(FlattenOnnx { start_dim: self.start_dim, end_dim: self.end_dim }))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        self.flattened(single(FlattenConfig::NAME, inputs)?)
    }
}

/// ONNX `Flatten(axis = start_dim)`, which merges through the last dim.
#[derive(Debug)]
struct FlattenOnnx {
    start_dim: isize,
    end_dim: isize,
}

impl OnnxLowering for FlattenOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        if self.end_dim != -1 || self.start_dim < 0 {
            return Err(node.unsupported(&format!(
                "start_dim {} / end_dim {}: only end_dim -1 and start_dim >= 0 map to ONNX Flatten",
                self.start_dim, self.end_dim
            )));
        }
        let attrs = vec![Attr::int("axis", self.start_dim as i64)];
        g.node("Flatten", node.name, vec![node.input()?], node.output, attrs);
        Ok(())
    }
}
