//! Elementwise ops on the GPU: strided copies, unary and broadcasting binary maps,
//! comparisons, fills and dtype casts (kernels in `kernels/elementwise.cu`).

use std::sync::Arc;

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::device::{CudaDev, cuda_err, launch_1d};
use super::storage::{
    CudaData, Strided, alloc_f32, alloc_i64, cuda_of, f32_slice, f32_view, i64_slice, i64_view, same_device,
    tensor_f32, tensor_i64,
};
use crate::tensor::Tensor;
use crate::tensor::device::DType;
use crate::tensor::shape::{Layout, broadcast_shapes};
use crate::{Error, Result};

const MODULE: &str = "elementwise";

/// A row-major copy of `t` on its GPU, or `t` itself when already contiguous.
pub(crate) fn contiguous(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        return Ok(t.clone());
    }
    const OP: &str = "contiguous";
    let s = cuda_of(t, OP)?;
    let dev = s.dev.clone();
    let n = t.numel();
    let strided = Strided::of(OP, t.layout())?;
    let cfg = launch_1d(n);
    match t.dtype() {
        DType::F32 => {
            let (_, src) = f32_slice(t, OP)?;
            let mut out = alloc_f32(&dev, n, OP)?;
            let f = dev.func(MODULE, "copy_strided_f32")?;
            let n64 = n as i64;
            // SAFETY: argument list matches `copy_strided_f32`; `out` holds `n` elements.
            unsafe { dev.stream.launch_builder(&f).arg(src).arg(&strided).arg(&mut out).arg(&n64).launch(cfg) }
                .map_err(cuda_err(OP))?;
            Ok(tensor_f32(&dev, out, t.shape()))
        }
        DType::I64 => {
            let (_, src) = i64_slice(t, OP)?;
            let mut out = alloc_i64(&dev, n, OP)?;
            let f = dev.func(MODULE, "copy_strided_i64")?;
            let n64 = n as i64;
            // SAFETY: as above, for `copy_strided_i64`.
            unsafe { dev.stream.launch_builder(&f).arg(src).arg(&strided).arg(&mut out).arg(&n64).launch(cfg) }
                .map_err(cuda_err(OP))?;
            Ok(tensor_i64(&dev, out, t.shape()))
        }
    }
}

/// `t` broadcast to `shape` (NumPy rules, checked by the caller), as a new contiguous tensor.
pub(crate) fn expand(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    const OP: &str = "broadcast_as";
    let (s, src) = f32_slice(t, OP)?;
    let dev = s.dev.clone();
    let n: usize = shape.iter().product();
    let strided = Strided::broadcast(OP, t.layout(), shape)?;
    let mut out = alloc_f32(&dev, n, OP)?;
    if n > 0 {
        let f = dev.func(MODULE, "copy_strided_f32")?;
        let n64 = n as i64;
        // SAFETY: matches `copy_strided_f32`; `out` holds `n` elements.
        unsafe { dev.stream.launch_builder(&f).arg(src).arg(&strided).arg(&mut out).arg(&n64).launch(launch_1d(n)) }
            .map_err(cuda_err(OP))?;
    }
    Ok(tensor_f32(&dev, out, shape))
}

/// Copies `src` into the window `dst_layout` of the fresh buffer `dst` (the two shapes are
/// equal): concat writes each input into its slab this way.
pub(crate) fn copy_into(src: &Tensor, dst: &mut CudaData, dst_layout: &Layout) -> Result<()> {
    const OP: &str = "copy_into";
    let n = src.numel();
    if n == 0 {
        return Ok(());
    }
    let store = cuda_of(src, OP)?;
    let dev = store.dev.clone();
    let (ss, ds) = (Strided::of(OP, src.layout())?, Strided::of(OP, dst_layout)?);
    let n64 = n as i64;
    let cfg = launch_1d(n);
    match (&store.data, dst) {
        (CudaData::F32(a), CudaData::F32(b)) => {
            let f = dev.func(MODULE, "copy_s2s_f32")?;
            // SAFETY: matches `copy_s2s_f32`; both layouts lie inside their buffers.
            unsafe { dev.stream.launch_builder(&f).arg(a).arg(&ss).arg(b).arg(&ds).arg(&n64).launch(cfg) }
                .map_err(cuda_err(OP))?;
        }
        (CudaData::I64(a), CudaData::I64(b)) => {
            let f = dev.func(MODULE, "copy_s2s_i64")?;
            // SAFETY: as above.
            unsafe { dev.stream.launch_builder(&f).arg(a).arg(&ss).arg(b).arg(&ds).arg(&n64).launch(cfg) }
                .map_err(cuda_err(OP))?;
        }
        (_, d) => {
            let expected = if matches!(d, CudaData::F32(_)) { DType::F32 } else { DType::I64 };
            return Err(Error::DTypeMismatch { op: OP, expected, got: src.dtype() });
        }
    }
    Ok(())
}

/// `u_<kernel>(x; p0, p1)` elementwise; the result is contiguous.
pub(crate) fn unary(op: &'static str, kernel: &str, x: &Tensor, p: [f32; 2]) -> Result<Tensor> {
    let x = contiguous(x)?;
    let dev = cuda_of(&x, op)?.dev.clone();
    let n = x.numel();
    let mut out = alloc_f32(&dev, n, op)?;
    if n > 0 {
        let f = dev.func(MODULE, &format!("u_{kernel}"))?;
        let xv = f32_view(&x, op)?;
        let n64 = n as i64;
        // SAFETY: argument list matches the UNARY macro; `out` holds `n` elements.
        unsafe {
            dev.stream.launch_builder(&f).arg(&xv).arg(&mut out).arg(&n64).arg(&p[0]).arg(&p[1]).launch(launch_1d(n))
        }
        .map_err(cuda_err(op))?;
    }
    Ok(tensor_f32(&dev, out, x.shape()))
}

/// `b_<kernel>(a, b; p0, p1)` elementwise over the broadcast of the two shapes.
pub(crate) fn binary(op: &'static str, kernel: &str, a: &Tensor, b: &Tensor, p: [f32; 2]) -> Result<Tensor> {
    let dev = same_device(op, &[a, b])?;
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    let n: usize = shape.iter().product();
    let mut out = alloc_f32(&dev, n, op)?;
    if n == 0 {
        return Ok(tensor_f32(&dev, out, &shape));
    }
    let n64 = n as i64;
    let cfg = launch_1d(n);
    if a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() {
        let f = dev.func(MODULE, &format!("b_{kernel}"))?;
        let (av, bv) = (f32_view(a, op)?, f32_view(b, op)?);
        // SAFETY: argument list matches the BINARY macro's `b_` kernel.
        unsafe {
            dev.stream.launch_builder(&f).arg(&av).arg(&bv).arg(&mut out).arg(&n64).arg(&p[0]).arg(&p[1]).launch(cfg)
        }
        .map_err(cuda_err(op))?;
    } else {
        let f = dev.func(MODULE, &format!("bb_{kernel}"))?;
        let (sa, sb) = (Strided::broadcast(op, a.layout(), &shape)?, Strided::broadcast(op, b.layout(), &shape)?);
        let ((_, ad), (_, bd)) = (f32_slice(a, op)?, f32_slice(b, op)?);
        // SAFETY: argument list matches the BINARY macro's `bb_` kernel.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(ad)
                .arg(&sa)
                .arg(bd)
                .arg(&sb)
                .arg(&mut out)
                .arg(&n64)
                .arg(&p[0])
                .arg(&p[1])
                .launch(cfg)
        }
        .map_err(cuda_err(op))?;
    }
    Ok(tensor_f32(&dev, out, &shape))
}

/// A comparison (`eq`, `ne`, `lt`, `le`, `gt`, `ge`) of two f32 or two i64 tensors: an f32
/// 1.0 / 0.0 mask over the broadcast shape.
pub(crate) fn compare(op: &'static str, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    match (a.dtype(), b.dtype()) {
        (DType::F32, DType::F32) => binary(op, op, a, b, [0.0; 2]),
        (DType::I64, DType::I64) => {
            let dev = same_device(op, &[a, b])?;
            let shape = broadcast_shapes(op, a.shape(), b.shape())?;
            let n: usize = shape.iter().product();
            let mut out = alloc_f32(&dev, n, op)?;
            if n > 0 {
                let f = dev.func(MODULE, &format!("bbi_{op}"))?;
                let (sa, sb) =
                    (Strided::broadcast(op, a.layout(), &shape)?, Strided::broadcast(op, b.layout(), &shape)?);
                let ((_, ad), (_, bd)) = (i64_slice(a, op)?, i64_slice(b, op)?);
                let n64 = n as i64;
                // SAFETY: argument list matches CMP_I64.
                unsafe {
                    dev.stream
                        .launch_builder(&f)
                        .arg(ad)
                        .arg(&sa)
                        .arg(bd)
                        .arg(&sb)
                        .arg(&mut out)
                        .arg(&n64)
                        .launch(launch_1d(n))
                }
                .map_err(cuda_err(op))?;
            }
            Ok(tensor_f32(&dev, out, &shape))
        }
        (l, r) => Err(Error::DTypeMismatch { op, expected: l, got: r }),
    }
}

/// A new tensor of `shape` on `like`'s GPU, every element `value` (cast to `dtype`).
pub(crate) fn fill(like: &Tensor, shape: &[usize], dtype: DType, value: f64) -> Result<Tensor> {
    fill_on(&cuda_of(like, "fill")?.dev, shape, dtype, value)
}

/// A new tensor of `shape` on `dev`, every element `value` (f32 / i64 by `dtype`).
pub(crate) fn fill_on(dev: &Arc<CudaDev>, shape: &[usize], dtype: DType, value: f64) -> Result<Tensor> {
    const OP: &str = "fill";
    let n: usize = shape.iter().product();
    let n64 = n as i64;
    let cfg: LaunchConfig = launch_1d(n);
    match dtype {
        DType::F32 => {
            let mut out = alloc_f32(dev, n, OP)?;
            let f = dev.func(MODULE, "fill_f32")?;
            let v = value as f32;
            // SAFETY: matches `fill_f32`; `out` holds max(n, 1) elements.
            unsafe { dev.stream.launch_builder(&f).arg(&mut out).arg(&n64).arg(&v).launch(cfg) }
                .map_err(cuda_err(OP))?;
            Ok(tensor_f32(dev, out, shape))
        }
        DType::I64 => {
            let mut out = alloc_i64(dev, n, OP)?;
            let f = dev.func(MODULE, "fill_i64")?;
            let v = value as i64;
            // SAFETY: matches `fill_i64`.
            unsafe { dev.stream.launch_builder(&f).arg(&mut out).arg(&n64).arg(&v).launch(cfg) }
                .map_err(cuda_err(OP))?;
            Ok(tensor_i64(dev, out, shape))
        }
    }
}

/// `t` converted to `dtype` on its GPU (f32 -> i64 truncates toward zero).
pub(crate) fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    const OP: &str = "to_dtype";
    if t.dtype() == dtype {
        return Ok(t.detach());
    }
    let t = contiguous(t)?;
    let dev = cuda_of(&t, OP)?.dev.clone();
    let n = t.numel();
    let n64 = n as i64;
    match dtype {
        DType::F32 => {
            let mut out = alloc_f32(&dev, n, OP)?;
            if n > 0 {
                let f = dev.func(MODULE, "cast_i64_f32")?;
                let x = i64_view(&t, OP)?;
                // SAFETY: matches `cast_i64_f32`.
                unsafe { dev.stream.launch_builder(&f).arg(&x).arg(&mut out).arg(&n64).launch(launch_1d(n)) }
                    .map_err(cuda_err(OP))?;
            }
            Ok(tensor_f32(&dev, out, t.shape()))
        }
        DType::I64 => {
            let mut out = alloc_i64(&dev, n, OP)?;
            if n > 0 {
                let f = dev.func(MODULE, "cast_f32_i64")?;
                let x = f32_view(&t, OP)?;
                // SAFETY: matches `cast_f32_i64`.
                unsafe { dev.stream.launch_builder(&f).arg(&x).arg(&mut out).arg(&n64).launch(launch_1d(n)) }
                    .map_err(cuda_err(OP))?;
            }
            Ok(tensor_i64(&dev, out, t.shape()))
        }
    }
}

#[cfg(test)]
mod tests {
    //! `tests/cuda_emu/harness_elementwise.cpp` mirrors `Strided::broadcast` in C++ to launch
    //! the kernels as this module does; these pin the Rust values for some of its layouts.

    use super::*;
    use crate::tensor::shape::Dims;

    fn layout(shape: &[usize], strides: &[usize], offset: usize) -> Layout {
        Layout { shape: Dims::from_slice(shape), strides: Dims::from_slice(strides), offset }
    }

    fn strided(l: &Layout, shape: &[usize]) -> String {
        format!("{:?}", Strided::broadcast("test", l, shape).expect("rank <= 8"))
    }

    #[test]
    fn broadcast_layouts_are_the_ones_the_emulated_harness_builds() {
        // [4,1,5] read as [4,3,5]: the size-1 dim gets stride 0; unused dims shape 1, stride 0.
        assert_eq!(
            strided(&Layout::contiguous(&[4, 1, 5]), &[4, 3, 5]),
            "Strided { rank: 3, pad: 0, shape: [4, 3, 5, 1, 1, 1, 1, 1], strides: [5, 0, 1, 0, 0, 0, 0, 0], offset: 0 }"
        );
        // [4] at offset 1 read as [3,4]: the missing leading dim gets stride 0.
        assert_eq!(
            strided(&layout(&[4], &[1], 1), &[3, 4]),
            "Strided { rank: 2, pad: 0, shape: [3, 4, 1, 1, 1, 1, 1, 1], strides: [0, 1, 0, 0, 0, 0, 0, 0], offset: 1 }"
        );
        // A rank-0 tensor at offset 3 read as [2,3]; a transposed view as itself.
        assert_eq!(
            strided(&layout(&[], &[], 3), &[2, 3]),
            "Strided { rank: 2, pad: 0, shape: [2, 3, 1, 1, 1, 1, 1, 1], strides: [0, 0, 0, 0, 0, 0, 0, 0], offset: 3 }"
        );
        assert_eq!(
            format!("{:?}", Strided::of("test", &layout(&[3, 4], &[1, 3], 2)).expect("rank 2")),
            "Strided { rank: 2, pad: 0, shape: [3, 4, 1, 1, 1, 1, 1, 1], strides: [1, 3, 0, 0, 0, 0, 0, 0], offset: 2 }"
        );
        assert!(Strided::broadcast("test", &Layout::contiguous(&[1; 9]), &[1; 9]).is_err());
    }
}
