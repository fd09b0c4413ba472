//! Custom ops for plugins (candle's `custom_op.rs` pattern): a plugin supplies a fused CPU
//! kernel, optionally CUDA C source for the GPU backend, and optionally a backward. A missing
//! backward is an error the moment a gradient is needed through the op, never a silent zero.
//!
//! On a GPU (every input on one CUDA device):
//! - with [`CustomOp::cuda_source`], the source is compiled by NVRTC once per device and
//!   process, and the kernel [`CustomOp::cuda_kernel_name`] runs with the signature
//!   `extern "C" __global__ void k(const float* in0, …, const float* in{k-1}, float* out, long long n, …)`:
//!   inputs contiguous row-major f32, `out` of [`CustomOp::cuda_output_shape`] with `n`
//!   elements, then one `long long` per [`CustomOp::cuda_scalar_args`] entry; a 1-D launch
//!   of 256-thread blocks that the kernel covers with a grid-stride loop (`GRID_STRIDE(i, n)`
//!   and the rest of Arc's `common.cuh` are prepended to the source). The kernel must write
//!   every one of the `n` output elements (the buffer starts uninitialised);
//! - without one, the inputs are copied to the host, [`CustomOp::forward_cpu`] runs there and
//!   the output is copied back (and [`CustomOp::backward`] likewise runs on host copies), so
//!   every plugin op works on a GPU, slowly.
//!
//! Either way the output lives on the inputs' device, and the gradients `backward` returns
//! are moved to their inputs' devices (a backward that builds host tensors still works).

use std::borrow::Cow;
use std::sync::Arc;

use super::autograd::{attach, needs_grad, no_grad};
use super::{Device, Tensor};
use crate::{Error, Result};

/// An op implemented outside arc-core.
///
/// ```
/// use std::sync::Arc;
/// use arc_core::{tensor::{CustomOp, gradcheck, Rng}, Result, Tensor};
///
/// /// y = x^3 with a hand-written kernel and backward (dy/dx = 3x^2).
/// struct Cube;
/// impl CustomOp for Cube {
///     fn name(&self) -> &str { "cube" }
///     fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
///         let x = inputs[0].to_vec()?;
///         Tensor::from_vec(x.iter().map(|v| v * v * v).collect(), inputs[0].shape())
///     }
///     fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor)
///         -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some(grad.mul(&inputs[0].square()?.mul_scalar(3.0)?)?)])
///     }
/// }
/// # fn main() -> Result<()> {
/// let op: Arc<dyn CustomOp> = Arc::new(Cube);
/// let x = Tensor::from_vec(vec![2.0], &[1])?;
/// assert_eq!(Tensor::apply_custom(op.clone(), &[&x])?.to_vec()?, vec![8.0]);
/// gradcheck(|t| Tensor::apply_custom(op.clone(), &[&t[0]]), &[&x], 1e-3, 1e-2)?;
/// # Ok(()) }
/// ```
pub trait CustomOp: Send + Sync {
    /// The op's name, used in errors and graph dumps.
    fn name(&self) -> &str;

    /// Computes the output on the CPU. Runs with gradient recording off.
    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor>;

    /// CUDA C source of the op's kernel, for the GPU backend (compiled by NVRTC there; see
    /// the module docs for the kernel's signature). `None` runs [`forward_cpu`](Self::forward_cpu)
    /// on host copies of GPU inputs.
    fn cuda_source(&self) -> Option<&str> {
        None
    }

    /// The `extern "C"` kernel in [`cuda_source`](Self::cuda_source) to launch. The default
    /// is the op's name after its last `.` (`plugin.cube` → `cube`).
    fn cuda_kernel_name(&self) -> &str {
        self.name().rsplit('.').next().unwrap_or_default()
    }

    /// The shape of the CUDA kernel's output. The default is the first input's shape (an
    /// elementwise op).
    fn cuda_output_shape(&self, inputs: &[&Tensor]) -> Result<Vec<usize>> {
        Ok(inputs.first().map(|t| t.shape().to_vec()).unwrap_or_default())
    }

    /// Extra integer arguments of the CUDA kernel (sizes it needs besides the element
    /// count), passed after `n` as `long long` each. The default is none.
    fn cuda_scalar_args(&self, inputs: &[&Tensor]) -> Result<Vec<i64>> {
        let _ = inputs;
        Ok(Vec::new())
    }

    /// Gradients with respect to each input, given the output's gradient; `None` for inputs
    /// that take none (integer inputs). Runs with gradient recording off.
    /// The default returns [`Error::NoBackward`] naming the op.
    fn backward(&self, _inputs: &[&Tensor], _output: &Tensor, _grad_output: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(Error::NoBackward { op: self.name().to_owned() })
    }
}

impl Tensor {
    /// Runs a custom op and, when an input requires grad, records it in the graph with the
    /// op's `backward`.
    /// On a GPU the op's CUDA kernel runs (or `forward_cpu` on host copies); see the module
    /// docs.
    pub fn apply_custom(op: Arc<dyn CustomOp>, inputs: &[&Tensor]) -> Result<Tensor> {
        let out = {
            let _guard = no_grad();
            forward(op.as_ref(), inputs)?.detach()
        };
        if !needs_grad(inputs) {
            return Ok(out);
        }
        let saved = out.detach();
        let name = Cow::Owned(op.name().to_owned());
        Ok(attach(
            out,
            name,
            inputs,
            Some(saved),
            Box::new(move |a| {
                let ins: Vec<&Tensor> = a.inputs.iter().collect();
                let grads = if op.cuda_source().is_none() && ins.iter().any(|t| !t.device().is_cpu()) {
                    // A host-only op: its backward runs on host copies too.
                    let host = ins.iter().map(|t| t.to_device(Device::Cpu)).collect::<Result<Vec<_>>>()?;
                    let refs: Vec<&Tensor> = host.iter().collect();
                    let (out, grad) = (a.output().to_device(Device::Cpu)?, a.grad.to_device(Device::Cpu)?);
                    op.backward(&refs, &out, &grad)?
                } else {
                    op.backward(&ins, a.output(), a.grad)?
                };
                // A backward written for the host may return host tensors for GPU inputs.
                grads
                    .into_iter()
                    .enumerate()
                    .map(|(i, g)| match (g, ins.get(i)) {
                        (Some(g), Some(x)) if g.device() != x.device() => g.to_device(x.device()).map(Some),
                        (g, _) => Ok(g),
                    })
                    .collect()
            }),
        ))
    }
}

/// The op's output on its inputs' device.
fn forward(op: &dyn CustomOp, inputs: &[&Tensor]) -> Result<Tensor> {
    let Some(gpu) = inputs.iter().map(|t| t.device()).find(|d| !d.is_cpu()) else {
        return op.forward_cpu(inputs);
    };
    if let Some(source) = op.cuda_source() {
        return super::cuda::custom_forward(op, source, inputs);
    }
    if let Some(other) = inputs.iter().find(|t| t.device() != gpu) {
        return Err(Error::DeviceMismatch { op: "custom op", expected: gpu.to_string(), got: other.device() });
    }
    let host = inputs.iter().map(|t| t.to_device(Device::Cpu)).collect::<Result<Vec<_>>>()?;
    let refs: Vec<&Tensor> = host.iter().collect();
    op.forward_cpu(&refs)?.to_device(gpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Rng, gradcheck};

    /// `a * b + a`, fused, without a backward.
    struct NoGradKernel;
    impl CustomOp for NoGradKernel {
        fn name(&self) -> &str {
            "plugin.fused_mul_add"
        }
        fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
            inputs[0].mul(inputs[1])?.add(inputs[0])
        }
        fn cuda_source(&self) -> Option<&str> {
            Some("extern \"C\" __global__ void fused_mul_add() {}")
        }
    }

    /// `a * b + a` with its backward: d/da = b + 1, d/db = a.
    struct WithBackward;
    impl CustomOp for WithBackward {
        fn name(&self) -> &str {
            "plugin.fused_mul_add_bwd"
        }
        fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
            NoGradKernel.forward_cpu(inputs)
        }
        fn backward(&self, inputs: &[&Tensor], _output: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(g.mul(&inputs[1].add_scalar(1.0)?)?), Some(g.mul(inputs[0])?)])
        }
    }

    #[test]
    fn a_custom_op_without_backward_fails_at_backward_naming_it() -> Result<()> {
        let a = Tensor::randn(&[2, 2], &mut Rng::new(0)).requires_grad_()?;
        let b = Tensor::randn(&[2, 2], &mut Rng::new(1));
        let op: Arc<dyn CustomOp> = Arc::new(NoGradKernel);
        assert!(op.cuda_source().is_some());
        // Forward works, with or without grads.
        let y = Tensor::apply_custom(op.clone(), &[&a, &b])?;
        assert_eq!(y.grad_fn_name(), Some("plugin.fused_mul_add"));
        let err = y.sum_all()?.backward().unwrap_err();
        assert_eq!(err.to_string(), "op `plugin.fused_mul_add` has no backward, but a gradient is needed through it");
        assert!(a.grad().is_none(), "no gradient may be silently produced");
        // Outside a graph needing grads it is a plain kernel.
        let plain = Tensor::apply_custom(op, &[&b, &b])?;
        assert!(!plain.requires_grad());
        Ok(())
    }

    #[test]
    fn a_custom_op_with_backward_passes_gradcheck() -> Result<()> {
        let a = Tensor::randn(&[3, 2], &mut Rng::new(2));
        let b = Tensor::randn(&[3, 2], &mut Rng::new(3));
        let op: Arc<dyn CustomOp> = Arc::new(WithBackward);
        assert!(op.cuda_source().is_none());
        gradcheck(|t| Tensor::apply_custom(op.clone(), &[&t[0], &t[1]]), &[&a, &b], 1e-3, 1e-2)
    }

    #[test]
    fn a_backward_returning_a_wrong_shape_is_an_error() -> Result<()> {
        struct BadShape;
        impl CustomOp for BadShape {
            fn name(&self) -> &str {
                "bad_shape"
            }
            fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
                Ok(inputs[0].clone())
            }
            fn backward(&self, _: &[&Tensor], _: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
                Ok(vec![Some(Tensor::zeros(&[5]))])
            }
        }
        let x = Tensor::ones(&[2]).requires_grad_()?;
        let err = Tensor::apply_custom(Arc::new(BadShape), &[&x])?.sum_all()?.backward().unwrap_err();
        assert!(matches!(err, Error::BadGradient { input: 0, .. }), "{err}");
        Ok(())
    }
}
