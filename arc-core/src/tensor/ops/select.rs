//! Selection: `where_cond`, `masked_fill`, and seeded dropout.

use ndarray::{ArrayD, IxDyn, Zip};

use super::super::Tensor;
use super::super::autograd::record;
use super::super::rng::Rng;
use super::super::shape::broadcast_shapes;
use super::super::storage::view_f32;
use super::sum_to_shape;
use crate::{Error, Result};

/// `cond != 0 ? a : b` over the broadcast of three f32 tensors (no autograd).
fn select3(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = "where_cond";
    if !cond.device().is_cpu() || !a.device().is_cpu() || !b.device().is_cpu() {
        return super::super::cuda::where_cond(cond, a, b);
    }
    let shape = broadcast_shapes(op, cond.shape(), a.shape())?;
    let shape = broadcast_shapes(op, &shape, b.shape())?;
    let (cd, cl) = cond.cpu_f32(op)?;
    let (ad, al) = a.cpu_f32(op)?;
    let (bd, bl) = b.cpu_f32(op)?;
    let target = IxDyn(&shape);
    let bc = |d, l| view_f32(d, l).broadcast(target.clone()).map(|v| v.to_owned());
    let (cv, av, bv) = match (bc(cd, cl), bc(ad, al), bc(bd, bl)) {
        (Some(c), Some(a), Some(b)) => (c, a, b),
        _ => unreachable!("the three shapes broadcast to `shape` (checked above)"),
    };
    let mut out = ArrayD::<f32>::zeros(target);
    Zip::from(&mut out).and(&cv).and(&av).and(&bv).for_each(|o, &c, &x, &y| *o = if c != 0.0 { x } else { y });
    Ok(Tensor::from_ndarray_owned(out))
}

impl Tensor {
    /// Elementwise `cond ? on_true : on_false` (PyTorch's `torch.where`); `cond` is an f32
    /// mask (non-zero = true, as the comparison ops return) or i64; all three broadcast.
    /// Gradients flow to the branch that was selected.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let x = Tensor::from_vec(vec![-1.0, 2.0, -3.0], &[3])?;
    /// let y = Tensor::where_cond(&x.gt(&Tensor::scalar(0.0))?, &x, &Tensor::scalar(0.0))?;
    /// assert_eq!(y.to_vec()?, vec![0.0, 2.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn where_cond(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        let cond = cond.to_f32()?;
        let out = select3(&cond, on_true, on_false)?;
        Ok(record(out, "where_cond", &[on_true, on_false], move |a| {
            let zero = Tensor::full_on(&[], 0.0, a.grad.device())?;
            let ga = if a.needs[0] {
                Some(sum_to_shape(&select3(&cond, a.grad, &zero)?, a.inputs[0].shape())?)
            } else {
                None
            };
            let gb = if a.needs[1] {
                Some(sum_to_shape(&select3(&cond, &zero, a.grad)?, a.inputs[1].shape())?)
            } else {
                None
            };
            Ok(vec![ga, gb])
        }))
    }

    /// `value` where `mask` is non-zero, `self` elsewhere; `mask` broadcasts to `self`'s shape.
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Result<Tensor> {
        let shape = broadcast_shapes("masked_fill", self.shape(), mask.shape())?;
        if &*shape != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "masked_fill",
                lhs: self.shape().to_vec(),
                rhs: mask.shape().to_vec(),
            });
        }
        Tensor::where_cond(mask, &Tensor::full_on(&[], value, self.device())?, self)
    }

    /// A dropout mask of `shape`: each element is `1 / (1 - p)` with probability `1 - p`,
    /// else 0 (all zeros when `p == 1`). Drawn in row-major order from `rng`.
    pub fn dropout_mask(shape: &[usize], p: f32, rng: &mut Rng) -> Result<Tensor> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidArgument {
                op: "dropout",
                name: "p",
                value: p.to_string(),
                expected: "a probability in [0, 1]",
            });
        }
        let keep = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
        let n: usize = shape.iter().product();
        Ok(Tensor::from_f32((0..n).map(|_| if rng.uniform() >= p { keep } else { 0.0 }).collect(), shape))
    }

    /// Inverted dropout (training mode): zeroes each element with probability `p` and scales
    /// the rest by `1 / (1 - p)`; the gradient goes through the same mask. `p = 0` returns
    /// `self` unchanged and draws nothing. On a GPU the mask is drawn on the host from the
    /// same `rng` stream and uploaded, so CPU and CUDA runs with one seed drop the same
    /// elements.
    ///
    /// ```
    /// use arc_core::{tensor::Rng, Tensor};
    /// # fn main() -> arc_core::Result<()> {
    /// let y = Tensor::ones(&[1000]).dropout(0.5, &mut Rng::new(0))?.to_vec()?;
    /// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    /// # Ok(()) }
    /// ```
    pub fn dropout(&self, p: f32, rng: &mut Rng) -> Result<Tensor> {
        let mask = Tensor::dropout_mask(self.shape(), p, rng)?;
        if p == 0.0 {
            return Ok(self.clone());
        }
        self.mul(&mask.to_device(self.device())?)
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    #[test]
    fn where_and_masked_fill_values() -> Result<()> {
        let c = Tensor::from_vec(vec![1.0, 0.0], &[2, 1])?;
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?;
        let out = Tensor::where_cond(&c, &a, &Tensor::scalar(-1.0))?;
        assert_eq!(out.to_vec()?, vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
        let ci = Tensor::from_vec_i64(vec![0, 1, 0], &[3])?;
        assert_eq!(Tensor::where_cond(&ci, &a, &a.neg()?)?.to_vec()?, vec![-1.0, 2.0, -3.0]);
        let m = Tensor::from_vec(vec![0.0, 1.0, 1.0], &[3])?;
        assert_eq!(a.masked_fill(&m, f32::NEG_INFINITY)?.to_vec()?, vec![1.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        let err = a.masked_fill(&Tensor::zeros(&[2, 3]), 0.0).unwrap_err();
        assert_eq!(err.to_string(), "op `masked_fill`: shapes [3] and [2, 3] are incompatible");
        Ok(())
    }

    #[test]
    fn dropout_is_seeded_and_scaled() -> Result<()> {
        let x = Tensor::ones(&[10_000]);
        let a = x.dropout(0.3, &mut Rng::new(5))?.to_vec()?;
        assert_eq!(a, x.dropout(0.3, &mut Rng::new(5))?.to_vec()?);
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        // Binomial(10000, 0.7): mean 7000, sd ~46
        assert!((6800..7200).contains(&kept), "{kept}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        assert_eq!(x.dropout(1.0, &mut Rng::new(0))?.sum_all()?.item()?, 0.0);
        assert!(matches!(x.dropout(1.5, &mut Rng::new(0)), Err(Error::InvalidArgument { op: "dropout", .. })));
        Ok(())
    }

    #[test]
    fn gradcheck_selection() -> Result<()> {
        let c = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], &[2, 3])?;
        let a = Tensor::randn(&[2, 3], &mut Rng::new(0));
        let b = Tensor::randn(&[3], &mut Rng::new(1));
        gradcheck(|t| Tensor::where_cond(&c, &t[0], &t[1]), &[&a, &b], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].masked_fill(&c, 0.5), &[&a], 1e-3, 1e-2)?;
        // The same seed gives the same mask on every evaluation.
        gradcheck(|t| t[0].dropout(0.5, &mut Rng::new(9)), &[&a], 1e-3, 1e-2)?;
        Ok(())
    }
}
