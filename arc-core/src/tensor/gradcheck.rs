//! Finite-difference gradient checking for ops and plugin layers.

use super::Tensor;
use super::autograd::no_grad;
use super::device::DType;
use super::rng::Rng;
use crate::{Error, Result};

/// Checks the gradients `backward` computes for `f` against central differences.
///
/// Every f32 input becomes a fresh leaf that requires grad (i64 inputs, such as indices, are
/// passed through unchanged). The output `y = f(inputs)` is reduced to the scalar
/// `L = sum(y * r)` with a fixed random `r`, so every output element is checked at once.
/// For each input element `x_j`, the numeric derivative is `(L(x_j + eps) - L(x_j - eps)) /
/// (2 eps)`, accumulated in f64; it must agree with the analytic one within
/// `tol * (1 + |numeric|)`. With f32 data, `eps = 1e-3` and `tol = 1e-2` suit O(1) inputs.
/// `f` must be deterministic (reseed any RNG inside it).
///
/// ```
/// use arc_core::{tensor::{gradcheck, Rng}, Tensor};
/// # fn main() -> arc_core::Result<()> {
/// let x = Tensor::randn(&[3, 4], &mut Rng::new(0));
/// gradcheck(|t| t[0].tanh()?.mul(&t[0]), &[&x], 1e-3, 1e-2)?;
/// # Ok(()) }
/// ```
pub fn gradcheck<F>(f: F, inputs: &[&Tensor], eps: f32, tol: f32) -> Result<()>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|t| match t.dtype() {
            DType::F32 => Tensor::from_vec(t.to_vec()?, t.shape())?.requires_grad_(),
            DType::I64 => Ok((*t).clone()),
        })
        .collect::<Result<_>>()?;
    let y = f(&leaves)?;
    let r = Tensor::randn(y.shape(), &mut Rng::new(0x6A7D_C4EC));
    let rv: Vec<f64> = r.to_vec()?.into_iter().map(f64::from).collect();
    y.mul(&r)?.sum_all()?.backward()?;

    let loss = |xs: &[Tensor]| -> Result<f64> {
        let _guard = no_grad();
        let y = f(xs)?;
        Ok(y.to_vec()?.iter().zip(&rv).map(|(&a, &b)| a as f64 * b).sum())
    };
    for (i, leaf) in leaves.iter().enumerate() {
        if leaf.dtype() != DType::F32 {
            continue;
        }
        let analytic = match leaf.grad() {
            Some(g) => g.to_vec()?,
            None => vec![0.0; leaf.numel()],
        };
        let base = leaf.to_vec()?;
        for j in 0..base.len() {
            let at = |delta: f32| -> Result<f64> {
                let mut data = base.clone();
                data[j] += delta;
                let mut xs = leaves.clone();
                xs[i] = Tensor::from_vec(data, leaf.shape())?;
                loss(&xs)
            };
            let (plus, minus) = (at(eps)?, at(-eps)?);
            let numeric = (plus - minus) / (2.0 * eps as f64);
            let a = analytic[j] as f64;
            // NaN on either side fails too.
            let agrees = (a - numeric).abs() <= tol as f64 * (1.0 + numeric.abs());
            if !agrees {
                return Err(Error::GradcheckFailed { input: i, index: j, analytic: a, numeric, tol: tol as f64 });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradcheck_catches_a_wrong_backward() -> Result<()> {
        use super::super::autograd::record;
        // A deliberately wrong op: forward x^2, backward claims 3x.
        let wrong = |t: &[Tensor]| -> Result<Tensor> {
            let out = t[0].detach().square()?;
            Ok(record(out, "wrong_square", &[&t[0]], |a| Ok(vec![Some(a.grad.mul(&a.inputs[0].mul_scalar(3.0)?)?)])))
        };
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2])?;
        let err = gradcheck(wrong, &[&x], 1e-3, 1e-2).unwrap_err();
        assert!(matches!(err, Error::GradcheckFailed { input: 0, index: 0, .. }), "{err}");
        assert!(err.to_string().starts_with("gradcheck: input 0, element 0: analytic"));
        gradcheck(|t| t[0].square(), &[&x], 1e-3, 1e-2)
    }
}
