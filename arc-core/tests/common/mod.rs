//! Helpers for the CUDA-vs-CPU parity tests: the GPU (or why the test skips), random inputs,
//! and closeness checks with the tolerances.
#![allow(dead_code)]

use arc_core::tensor::{Rng, cuda_device_count};
use arc_core::{Device, Result, Tensor};

/// Elementwise results: 1e-5 relative (fp32).
pub const ELEMENTWISE: f32 = 1e-5;
/// Reductions and matmul: 1e-4 relative.
pub const REDUCTION: f32 = 1e-4;

/// The first GPU, or `None` after printing why `test` skips (straight to the terminal:
/// libtest hides a passing test's captured output). `ARC_REQUIRE_GPU=1` makes the skip a
/// failure, for a GPU machine's CI.
pub fn gpu(test: &str) -> Option<Device> {
    match cuda_device_count() {
        Ok(_) => Some(Device::Cuda(0)),
        Err(why) => {
            assert!(
                std::env::var_os("ARC_REQUIRE_GPU").is_none(),
                "ARC_REQUIRE_GPU is set, but {test} has no GPU: {why}"
            );
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: no CUDA device ({why})");
            None
        }
    }
}

/// A random normal tensor of `shape` from `seed`.
pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut Rng::new(seed))
}

/// `a` and `b` (any devices) hold the same shape and values within `rel` relative error
/// (absolute `rel` near zero).
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, rel: f32) -> Result<()> {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    let (x, y) = (a.to_vec()?, b.to_vec()?);
    for (i, (&p, &q)) in x.iter().zip(&y).enumerate() {
        let tol = rel * p.abs().max(q.abs()).max(1.0);
        assert!(
            (p - q).abs() <= tol || (p.is_nan() && q.is_nan()),
            "{what}: element {i}: cpu {p} vs cuda {q} (tol {tol})"
        );
    }
    Ok(())
}

/// Runs `f` on CPU inputs and on copies on `dev`, with gradients, and compares the outputs
/// and every input's gradient for the same random upstream gradient (`backward_with`, so no
/// reduction kernel is involved beyond the op's own backward).
pub fn check_op(
    what: &str,
    dev: Device,
    inputs: &[Tensor],
    rel: f32,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let cpu: Vec<Tensor> = inputs.iter().map(|t| t.detach().requires_grad_()).collect::<Result<_>>()?;
    let gpu: Vec<Tensor> = inputs.iter().map(|t| t.to_device(dev)?.requires_grad_()).collect::<Result<_>>()?;
    let (yc, yg) = (f(&cpu)?, f(&gpu)?);
    assert_eq!(yg.device(), dev, "{what}: the output left the GPU");
    assert_close(&format!("{what} forward"), &yc, &yg, rel)?;
    let seed = randn(yc.shape(), 99);
    yc.backward_with(&seed)?;
    yg.backward_with(&seed.to_device(dev)?)?;
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        match (c.grad(), g.grad()) {
            (Some(gc), Some(gg)) => {
                assert_eq!(gg.device(), dev, "{what}: input {i}'s gradient left the GPU");
                assert_close(&format!("{what} grad of input {i}"), &gc, &gg, rel)?;
            }
            (None, None) => {}
            (c, g) => panic!("{what}: input {i}: cpu grad {:?} vs cuda grad {:?}", c.is_some(), g.is_some()),
        }
    }
    Ok(())
}

#[cfg(feature = "cuda")]
/// Whether NVRTC can run here; panics when CI requires it and it is missing.
pub fn nvrtc_or_skip(test: &str) -> bool {
    match arc_core::tensor::compile_source("probe", "extern \"C\" __global__ void probe() {}", "compute_75") {
        Ok(_) => true,
        Err(e @ arc_core::Error::CudaUnavailable { .. }) => {
            if std::env::var_os("ARC_REQUIRE_NVRTC").is_some_and(|v| v == "1") {
                panic!("{test}: ARC_REQUIRE_NVRTC=1 but NVRTC is missing: {e}");
            }
            eprintln!("skipping {test}: {e}");
            false
        }
        Err(e) => panic!("{test}: NVRTC failed on an empty kernel: {e}"),
    }
}
