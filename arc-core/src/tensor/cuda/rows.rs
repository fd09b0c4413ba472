//! Row kernels on the GPU: softmax / log_softmax, LayerNorm / RMSNorm and cross-entropy,
//! forward and backward (kernels in `kernels/rows.cu`, one block per row).
//!
//! Each function is the device half of an op whose autograd lives in the op layer
//! (`ops/activation.rs`, `ops/fused/norm.rs`, `ops/fused/loss.rs`); the formulas, edge cases
//! and error rules are the CPU kernels', documented next to each kernel.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::device::{CudaDev, cuda_err, launch_1d, launch_rows};
use super::reduce::{check_labels, reduce_3d};
use super::storage::{alloc_f32, f32_view, i64_view, same_device, tensor_f32};
use super::{binary, contiguous, fill};
use crate::tensor::Reduction;
use crate::tensor::Tensor;
use crate::tensor::device::DType;
use crate::{Error, Result};

const MODULE: &str = "rows";

/// `x` with dim `d` moved last (a view) and made contiguous, plus the rows and columns.
fn dim_last(x: &Tensor, d: usize) -> Result<(Tensor, usize, usize)> {
    let last = x.rank() - 1;
    let moved = if d == last { x.clone() } else { x.transpose_raw(d, last) };
    let moved = contiguous(&moved)?;
    let cols = moved.shape()[last];
    let rows = moved.numel().checked_div(cols).unwrap_or(0);
    Ok((moved, rows, cols))
}

/// Undoes [`dim_last`] on a result of the moved shape (a view).
fn dim_back(out: Tensor, d: usize) -> Tensor {
    let last = out.rank() - 1;
    if d == last { out } else { out.transpose_raw(d, last) }
}

/// Softmax (or, when `log`, log-softmax) of `x` along dim `d` (already normalised).
pub(crate) fn softmax(x: &Tensor, d: usize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let dev = same_device(op, &[x])?;
    let (moved, rows, cols) = dim_last(x, d)?;
    let mut out = alloc_f32(&dev, moved.numel(), op)?;
    if rows > 0 && cols > 0 {
        let xv = f32_view(&moved, op)?;
        let f = dev.func(MODULE, "softmax_rows")?;
        let (r64, c64, log32) = (rows as i64, cols as i64, log as i32);
        // SAFETY: matches `softmax_rows`; `xv` and `out` hold rows * cols elements.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&xv)
                .arg(&mut out)
                .arg(&r64)
                .arg(&c64)
                .arg(&log32)
                .launch(launch_rows(rows))
        }
        .map_err(cuda_err(op))?;
    }
    Ok(dim_back(tensor_f32(&dev, out, moved.shape()), d))
}

/// The input gradient of [`softmax`] along dim `d` from the incoming gradient `g` and the
/// saved output `y`: `y * (g - sum(g * y))`, or for log-softmax `g - exp(y) * sum(g)`.
pub(crate) fn softmax_backward(g: &Tensor, y: &Tensor, d: usize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let dev = same_device(op, &[g, y])?;
    let (gm, rows, cols) = dim_last(g, d)?;
    let (ym, _, _) = dim_last(y, d)?;
    let mut out = alloc_f32(&dev, gm.numel(), op)?;
    if rows > 0 && cols > 0 {
        let (gv, yv) = (f32_view(&gm, op)?, f32_view(&ym, op)?);
        let f = dev.func(MODULE, "softmax_bwd_rows")?;
        let (r64, c64, log32) = (rows as i64, cols as i64, log as i32);
        // SAFETY: matches `softmax_bwd_rows`; all three buffers hold rows * cols elements.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&gv)
                .arg(&yv)
                .arg(&mut out)
                .arg(&r64)
                .arg(&c64)
                .arg(&log32)
                .launch(launch_rows(rows))
        }
        .map_err(cuda_err(op))?;
    }
    Ok(dim_back(tensor_f32(&dev, out, gm.shape()), d))
}

/// Rows of the last dim: `(rows, d)`.
fn rows_of(x: &Tensor) -> (usize, usize) {
    let d = x.shape().last().copied().unwrap_or(1);
    (x.numel().checked_div(d).unwrap_or(0), d)
}

/// `t` made contiguous when present, or `fallback` (never read by the kernel).
fn optional(t: Option<&Tensor>, fallback: &Tensor) -> Result<(Tensor, i32)> {
    Ok(match t {
        Some(t) => (contiguous(t)?, 1),
        None => (fallback.clone(), 0),
    })
}

/// LayerNorm (`centered`) or RMSNorm over the last dim of `x` (validated by the op):
/// returns `(y, mean, rstd)`, the two statistics as `[rows]` tensors for the backward.
pub(crate) fn norm_forward(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
    centered: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = if centered { "layer_norm" } else { "rms_norm" };
    let mut all = vec![x];
    all.extend(weight);
    all.extend(bias);
    let dev = same_device(op, &all)?;
    let x = contiguous(x)?;
    let (w, has_w) = optional(weight, &x)?;
    let (b, has_b) = optional(bias, &x)?;
    let (rows, d) = rows_of(&x);
    let mut y = alloc_f32(&dev, x.numel(), op)?;
    let mut mean = alloc_f32(&dev, rows, op)?;
    let mut rstd = alloc_f32(&dev, rows, op)?;
    if rows > 0 {
        let (xv, wv, bv) = (f32_view(&x, op)?, f32_view(&w, op)?, f32_view(&b, op)?);
        let f = dev.func(MODULE, "norm_fwd")?;
        let (r64, d64, c32) = (rows as i64, d as i64, centered as i32);
        // SAFETY: matches `norm_fwd`; `xv` and `y` hold rows * d elements, `wv` / `bv` d
        // (read only when has_w / has_b), `mean` / `rstd` rows.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&xv)
                .arg(&wv)
                .arg(&bv)
                .arg(&mut y)
                .arg(&mut mean)
                .arg(&mut rstd)
                .arg(&r64)
                .arg(&d64)
                .arg(&eps)
                .arg(&has_w)
                .arg(&has_b)
                .arg(&c32)
                .launch(launch_rows(rows))
        }
        .map_err(cuda_err(op))?;
    }
    Ok((tensor_f32(&dev, y, x.shape()), tensor_f32(&dev, mean, &[rows]), tensor_f32(&dev, rstd, &[rows])))
}

/// Gradients of [`norm_forward`] from the incoming gradient `g` and the saved statistics:
/// `(dx, dw, db)`, the last two (shape `[d]`) only when `need_wb`.
pub(crate) fn norm_backward(
    x: &Tensor,
    weight: Option<&Tensor>,
    g: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
    centered: bool,
    need_wb: bool,
) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
    let op = if centered { "layer_norm" } else { "rms_norm" };
    let mut all = vec![x, g, mean, rstd];
    all.extend(weight);
    let dev = same_device(op, &all)?;
    let (x, g) = (contiguous(x)?, contiguous(g)?);
    let (w, has_w) = optional(weight, &x)?;
    let (rows, d) = rows_of(&x);
    let mut dx = alloc_f32(&dev, x.numel(), op)?;
    let (xv, gv, wv) = (f32_view(&x, op)?, f32_view(&g, op)?, f32_view(&w, op)?);
    let (mv, sv) = (f32_view(mean, op)?, f32_view(rstd, op)?);
    let (r64, d64) = (rows as i64, d as i64);
    if rows > 0 {
        let f = dev.func(MODULE, "norm_bwd_dx")?;
        let c32 = centered as i32;
        // SAFETY: matches `norm_bwd_dx`; `xv`, `gv` and `dx` hold rows * d elements, `wv` d
        // (read only when has_w), `mv` / `sv` rows.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&xv)
                .arg(&wv)
                .arg(&gv)
                .arg(&mv)
                .arg(&sv)
                .arg(&mut dx)
                .arg(&r64)
                .arg(&d64)
                .arg(&has_w)
                .arg(&c32)
                .launch(launch_rows(rows))
        }
        .map_err(cuda_err(op))?;
    }
    let dx = tensor_f32(&dev, dx, x.shape());
    if !need_wb {
        return Ok((dx, None, None));
    }
    // Partial sums over segments of rows (enough threads to fill the GPU), then a reduction
    // of the partials over the segments.
    let splits = if rows == 0 { 1 } else { (65_536 / d.max(1)).clamp(1, rows.div_ceil(64)) };
    let seg = rows.div_ceil(splits).max(1);
    let n = splits * d;
    let mut dw = alloc_f32(&dev, n, op)?;
    let mut db = alloc_f32(&dev, n, op)?;
    let f = dev.func(MODULE, "norm_bwd_wb")?;
    let (s64, seg64) = (splits as i64, seg as i64);
    // SAFETY: matches `norm_bwd_wb`; `dw` / `db` hold splits * d elements, the inputs as in
    // `norm_bwd_dx`; rows past the end are never read (the segment is clipped).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&xv)
            .arg(&gv)
            .arg(&mv)
            .arg(&sv)
            .arg(&mut dw)
            .arg(&mut db)
            .arg(&r64)
            .arg(&d64)
            .arg(&s64)
            .arg(&seg64)
            .launch(launch_1d(n))
    }
    .map_err(cuda_err(op))?;
    let dw = reduce_3d(op, &dev, &dw.slice(0..n), 1, splits, d, false)?;
    let db = reduce_3d(op, &dev, &db.slice(0..n), 1, splits, d, false)?;
    Ok((dx, Some(tensor_f32(&dev, dw, &[d])), Some(tensor_f32(&dev, db, &[d]))))
}

/// What [`cross_entropy`] saves for [`cross_entropy_backward`]: the targets (contiguous),
/// the per-row logsumexp `[N]`, and the mean's denominator (`[1]`, the sum of the
/// non-ignored targets' weights).
#[derive(Clone)]
pub(crate) struct CeSaved {
    targets: Tensor,
    lse: Tensor,
    denom: Tensor,
}

/// Cross-entropy of logits `x` `[N, C]` against i64 targets `[N]` on a GPU, with optional
/// class weights `[C]` (shapes and `label_smoothing` validated by the op). An invalid target
/// (outside `0..C`, not `ignore_index`) is [`Error::IndexOutOfRange`], the first in row order.
pub(crate) fn cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    label_smoothing: f32,
    reduction: Reduction,
) -> Result<(Tensor, CeSaved)> {
    const OP: &str = "cross_entropy";
    let mut all = vec![x, target];
    all.extend(weight);
    let dev = same_device(OP, &all)?;
    if target.dtype() != DType::I64 {
        return Err(Error::DTypeMismatch { op: OP, expected: DType::I64, got: target.dtype() });
    }
    let (x, t) = (contiguous(x)?, contiguous(target)?);
    let (w, has_w) = optional(weight, &x)?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let eps = label_smoothing;
    let smooth_scale = if c > 0 { eps / c as f32 } else { 0.0 };
    let tv = i64_view(&t, OP)?;
    let mut loss = alloc_f32(&dev, n, OP)?;
    let mut lse = alloc_f32(&dev, n, OP)?;
    let mut wt = alloc_f32(&dev, n, OP)?;
    if n > 0 {
        let (xv, wv) = (f32_view(&x, OP)?, f32_view(&w, OP)?);
        let mut bad = dev.stream.clone_htod(&[n as i64]).map_err(cuda_err(OP))?;
        let f = dev.func(MODULE, "ce_fwd")?;
        let (n64, c64) = (n as i64, c as i64);
        // SAFETY: matches `ce_fwd`; `xv` holds n * c elements, `tv`, `loss`, `lse`, `wt` n,
        // `wv` c (read only when has_w), `bad` one. A row whose target is outside 0..c reads
        // no logit.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&xv)
                .arg(&tv)
                .arg(&wv)
                .arg(&has_w)
                .arg(&mut loss)
                .arg(&mut lse)
                .arg(&mut wt)
                .arg(&mut bad)
                .arg(&n64)
                .arg(&c64)
                .arg(&ignore_index)
                .arg(&eps)
                .arg(&smooth_scale)
                .launch(launch_rows(n))
        }
        .map_err(cuda_err(OP))?;
        check_labels(OP, &dev, &bad, &tv, n, c)?;
    }
    let denom_buf = reduce_3d(OP, &dev, &wt.slice(0..n), 1, n, 1, false)?;
    let denom = tensor_f32(&dev, denom_buf, &[1]);
    let loss = tensor_f32(&dev, loss, &[n]);
    let out = match reduction {
        Reduction::None => loss,
        Reduction::Sum => sum_all(OP, &dev, &loss)?,
        Reduction::Mean => binary(OP, "div", &sum_all(OP, &dev, &loss)?, &denom.reshape_raw(&[])?, [0.0; 2])?,
    };
    Ok((out, CeSaved { targets: t, lse: tensor_f32(&dev, lse, &[n]), denom }))
}

/// The sum of a contiguous f32 vector as a rank-0 tensor.
fn sum_all(op: &'static str, dev: &Arc<CudaDev>, v: &Tensor) -> Result<Tensor> {
    let n = v.numel();
    let s: CudaSlice<f32> = reduce_3d(op, dev, &f32_view(v, op)?, 1, n, 1, false)?;
    Ok(tensor_f32(dev, s, &[]))
}

/// The gradient of [`cross_entropy`] with respect to the logits, from the incoming gradient
/// `g` (`[N]` for reduction none, else a scalar).
pub(crate) fn cross_entropy_backward(
    x: &Tensor,
    weight: Option<&Tensor>,
    saved: &CeSaved,
    g: &Tensor,
    ignore_index: i64,
    label_smoothing: f32,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let mut all = vec![x, g];
    all.extend(weight);
    let dev = same_device(OP, &all)?;
    let (x, g) = (contiguous(x)?, contiguous(g)?);
    let (w, has_w) = optional(weight, &x)?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    if n == 0 || c == 0 {
        return fill(&x, &[n, c], DType::F32, 0.0);
    }
    let eps = label_smoothing;
    let smooth_scale = eps / c as f32;
    let mode: i32 = match reduction {
        Reduction::None => 0,
        Reduction::Sum => 1,
        Reduction::Mean => 2,
    };
    let (xv, wv, gv) = (f32_view(&x, OP)?, f32_view(&w, OP)?, f32_view(&g, OP)?);
    let (tv, lv, dv) = (i64_view(&saved.targets, OP)?, f32_view(&saved.lse, OP)?, f32_view(&saved.denom, OP)?);
    let mut dx = alloc_f32(&dev, n * c, OP)?;
    let f = dev.func(MODULE, "ce_bwd")?;
    let (n64, c64) = (n as i64, c as i64);
    // SAFETY: matches `ce_bwd`; `xv` and `dx` hold n * c elements, `tv` / `lv` n, `wv` c
    // (read only when has_w), `gv` n (mode 0) or 1, `dv` 1 (read only in mode 2).
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(&xv)
            .arg(&tv)
            .arg(&wv)
            .arg(&has_w)
            .arg(&lv)
            .arg(&gv)
            .arg(&mode)
            .arg(&dv)
            .arg(&mut dx)
            .arg(&n64)
            .arg(&c64)
            .arg(&ignore_index)
            .arg(&eps)
            .arg(&smooth_scale)
            .launch(launch_rows(n))
    }
    .map_err(cuda_err(OP))?;
    Ok(tensor_f32(&dev, dx, &[n, c]))
}
