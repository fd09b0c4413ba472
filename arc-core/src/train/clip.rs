//! Gradient clipping with PyTorch's semantics (`torch.nn.utils.clip_grad_norm_`
//! and `clip_grad_value_`), applied between the backward pass and the
//! optimizer step.
//!
//! ```
//! use arc_core::nn::Param;
//! use arc_core::train::clip_grad_norm;
//! use arc_core::Tensor;
//!
//! // grad = [3, 4]: total 2-norm 5 > 1, so it is scaled by 1 / (5 + 1e-6).
//! let w = Param::new(Tensor::from_vec(vec![0.0, 0.0], &[2])?)?;
//! w.value().mul(&Tensor::from_vec(vec![3.0, 4.0], &[2])?)?.sum_all()?.backward()?;
//! let total = clip_grad_norm(&[&w], 1.0, 2.0)?;
//! assert_eq!(total, 5.0);
//! let g = w.grad().unwrap().to_vec()?;
//! assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
//! # Ok::<(), arc_core::Error>(())
//! ```

use crate::nn::Param;
use crate::spec::GradientClip;
use crate::{Result, Tensor};

/// Applies `clip` to the gradients of `params` (those without a gradient
/// are skipped, as in PyTorch).
pub fn clip_gradients(clip: &GradientClip, params: &[&Param]) -> Result<()> {
    match *clip {
        GradientClip::Norm { max_norm, norm_type } => clip_grad_norm(params, max_norm, norm_type).map(|_| ()),
        GradientClip::Value { value } => clip_grad_value(params, value),
    }
}

/// Scales the gradients of `params` so that their joint `norm_type`-norm
/// is at most `max_norm`, and returns the norm before clipping.
///
/// As in PyTorch: `total = ‖(‖g₁‖_p, …, ‖gₙ‖_p)‖_p` (the largest |element|
/// for `p = ∞`), `coef = max_norm / (total + 1e-6)` in f32, and every
/// gradient is multiplied by `min(coef, 1)`. A NaN or infinite total
/// propagates into the gradients (PyTorch's `error_if_nonfinite=False`);
/// the trainer's non-finite loss check stops training before that matters.
pub fn clip_grad_norm(params: &[&Param], max_norm: f64, norm_type: f64) -> Result<f64> {
    let grads: Vec<(&Param, Tensor)> = params.iter().filter_map(|p| p.grad().map(|g| (*p, g))).collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    if grads.iter().any(|(_, g)| !g.device().is_cpu()) {
        return clip_grad_norm_on_device(&grads, max_norm, norm_type);
    }
    let mut norms = Vec::with_capacity(grads.len());
    for (_, g) in &grads {
        norms.push(vector_norm(g.to_vec()?.iter().map(|&x| f64::from(x)), norm_type));
    }
    // Each norm is an f32 tensor in PyTorch; round like it before combining.
    let total = vector_norm(norms.iter().map(|&n| f64::from(n as f32)), norm_type) as f32;
    let coef = (max_norm as f32 / (total + 1e-6)).min(1.0);
    for (param, g) in grads {
        let scaled = g.to_vec()?.into_iter().map(|x| x * coef).collect();
        replace_grad(param, Tensor::from_vec(scaled, g.shape())?);
    }
    Ok(f64::from(total))
}

/// [`clip_grad_norm`] where a gradient lives on a GPU: each norm and the total are computed
/// with tensor ops on the gradients' device, the total is the one scalar read back, and the
/// gradients are scaled there (they never visit the host).
fn clip_grad_norm_on_device(grads: &[(&Param, Tensor)], max_norm: f64, norm_type: f64) -> Result<f64> {
    let _no_grad = crate::tensor::no_grad();
    let p = norm_type as f32;
    let mut total: Option<Tensor> = None;
    for (_, g) in grads {
        // The per-gradient terms combine into the total: max for p = inf, else the sum of
        // norm^p (= the sum of |g|^p, all in f32 on the device).
        let term = if norm_type.is_infinite() {
            g.abs()?.flatten_all()?.max(&[0], false)?
        } else if norm_type == 2.0 {
            g.square()?.sum_all()?
        } else if norm_type == 1.0 {
            g.abs()?.sum_all()?
        } else {
            g.abs()?.powf(p)?.sum_all()?
        };
        total = Some(match total {
            None => term,
            Some(acc) if norm_type.is_infinite() => acc.maximum(&term)?,
            Some(acc) => acc.add(&term.to_device(acc.device())?)?,
        });
    }
    let Some(total) = total else { return Ok(0.0) };
    let total = if norm_type.is_infinite() || norm_type == 1.0 {
        total
    } else if norm_type == 2.0 {
        total.sqrt()?
    } else {
        total.powf(1.0 / p)?
    };
    let total = total.item()?;
    let coef = (max_norm as f32 / (total + 1e-6)).min(1.0);
    for (param, g) in grads {
        replace_grad(param, g.mul_scalar(coef)?);
    }
    Ok(f64::from(total))
}

/// Clamps every gradient element of `params` into `[-value, value]` (on the gradient's
/// device).
pub fn clip_grad_value(params: &[&Param], value: f64) -> Result<()> {
    let v = value as f32;
    for param in params {
        let Some(g) = param.grad() else { continue };
        if !g.device().is_cpu() {
            replace_grad(param, g.clamp(-v, v)?);
            continue;
        }
        let clamped = g.to_vec()?.into_iter().map(|x| x.clamp(-v, v)).collect();
        replace_grad(param, Tensor::from_vec(clamped, g.shape())?);
    }
    Ok(())
}

/// `‖x‖_p`: the largest |x| for `p = ∞`, `(Σ|x|^p)^(1/p)` otherwise.
fn vector_norm(values: impl Iterator<Item = f64>, p: f64) -> f64 {
    if p.is_infinite() {
        return values.fold(0.0, |m, x| m.max(x.abs()));
    }
    if p == 2.0 {
        return values.map(|x| x * x).sum::<f64>().sqrt();
    }
    if p == 1.0 {
        return values.map(f64::abs).sum();
    }
    values.map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p)
}

/// Puts `grad` in the parameter's gradient slot (PyTorch's in-place
/// `g.mul_(coef)`; the slot is shared by every clone of the value).
fn replace_grad(param: &Param, grad: Tensor) {
    let value = param.value();
    *value.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = Some(grad);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_with_grad(grad: &[f32]) -> Result<Param> {
        let p = Param::new(Tensor::zeros(&[grad.len()]))?;
        p.value().mul(&Tensor::from_vec(grad.to_vec(), &[grad.len()])?)?.sum_all()?.backward()?;
        Ok(p)
    }

    #[test]
    fn a_norm_under_max_norm_leaves_the_gradients_unchanged() -> Result<()> {
        // ‖[0.3, 0.4]‖₂ = 0.5 ≤ 1: coef clamps to 1.
        let p = param_with_grad(&[0.3, 0.4])?;
        assert!((clip_grad_norm(&[&p], 1.0, 2.0)? - 0.5).abs() < 1e-7);
        assert_eq!(p.grad().unwrap().to_vec()?, [0.3, 0.4]);
        Ok(())
    }

    #[test]
    fn inf_norm_is_the_largest_element_over_all_params() -> Result<()> {
        // max |g| = 4 over both params; coef = 2 / (4 + 1e-6).
        let (a, b) = (param_with_grad(&[1.0, -4.0])?, param_with_grad(&[2.0])?);
        assert_eq!(clip_grad_norm(&[&a, &b], 2.0, f64::INFINITY)?, 4.0);
        let coef = 2.0f32 / (4.0 + 1e-6);
        assert_eq!(a.grad().unwrap().to_vec()?, [coef, -4.0 * coef]);
        assert_eq!(b.grad().unwrap().to_vec()?, [2.0 * coef]);
        Ok(())
    }

    /// The tensor-op path (what GPU gradients take), run on the CPU, against the host path.
    #[test]
    fn the_device_path_matches_the_host_path() -> Result<()> {
        let grads: [&[f32]; 2] = [&[3.0, -4.0, 0.5, 2.0], &[1.5, -0.25]];
        for norm_type in [2.0, 1.0, 3.0, f64::INFINITY] {
            for max_norm in [0.5, 100.0] {
                let host: Vec<Param> = grads.iter().map(|g| param_with_grad(g)).collect::<Result<_>>()?;
                let dev: Vec<Param> = grads.iter().map(|g| param_with_grad(g)).collect::<Result<_>>()?;
                let want = clip_grad_norm(&host.iter().collect::<Vec<_>>(), max_norm, norm_type)?;
                let pairs: Vec<(&Param, Tensor)> = dev.iter().map(|p| (p, p.grad().expect("a gradient"))).collect();
                let got = clip_grad_norm_on_device(&pairs, max_norm, norm_type)?;
                assert!((want - got).abs() <= 1e-5 * want, "p = {norm_type}: {want} vs {got}");
                for (a, b) in host.iter().zip(&dev) {
                    let (ga, gb) = (a.grad().expect("clipped").to_vec()?, b.grad().expect("clipped").to_vec()?);
                    for (x, y) in ga.iter().zip(&gb) {
                        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "p = {norm_type}: {ga:?} vs {gb:?}");
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn clip_by_value_clamps_each_element_and_skips_params_without_grad() -> Result<()> {
        let p = param_with_grad(&[-2.0, 0.25, 3.0])?;
        let none = Param::new(Tensor::zeros(&[1]))?;
        clip_grad_value(&[&p, &none], 0.5)?;
        assert_eq!(p.grad().unwrap().to_vec()?, [-0.5, 0.25, 0.5]);
        assert!(none.grad().is_none());
        Ok(())
    }
}
