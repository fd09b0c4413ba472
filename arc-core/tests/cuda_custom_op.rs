//! Plugin custom ops on a GPU: an op with CUDA source runs its kernel (parity with its CPU
//! kernel, forward and backward), an op without one runs `forward_cpu` on host copies, and
//! the test op's source compiles with NVRTC without warnings (that part runs without a GPU).

mod common;

use std::sync::Arc;

use arc_core::tensor::CustomOp;
use arc_core::{Result, Tensor};
use common::{ELEMENTWISE, assert_close, check_op, gpu, randn};

/// The test op's kernel: `out = 2 a b + a`, grid-stride, with Arc's convention.
const SCALED_MUL_SRC: &str = r#"
extern "C" __global__ void scaled_mul(const float* a, const float* b, float* out, long long n) {
    GRID_STRIDE(i, n) { out[i] = 2.0f * a[i] * b[i] + a[i]; }
}
"#;

/// `2 a b + a`, with a CPU kernel, CUDA source and a composed backward
/// (`d/da = 2b + 1`, `d/db = 2a`).
struct ScaledMul {
    with_cuda: bool,
}

impl CustomOp for ScaledMul {
    fn name(&self) -> &str {
        "test.scaled_mul"
    }
    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let (a, b) = (inputs[0].to_vec()?, inputs[1].to_vec()?);
        Tensor::from_vec(a.iter().zip(&b).map(|(x, y)| 2.0 * x * y + x).collect(), inputs[0].shape())
    }
    fn cuda_source(&self) -> Option<&str> {
        self.with_cuda.then_some(SCALED_MUL_SRC)
    }
    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (inputs[0], inputs[1]);
        Ok(vec![Some(g.mul(&b.affine(2.0, 1.0)?)?), Some(g.mul(&a.mul_scalar(2.0)?)?)])
    }
}

#[test]
fn the_default_kernel_name_and_output_shape_follow_the_convention() -> Result<()> {
    let op = ScaledMul { with_cuda: true };
    assert_eq!(op.cuda_kernel_name(), "scaled_mul");
    let (a, b) = (Tensor::zeros(&[3, 4]), Tensor::zeros(&[3, 4]));
    assert_eq!(op.cuda_output_shape(&[&a, &b])?, vec![3, 4]);
    Ok(())
}

#[cfg(feature = "cuda")]
#[test]
fn the_test_ops_cuda_source_compiles_without_warnings() {
    use arc_core::tensor::compile_source;
    for arch in ["compute_75", "compute_90"] {
        match compile_source("scaled_mul", SCALED_MUL_SRC, arch) {
            Ok(log) => assert!(log.is_empty(), "{arch}: warnings:\n{log}"),
            Err(e @ arc_core::Error::CudaUnavailable { .. }) => {
                assert!(
                    std::env::var_os("ARC_REQUIRE_NVRTC").is_none_or(|v| v != "1"),
                    "ARC_REQUIRE_NVRTC=1 but NVRTC is missing: {e}"
                );
                eprintln!("skipping the_test_ops_cuda_source_compiles_without_warnings: {e}");
                return;
            }
            Err(e) => panic!("{arch}: {e}"),
        }
    }
}

#[test]
fn a_custom_op_with_cuda_source_matches_its_cpu_kernel() -> Result<()> {
    let Some(dev) = gpu("a_custom_op_with_cuda_source_matches_its_cpu_kernel") else { return Ok(()) };
    for with_cuda in [true, false] {
        let op: Arc<dyn CustomOp> = Arc::new(ScaledMul { with_cuda });
        let what = if with_cuda { "scaled_mul (cuda kernel)" } else { "scaled_mul (host fallback)" };
        // 70_001 elements: more than one grid-stride pass is not needed, but several blocks are.
        let (a, b) = (randn(&[7, 10_001], 1), randn(&[7, 10_001], 2));
        check_op(what, dev, &[a.clone(), b.clone()], ELEMENTWISE, |t| {
            Tensor::apply_custom(op.clone(), &[&t[0], &t[1]])
        })?;
        // A strided (transposed) input is made contiguous before the launch.
        let (at, bt) = (randn(&[5, 3], 3).t()?, randn(&[3, 5], 4));
        let cpu = Tensor::apply_custom(op.clone(), &[&at, &bt])?;
        let gpu_out = Tensor::apply_custom(op.clone(), &[&at.to_device(dev)?, &bt.to_device(dev)?])?;
        assert_eq!(gpu_out.device(), dev);
        assert_close(what, &cpu, &gpu_out, ELEMENTWISE)?;
    }
    Ok(())
}
