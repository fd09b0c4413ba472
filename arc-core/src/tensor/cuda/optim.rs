//! Optimizer updates on the GPU (kernels in `kernels/optim.cu`).
//!
//! A parameter's device buffer may be shared (clones, views, the autograd graph of the last
//! step), so the kernels never write in place: each step reads the parameter, its gradient
//! and the state, and writes fresh parameter and state buffers, which the optimizer then
//! installs (`Param::set`, its own state tensors). The formulas are those of
//! `ops/fused/optim.rs`, element for element.

use cudarc::driver::PushKernelArg;

use super::device::{cuda_err, launch_1d};
use super::elementwise::contiguous;
use super::storage::{alloc_f32, f32_view, same_device, tensor_f32};
use crate::tensor::Tensor;
use crate::tensor::fused::{AdamConfig, SgdConfig};
use crate::{Error, Result};

const MODULE: &str = "optim";

/// Contiguous copies of `tensors`, which must all hold `n` elements.
fn prepare(op: &'static str, n: usize, tensors: &[&Tensor]) -> Result<Vec<Tensor>> {
    tensors
        .iter()
        .map(|t| {
            if t.numel() != n {
                return Err(Error::ShapeMismatch { op, lhs: vec![n], rhs: vec![t.numel()] });
            }
            contiguous(t)
        })
        .collect()
}

/// One SGD step: the new parameter and, with momentum, the new momentum buffer. `buf` is
/// ignored on the first step (the buffer starts as the step's direction `g + wd p`).
pub(crate) fn sgd_step(
    param: &Tensor,
    grad: &Tensor,
    buf: Option<&Tensor>,
    c: &SgdConfig,
    first_step: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = "sgd_update";
    let n = param.numel();
    let use_momentum = c.momentum != 0.0;
    let prev = if use_momentum && !first_step {
        Some(buf.ok_or(Error::InvalidArgument {
            op: OP,
            name: "momentum_buf",
            value: "none".into(),
            expected: "the momentum buffer of the previous step",
        })?)
    } else {
        None
    };
    let mut all = vec![param, grad];
    all.extend(prev);
    let dev = same_device(OP, &all)?;
    let ins = prepare(OP, n, &all)?;
    let n64 = n as i64;
    let mut p_out = alloc_f32(&dev, n, OP)?;
    if !use_momentum {
        if n > 0 {
            let f = dev.func(MODULE, "sgd_plain")?;
            let (p, g) = (f32_view(&ins[0], OP)?, f32_view(&ins[1], OP)?);
            // SAFETY: argument list matches `sgd_plain`; every buffer holds `n` elements.
            unsafe {
                dev.stream
                    .launch_builder(&f)
                    .arg(&p)
                    .arg(&g)
                    .arg(&mut p_out)
                    .arg(&n64)
                    .arg(&c.lr)
                    .arg(&c.weight_decay)
                    .launch(launch_1d(n))
            }
            .map_err(cuda_err(OP))?;
        }
        return Ok((tensor_f32(&dev, p_out, param.shape()), None));
    }
    let mut b_out = alloc_f32(&dev, n, OP)?;
    if n > 0 {
        let f = dev.func(MODULE, "sgd_momentum")?;
        let (p, g) = (f32_view(&ins[0], OP)?, f32_view(&ins[1], OP)?);
        // On the first step the kernel never reads `buf`; the gradient stands in for it.
        let b = f32_view(ins.get(2).unwrap_or(&ins[1]), OP)?;
        let (nesterov, first) = (i32::from(c.nesterov), i32::from(first_step));
        // SAFETY: argument list matches `sgd_momentum`; every buffer holds `n` elements.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&p)
                .arg(&g)
                .arg(&b)
                .arg(&mut p_out)
                .arg(&mut b_out)
                .arg(&n64)
                .arg(&c.lr)
                .arg(&c.momentum)
                .arg(&c.dampening)
                .arg(&c.weight_decay)
                .arg(&nesterov)
                .arg(&first)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
    }
    Ok((tensor_f32(&dev, p_out, param.shape()), Some(tensor_f32(&dev, b_out, param.shape()))))
}

/// One Adam / AdamW step: the new parameter, first and second moments. `step_size` is
/// `lr / (1 - b1^t)` and `inv_sqrt_bc2` is `1 / sqrt(1 - b2^t)` (computed by the caller in
/// f64, as on the CPU).
pub(crate) fn adam_step(
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    c: &AdamConfig,
    step_size: f32,
    inv_sqrt_bc2: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    const OP: &str = "adam_update";
    let n = param.numel();
    let all = [param, grad, m, v];
    let dev = same_device(OP, &all)?;
    let ins = prepare(OP, n, &all)?;
    let (mut p_out, mut m_out, mut v_out) = (alloc_f32(&dev, n, OP)?, alloc_f32(&dev, n, OP)?, alloc_f32(&dev, n, OP)?);
    if n > 0 {
        let decay = if c.decoupled_weight_decay { 1.0 - c.lr * c.weight_decay } else { 1.0 };
        let l2 = if c.decoupled_weight_decay { 0.0 } else { c.weight_decay };
        let f = dev.func(MODULE, "adam")?;
        let views = ins.iter().map(|t| f32_view(t, OP)).collect::<Result<Vec<_>>>()?;
        let n64 = n as i64;
        // SAFETY: argument list matches `adam`; every buffer holds `n` elements.
        unsafe {
            dev.stream
                .launch_builder(&f)
                .arg(&views[0])
                .arg(&views[1])
                .arg(&views[2])
                .arg(&views[3])
                .arg(&mut p_out)
                .arg(&mut m_out)
                .arg(&mut v_out)
                .arg(&n64)
                .arg(&c.beta1)
                .arg(&c.beta2)
                .arg(&c.eps)
                .arg(&l2)
                .arg(&decay)
                .arg(&step_size)
                .arg(&inv_sqrt_bc2)
                .launch(launch_1d(n))
        }
        .map_err(cuda_err(OP))?;
    }
    let shape = param.shape();
    Ok((tensor_f32(&dev, p_out, shape), tensor_f32(&dev, m_out, shape), tensor_f32(&dev, v_out, shape)))
}
