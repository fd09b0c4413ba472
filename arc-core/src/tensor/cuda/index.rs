//! Indexing and selection on the GPU: `index_select` / `gather` and their scatter-add
//! backwards, `where_cond`, `concat`, the window scatter of `narrow`'s backward, and fills on
//! a device chosen by ordinal (kernels in `kernels/index.cu`).
//!
//! Index kernels check every index: one out of `[0, size)` sets a flag in a one-element
//! device buffer, which is read back after the launch and becomes the CPU's
//! [`Error::IndexOutOfRange`] (naming the first offending index in row-major order).

use std::sync::Arc;

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::device::{self, CudaDev, cuda_err, launch_1d};
use super::storage::{
    CudaData, CudaStorage, Strided, alloc_f32, alloc_i64, cuda_of, f32_slice, f32_view, i64_view, same_device,
    tensor_f32, tensor_i64, zeros_f32,
};
use super::{contiguous, copy_into};
use crate::tensor::Tensor;
use crate::tensor::device::DType;
use crate::tensor::shape::{Dims, Layout, broadcast_shapes, contiguous_strides};
use crate::tensor::storage::Storage;
use crate::{Error, Result};

const MODULE: &str = "index";

/// A zeroed one-element flag buffer for the index kernels.
fn flag(dev: &CudaDev, op: &'static str) -> Result<CudaSlice<i32>> {
    dev.stream.alloc_zeros::<i32>(1).map_err(cuda_err(op))
}

/// Reads the flag back; when a kernel set it, finds the first index outside `[0, size)` on
/// the host (the error path only) and returns it as the CPU's error.
fn check_flag(dev: &CudaDev, bad: &CudaSlice<i32>, index: &Tensor, size: usize, op: &'static str) -> Result<()> {
    let host = dev.stream.clone_dtoh(bad).map_err(cuda_err(op))?;
    dev.stream.synchronize().map_err(cuda_err(op))?;
    if host.first().copied().unwrap_or(0) == 0 {
        return Ok(());
    }
    let values = index.to_vec_i64()?;
    let index = values.into_iter().find(|&i| i < 0 || i as u64 >= size as u64).unwrap_or(-1);
    Err(Error::IndexOutOfRange { op, index, size })
}

/// `x.index_select(dim, index)` for `x` (f32 or i64) and a 1-D i64 `index` on one GPU.
pub(crate) fn index_select(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "index_select";
    let dev = same_device(OP, &[x, index])?;
    if index.dtype() != DType::I64 {
        return Err(Error::DTypeMismatch { op: OP, expected: DType::I64, got: index.dtype() });
    }
    let (x, index) = (contiguous(x)?, contiguous(index)?);
    let size = x.shape()[dim];
    let inner: usize = x.shape()[dim + 1..].iter().product();
    let outer: usize = x.shape()[..dim].iter().product();
    let nidx = index.numel();
    let mut shape = x.shape().to_vec();
    shape[dim] = nidx;
    let n = outer * nidx * inner;
    let bad = flag(&dev, OP)?;
    let (size64, inner64, nidx64, n64) = (size as i64, inner as i64, nidx as i64, n as i64);
    let cfg = launch_1d(n);
    let out = match x.dtype() {
        DType::F32 => {
            let mut out = alloc_f32(&dev, n, OP)?;
            if n > 0 {
                let f = dev.func(MODULE, "index_select_f32")?;
                let (xv, iv) = (f32_view(&x, OP)?, i64_view(&index, OP)?);
                // SAFETY: matches `index_select_f32`; `out` holds n elements, x holds
                // outer * size * inner and the kernel reads x only for indices in range.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&xv)
                        .arg(&iv)
                        .arg(&mut out)
                        .arg(&size64)
                        .arg(&inner64)
                        .arg(&nidx64)
                        .arg(&n64)
                        .arg(&bad)
                        .launch(cfg)
                }
                .map_err(cuda_err(OP))?;
            }
            tensor_f32(&dev, out, &shape)
        }
        DType::I64 => {
            let mut out = alloc_i64(&dev, n, OP)?;
            if n > 0 {
                let f = dev.func(MODULE, "index_select_i64")?;
                let (xv, iv) = (i64_view(&x, OP)?, i64_view(&index, OP)?);
                // SAFETY: as above, for `index_select_i64`.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(&xv)
                        .arg(&iv)
                        .arg(&mut out)
                        .arg(&size64)
                        .arg(&inner64)
                        .arg(&nidx64)
                        .arg(&n64)
                        .arg(&bad)
                        .launch(cfg)
                }
                .map_err(cuda_err(OP))?;
            }
            tensor_i64(&dev, out, &shape)
        }
    };
    if n > 0 {
        check_flag(&dev, &bad, &index, size, OP)?;
    } else if nidx > 0 {
        // No element was read (an empty outer or inner extent); check the indices anyway,
        // as the CPU does.
        check_indices_host(&index, size, OP)?;
    }
    Ok(out)
}

/// The CPU's index check on a copy of `index` (used only where no kernel ran).
fn check_indices_host(index: &Tensor, size: usize, op: &'static str) -> Result<()> {
    match index.to_vec_i64()?.into_iter().find(|&i| i < 0 || i as u64 >= size as u64) {
        Some(index) => Err(Error::IndexOutOfRange { op, index, size }),
        None => Ok(()),
    }
}

/// The gradient of `index_select`: `g` scatter-added (atomically, so repeated indices
/// accumulate) into zeros of `shape` along `dim`.
pub(crate) fn index_select_backward(g: &Tensor, index: &Tensor, dim: usize, shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "index_select";
    let dev = same_device(OP, &[g, index])?;
    let (g, index) = (contiguous(g)?, contiguous(index)?);
    let size = shape[dim];
    let inner: usize = shape[dim + 1..].iter().product();
    let total: usize = shape.iter().product();
    let nidx = index.numel();
    let n = g.numel();
    let mut full = zeros_f32(&dev, total, OP)?;
    if n > 0 {
        let f = dev.func(MODULE, "index_add_f32")?;
        let (gv, iv) = (f32_view(&g, OP)?, i64_view(&index, OP)?);
        let (size64, inner64, nidx64, n64) = (size as i64, inner as i64, nidx as i64, n as i64);
        // SAFETY: matches `index_add_f32`; g holds outer * nidx * inner elements and `full`
        // outer * size * inner; indices out of range are skipped by the kernel.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&gv)
                .arg(&iv)
                .arg(&mut full)
                .arg(&size64)
                .arg(&inner64)
                .arg(&nidx64)
                .arg(&n64)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
    }
    Ok(tensor_f32(&dev, full, shape))
}

/// The layout that walks `index_shape` with the strides of a contiguous tensor of `shape`
/// (from `offset`), except stride 0 along `dim` (the kernel adds `index * stride[dim]`
/// itself), and the stride along `dim`.
fn gather_layout(shape: &[usize], index_shape: &[usize], dim: usize, offset: usize) -> (Layout, i64) {
    let mut strides = contiguous_strides(shape).to_vec();
    let dstride = strides[dim] as i64;
    strides[dim] = 0;
    (Layout { shape: Dims::from_slice(index_shape), strides: Dims::from_slice(&strides), offset }, dstride)
}

/// [`gather_layout`] as the kernels' `Strided`.
fn gather_walk(shape: &[usize], index_shape: &[usize], dim: usize, offset: usize) -> Result<(Strided, i64)> {
    let (layout, dstride) = gather_layout(shape, index_shape, dim, offset);
    Ok((Strided::of("gather", &layout)?, dstride))
}

/// `x.gather(dim, index)` for f32 `x` and an i64 `index` of the same rank (shapes checked by
/// the caller) on one GPU.
pub(crate) fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather";
    let dev = same_device(OP, &[x, index])?;
    if index.dtype() != DType::I64 {
        return Err(Error::DTypeMismatch { op: OP, expected: DType::I64, got: index.dtype() });
    }
    let (x, index) = (contiguous(x)?, contiguous(index)?);
    let size = x.shape()[dim];
    let n = index.numel();
    let mut out = alloc_f32(&dev, n, OP)?;
    if n > 0 {
        let (sx, dstride) = gather_walk(x.shape(), index.shape(), dim, x.layout().offset)?;
        let ((_, xd), iv) = (f32_slice(&x, OP)?, i64_view(&index, OP)?);
        let bad = flag(&dev, OP)?;
        let f = dev.func(MODULE, "gather_f32")?;
        let (size64, n64) = (size as i64, n as i64);
        // SAFETY: matches `gather_f32`; `sx` addresses in-bounds elements of x for every
        // index position (index sizes are at most x's outside `dim`), plus idx * dstride
        // for idx in range only.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(xd)
                .arg(&sx)
                .arg(&iv)
                .arg(&mut out)
                .arg(&size64)
                .arg(&dstride)
                .arg(&n64)
                .arg(&bad)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
        check_flag(&dev, &bad, &index, size, OP)?;
    }
    Ok(tensor_f32(&dev, out, index.shape()))
}

/// The gradient of `gather`: `g` scatter-added (atomically) into zeros of `shape`.
pub(crate) fn gather_backward(g: &Tensor, index: &Tensor, dim: usize, shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "gather";
    let dev = same_device(OP, &[g, index])?;
    let (g, index) = (contiguous(g)?, contiguous(index)?);
    let total: usize = shape.iter().product();
    let n = index.numel();
    let mut full = zeros_f32(&dev, total, OP)?;
    if n > 0 {
        let (sx, dstride) = gather_walk(shape, index.shape(), dim, 0)?;
        let (gv, iv) = (f32_view(&g, OP)?, i64_view(&index, OP)?);
        let f = dev.func(MODULE, "gather_add_f32")?;
        let (size64, n64) = (shape[dim] as i64, n as i64);
        // SAFETY: matches `gather_add_f32`; as in `gather`, every address is inside `full`.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&gv)
                .arg(&sx)
                .arg(&iv)
                .arg(&mut full)
                .arg(&size64)
                .arg(&dstride)
                .arg(&n64)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
    }
    Ok(tensor_f32(&dev, full, shape))
}

/// `cond != 0 ? a : b` over the broadcast of three f32 tensors on one GPU.
pub(crate) fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "where_cond";
    let dev = same_device(OP, &[cond, a, b])?;
    let shape = broadcast_shapes(OP, cond.shape(), a.shape())?;
    let shape = broadcast_shapes(OP, &shape, b.shape())?;
    let n: usize = shape.iter().product();
    let mut out = alloc_f32(&dev, n, OP)?;
    if n > 0 {
        let (sc, sa, sb) = (
            Strided::broadcast(OP, cond.layout(), &shape)?,
            Strided::broadcast(OP, a.layout(), &shape)?,
            Strided::broadcast(OP, b.layout(), &shape)?,
        );
        let ((_, cd), (_, ad), (_, bd)) = (f32_slice(cond, OP)?, f32_slice(a, OP)?, f32_slice(b, OP)?);
        let f = dev.func(MODULE, "where_f32")?;
        let n64 = n as i64;
        // SAFETY: matches `where_f32`; each layout lies inside its buffer and is read
        // through `shape`, which it broadcasts to.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(cd)
                .arg(&sc)
                .arg(ad)
                .arg(&sa)
                .arg(bd)
                .arg(&sb)
                .arg(&mut out)
                .arg(&n64)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
    }
    Ok(tensor_f32(&dev, out, &shape))
}

/// A fresh contiguous buffer of `shape` and `dtype` wrapped as a tensor, after `fill` wrote
/// into its data (one `copy_into` window per input for concat, one window for narrow).
fn build(
    dev: &Arc<CudaDev>,
    shape: &[usize],
    dtype: DType,
    zeroed: bool,
    op: &'static str,
    fill: impl FnOnce(&mut CudaData) -> Result<()>,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut data = match (dtype, zeroed) {
        (DType::F32, true) => CudaData::F32(zeros_f32(dev, n, op)?),
        (DType::F32, false) => CudaData::F32(alloc_f32(dev, n, op)?),
        (DType::I64, true) => CudaData::I64(dev.stream.alloc_zeros::<i64>(n.max(1)).map_err(cuda_err(op))?),
        (DType::I64, false) => CudaData::I64(alloc_i64(dev, n, op)?),
    };
    fill(&mut data)?;
    let s = CudaStorage { dev: dev.clone(), data };
    Ok(Tensor::from_storage(Arc::new(Storage::Cuda(s)), Layout::contiguous(shape)))
}

/// The window of a contiguous tensor of `shape` that starts at `start` along `dim` and has
/// `part`'s shape.
fn window(shape: &[usize], part: &[usize], dim: usize, start: usize) -> Layout {
    let strides = contiguous_strides(shape);
    let offset = if part.contains(&0) { 0 } else { start * strides[dim] };
    Layout { shape: Dims::from_slice(part), strides, offset }
}

/// `tensors` (one dtype, all on one GPU, shapes checked by the caller) joined along `dim`
/// into a new tensor of `shape`: one strided copy per input.
pub(crate) fn concat(tensors: &[&Tensor], dim: usize, shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "concat";
    let dev = same_device(OP, tensors)?;
    // Every element of the output belongs to exactly one input's window.
    build(&dev, shape, tensors[0].dtype(), false, OP, |data| {
        let mut start = 0;
        for t in tensors {
            copy_into(t, data, &window(shape, t.shape(), dim, start))?;
            start += t.shape()[dim];
        }
        Ok(())
    })
}

/// The gradient of `narrow(dim, start, len)`: `g` (of the narrowed shape) written into the
/// window of zeros of `shape`.
pub(crate) fn narrow_backward(g: &Tensor, shape: &[usize], dim: usize, start: usize) -> Result<Tensor> {
    const OP: &str = "narrow";
    let dev = cuda_of(g, OP)?.dev.clone();
    build(&dev, shape, g.dtype(), true, OP, |data| copy_into(g, data, &window(shape, g.shape(), dim, start)))
}

/// A new tensor of `shape` on GPU `ordinal`, every element `value` (cast for i64).
pub(crate) fn full_on(ordinal: usize, shape: &[usize], dtype: DType, value: f64) -> Result<Tensor> {
    super::elementwise::fill_on(&device::get(ordinal)?, shape, dtype, value)
}

#[cfg(test)]
mod tests {
    //! The addressing the kernels are given, checked on the host: the gather walk and the
    //! concat / narrow windows, read through `Layout::offsets` (what `strided_offset`
    //! computes), must reproduce the CPU ops.

    use super::*;
    use crate::tensor::Rng;

    #[test]
    fn the_gather_walk_addresses_the_cpu_gathers_elements() -> Result<()> {
        let x = Tensor::randn(&[5, 7, 3], &mut Rng::new(0));
        let xs = x.to_vec()?;
        let mut rng = Rng::new(1);
        for (dim, shape) in [(0usize, [4usize, 7, 3]), (1, [5, 9, 2]), (2, [1, 6, 5])] {
            let idx = Tensor::randint(&shape, 0, x.shape()[dim] as i64, &mut rng)?;
            let want = x.gather(dim as isize, &idx)?.to_vec()?;
            let (layout, dstride) = gather_layout(x.shape(), &shape, dim, 0);
            let got: Vec<f32> =
                layout.offsets().zip(idx.to_vec_i64()?).map(|(o, i)| xs[(o as i64 + i * dstride) as usize]).collect();
            assert_eq!(got, want, "gather dim {dim}");
        }
        Ok(())
    }

    #[test]
    fn concat_windows_tile_the_output_like_the_cpu() -> Result<()> {
        for dim in 0..3 {
            let mut shapes = [[3usize, 4, 5]; 3];
            for (i, s) in shapes.iter_mut().enumerate() {
                s[dim] = i + 1;
            }
            let parts: Vec<Tensor> =
                shapes.iter().enumerate().map(|(i, s)| Tensor::randn(s, &mut Rng::new(i as u64))).collect();
            let want = Tensor::concat(&parts.iter().collect::<Vec<_>>(), dim as isize)?;
            let mut out = vec![f32::NAN; want.numel()];
            let mut start = 0;
            for p in &parts {
                let w = window(want.shape(), p.shape(), dim, start);
                for (o, v) in w.offsets().zip(p.to_vec()?) {
                    out[o] = v;
                }
                start += p.shape()[dim];
            }
            assert_eq!(out, want.to_vec()?, "concat dim {dim}");
        }
        // narrow's backward: the window of zeros.
        let g = Tensor::randn(&[3, 2, 5], &mut Rng::new(9));
        let mut full = vec![0.0; 3 * 6 * 5];
        for (o, v) in window(&[3, 6, 5], g.shape(), 1, 3).offsets().zip(g.to_vec()?) {
            full[o] = v;
        }
        let x = Tensor::zeros(&[3, 6, 5]).requires_grad_()?;
        x.narrow(1, 3, 2)?.backward_with(&g)?;
        assert_eq!(Some(full), x.grad().map(|t| t.to_vec()).transpose()?);
        Ok(())
    }
}
