//! `Select`: one index along one dim, the dim removed — PyTorch's `x.select(dim, index)`
//! (`out[:, -1]` for the last step of a recurrent layer's sequence).

use std::sync::Arc;

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode};
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, normalize_dim, show, single};

/// Params of `core.Select` (`torch.select(input, dim, index)`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectConfig {
    /// The dim indexed and removed; negative counts from the end (required).
    pub dim: isize,
    /// The position taken along `dim`; negative counts from the end, `-1` is the last
    /// (required).
    pub index: i64,
}

impl LayerConfig for SelectConfig {
    const NAME: &'static str = "core.Select";

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Select { dim: self.dim, index: self.index }))
    }
}

/// Takes position `index` along `dim` and removes that dim: `[N, T, H]` with `dim: 1,
/// index: -1` gives the last step, `[N, H]`. The gradient flows to the selected
/// positions only (zeros elsewhere).
///
/// # Shapes
/// input `[d_0, ..., d_{r-1}]` (rank ≥ 1), output the same without `d_dim`. An index
/// outside `-d_dim .. d_dim` is an error naming the size.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// let last = pm.get_layer("Select")?.create(&Config::from_yaml("{dim: 1, index: -1}")?)?;
/// let x = Tensor::arange(0.0, 12.0, 1.0)?.reshape(&[2, 3, 2])?;
/// assert_eq!(last.forward_single(&x)?.to_vec()?, vec![4.0, 5.0, 10.0, 11.0]);
/// assert_eq!(last.output_shape(&[vec![None, Some(3), Some(2)]])?, [None, Some(2)]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Select {
    dim: isize,
    index: i64,
}

impl Select {
    /// The dim (non-negative) for an input of `rank`.
    fn dim(&self, rank: usize) -> Result<usize> {
        if rank == 0 {
            return Err(bad_input(SelectConfig::NAME, "an input of rank 1 or more", "a scalar"));
        }
        normalize_dim(SelectConfig::NAME, self.dim, rank)
    }

    /// The index (non-negative) along a dim of `size`.
    fn index(&self, size: usize) -> Result<usize> {
        let i = if self.index < 0 { self.index + size as i64 } else { self.index };
        if (0..size as i64).contains(&i) {
            Ok(i as usize)
        } else {
            let want = format!("index {} in range for dim {} (size {size})", self.index, self.dim);
            Err(bad_input(SelectConfig::NAME, want, format!("a dim of size {size}")))
        }
    }
}

impl Layer for Select {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let d = self.dim(input.rank())?;
        let i = self.index(input.shape()[d])?;
        input.narrow(d as isize, i, 1)?.squeeze(d as isize)
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(SelectOnnx { dim: self.dim, index: self.index }))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let shape = single(SelectConfig::NAME, inputs)?;
        let d = self.dim(shape.len())?;
        if let Some(size) = shape[d] {
            self.index(size).map_err(|e| match e {
                arc_core::Error::LayerInputs { layer, expected, .. } => {
                    arc_core::Error::LayerInputs { layer, expected, got: show(shape) }
                }
                other => other,
            })?;
        }
        Ok([&shape[..d], &shape[d + 1..]].concat())
    }
}

/// ONNX `Gather(input, index, axis = dim)` with a scalar index, which removes the dim;
/// `Gather` takes negative indices as PyTorch does.
#[derive(Debug)]
struct SelectOnnx {
    dim: isize,
    index: i64,
}

impl OnnxLowering for SelectOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let index = g.constant_i64(&format!("{}.index", node.name), &[], &[self.index]);
        let attrs = vec![Attr::int("axis", self.dim as i64)];
        g.node("Gather", node.name, vec![node.input()?, index], node.output, attrs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arc_core::Error;
    use arc_core::tensor::Rng;

    #[test]
    fn selects_like_torch_select_with_negative_dims_and_indices() -> Result<()> {
        // x[n, t, h] = 100 n + 10 t + h; torch: x.select(1, -1) == x[:, 2], x.select(-1, 0) == x[..., 0].
        let data: Vec<f32> =
            (0..2).flat_map(|n| (0..3).flat_map(move |t| (0..2).map(move |h| (100 * n + 10 * t + h) as f32))).collect();
        let x = Tensor::from_vec(data, &[2, 3, 2])?;
        let last = Select { dim: 1, index: -1 };
        assert_eq!(last.forward_single(&x)?.to_vec()?, vec![20.0, 21.0, 120.0, 121.0]);
        let first_feature = Select { dim: -1, index: 0 };
        assert_eq!(first_feature.forward_single(&x)?.shape(), &[2, 3]);
        assert_eq!(first_feature.forward_single(&x)?.to_vec()?, vec![0.0, 10.0, 20.0, 100.0, 110.0, 120.0]);
        assert_eq!(Select { dim: 0, index: 1 }.forward_single(&x)?.to_vec()?[0], 100.0);
        Ok(())
    }

    #[test]
    fn the_gradient_reaches_only_the_selected_step() -> Result<()> {
        let x = Tensor::randn(&[2, 3, 2], &mut Rng::new(0)).requires_grad_()?;
        Select { dim: 1, index: -2 }.forward_single(&x)?.sum_all()?.backward()?;
        let g = x.grad().expect("a gradient").to_vec()?;
        let want: Vec<f32> = (0..12).map(|i| if (i / 2) % 3 == 1 { 1.0 } else { 0.0 }).collect();
        assert_eq!(g, want);
        Ok(())
    }

    #[test]
    fn out_of_range_indices_and_dims_are_errors_naming_the_size() {
        let x = Tensor::zeros(&[2, 3]);
        let err = Select { dim: 1, index: 3 }.forward_single(&x).unwrap_err();
        assert!(matches!(err, Error::LayerInputs { .. }), "{err}");
        assert!(err.to_string().contains("index 3 in range for dim 1 (size 3)"), "{err}");
        assert!(Select { dim: 1, index: -4 }.forward_single(&x).is_err());
        assert!(Select { dim: 1, index: -3 }.forward_single(&x).is_ok());
        let err = Select { dim: 2, index: 0 }.forward_single(&x).unwrap_err();
        assert!(err.to_string().contains("rank 2"), "{err}");
        let err = Select { dim: 0, index: 0 }.output_shape(&[vec![]]).unwrap_err();
        assert!(err.to_string().contains("scalar"), "{err}");
        let err = Select { dim: 1, index: 5 }.output_shape(&[vec![None, Some(3)]]).unwrap_err();
        assert!(err.to_string().contains("[?, 3]"), "{err}");
        // An unknown size is checked at run time only.
        assert_eq!(
            Select { dim: 1, index: 5 }.output_shape(&[vec![None, None, Some(4)]]).unwrap(),
            vec![None, Some(4)]
        );
    }
}
