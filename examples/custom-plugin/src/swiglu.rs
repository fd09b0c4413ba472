//! `example.SwiGLU`: the gated activation of Shazeer (2020), "GLU Variants
//! Improve Transformer", as one fused custom op with its own backward.
//!
//! The input's last dimension (size `2h`) is split into halves `a | b`:
//! `y = silu(a) * b`, of last dimension `h`.
//!
//! Backward, with `s = sigmoid(a)` and `silu'(a) = s * (1 + a * (1 - s))`:
//! `da = g * b * silu'(a)`, `db = g * silu(a)`.

use std::sync::Arc;

use arc_core::lower::{OnnxLowering, RowOp};
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::spec::Config;
use arc_core::tensor::CustomOp;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

/// The fused op: `silu(a) * b` over the halves of the last dimension.
#[derive(Debug, Default)]
pub struct SwiGluOp;

/// `h`, half of `x`'s even last dimension.
fn half_width(op: &'static str, x: &Tensor) -> Result<usize> {
    let width = *x.shape().last().ok_or(Error::BadRank { op, expected: "at least 1 dimension", shape: vec![] })?;
    if !width.is_multiple_of(2) {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            value: format!("last dimension {width}"),
            expected: "an even last dimension (two halves)",
        });
    }
    Ok(width / 2)
}

fn halves(op: &'static str, x: &Tensor) -> Result<(Vec<f32>, usize)> {
    let h = half_width(op, x)?;
    Ok((x.to_vec()?, h))
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

impl CustomOp for SwiGluOp {
    fn name(&self) -> &str {
        "example.swiglu"
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let x = inputs[0];
        let (data, h) = halves("example.swiglu", x)?;
        let mut out = Vec::with_capacity(data.len() / 2);
        for row in data.chunks_exact(2 * h) {
            let (a, b) = row.split_at(h);
            out.extend(a.iter().zip(b).map(|(&a, &b)| a * sigmoid(a) * b));
        }
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("checked non-empty") = h;
        Tensor::from_vec(out, &shape)
    }

    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad_output: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = inputs[0];
        let (data, h) = halves("example.swiglu", x)?;
        let g = grad_output.to_vec()?;
        let mut dx = Vec::with_capacity(data.len());
        for (row, g) in data.chunks_exact(2 * h).zip(g.chunks_exact(h)) {
            let (a, b) = row.split_at(h);
            let da = a.iter().zip(b).zip(g).map(|((&a, &b), &g)| {
                let s = sigmoid(a);
                g * b * s * (1.0 + a * (1.0 - s))
            });
            let db = a.iter().zip(g).map(|(&a, &g)| g * a * sigmoid(a));
            dx.extend(da.collect::<Vec<_>>());
            dx.extend(db);
        }
        Ok(vec![Some(Tensor::from_vec(dx, x.shape())?)])
    }

    fn cuda_source(&self) -> Option<&str> {
        Some(SWIGLU_CUDA)
    }

    /// `[.., 2h] -> [.., h]`.
    fn cuda_output_shape(&self, inputs: &[&Tensor]) -> Result<Vec<usize>> {
        let x = inputs.first().ok_or(Error::BadRank { op: "example.swiglu", expected: "one input", shape: vec![] })?;
        let h = half_width("example.swiglu", x)?;
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("checked non-empty") = h;
        Ok(shape)
    }

    /// `h`, the width of each half.
    fn cuda_scalar_args(&self, inputs: &[&Tensor]) -> Result<Vec<i64>> {
        let x = inputs.first().ok_or(Error::BadRank { op: "example.swiglu", expected: "one input", shape: vec![] })?;
        Ok(vec![half_width("example.swiglu", x)? as i64])
    }
}

/// The op's kernel for the GPU backend (Arc's custom-op convention: the kernel `swiglu`,
/// named after the op, takes the input, the output, its element count and `h`; one thread
/// per output element, grid-stride).
pub const SWIGLU_CUDA: &str = include_str!("swiglu.cu");

/// [`SwiGlu`]'s config.
#[derive(Debug, Default, Deserialize, arc_core::schemars::JsonSchema)]
#[schemars(crate = "arc_core::schemars")]
#[serde(deny_unknown_fields)]
pub(crate) struct SwiGluConfig {}

/// `example.SwiGLU` (alias `SwiGLU`): `silu(a) * b` over the halves of the
/// last dimension; `[.., 2h] -> [.., h]`. No parameters.
///
/// ```
/// use arc_core::Tensor;
/// use arc_core::nn::Layer;
/// use arc_example_plugin::SwiGlu;
///
/// // a = [0, 2], b = [3, 1]: silu(0) * 3 = 0, silu(2) * 1 = 2 * sigmoid(2).
/// let x = Tensor::from_vec(vec![0.0, 2.0, 3.0, 1.0], &[1, 4])?;
/// let y = SwiGlu.forward_single(&x)?.to_vec()?;
/// assert_eq!(y[0], 0.0);
/// assert!((y[1] - 2.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SwiGlu;

impl SwiGlu {
    /// Builds the layer from its spec params (none).
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        let SwiGluConfig {} = config.parse("example.SwiGLU")?;
        Ok(Box::new(Self))
    }
}

impl Layer for SwiGlu {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        Tensor::apply_custom(Arc::new(SwiGluOp), &[input])
    }

    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        match input_widths {
            &[width] if width.is_multiple_of(2) => Some(RowOp::kernel(width / 2, crate::lowering::SwiGluRow)),
            _ => None,
        }
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(crate::lowering::SwiGluOnnx))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let mut shape = inputs.first().cloned().unwrap_or_default();
        match shape.last_mut() {
            Some(Some(w)) if w.is_multiple_of(2) => *w /= 2,
            Some(Some(w)) => {
                return Err(Error::InvalidArgument {
                    op: "example.SwiGLU",
                    name: "input",
                    value: format!("last dimension {w}"),
                    expected: "an even last dimension",
                });
            }
            _ => {}
        }
        Ok(shape)
    }
}
