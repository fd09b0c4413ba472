//! Plugin custom ops on the GPU: an op's [`CustomOp::cuda_source`] is compiled by NVRTC once
//! per device (with `kernels/common.cuh` prepended, so `GRID_STRIDE` and `Strided` are
//! there) and launched over the output's elements.
//!
//! The convention (see [`CustomOp`]): the kernel named [`CustomOp::cuda_kernel_name`] takes
//! `(const float* in0, …, const float* in{k-1}, float* out, long long n, long long s0, …)` —
//! every input as a contiguous row-major f32 buffer, the output of
//! [`CustomOp::cuda_output_shape`] with `n` elements, then the op's
//! [`CustomOp::cuda_scalar_args`] — and is launched as a 1-D grid of 256-thread blocks (at
//! most 65 535 of them), so it must loop grid-stride (`GRID_STRIDE(i, n) { out[i] = ...; }`).

use std::hash::{Hash, Hasher};

use cudarc::driver::PushKernelArg;

use super::device::{cuda_err, launch_1d};
use super::elementwise::contiguous;
use super::kernels::with_common;
use super::storage::{alloc_f32, f32_view, same_device, tensor_f32};
use crate::tensor::device::DType;
use crate::tensor::{CustomOp, Tensor};
use crate::{Error, Result};

/// Runs `op`'s CUDA kernel on `inputs` (all f32, on one GPU); the result is on that GPU.
pub(crate) fn custom_forward(op: &dyn CustomOp, source: &str, inputs: &[&Tensor]) -> Result<Tensor> {
    const OP: &str = "custom op";
    if inputs.is_empty() {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "inputs",
            value: format!("none (op `{}`)", op.name()),
            expected: "at least one input tensor on the GPU",
        });
    }
    let dev = same_device(OP, inputs)?;
    if let Some(t) = inputs.iter().find(|t| t.dtype() != DType::F32) {
        return Err(Error::DTypeMismatch { op: OP, expected: DType::F32, got: t.dtype() });
    }
    let shape = op.cuda_output_shape(inputs)?;
    let n: usize = shape.iter().product();
    let mut out = alloc_f32(&dev, n, OP)?;
    if n == 0 {
        return Ok(tensor_f32(&dev, out, &shape));
    }
    // One module per op name and source (two plugins may share a name, not a source).
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    let key = format!("custom:{}:{:016x}", op.name(), hasher.finish());
    let f = dev.custom_func(&key, &with_common(&format!("{}.cu", op.name()), source), op.cuda_kernel_name())?;
    let dense = inputs.iter().map(|t| contiguous(t)).collect::<Result<Vec<_>>>()?;
    let views = dense.iter().map(|t| f32_view(t, OP)).collect::<Result<Vec<_>>>()?;
    let n64 = n as i64;
    let scalars = op.cuda_scalar_args(inputs)?;
    let mut launch = dev.stream.launch_builder(&f);
    for v in &views {
        launch.arg(v);
    }
    launch.arg(&mut out).arg(&n64);
    for s in &scalars {
        launch.arg(s);
    }
    // SAFETY: the plugin's kernel follows the documented convention: one `const float*` per
    // input (each holding its tensor's elements), the output buffer of `n` elements, `n`,
    // then one `long long` per scalar argument.
    unsafe { launch.launch(launch_1d(n)) }.map_err(cuda_err(OP))?;
    Ok(tensor_f32(&dev, out, &shape))
}
