//! Reference rates for the `cuda` benchmark (`benches/cuda.rs`): what the hardware does
//! without Arc in between — cuBLAS sgemm on raw device buffers and a device-to-device copy
//! — and a device synchronisation for timing Arc's own (asynchronous) GPU ops.

use std::time::Instant;

use cudarc::cublas::{Gemm, GemmConfig, sys::cublasOperation_t};

use super::device::{self, cuda_err};
use super::storage::zeros_f32;
use crate::{Device, Error, Result};

fn ordinal(device: Device) -> Result<usize> {
    match device {
        Device::Cuda(i) => Ok(i),
        Device::Cpu => Err(Error::DeviceMismatch { op: "cuda bench", expected: "a CUDA device".into(), got: device }),
    }
}

/// Waits until every op queued on `device` has finished (a no-op for the CPU).
pub fn synchronize(device: Device) -> Result<()> {
    if device.is_cpu() {
        return Ok(());
    }
    let dev = device::get(ordinal(device)?)?;
    dev.stream.synchronize().map_err(cuda_err("synchronize"))
}

/// FLOP/s of `iters` cuBLAS sgemms `[n, n] x [n, n]` on `device`, called directly on raw
/// buffers (after one warm-up call).
pub fn cublas_sgemm_flops(device: Device, n: usize, iters: usize) -> Result<f64> {
    const OP: &str = "cublas sgemm";
    let dev = device::get(ordinal(device)?)?;
    let blas = dev.blas()?;
    let (a, b, mut c) = (zeros_f32(&dev, n * n, OP)?, zeros_f32(&dev, n * n, OP)?, zeros_f32(&dev, n * n, OP)?);
    let ni = n as i32;
    let cfg = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: ni,
        n: ni,
        k: ni,
        alpha: 1.0f32,
        lda: ni,
        ldb: ni,
        beta: 0.0f32,
        ldc: ni,
    };
    let gemm_err = |e: cudarc::cublas::result::CublasError| Error::Cuda { op: OP.into(), message: format!("{e:?}") };
    // SAFETY: three n x n buffers, leading dimensions n, no transposes.
    unsafe { blas.gemm(cfg, &a, &b, &mut c) }.map_err(gemm_err)?;
    dev.stream.synchronize().map_err(cuda_err(OP))?;
    let start = Instant::now();
    for _ in 0..iters.max(1) {
        // SAFETY: as above.
        unsafe { blas.gemm(cfg, &a, &b, &mut c) }.map_err(gemm_err)?;
    }
    dev.stream.synchronize().map_err(cuda_err(OP))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(2.0 * (n as f64).powi(3) * iters.max(1) as f64 / secs)
}

/// Bytes/s moved by `iters` device-to-device copies of `n` f32 (read + write counted, as a
/// bandwidth-bound elementwise kernel moves them) on `device`.
pub fn dtod_copy_bandwidth(device: Device, n: usize, iters: usize) -> Result<f64> {
    const OP: &str = "dtod copy";
    let dev = device::get(ordinal(device)?)?;
    let (src, mut dst) = (zeros_f32(&dev, n, OP)?, zeros_f32(&dev, n, OP)?);
    dev.stream.memcpy_dtod(&src, &mut dst).map_err(cuda_err(OP))?;
    dev.stream.synchronize().map_err(cuda_err(OP))?;
    let start = Instant::now();
    for _ in 0..iters.max(1) {
        dev.stream.memcpy_dtod(&src, &mut dst).map_err(cuda_err(OP))?;
    }
    dev.stream.synchronize().map_err(cuda_err(OP))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(2.0 * 4.0 * n as f64 * iters.max(1) as f64 / secs)
}
