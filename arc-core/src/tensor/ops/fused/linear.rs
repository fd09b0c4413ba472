//! `linear(x, W, b) = x @ W^T + b`. Small batches: gemm computes `W @ x^T` (reading `x^T`
//! through strides) and one tiled transpose writes `Y` with the bias added; from
//! [`TALL_ROWS`] rows on, or for outputs at most twice the batch wide, `x @ W^T` onto the
//! bias rows directly.

use super::super::super::Tensor;
use super::super::super::autograd::record;
use super::super::super::gemm::{self, view};
use super::super::super::math;
use crate::{Error, Result};

/// From this many rows on, `linear` multiplies `x @ W^T` directly (the product splits its
/// rows across threads); below, as `(W @ x^T)^T` unless the output is at most twice as wide
/// as the batch.
const TALL_ROWS: usize = 256;

impl Tensor {
    /// PyTorch's `F.linear`: `x @ weight^T + bias` for `x: [..., in]`, `weight: [out, in]`,
    /// `bias: [out]`; the result is `[..., out]`.
    ///
    /// Backward: `dx = g @ W`, `dW = g^T @ x` (written directly in `[out, in]` layout),
    /// `db = sum of g over rows`.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2])?;
    /// let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2])?;
    /// let b = Tensor::from_vec(vec![0.5, 0.5, 0.5], &[3])?;
    /// assert_eq!(x.linear(&w, Some(&b))?.to_vec()?, vec![1.5, 2.5, 3.5]);
    /// # Ok(()) }
    /// ```
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let op = "linear";
        if weight.rank() != 2 || self.rank() == 0 {
            return Err(Error::BadRank {
                op,
                expected: "x [..., in] and weight [out, in]",
                shape: weight.shape().to_vec(),
            });
        }
        let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
        if self.shape()[self.rank() - 1] != in_f {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: weight.shape().to_vec() });
        }
        if let Some(b) = bias
            && b.shape() != [out_f]
        {
            return Err(Error::ShapeMismatch { op, lhs: weight.shape().to_vec(), rhs: b.shape().to_vec() });
        }
        let rows: usize = self.shape()[..self.rank() - 1].iter().product();
        let x2 = self.reshape_raw(&[rows, in_f])?;
        let on_gpu = !self.device().is_cpu() || !weight.device().is_cpu() || bias.is_some_and(|b| !b.device().is_cpu());
        if on_gpu {
            return linear_cuda(self, &x2, weight, bias, rows);
        }
        let (xd, xl) = x2.cpu_f32(op)?;
        let (wd, wl) = weight.cpu_f32(op)?;
        let wm = view(wd, wl.offset, (out_f, in_f), (wl.strides[0], wl.strides[1]))?;
        let bias_data = bias.map(|b| b.f32_data(op)).transpose()?;
        let out = if rows >= TALL_ROWS || out_f <= 2 * rows {
            // Enough rows for a block per thread, or an output no wider than twice the batch:
            // Y = x @ W^T straight, the bias written into each block before the product
            // accumulates onto it (MLP step 723 -> 693 us on the 2-core dev VM).
            let xm = view(xd, xl.offset, (rows, in_f), (xl.strides[0], xl.strides[1]))?;
            gemm::product_plus_row(xm, wm.t(), bias_data.as_deref())?
        } else {
            // Y^T = W @ x^T, then one transpose that also adds the bias. gemm multiplies this
            // orientation far faster than `x @ W^T` into a row-major Y when the batch is
            // small: [64, 1024] x [1024, 1024] took 0.52 ms instead of 1.5 ms with its
            // AVX-512 kernels on the 2-core dev VM (it splits the work across threads along
            // the small batch dim otherwise); the transpose costs ~30 us.
            let xt = view(xd, xl.offset, (in_f, rows), (xl.strides[1], xl.strides[0]))?;
            math::transpose(&gemm::product(wm, xt)?, out_f, rows, bias_data.as_deref())
        };
        let mut shape = self.shape().to_vec();
        *shape.last_mut().expect("rank >= 1 (checked above)") = out_f;
        let out = Tensor::from_f32(out, &shape);
        let inputs: Vec<&Tensor> = match bias {
            Some(b) => vec![self, weight, b],
            None => vec![self, weight],
        };
        Ok(record(out, op, &inputs, move |args| {
            let (x, w) = (&args.inputs[0], &args.inputs[1]);
            let g = args.grad.reshape_raw(&[rows, out_f])?;
            let (gd, gl) = g.cpu_f32(op)?;
            let mut grads = Vec::with_capacity(args.inputs.len());
            grads.push(if args.needs[0] {
                let (wd, wl) = w.cpu_f32(op)?;
                let gm = view(gd, gl.offset, (rows, out_f), (out_f, 1))?;
                let wm = view(wd, wl.offset, (out_f, in_f), (wl.strides[0], wl.strides[1]))?;
                Some(Tensor::from_f32(gemm::product(gm, wm)?, x.shape()))
            } else {
                None
            });
            grads.push(if args.needs[1] {
                let x2 = x.reshape_raw(&[rows, in_f])?;
                let (xd, xl) = x2.cpu_f32(op)?;
                let xm = view(xd, xl.offset, (rows, in_f), (in_f, 1))?;
                let gt = view(gd, gl.offset, (out_f, rows), (1, out_f))?;
                Some(Tensor::from_f32(gemm::product(gt, xm)?, &[out_f, in_f]))
            } else {
                None
            });
            if args.inputs.len() == 3 {
                grads.push(if args.needs[2] { Some(g.sum(&[0], false)?) } else { None });
            }
            Ok(grads)
        }))
    }
}

/// `linear` on a GPU: one cuBLAS gemm forward (bias through `beta = 1`); backward
/// `dx = g @ W`, `dW = g^T @ x` (both gemms reading the transposes through cuBLAS flags) and
/// `db` as a gemm with a ones row, all on the device.
fn linear_cuda(x: &Tensor, x2: &Tensor, weight: &Tensor, bias: Option<&Tensor>, rows: usize) -> Result<Tensor> {
    use super::super::super::cuda;
    let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
    let out = cuda::linear(x2, weight, bias)?;
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = out_f;
    }
    let out = out.reshape_raw(&shape)?;
    let inputs: Vec<&Tensor> = match bias {
        Some(b) => vec![x, weight, b],
        None => vec![x, weight],
    };
    Ok(record(out, "linear", &inputs, move |args| {
        let (x, w) = (&args.inputs[0], &args.inputs[1]);
        let g = args.grad.reshape_raw(&[rows, out_f])?;
        let mut grads = Vec::with_capacity(args.inputs.len());
        grads.push(if args.needs[0] { Some(cuda::matmul(&g, w)?.reshape_raw(x.shape())?) } else { None });
        grads.push(if args.needs[1] {
            let x2 = x.reshape_raw(&[rows, in_f])?;
            Some(cuda::matmul(&g.transpose_raw(0, 1), &x2)?)
        } else {
            None
        });
        if args.inputs.len() == 3 {
            grads.push(if args.needs[2] { Some(cuda::sum_rows(&g)?) } else { None });
        }
        Ok(grads)
    }))
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    #[test]
    fn linear_matches_matmul_plus_bias() -> Result<()> {
        // 3-D input [2, 5, 8] through [6, 8]: same as x @ w^T + b within 1e-5; then a tall
        // [3, 100, 8] input (300 rows: the direct orientation) and a transposed view of one.
        for shape in [[2, 5, 8], [3, 100, 8]] {
            let x = Tensor::randn(&shape, &mut Rng::new(0));
            let w = Tensor::randn(&[6, 8], &mut Rng::new(1));
            let b = Tensor::randn(&[6], &mut Rng::new(2));
            let composed = x.matmul(&w.t()?)?.add(&b)?;
            let c = composed.to_vec()?;
            let fused = x.linear(&w, Some(&b))?;
            assert_eq!(fused.shape(), &[shape[0], shape[1], 6]);
            assert!(fused.to_vec()?.iter().zip(&c).all(|(a, b)| (a - b).abs() < 1e-5));
            let nb = x.linear(&w, None)?.to_vec()?;
            assert!(nb.iter().zip(&c).zip(b.to_vec()?.iter().cycle()).all(|((n, c), b)| (n + b - c).abs() < 1e-5));
            let xt = x.transpose(0, 1)?;
            let want = xt.matmul(&w.t()?)?.add(&b)?.to_vec()?;
            assert!(xt.linear(&w, Some(&b))?.to_vec()?.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
        }
        Ok(())
    }

    #[test]
    fn linear_shape_errors() {
        let err = Tensor::zeros(&[2, 3]).linear(&Tensor::zeros(&[4, 5]), None).unwrap_err();
        assert_eq!(err.to_string(), "op `linear`: shapes [2, 3] and [4, 5] are incompatible");
        let err = Tensor::zeros(&[2, 3]).linear(&Tensor::zeros(&[4, 3]), Some(&Tensor::zeros(&[3]))).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { op: "linear", .. }));
        assert!(Tensor::zeros(&[2, 3]).linear(&Tensor::zeros(&[3]), None).is_err());
    }

    #[test]
    fn gradcheck_linear() -> Result<()> {
        let x = Tensor::randn(&[2, 3, 4], &mut Rng::new(3));
        let w = Tensor::randn(&[5, 4], &mut Rng::new(4));
        let b = Tensor::randn(&[5], &mut Rng::new(5));
        gradcheck(|t| t[0].linear(&t[1], Some(&t[2])), &[&x, &w, &b], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].linear(&t[1], None), &[&x, &w], 1e-3, 1e-2)?;
        // A transposed view as weight.
        let wt = Tensor::randn(&[4, 5], &mut Rng::new(6));
        gradcheck(|t| t[0].linear(&t[1].t()?, None), &[&x, &wt], 1e-3, 1e-2)?;
        Ok(())
    }
}
