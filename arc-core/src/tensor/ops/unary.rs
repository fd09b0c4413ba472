//! Unary elementwise math: neg, powf, sqrt, exp, log, abs, clamp (and square, recip).

use super::super::Tensor;
use super::super::autograd::{record, record_with_output};
use super::super::storage::map_f32;
use super::map2;
use crate::{Error, Result};

impl Tensor {
    /// `f` applied to every element (no autograd); the result is contiguous.
    /// On a GPU the CUDA kernel `u_<kernel>` runs instead, with scalar parameters `p`.
    pub(crate) fn map1(
        &self,
        op: &'static str,
        kernel: &'static str,
        p: [f32; 2],
        f: impl Fn(f32) -> f32 + Sync,
    ) -> Result<Tensor> {
        if !self.device().is_cpu() {
            return super::super::cuda::unary(op, kernel, self, p);
        }
        let data = self.f32_data(op)?;
        Ok(Tensor::from_f32(map_f32(&data, f), self.shape()))
    }

    /// `-self`.
    pub fn neg(&self) -> Result<Tensor> {
        let out = self.map1("neg", "neg", [0.0; 2], |x| -x)?;
        Ok(record(out, "neg", &[self], |a| Ok(vec![Some(a.grad.neg()?)])))
    }

    /// `self^exponent` elementwise (`d/dx = p x^(p-1)`).
    pub fn powf(&self, exponent: f32) -> Result<Tensor> {
        let out = self.map1("powf", "powf", [exponent, 0.0], |x| x.powf(exponent))?;
        Ok(record(out, "powf", &[self], move |a| {
            let d = a.inputs[0].map1("powf", "powf_grad", [exponent, 0.0], |x| exponent * x.powf(exponent - 1.0))?;
            Ok(vec![Some(a.grad.mul(&d)?)])
        }))
    }

    /// `self * self` (`d/dx = 2x`).
    pub fn square(&self) -> Result<Tensor> {
        let out = self.map1("square", "square", [0.0; 2], |x| x * x)?;
        Ok(record(out, "square", &[self], |a| {
            Ok(vec![Some(map2("square", "square_grad", a.grad, &a.inputs[0], [0.0; 2], |g, x| 2.0 * g * x)?)])
        }))
    }

    /// `1 / self` (`d/dx = -1/x^2`).
    pub fn recip(&self) -> Result<Tensor> {
        let out = self.map1("recip", "recip", [0.0; 2], |x| 1.0 / x)?;
        Ok(record_with_output(out, "recip", &[self], |a| {
            Ok(vec![Some(map2("recip", "recip_grad", a.grad, a.output(), [0.0; 2], |g, y| -g * y * y)?)])
        }))
    }

    /// Square root (`d/dx = 1 / (2 sqrt x)`).
    pub fn sqrt(&self) -> Result<Tensor> {
        let out = self.map1("sqrt", "sqrt", [0.0; 2], f32::sqrt)?;
        Ok(record_with_output(out, "sqrt", &[self], |a| {
            Ok(vec![Some(map2("sqrt", "sqrt_grad", a.grad, a.output(), [0.0; 2], |g, y| 0.5 * g / y)?)])
        }))
    }

    /// `e^x` (`d/dx = e^x`).
    pub fn exp(&self) -> Result<Tensor> {
        let out = self.map1("exp", "exp", [0.0; 2], f32::exp)?;
        Ok(record_with_output(out, "exp", &[self], |a| Ok(vec![Some(a.grad.mul(a.output())?)])))
    }

    /// Natural logarithm (`d/dx = 1/x`).
    pub fn log(&self) -> Result<Tensor> {
        let out = self.map1("log", "log", [0.0; 2], f32::ln)?;
        Ok(record(out, "log", &[self], |a| Ok(vec![Some(a.grad.div(&a.inputs[0])?)])))
    }

    /// Absolute value (`d/dx = sign x`, 0 at 0 as in PyTorch).
    pub fn abs(&self) -> Result<Tensor> {
        let out = self.map1("abs", "abs", [0.0; 2], f32::abs)?;
        Ok(record(out, "abs", &[self], |a| {
            let sign = |g: f32, x: f32| {
                if x > 0.0 {
                    g
                } else if x < 0.0 {
                    -g
                } else {
                    0.0
                }
            };
            Ok(vec![Some(map2("abs", "abs_grad", a.grad, &a.inputs[0], [0.0; 2], sign)?)])
        }))
    }

    /// Clamps into `[min, max]`; the gradient passes where `min <= x <= max` (PyTorch).
    /// Errors when `min > max` or either bound is NaN.
    pub fn clamp(&self, min: f32, max: f32) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(Error::InvalidArgument {
                op: "clamp",
                name: "min",
                value: format!("{min} (max {max})"),
                expected: "min <= max",
            });
        }
        let out = self.map1("clamp", "clamp", [min, max], move |x| x.clamp(min, max))?;
        Ok(record(out, "clamp", &[self], move |a| {
            let pass = move |g: f32, x: f32| if x >= min && x <= max { g } else { 0.0 };
            Ok(vec![Some(map2("clamp", "clamp_grad", a.grad, &a.inputs[0], [min, max], pass)?)])
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::Result;
    use crate::tensor::{Rng, Tensor, gradcheck};

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn values() -> Result<()> {
        let x = Tensor::from_vec(vec![0.25, 1.0, 4.0], &[3])?;
        assert_eq!(x.sqrt()?.to_vec()?, vec![0.5, 1.0, 2.0]);
        assert_eq!(x.powf(2.0)?.to_vec()?, vec![0.0625, 1.0, 16.0]);
        assert_eq!(x.square()?.to_vec()?, vec![0.0625, 1.0, 16.0]);
        assert_eq!(x.recip()?.to_vec()?, vec![4.0, 1.0, 0.25]);
        assert_eq!(x.neg()?.to_vec()?, vec![-0.25, -1.0, -4.0]);
        assert!(close(&x.log()?.to_vec()?, &[-1.386_294_4, 0.0, 1.386_294_4], 1e-6));
        assert!(close(&x.log()?.exp()?.to_vec()?, &[0.25, 1.0, 4.0], 1e-6));
        let y = Tensor::from_vec(vec![-2.0, 0.0, 3.0], &[3])?;
        assert_eq!(y.abs()?.to_vec()?, vec![2.0, 0.0, 3.0]);
        assert_eq!(y.clamp(-1.0, 1.0)?.to_vec()?, vec![-1.0, 0.0, 1.0]);
        let err = y.clamp(1.0, -1.0).unwrap_err();
        assert_eq!(err.to_string(), "op `clamp`: argument `min` = 1 (max -1) is invalid: expected min <= max");
        Ok(())
    }

    #[test]
    fn gradcheck_unary_ops() -> Result<()> {
        let x = Tensor::randn(&[3, 4], &mut Rng::new(0));
        // Positive inputs for sqrt, log, powf with a fractional exponent.
        let p = x.abs()?.add_scalar(0.5)?;
        gradcheck(|t| t[0].neg(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].exp(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].square(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].abs(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].clamp(-0.5, 0.5), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].sqrt(), &[&p], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].log(), &[&p], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].recip(), &[&p], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].powf(1.5), &[&p], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].powf(3.0), &[&x], 1e-3, 1e-2)?;
        Ok(())
    }
}
