//! Reductions on the GPU: sum and max over any set of dims, argmax / argmin, one_hot
//! (kernels in `kernels/reduce.cu`).
//!
//! A reduction views its (contiguous) input as `[outer, r, inner]` once size-1 dims are
//! dropped: when the reduced dims form one run, `r` is their product and no copy is needed;
//! otherwise the tensor is permuted (one copy) so that the reduced dims come last. `inner ==
//! 1` reduces rows with one block each; otherwise one thread per output loops over `r`.
//! Long reductions with few outputs are split into segments and reduced twice, so that the
//! GPU stays busy.

use std::sync::Arc;

use cudarc::driver::{CudaView, PushKernelArg};

use super::device::{BLOCK, CudaDev, cuda_err, launch_1d, launch_rows};
use super::storage::{alloc_f32, alloc_i64, cuda_of, f32_view, i64_view, tensor_f32, tensor_i64, zeros_f32};
use super::{contiguous, expand};
use crate::tensor::Tensor;
use crate::{Error, Result};

const MODULE: &str = "reduce";

/// Below this many outputs a long reduction is split into segments.
const BUSY_THREADS: usize = 1 << 16;
/// Rows reduced by one block each below this many rows are split into segments.
const BUSY_BLOCKS: usize = 1024;
/// Rows at most this long are reduced one thread per row (a block would idle).
const SHORT_ROW: usize = 32;

/// Reduces `x` (f32, on a GPU) over the dims `mask` selects, by sum or (`max`) maximum; the
/// result has the keepdim shape (reduced dims of size 1) and is a fresh contiguous tensor.
/// The caller rejects a max over an empty dim.
pub(crate) fn reduce(op: &'static str, x: &Tensor, mask: &[bool], max: bool) -> Result<Tensor> {
    let dev = cuda_of(x, op)?.dev.clone();
    let shape = x.shape();
    let keep: Vec<usize> = shape.iter().zip(mask).map(|(&s, &m)| if m { 1 } else { s }).collect();
    // Dims of size 1 may count as reduced or kept; drop them.
    let sig: Vec<(usize, bool)> = shape.iter().zip(mask).filter(|(s, _)| **s != 1).map(|(&s, &m)| (s, m)).collect();
    let (Some(first), Some(last)) = (sig.iter().position(|d| d.1), sig.iter().rposition(|d| d.1)) else {
        // Nothing of size > 1 is reduced: the result is a copy of `x`.
        return expand(x, shape)?.reshape_raw(&keep);
    };
    let prod = |ds: &[(usize, bool)]| ds.iter().map(|d| d.0).product::<usize>();
    let (data, outer, r, inner) = if sig[first..=last].iter().all(|d| d.1) {
        (contiguous(x)?, prod(&sig[..first]), prod(&sig[first..=last]), prod(&sig[last + 1..]))
    } else {
        let rank = shape.len();
        let perm: Vec<usize> = (0..rank).filter(|&d| !mask[d]).chain((0..rank).filter(|&d| mask[d])).collect();
        let kept: usize = keep.iter().product();
        let reduced: usize = shape.iter().zip(mask).filter(|d| *d.1).map(|d| *d.0).product();
        (contiguous(&x.permute_raw(&perm))?, kept, reduced, 1)
    };
    let view = f32_view(&data, op)?;
    let out = reduce_3d(op, &dev, &view, outer, r, inner, max)?;
    Ok(tensor_f32(&dev, out, &keep))
}

/// Reduces the middle dim of the contiguous `[outer, r, inner]` buffer `x`, returning
/// `outer * inner` values (row-major `[outer, inner]`).
pub(super) fn reduce_3d(
    op: &'static str,
    dev: &Arc<CudaDev>,
    x: &CudaView<'_, f32>,
    outer: usize,
    r: usize,
    inner: usize,
    max: bool,
) -> Result<cudarc::driver::CudaSlice<f32>> {
    let n_out = outer * inner;
    if n_out == 0 {
        return alloc_f32(dev, 0, op);
    }
    if r == 0 {
        // Only sums get here (the max of nothing is rejected by the op); the sum is 0.
        return zeros_f32(dev, n_out, op);
    }
    let kind = if max { "max" } else { "sum" };
    if inner == 1 && r > SHORT_ROW {
        // One block per (row, segment).
        let splits = if outer < BUSY_BLOCKS && r >= 8 * BLOCK as usize {
            (BUSY_BLOCKS / outer).clamp(1, r.div_ceil(4 * BLOCK as usize))
        } else {
            1
        };
        let seg = r.div_ceil(splits);
        let first = rows_pass(op, dev, kind, x, outer, r, splits, seg)?;
        if splits == 1 {
            return Ok(first);
        }
        let partial = first.slice(0..outer * splits);
        return rows_pass(op, dev, kind, &partial, outer, splits, 1, splits);
    }
    // One thread per (outer, segment, inner).
    let splits = if n_out < BUSY_THREADS && r >= 4 * BLOCK as usize {
        (BUSY_THREADS / n_out).clamp(1, r.div_ceil(BLOCK as usize))
    } else {
        1
    };
    let seg = r.div_ceil(splits);
    let first = mid_pass(op, dev, kind, x, outer, r, inner, splits, seg)?;
    if splits == 1 {
        return Ok(first);
    }
    let partial = first.slice(0..outer * splits * inner);
    mid_pass(op, dev, kind, &partial, outer, splits, inner, 1, splits)
}

#[allow(clippy::too_many_arguments)]
fn rows_pass(
    op: &'static str,
    dev: &Arc<CudaDev>,
    kind: &str,
    x: &CudaView<'_, f32>,
    rows: usize,
    cols: usize,
    splits: usize,
    seg: usize,
) -> Result<cudarc::driver::CudaSlice<f32>> {
    let mut out = alloc_f32(dev, rows * splits, op)?;
    let f = dev.func(MODULE, &format!("reduce_rows_{kind}"))?;
    let (rows64, cols64, splits64, seg64) = (rows as i64, cols as i64, splits as i64, seg as i64);
    // SAFETY: matches ROW_REDUCE's signature; `x` holds rows * cols elements and `out`
    // rows * splits, the kernel's index ranges.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(x)
            .arg(&mut out)
            .arg(&rows64)
            .arg(&cols64)
            .arg(&splits64)
            .arg(&seg64)
            .launch(launch_rows(rows * splits))
    }
    .map_err(cuda_err(op))?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn mid_pass(
    op: &'static str,
    dev: &Arc<CudaDev>,
    kind: &str,
    x: &CudaView<'_, f32>,
    outer: usize,
    r: usize,
    inner: usize,
    splits: usize,
    seg: usize,
) -> Result<cudarc::driver::CudaSlice<f32>> {
    let n = outer * splits * inner;
    let mut out = alloc_f32(dev, n, op)?;
    let f = dev.func(MODULE, &format!("reduce_mid_{kind}"))?;
    let (o64, r64, i64_, s64, seg64) = (outer as i64, r as i64, inner as i64, splits as i64, seg as i64);
    // SAFETY: matches MID_REDUCE's signature; `x` holds outer * r * inner elements and `out`
    // outer * splits * inner.
    unsafe {
        dev.stream
            .launch_builder(&f)
            .arg(x)
            .arg(&mut out)
            .arg(&o64)
            .arg(&r64)
            .arg(&i64_)
            .arg(&s64)
            .arg(&seg64)
            .launch(launch_1d(n))
    }
    .map_err(cuda_err(op))?;
    Ok(out)
}

/// Index (i64) of the largest (`is_min` false) or smallest value of `x` along dim `d`, with
/// the CPU's rules (first index on ties, the first NaN wins); keepdim shape. `x`'s dim `d` is
/// non-empty (checked by the caller).
pub(crate) fn arg_extreme(op: &'static str, x: &Tensor, d: usize, is_min: bool) -> Result<Tensor> {
    let x = contiguous(x)?;
    let dev = cuda_of(&x, op)?.dev.clone();
    let shape = x.shape();
    let (outer, r, inner) = (shape[..d].iter().product::<usize>(), shape[d], shape[d + 1..].iter().product::<usize>());
    let mut keep = shape.to_vec();
    keep[d] = 1;
    let n = outer * inner;
    let mut out = alloc_i64(&dev, n, op)?;
    if n == 0 {
        return Ok(tensor_i64(&dev, out, &keep));
    }
    let view = f32_view(&x, op)?;
    let min32 = is_min as i32;
    let (o64, r64, i64_) = (outer as i64, r as i64, inner as i64);
    if inner == 1 && r > SHORT_ROW {
        let f = dev.func(MODULE, "arg_rows")?;
        // SAFETY: matches `arg_rows`; `view` holds outer * r elements, `out` outer.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&view)
                .arg(&mut out)
                .arg(&o64)
                .arg(&r64)
                .arg(&min32)
                .launch(launch_rows(outer))
        }
        .map_err(cuda_err(op))?;
    } else {
        let f = dev.func(MODULE, "arg_mid")?;
        // SAFETY: matches `arg_mid`; `view` holds outer * r * inner elements, `out` n.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&view)
                .arg(&mut out)
                .arg(&o64)
                .arg(&r64)
                .arg(&i64_)
                .arg(&min32)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(op))?;
    }
    Ok(tensor_i64(&dev, out, &keep))
}

/// Checks the flag a kernel wrote: `bad` holds the first offending row (or `n` when none);
/// on a hit, reads that row's label back and reports it as [`Error::IndexOutOfRange`].
pub(super) fn check_labels(
    op: &'static str,
    dev: &Arc<CudaDev>,
    bad: &cudarc::driver::CudaSlice<i64>,
    labels: &CudaView<'_, i64>,
    n: usize,
    size: usize,
) -> Result<()> {
    let row = dev.stream.clone_dtoh(bad).map_err(cuda_err(op))?;
    let Some(&row) = row.first() else { return Ok(()) };
    if row < 0 || row as usize >= n {
        return Ok(());
    }
    let label = dev.stream.clone_dtoh(&labels.slice(row as usize..row as usize + 1)).map_err(cuda_err(op))?;
    Err(Error::IndexOutOfRange { op, index: label.first().copied().unwrap_or(row), size })
}

/// One-hot encoding of i64 labels on a GPU: `[..., num_classes]` f32; a label outside
/// `0..num_classes` is [`Error::IndexOutOfRange`] (the first such label, like the CPU).
pub(crate) fn one_hot(labels: &Tensor, num_classes: usize) -> Result<Tensor> {
    const OP: &str = "one_hot";
    let labels = contiguous(labels)?;
    let dev = cuda_of(&labels, OP)?.dev.clone();
    let n = labels.numel();
    let mut shape = labels.shape().to_vec();
    shape.push(num_classes);
    let lv = i64_view(&labels, OP)?;
    if n == 0 {
        return Ok(tensor_f32(&dev, alloc_f32(&dev, 0, OP)?, &shape));
    }
    if num_classes == 0 {
        let first = dev.stream.clone_dtoh(&lv.slice(0..1)).map_err(cuda_err(OP))?;
        return Err(Error::IndexOutOfRange { op: OP, index: first.first().copied().unwrap_or(0), size: 0 });
    }
    let total = n * num_classes;
    let mut out = alloc_f32(&dev, total, OP)?;
    let mut bad = dev.stream.clone_htod(&[n as i64]).map_err(cuda_err(OP))?;
    let f = dev.func(MODULE, "one_hot")?;
    let (n64, c64) = (n as i64, num_classes as i64);
    // SAFETY: matches `one_hot`; `lv` holds n labels, `out` n * num_classes, `bad` one.
    unsafe {
        dev.stream.launch_builder(&f).arg(&lv).arg(&mut out).arg(&n64).arg(&c64).arg(&mut bad).launch(launch_1d(total))
    }
    .map_err(cuda_err(OP))?;
    check_labels(OP, &dev, &bad, &lv, n, num_classes)?;
    Ok(tensor_f32(&dev, out, &shape))
}
