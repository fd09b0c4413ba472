//! Elementwise optimizer updates over plain slices (a parameter's data, its gradient and the
//! optimizer's state), fused into one pass and split across rayon tasks above the threshold.
//! Formulas follow PyTorch's `torch.optim.SGD` and `torch.optim.Adam` / `AdamW` docs.

use rayon::prelude::*;

use super::super::super::math::{Isa, multiversion};
use super::super::super::storage::should_par;
use crate::{Error, Result, Tensor};

const CHUNK: usize = 1 << 13;

/// Hyper-parameters of SGD (PyTorch defaults: momentum 0, dampening 0, no weight decay,
/// no Nesterov).
#[derive(Clone, Copy, Debug)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor.
    pub momentum: f32,
    /// Dampening of the momentum's gradient term.
    pub dampening: f32,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// Hyper-parameters of Adam / AdamW (PyTorch defaults: lr 1e-3, betas (0.9, 0.999),
/// eps 1e-8, weight decay 0).
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// Weight decay: an L2 term in the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f32,
    /// `true` for AdamW's decoupled decay `p -= lr * wd * p`.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled_weight_decay: false }
    }
}

fn check_lengths(op: &'static str, param: usize, others: &[usize]) -> Result<()> {
    for &o in others {
        if o != param {
            return Err(Error::ShapeMismatch { op, lhs: vec![param], rhs: vec![o] });
        }
    }
    Ok(())
}

/// One SGD step in place: with `d = g + wd * p`, `buf = momentum * buf + (1 - dampening) * d`
/// (`buf = d` on the first step), `d = d + momentum * buf` (Nesterov) or `buf`, then
/// `p -= lr * d`. `momentum_buf` may be empty when `momentum == 0`.
pub fn sgd_update(
    param: &mut [f32],
    grad: &[f32],
    momentum_buf: &mut [f32],
    config: &SgdConfig,
    first_step: bool,
) -> Result<()> {
    check_lengths("sgd_update", param.len(), &[grad.len()])?;
    let c = *config;
    if c.momentum == 0.0 {
        param.iter_mut().zip(grad).for_each(|(p, &g)| *p -= c.lr * (g + c.weight_decay * *p));
        return Ok(());
    }
    check_lengths("sgd_update", param.len(), &[momentum_buf.len()])?;
    let step = |(p, (&g, b)): (&mut f32, (&f32, &mut f32))| {
        let d = g + c.weight_decay * *p;
        *b = if first_step { d } else { c.momentum * *b + (1.0 - c.dampening) * d };
        let d = if c.nesterov { d + c.momentum * *b } else { *b };
        *p -= c.lr * d;
    };
    if should_par(param.len()) {
        param.par_iter_mut().zip(grad.par_iter().zip(momentum_buf.par_iter_mut())).with_min_len(CHUNK).for_each(step);
    } else {
        param.iter_mut().zip(grad.iter().zip(momentum_buf.iter_mut())).for_each(step);
    }
    Ok(())
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adam_chunk_impl<I: Isa>(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    c: &AdamConfig,
    step_size: f32,
    inv_sqrt_bc2: f32,
) {
    let decay = if c.decoupled_weight_decay { 1.0 - c.lr * c.weight_decay } else { 1.0 };
    let l2 = if c.decoupled_weight_decay { 0.0 } else { c.weight_decay };
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = I::fma(l2, *p, g);
        *m = I::fma(c.beta1, *m, (1.0 - c.beta1) * g);
        *v = I::fma(c.beta2, *v, (1.0 - c.beta2) * g * g);
        let denom = v.sqrt() * inv_sqrt_bc2 + c.eps;
        *p = *p * decay - step_size * *m / denom;
    }
}
multiversion!(fn adam_chunk(
    p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &AdamConfig, step_size: f32, inv_sqrt_bc2: f32
) => adam_chunk_impl);

/// One Adam (or AdamW) step in place, `step` counting from 1:
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
///
/// ```
/// use arc_core::tensor::fused::{adam_update, AdamConfig};
/// # fn main() -> arc_core::Result<()> {
/// let (mut p, g, mut m, mut v) = (vec![1.0f32], vec![0.5f32], vec![0.0f32], vec![0.0f32]);
/// adam_update(&mut p, &g, &mut m, &mut v, 1, &AdamConfig::default())?;
/// // The first step moves by ~lr in the gradient's direction: 1 - 1e-3.
/// assert!((p[0] - 0.999).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub fn adam_update(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: u64,
    config: &AdamConfig,
) -> Result<()> {
    check_lengths("adam_update", param.len(), &[grad.len(), m.len(), v.len()])?;
    let (step_size, inv_sqrt_bc2) = bias_corrections(step, config)?;
    if should_par(param.len()) {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((p, g), (m, v))| adam_chunk(p, g, m, v, config, step_size, inv_sqrt_bc2));
    } else {
        adam_chunk(param, grad, m, v, config, step_size, inv_sqrt_bc2);
    }
    Ok(())
}

/// Adam's `lr / (1 - b1^t)` and `1 / sqrt(1 - b2^t)`, in f64 then rounded, for step `t >= 1`.
fn bias_corrections(step: u64, config: &AdamConfig) -> Result<(f32, f32)> {
    if step == 0 {
        return Err(Error::InvalidArgument {
            op: "adam_update",
            name: "step",
            value: "0".into(),
            expected: "steps counted from 1",
        });
    }
    let t = step.min(i32::MAX as u64) as i32;
    let bc1 = 1.0 - (config.beta1 as f64).powi(t);
    let bc2 = 1.0 - (config.beta2 as f64).powi(t);
    Ok(((config.lr as f64 / bc1) as f32, (1.0 / bc2.sqrt()) as f32))
}

/// Every tensor on the host, else the device error of the first one that is not.
fn all_on_host(op: &'static str, tensors: &[&Tensor]) -> Result<()> {
    match tensors.iter().find(|t| !t.device().is_cpu()) {
        Some(t) => Err(Error::DeviceMismatch { op, expected: "cpu (like the parameter)".into(), got: t.device() }),
        None => Ok(()),
    }
}

/// [`sgd_update`] on tensors, on the parameter's device: returns the new parameter value and,
/// with momentum, the new momentum buffer (`momentum_buf` is the previous step's buffer; it is
/// not read on the first step and may be `None` then).
///
/// Nothing is written in place: a parameter's storage may be shared by clones and by the last
/// step's autograd graph, so the caller installs the results (`Param::set`, its own state).
/// On a GPU one fused kernel reads the parameter, gradient and buffer and writes the new
/// ones; on the CPU the slice code above runs on copies.
///
/// ```
/// use arc_core::tensor::fused::{SgdConfig, sgd_update_tensor};
/// use arc_core::Tensor;
/// # fn main() -> arc_core::Result<()> {
/// let c = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false };
/// let (p, g) = (Tensor::from_vec(vec![1.0], &[1])?, Tensor::from_vec(vec![0.5], &[1])?);
/// let (p, buf) = sgd_update_tensor(&p, &g, None, &c, true)?;
/// assert!((p.item()? - 0.95).abs() < 1e-6);
/// assert_eq!(buf.map(|b| b.to_vec()).transpose()?, Some(vec![0.5]));
/// # Ok(()) }
/// ```
pub fn sgd_update_tensor(
    param: &Tensor,
    grad: &Tensor,
    momentum_buf: Option<&Tensor>,
    config: &SgdConfig,
    first_step: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    const OP: &str = "sgd_update";
    if !param.device().is_cpu() {
        return super::super::super::cuda::sgd_step(param, grad, momentum_buf, config, first_step);
    }
    let mut all = vec![param, grad];
    all.extend(momentum_buf);
    all_on_host(OP, &all)?;
    let mut p = param.to_vec()?;
    let g = grad.to_vec()?;
    if config.momentum == 0.0 {
        sgd_update(&mut p, &g, &mut [], config, true)?;
        return Ok((Tensor::from_vec(p, param.shape())?, None));
    }
    let mut buf = match (momentum_buf, first_step) {
        (Some(b), false) => b.to_vec()?,
        (None, false) => {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "momentum_buf",
                value: "none".into(),
                expected: "the momentum buffer of the previous step",
            });
        }
        (_, true) => vec![0.0; p.len()],
    };
    sgd_update(&mut p, &g, &mut buf, config, first_step)?;
    Ok((Tensor::from_vec(p, param.shape())?, Some(Tensor::from_vec(buf, param.shape())?)))
}

/// [`adam_update`] on tensors, on the parameter's device: returns the new parameter, first
/// moment and second moment (nothing is written in place; see [`sgd_update_tensor`]).
///
/// ```
/// use arc_core::tensor::fused::{AdamConfig, adam_update_tensor};
/// use arc_core::Tensor;
/// # fn main() -> arc_core::Result<()> {
/// let p = Tensor::from_vec(vec![1.0], &[1])?;
/// let (g, zero) = (Tensor::from_vec(vec![0.5], &[1])?, Tensor::zeros(&[1]));
/// let (p, m, v) = adam_update_tensor(&p, &g, &zero, &zero, 1, &AdamConfig::default())?;
/// assert!((p.item()? - 0.999).abs() < 1e-6);
/// assert!((m.item()? - 0.05).abs() < 1e-6 && (v.item()? - 0.00025).abs() < 1e-7);
/// # Ok(()) }
/// ```
pub fn adam_update_tensor(
    param: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: u64,
    config: &AdamConfig,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (step_size, inv_sqrt_bc2) = bias_corrections(step, config)?;
    if !param.device().is_cpu() {
        return super::super::super::cuda::adam_step(param, grad, m, v, config, step_size, inv_sqrt_bc2);
    }
    all_on_host("adam_update", &[param, grad, m, v])?;
    let (mut p, g, mut mv, mut vv) = (param.to_vec()?, grad.to_vec()?, m.to_vec()?, v.to_vec()?);
    adam_update(&mut p, &g, &mut mv, &mut vv, step, config)?;
    let shape = param.shape();
    Ok((Tensor::from_vec(p, shape)?, Tensor::from_vec(mv, shape)?, Tensor::from_vec(vv, shape)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam written out in f64, one element at a time, as in the PyTorch docs.
    fn reference_adam(p: f64, grads: &[f64], c: &AdamConfig) -> f64 {
        let (mut p, mut m, mut v) = (p, 0.0, 0.0);
        let (b1, b2) = (c.beta1 as f64, c.beta2 as f64);
        for (t, &g0) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            if c.decoupled_weight_decay {
                p *= 1.0 - c.lr as f64 * c.weight_decay as f64;
            }
            let g = if c.decoupled_weight_decay { g0 } else { g0 + c.weight_decay as f64 * p };
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let mhat = m / (1.0 - b1.powi(t));
            let denom = (v / (1.0 - b2.powi(t))).sqrt() + c.eps as f64;
            p -= c.lr as f64 * mhat / denom;
        }
        p
    }

    #[test]
    fn adam_and_adamw_match_the_reference() -> Result<()> {
        for decoupled in [false, true] {
            let c = AdamConfig { lr: 0.01, weight_decay: 0.1, decoupled_weight_decay: decoupled, ..Default::default() };
            // 40_000 elements exercise the parallel path; each element i sees gradient g_i(t).
            let n = 40_000;
            let mut p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.001).sin()).collect();
            let p0 = p.clone();
            let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
            let grad_at = |i: usize, t: usize| ((i * 7 + t * 13) % 11) as f64 / 5.0 - 1.0;
            for t in 1..=5 {
                let g: Vec<f32> = (0..n).map(|i| grad_at(i, t) as f32).collect();
                adam_update(&mut p, &g, &mut m, &mut v, t as u64, &c)?;
            }
            for i in [0, 1, 777, n - 1] {
                let grads: Vec<f64> = (1..=5).map(|t| grad_at(i, t)).collect();
                let want = reference_adam(p0[i] as f64, &grads, &c);
                assert!((p[i] as f64 - want).abs() < 1e-5, "element {i}: {} vs {want}", p[i]);
            }
        }
        Ok(())
    }

    #[test]
    fn sgd_with_momentum_and_nesterov() -> Result<()> {
        // p = 1, g = 0.5 twice, lr 0.1, momentum 0.9:
        // step 1: buf = 0.5, p = 1 - 0.05 = 0.95; step 2: buf = 0.45 + 0.5 = 0.95, p = 0.855
        let c = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false };
        let (mut p, mut buf) = (vec![1.0f32], vec![0.0f32]);
        sgd_update(&mut p, &[0.5], &mut buf, &c, true)?;
        sgd_update(&mut p, &[0.5], &mut buf, &c, false)?;
        assert!((p[0] - 0.855).abs() < 1e-6);
        // Nesterov: step 1 d = 0.5 + 0.9 * 0.5 = 0.95, p = 0.905
        let c = SgdConfig { nesterov: true, ..c };
        let (mut p, mut buf) = (vec![1.0f32], vec![0.0f32]);
        sgd_update(&mut p, &[0.5], &mut buf, &c, true)?;
        assert!((p[0] - 0.905).abs() < 1e-6);
        // Plain SGD with weight decay: p -= 0.1 * (0.5 + 0.01 * 1)
        let c = SgdConfig { lr: 0.1, momentum: 0.0, dampening: 0.0, weight_decay: 0.01, nesterov: false };
        let mut p = vec![1.0f32];
        sgd_update(&mut p, &[0.5], &mut [], &c, true)?;
        assert!((p[0] - 0.949).abs() < 1e-6);
        let err = sgd_update(&mut p, &[0.5, 1.0], &mut [], &c, true).unwrap_err();
        assert_eq!(err.to_string(), "op `sgd_update`: shapes [1] and [2] are incompatible");
        assert!(adam_update(&mut p, &[0.5], &mut [0.0], &mut [0.0], 0, &AdamConfig::default()).is_err());
        Ok(())
    }
}
