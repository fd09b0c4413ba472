//! `example.RotaryEmbedding`: rotary position embedding (RoPE), Su et al.
//! (2021), "RoFormer", in the interleaved-pairs form of the paper.
//!
//! For input `[.., L, dim]` (positions along the second-to-last dimension),
//! each pair `(x[2i], x[2i+1])` at position `p` is rotated by the angle
//! `p * theta_i`, `theta_i = base^(-2i / dim)`:
//! `(x[2i] cos - x[2i+1] sin, x[2i] sin + x[2i+1] cos)`.
//! Written with tensor ops, so autograd gives the backward.

use std::sync::Mutex;

use arc_core::nn::{Layer, ShapeSpec};
use arc_core::spec::Config;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

/// [`RotaryEmbedding`]'s config.
#[derive(Debug, Deserialize, arc_core::schemars::JsonSchema)]
#[schemars(crate = "arc_core::schemars")]
#[serde(deny_unknown_fields)]
pub(crate) struct RopeConfig {
    /// Size of the last dimension (required, even).
    dim: usize,
    /// Base of the frequencies (default 10000).
    #[serde(default = "default_base")]
    base: f32,
}

fn default_base() -> f32 {
    10000.0
}

/// `example.RotaryEmbedding` (alias `RoPE`). Shapes: `[.., L, dim] -> [.., L, dim]`.
///
/// ```
/// use arc_core::Tensor;
/// use arc_core::nn::Layer;
/// use arc_example_plugin::RotaryEmbedding;
///
/// // dim 2, theta_0 = 1: position 1 rotates (1, 0) by 1 radian.
/// let rope = RotaryEmbedding::new(2, 10000.0)?;
/// let x = Tensor::from_vec(vec![1.0, 0.0, 1.0, 0.0], &[2, 2])?;
/// let y = rope.forward_single(&x)?.to_vec()?;
/// assert_eq!(&y[..2], &[1.0, 0.0]);
/// assert!((y[2] - 1f32.cos()).abs() < 1e-6 && (y[3] - 1f32.sin()).abs() < 1e-6);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct RotaryEmbedding {
    dim: usize,
    base: f32,
    /// (length, cos table, sin table), each `[L, dim]`, for the last length seen.
    tables: Mutex<Option<(usize, Tensor, Tensor)>>,
}

impl RotaryEmbedding {
    /// A RoPE over a last dimension of `dim` (even) with frequency base `base`.
    pub fn new(dim: usize, base: f32) -> Result<Self> {
        if dim == 0 || !dim.is_multiple_of(2) {
            return Err(Error::InvalidConfig {
                component: "example.RotaryEmbedding".into(),
                message: format!("`dim` must be even and positive, got {dim}"),
            });
        }
        Ok(Self { dim, base, tables: Mutex::new(None) })
    }

    /// Builds the layer from its spec params.
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        let RopeConfig { dim, base } = config.parse("example.RotaryEmbedding")?;
        Ok(Box::new(Self::new(dim, base)?))
    }

    /// The cos and sin tables `[L, dim]`, each angle repeated for its pair.
    fn tables(&self, len: usize) -> Result<(Tensor, Tensor)> {
        let mut cached = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((l, cos, sin)) = &*cached
            && *l == len
        {
            return Ok((cos.clone(), sin.clone()));
        }
        let (mut cos, mut sin) = (Vec::with_capacity(len * self.dim), Vec::with_capacity(len * self.dim));
        for p in 0..len {
            for i in 0..self.dim / 2 {
                let theta = self.base.powf(-2.0 * i as f32 / self.dim as f32);
                let angle = p as f32 * theta;
                cos.extend([angle.cos(); 2]);
                sin.extend([angle.sin(); 2]);
            }
        }
        let tables = (Tensor::from_vec(cos, &[len, self.dim])?, Tensor::from_vec(sin, &[len, self.dim])?);
        *cached = Some((len, tables.0.clone(), tables.1.clone()));
        Ok(tables)
    }
}

impl Layer for RotaryEmbedding {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let shape = input.shape().to_vec();
        let rank = shape.len();
        if rank < 2 || shape[rank - 1] != self.dim {
            return Err(Error::BadRank {
                op: "example.RotaryEmbedding",
                expected: "a tensor [.., L, dim] whose last dimension is the layer's `dim`",
                shape,
            });
        }
        let (cos, sin) = self.tables(shape[rank - 2])?;
        // rotate_pairs(x): (x0, x1) -> (-x1, x0) for every pair.
        let mut pairs = shape.clone();
        pairs[rank - 1] = self.dim / 2;
        pairs.push(2);
        let x = input.reshape(&pairs)?;
        let (even, odd) = (x.narrow(-1, 0, 1)?, x.narrow(-1, 1, 1)?);
        let rotated = Tensor::concat(&[&odd.neg()?, &even], -1)?.reshape(&shape)?;
        input.mul(&cos)?.add(&rotated.mul(&sin)?)
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(inputs.first().cloned().unwrap_or_default())
    }
}
