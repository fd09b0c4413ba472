//! Fused LayerNorm and RMSNorm over the last dim.
//!
//! Forward, per row of `D` elements (a 16 KiB row of 4096 floats stays in L1 across passes):
//! LayerNorm: `mean`, then `var = mean((x - mean)^2)` (two-pass, no cancellation), then
//! `y = (x - mean) * rstd * w + b` with `rstd = 1 / sqrt(var + eps)`.
//! RMSNorm: `rstd = 1 / sqrt(mean(x^2) + eps)`, `y = x * rstd * w`.
//! The per-row `mean` and `rstd` are saved for the backward:
//! with `xhat = (x - mean) * rstd` and `h = g * w`,
//! LayerNorm `dx = rstd * (h - mean(h) - xhat * mean(h * xhat))`, `dw = sum_rows g * xhat`,
//! `db = sum_rows g`; RMSNorm `dx = rstd * (h - xhat * mean(h * xhat))`, `dw = sum_rows g * xhat`.
//! On a GPU the same formulas run as CUDA row kernels (`cuda/rows.rs`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::super::super::Tensor;
use super::super::super::autograd::record;
use super::super::super::math::{self, Isa, multiversion};
use super::super::super::storage::{build_f32, par_rows_with, should_par};
use crate::{Error, Result};

#[inline(always)]
fn layer_norm_row_impl<I: Isa>(
    x: &[f32],
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    eps: f32,
    o: &mut [MaybeUninit<f32>],
) -> (f32, f32) {
    let inv_d = 1.0 / x.len() as f32;
    let mean = math::sum(x) * inv_d;
    let var = math::sum_sq_dev::<I>(x, mean) * inv_d;
    let rstd = 1.0 / (var + eps).sqrt();
    let shift = -mean * rstd;
    match (w, b) {
        (Some(w), Some(b)) => {
            for (((o, &v), &w), &b) in o.iter_mut().zip(x).zip(w).zip(b) {
                o.write(I::fma(I::fma(v, rstd, shift), w, b));
            }
        }
        (Some(w), None) => {
            for ((o, &v), &w) in o.iter_mut().zip(x).zip(w) {
                o.write(I::fma(v, rstd, shift) * w);
            }
        }
        (None, Some(b)) => {
            for ((o, &v), &b) in o.iter_mut().zip(x).zip(b) {
                o.write(I::fma(v, rstd, shift) + b);
            }
        }
        (None, None) => {
            for (o, &v) in o.iter_mut().zip(x) {
                o.write(I::fma(v, rstd, shift));
            }
        }
    }
    (mean, rstd)
}
multiversion!(fn layer_norm_row(
    x: &[f32], w: Option<&[f32]>, b: Option<&[f32]>, eps: f32, o: &mut [MaybeUninit<f32>]
) -> (f32, f32) => layer_norm_row_impl);

#[inline(always)]
fn rms_norm_row_impl<I: Isa>(x: &[f32], w: Option<&[f32]>, eps: f32, o: &mut [MaybeUninit<f32>]) -> (f32, f32) {
    let ms = math::dot::<I>(x, x) / x.len() as f32;
    let rstd = 1.0 / (ms + eps).sqrt();
    match w {
        Some(w) => {
            for ((o, &v), &w) in o.iter_mut().zip(x).zip(w) {
                o.write(v * rstd * w);
            }
        }
        None => {
            for (o, &v) in o.iter_mut().zip(x) {
                o.write(v * rstd);
            }
        }
    }
    (0.0, rstd)
}
multiversion!(fn rms_norm_row(
    x: &[f32], w: Option<&[f32]>, eps: f32, o: &mut [MaybeUninit<f32>]
) -> (f32, f32) => rms_norm_row_impl);

/// Runs a row kernel returning `(mean, rstd)` over all rows, in parallel when large.
fn rows_with_stats(
    x: &[f32],
    d: usize,
    kernel: impl Fn(&[f32], &mut [MaybeUninit<f32>]) -> (f32, f32) + Sync,
) -> (Vec<f32>, Vec<(f32, f32)>) {
    let mut stats = vec![(0.0, 0.0); x.len() / d];
    let out = par_rows_with(x, d, &mut stats, |_, x, o, s| *s = kernel(x, o));
    (out, stats)
}

/// Validates a norm's input and affine parameters; returns `D`.
fn check(op: &'static str, x: &Tensor, params: &[Option<&Tensor>], eps: f32) -> Result<usize> {
    if x.rank() == 0 || x.shape()[x.rank() - 1] == 0 {
        return Err(Error::BadRank { op, expected: "a non-empty last dim", shape: x.shape().to_vec() });
    }
    if eps.is_nan() || eps < 0.0 {
        return Err(Error::InvalidArgument { op, name: "eps", value: eps.to_string(), expected: "eps >= 0" });
    }
    let d = x.shape()[x.rank() - 1];
    for p in params.iter().flatten() {
        if p.shape() != [d] {
            return Err(Error::ShapeMismatch { op, lhs: x.shape().to_vec(), rhs: p.shape().to_vec() });
        }
    }
    Ok(d)
}

/// Elements per block of the backward: each block of rows sums its own `dw`/`db`, and the
/// blocks' sums are added in block order, so the result is the same for any thread count.
const BACKWARD_BLOCK_ELEMS: usize = 1 << 14;

/// The backward of one block of rows: writes `dx` and adds the block's `dw` and `db` into
/// `acc = [dw; db]` (zeroed by the caller).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn norm_backward_block_impl<I: Isa>(
    x: &[f32],
    g: &[f32],
    w: Option<&[f32]>,
    stats: &[(f32, f32)],
    centered: bool,
    dx: &mut [MaybeUninit<f32>],
    acc: &mut [f32],
) {
    let d = acc.len() / 2;
    let (dw, db) = acc.split_at_mut(d);
    let (mut h, mut xhat) = (vec![0.0f32; d], vec![0.0f32; d]);
    for (((xr, gr), dxr), &(mean, rstd)) in x.chunks(d).zip(g.chunks(d)).zip(dx.chunks_mut(d)).zip(stats) {
        let shift = -mean * rstd;
        for ((((xh, &v), &gv), dw), db) in xhat.iter_mut().zip(xr).zip(gr).zip(dw.iter_mut()).zip(db.iter_mut()) {
            *xh = I::fma(v, rstd, shift);
            *dw = I::fma(gv, *xh, *dw);
            *db += gv;
        }
        match w {
            Some(w) => h.iter_mut().zip(gr).zip(w).for_each(|((h, &gv), &wv)| *h = gv * wv),
            None => h.copy_from_slice(gr),
        }
        let inv_d = 1.0 / d as f32;
        let mean_h = if centered { math::sum(&h) * inv_d } else { 0.0 };
        let mean_hx = math::dot::<I>(&h, &xhat) * inv_d;
        for ((o, &hv), &xh) in dxr.iter_mut().zip(&h).zip(&xhat) {
            o.write(rstd * (hv - mean_h - xh * mean_hx));
        }
    }
}
multiversion!(fn norm_backward_block(
    x: &[f32], g: &[f32], w: Option<&[f32]>, stats: &[(f32, f32)], centered: bool,
    dx: &mut [MaybeUninit<f32>], acc: &mut [f32]
) => norm_backward_block_impl);

/// One block of the backward, as the zipped chunks give it: `((dx, x), g)` rows and
/// `(stats, [dw; db])`.
type BackwardBlock<'a> = (((&'a mut [MaybeUninit<f32>], &'a [f32]), &'a [f32]), (&'a [(f32, f32)], &'a mut [f32]));

/// Shared backward of both norms (`centered` selects LayerNorm's extra `- mean(h)` term):
/// blocks of rows in parallel, each with its own `dw`/`db` partial sums.
#[allow(clippy::too_many_arguments)]
fn norm_backward(
    op: &'static str,
    x: &Tensor,
    w: Option<&Tensor>,
    g: &Tensor,
    stats: &[(f32, f32)],
    d: usize,
    centered: bool,
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let (xs, gs) = (x.f32_data(op)?, g.f32_data(op)?);
    let ws = w.map(|w| w.f32_data(op)).transpose()?;
    let ws = ws.as_deref();
    let block_rows = (BACKWARD_BLOCK_ELEMS / d).max(1);
    let block = block_rows * d;
    let mut partial = vec![0.0f32; stats.len().div_ceil(block_rows) * 2 * d];
    let dx = build_f32(xs.len(), |dx| {
        let run = |(((dx, x), g), (s, acc)): BackwardBlock<'_>| norm_backward_block(x, g, ws, s, centered, dx, acc);
        if should_par(xs.len()) {
            dx.par_chunks_mut(block)
                .zip(xs.par_chunks(block))
                .zip(gs.par_chunks(block))
                .zip(stats.par_chunks(block_rows).zip(partial.par_chunks_mut(2 * d)))
                .for_each(run);
        } else {
            dx.chunks_mut(block)
                .zip(xs.chunks(block))
                .zip(gs.chunks(block))
                .zip(stats.chunks(block_rows).zip(partial.chunks_mut(2 * d)))
                .for_each(run);
        }
    });
    let (mut dw, mut db) = (vec![0.0f32; d], vec![0.0f32; d]);
    for acc in partial.chunks(2 * d) {
        dw.iter_mut().zip(&acc[..d]).for_each(|(s, v)| *s += v);
        db.iter_mut().zip(&acc[d..]).for_each(|(s, v)| *s += v);
    }
    Ok((dx, dw, db))
}

/// LayerNorm (`centered`) or RMSNorm of a tensor on a GPU (inputs validated by the op), with
/// its backward: the row kernels of `cuda/rows.rs`, saving each row's mean and rstd on the
/// device.
fn norm_cuda(x: &Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f32, centered: bool) -> Result<Tensor> {
    let op = if centered { "layer_norm" } else { "rms_norm" };
    let (out, mean, rstd) = super::super::super::cuda::norm_forward(x, weight, bias, eps, centered)?;
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    let (has_w, has_b) = (weight.is_some(), bias.is_some());
    Ok(record(out, op, &inputs, move |a| {
        let w = has_w.then(|| &a.inputs[1]);
        let need_wb = a.needs.iter().skip(1).any(|&n| n);
        let (dx, dw, db) =
            super::super::super::cuda::norm_backward(&a.inputs[0], w, a.grad, &mean, &rstd, centered, need_wb)?;
        let mut grads = vec![Some(dx)];
        if has_w {
            grads.push(dw);
        }
        if has_b {
            grads.push(db);
        }
        Ok(grads)
    }))
}

impl Tensor {
    /// Layer normalisation over the last dim (PyTorch's `F.layer_norm` with
    /// `normalized_shape = [D]`): `(x - mean) / sqrt(var + eps) * weight + bias`, biased
    /// variance. `weight` and `bias` are optional `[D]` tensors; PyTorch's default eps is 1e-5.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// // mean 2.5, var 1.25: (x - 2.5) / sqrt(1.25)
    /// let y = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4])?.layer_norm(None, None, 0.0)?;
    /// let want = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
    /// assert!(y.to_vec()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok(()) }
    /// ```
    pub fn layer_norm(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f32) -> Result<Tensor> {
        let op = "layer_norm";
        let d = check(op, self, &[weight, bias], eps)?;
        if !self.device().is_cpu() {
            return norm_cuda(self, weight, bias, eps, true);
        }
        let x = self.f32_data(op)?;
        let wv = weight.map(|w| w.f32_data(op)).transpose()?;
        let bv = bias.map(|b| b.f32_data(op)).transpose()?;
        let (out, stats) = rows_with_stats(&x, d, |x, o| layer_norm_row(x, wv.as_deref(), bv.as_deref(), eps, o));
        let out = Tensor::from_f32(out, self.shape());
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (has_w, has_b) = (weight.is_some(), bias.is_some());
        Ok(record(out, op, &inputs, move |a| {
            let w = has_w.then(|| &a.inputs[1]);
            let (dx, dw, db) = norm_backward(op, &a.inputs[0], w, a.grad, &stats, d, true)?;
            let mut grads = vec![Some(Tensor::from_f32(dx, a.inputs[0].shape()))];
            if has_w {
                grads.push(Some(Tensor::from_f32(dw, &[d])));
            }
            if has_b {
                grads.push(Some(Tensor::from_f32(db, &[d])));
            }
            Ok(grads)
        }))
    }

    /// RMS normalisation over the last dim (PyTorch's `F.rms_norm`):
    /// `x / sqrt(mean(x^2) + eps) * weight`, `weight` an optional `[D]` tensor.
    pub fn rms_norm(&self, weight: Option<&Tensor>, eps: f32) -> Result<Tensor> {
        let op = "rms_norm";
        let d = check(op, self, &[weight], eps)?;
        if !self.device().is_cpu() {
            return norm_cuda(self, weight, None, eps, false);
        }
        let x = self.f32_data(op)?;
        let wv = weight.map(|w| w.f32_data(op)).transpose()?;
        let (out, stats) = rows_with_stats(&x, d, |x, o| rms_norm_row(x, wv.as_deref(), eps, o));
        let out = Tensor::from_f32(out, self.shape());
        let mut inputs = vec![self];
        inputs.extend(weight);
        Ok(record(out, op, &inputs, move |a| {
            let w = a.inputs.get(1);
            let (dx, dw, _) = norm_backward(op, &a.inputs[0], w, a.grad, &stats, d, false)?;
            let mut grads = vec![Some(Tensor::from_f32(dx, a.inputs[0].shape()))];
            if w.is_some() {
                grads.push(Some(Tensor::from_f32(dw, &[d])));
            }
            Ok(grads)
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    /// LayerNorm composed from primitive ops (biased variance), the reference.
    fn composed_layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
        let mean = x.mean(&[-1], true)?;
        let var = x.var(&[-1], false, true)?;
        x.sub(&mean)?.div(&var.add_scalar(eps)?.sqrt()?)?.mul(w)?.add(b)
    }

    #[test]
    fn fused_norms_match_composed_ops() -> Result<()> {
        // Rows of 4096 exceed the parallel threshold with 16 rows; tolerance 1e-5.
        for shape in [&[3, 7][..], &[16, 4096]] {
            let d = shape[1];
            let x = Tensor::randn(shape, &mut Rng::new(0)).affine(2.0, 1.0)?;
            let w = Tensor::randn(&[d], &mut Rng::new(1));
            let b = Tensor::randn(&[d], &mut Rng::new(2));
            let fused = x.layer_norm(Some(&w), Some(&b), 1e-5)?.to_vec()?;
            let want = composed_layer_norm(&x, &w, &b, 1e-5)?.to_vec()?;
            assert!(fused.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4));
            let rms = x.rms_norm(Some(&w), 1e-6)?.to_vec()?;
            let want = x.div(&x.square()?.mean(&[-1], true)?.add_scalar(1e-6)?.sqrt()?)?.mul(&w)?.to_vec()?;
            assert!(rms.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4));
        }
        // RMSNorm of [3, 4]: rms = sqrt(12.5) -> [0.8485281, 1.1313708]
        let r = Tensor::from_vec(vec![3.0, 4.0], &[1, 2])?.rms_norm(None, 0.0)?.to_vec()?;
        assert!((r[0] - 0.848_528_1).abs() < 1e-6 && (r[1] - 1.131_370_8).abs() < 1e-6);
        Ok(())
    }

    /// The gradients (`dx`, `dw`, `db`) of `sum(norm(x, w, b) * r)` through `f`.
    fn norm_grads(f: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>) -> Result<Vec<Vec<f32>>> {
        let (rows, d) = (300, 130);
        let x = Tensor::randn(&[rows, d], &mut Rng::new(6)).affine(3.0, 2.0)?.requires_grad_()?;
        let w = Tensor::randn(&[d], &mut Rng::new(7)).requires_grad_()?;
        let b = Tensor::randn(&[d], &mut Rng::new(8)).requires_grad_()?;
        let r = Tensor::randn(&[rows, d], &mut Rng::new(9));
        f(&x, &w, &b)?.mul(&r)?.sum_all()?.backward()?;
        // (No gradient, as for RMSNorm's unused `b`: empty.)
        [&x, &w, &b].iter().map(|t| t.grad().map_or(Ok(Vec::new()), |g| g.to_vec())).collect()
    }

    #[test]
    fn parallel_norm_backward_matches_composed_ops_and_any_thread_count() -> Result<()> {
        // 300 x 130 is above the parallel threshold: three blocks of rows, the last one short.
        let fused = |x: &Tensor, w: &Tensor, b: &Tensor| x.layer_norm(Some(w), Some(b), 1e-5);
        let got = norm_grads(fused)?;
        let want = norm_grads(|x, w, b| composed_layer_norm(x, w, b, 1e-5))?;
        for (g, w) in got.iter().zip(&want) {
            let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f32::max);
            assert!(worst < 1e-4, "relative difference {worst}");
        }
        let rms = |x: &Tensor, w: &Tensor, _: &Tensor| x.rms_norm(Some(w), 1e-6);
        let rms_want = |x: &Tensor, w: &Tensor, _: &Tensor| {
            x.div(&x.square()?.mean(&[-1], true)?.add_scalar(1e-6)?.sqrt()?)?.mul(w)
        };
        for (g, w) in norm_grads(rms)?.iter().zip(&norm_grads(rms_want)?).take(2) {
            assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-4 * (1.0 + b.abs())));
        }
        // The same bits on one thread as on the test's pool.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
        assert_eq!(one.install(|| norm_grads(fused))?, got);
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("a pool");
        assert_eq!(three.install(|| norm_grads(fused))?, got);
        Ok(())
    }

    #[test]
    fn norm_errors() {
        let x = Tensor::zeros(&[2, 4]);
        let err = x.layer_norm(Some(&Tensor::ones(&[3])), None, 1e-5).unwrap_err();
        assert_eq!(err.to_string(), "op `layer_norm`: shapes [2, 4] and [3] are incompatible");
        assert!(matches!(x.rms_norm(None, -1.0), Err(Error::InvalidArgument { op: "rms_norm", .. })));
        assert!(Tensor::scalar(1.0).layer_norm(None, None, 1e-5).is_err());
    }

    #[test]
    fn gradcheck_norms() -> Result<()> {
        let x = Tensor::randn(&[2, 3, 5], &mut Rng::new(3));
        let w = Tensor::randn(&[5], &mut Rng::new(4));
        let b = Tensor::randn(&[5], &mut Rng::new(5));
        gradcheck(|t| t[0].layer_norm(Some(&t[1]), Some(&t[2]), 1e-5), &[&x, &w, &b], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].layer_norm(None, None, 1e-5), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].layer_norm(None, Some(&t[1]), 1e-5), &[&x, &b], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].rms_norm(Some(&t[1]), 1e-6), &[&x, &w], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].rms_norm(None, 1e-6), &[&x], 1e-3, 1e-2)?;
        Ok(())
    }
}
