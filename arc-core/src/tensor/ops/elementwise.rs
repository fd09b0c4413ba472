//! Binary elementwise ops with NumPy broadcasting, and their scalar forms.
//!
//! Gradients of a broadcast input are summed over the broadcast dimensions
//! ([`sum_to_shape`]), so `d/db sum(a + b)` for `a: [4, 3]`, `b: [3]` has shape `[3]`.

use ndarray::{ArrayD, IxDyn, Zip};

use super::super::Tensor;
use super::super::autograd::{BackwardArgs, record};
use super::super::shape::broadcast_shapes;
use super::super::storage::{should_par, view_f32, zip_map_f32};
use crate::{Error, Result};

/// `f(a, b)` elementwise over the broadcast of the two shapes (no autograd).
///
/// On a GPU (either input there) the CUDA kernel `b_<kernel>` runs instead, with scalar
/// parameters `p`; both inputs must then be on the same GPU.
pub(crate) fn map2(
    op: &'static str,
    kernel: &'static str,
    a: &Tensor,
    b: &Tensor,
    p: [f32; 2],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Result<Tensor> {
    if !a.device().is_cpu() || !b.device().is_cpu() {
        if a.device().is_cpu() {
            return Err(Error::DeviceMismatch { op, expected: b.device().to_string(), got: a.device() });
        }
        return super::super::cuda::binary(op, kernel, a, b, p);
    }
    let (ad, al) = a.cpu_f32(op)?;
    let (bd, bl) = b.cpu_f32(op)?;
    if al.shape == bl.shape && al.is_contiguous() && bl.is_contiguous() {
        let n = al.numel();
        let out = zip_map_f32(&ad[al.offset..al.offset + n], &bd[bl.offset..bl.offset + n], f);
        return Ok(Tensor::from_f32(out, &al.shape));
    }
    let shape = broadcast_shapes(op, &al.shape, &bl.shape)?;
    let n: usize = shape.iter().product();
    // Fast path for a contiguous operand broadcast along leading dims only (a bias row):
    // the output is a sequence of rows, each zipped with the whole smaller operand.
    if al.is_contiguous() && bl.is_contiguous() && n > 0 {
        let (an, bn) = (al.numel(), bl.numel());
        let (a_s, b_s) = (&ad[al.offset..al.offset + an], &bd[bl.offset..bl.offset + bn]);
        if an == n && is_trailing(&bl.shape, &shape) {
            let mut out = Vec::with_capacity(n);
            for row in a_s.chunks_exact(bn) {
                out.extend(row.iter().zip(b_s).map(|(&x, &y)| f(x, y)));
            }
            return Ok(Tensor::from_f32(out, &shape));
        }
        if bn == n && is_trailing(&al.shape, &shape) {
            let mut out = Vec::with_capacity(n);
            for row in b_s.chunks_exact(an) {
                out.extend(a_s.iter().zip(row).map(|(&x, &y)| f(x, y)));
            }
            return Ok(Tensor::from_f32(out, &shape));
        }
    }
    let target = IxDyn(&shape);
    let av = view_f32(ad, al);
    let bv = view_f32(bd, bl);
    // Both broadcasts succeed: `shape` is the broadcast of the two shapes.
    let av = av.broadcast(target.clone()).expect("broadcast_shapes validated lhs");
    let bv = bv.broadcast(target.clone()).expect("broadcast_shapes validated rhs");
    let mut out = ArrayD::<f32>::zeros(target);
    let zip = Zip::from(&mut out).and(&av).and(&bv);
    if should_par(n) {
        zip.par_for_each(|o, &x, &y| *o = f(x, y));
    } else {
        zip.for_each(|o, &x, &y| *o = f(x, y));
    }
    let (data, _) = out.into_raw_vec_and_offset();
    Ok(Tensor::from_f32(data, &shape))
}

/// Whether `small` equals the trailing dims of `full` after dropping its leading 1s.
fn is_trailing(small: &[usize], full: &[usize]) -> bool {
    let lead = small.iter().take_while(|&&d| d == 1).count();
    let s = &small[lead..];
    s.len() <= full.len() && &full[full.len() - s.len()..] == s
}

/// Sums `grad` over the dimensions along which a tensor of `shape` was broadcast.
pub(crate) fn sum_to_shape(grad: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if grad.shape() == shape {
        return Ok(grad.clone());
    }
    let lead = grad.rank() - shape.len();
    let dims: Vec<isize> = (0..grad.rank())
        .filter(|&d| d < lead || (shape[d - lead] == 1 && grad.shape()[d] != 1))
        .map(|d| d as isize)
        .collect();
    grad.sum(&dims, true)?.reshape(shape)
}

/// The gradient for input `i`, reduced to its shape, when it needs one.
pub(super) fn grad_for(
    args: &BackwardArgs<'_>,
    i: usize,
    f: impl FnOnce() -> Result<Tensor>,
) -> Result<Option<Tensor>> {
    if !args.needs[i] {
        return Ok(None);
    }
    Ok(Some(sum_to_shape(&f()?, args.inputs[i].shape())?))
}

impl Tensor {
    /// `self + rhs`, broadcasting.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![10.0, 20.0], &[2])?;
    /// assert_eq!(a.add(&b)?.to_vec()?, vec![11.0, 22.0, 13.0, 24.0]);
    /// # Ok(()) }
    /// ```
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("add", "add", self, rhs, [0.0; 2], |x, y| x + y)?;
        Ok(record(out, "add", &[self, rhs], |a| {
            Ok(vec![grad_for(a, 0, || Ok(a.grad.clone()))?, grad_for(a, 1, || Ok(a.grad.clone()))?])
        }))
    }

    /// `self - rhs`, broadcasting.
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("sub", "sub", self, rhs, [0.0; 2], |x, y| x - y)?;
        Ok(record(out, "sub", &[self, rhs], |a| {
            Ok(vec![grad_for(a, 0, || Ok(a.grad.clone()))?, grad_for(a, 1, || a.grad.neg())?])
        }))
    }

    /// `self * rhs` elementwise, broadcasting.
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("mul", "mul", self, rhs, [0.0; 2], |x, y| x * y)?;
        Ok(record(out, "mul", &[self, rhs], |a| {
            let (x, y) = (&a.inputs[0], &a.inputs[1]);
            Ok(vec![grad_for(a, 0, || a.grad.mul(y))?, grad_for(a, 1, || a.grad.mul(x))?])
        }))
    }

    /// `self / rhs` elementwise, broadcasting.
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("div", "div", self, rhs, [0.0; 2], |x, y| x / y)?;
        Ok(record(out, "div", &[self, rhs], |a| {
            let (x, y) = (&a.inputs[0], &a.inputs[1]);
            // d(x/y)/dx = 1/y; d(x/y)/dy = -x/y^2
            Ok(vec![
                grad_for(a, 0, || a.grad.div(y))?,
                grad_for(a, 1, || a.grad.mul(&map2("div", "div_grad_rhs", x, y, [0.0; 2], |x, y| -x / (y * y))?))?,
            ])
        }))
    }

    /// Elementwise maximum, broadcasting; on ties each input gets half the gradient (PyTorch).
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("maximum", "maximum", self, rhs, [0.0; 2], |x, y| if x >= y { x } else { y })?;
        Ok(record(out, "maximum", &[self, rhs], |a| {
            let share = map2("maximum", "maximum_share", &a.inputs[0], &a.inputs[1], [0.0; 2], tie_share)?;
            Ok(vec![grad_for(a, 0, || a.grad.mul(&share))?, grad_for(a, 1, || a.grad.mul(&share.affine(-1.0, 1.0)?))?])
        }))
    }

    /// Elementwise minimum, broadcasting; on ties each input gets half the gradient.
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> {
        let out = map2("minimum", "minimum", self, rhs, [0.0; 2], |x, y| if x <= y { x } else { y })?;
        Ok(record(out, "minimum", &[self, rhs], |a| {
            let share = map2("minimum", "minimum_share", &a.inputs[0], &a.inputs[1], [0.0; 2], |x, y| tie_share(y, x))?;
            Ok(vec![grad_for(a, 0, || a.grad.mul(&share))?, grad_for(a, 1, || a.grad.mul(&share.affine(-1.0, 1.0)?))?])
        }))
    }

    /// `self * mul + add` with scalars.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor> {
        let out = self.map1("affine", "affine", [mul, add], move |x| x * mul + add)?;
        Ok(record(out, "affine", &[self], move |a| Ok(vec![Some(a.grad.affine(mul, 0.0)?)])))
    }

    /// `self + value`.
    pub fn add_scalar(&self, value: f32) -> Result<Tensor> {
        self.affine(1.0, value)
    }

    /// `self - value`.
    pub fn sub_scalar(&self, value: f32) -> Result<Tensor> {
        self.affine(1.0, -value)
    }

    /// `self * value`.
    pub fn mul_scalar(&self, value: f32) -> Result<Tensor> {
        self.affine(value, 0.0)
    }

    /// `self / value`.
    pub fn div_scalar(&self, value: f32) -> Result<Tensor> {
        self.affine(1.0 / value, 0.0)
    }
}

/// Share of the gradient of `max(x, y)` that goes to `x`: 1, 0, or 1/2 on a tie.
fn tie_share(x: f32, y: f32) -> f32 {
    if x > y {
        1.0
    } else if x == y {
        0.5
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        Tensor::randn(shape, &mut Rng::new(seed))
    }

    #[test]
    fn values_of_each_binary_op() -> Result<()> {
        let a = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3])?;
        let b = Tensor::from_vec(vec![2.0, 4.0, -1.0], &[3])?;
        assert_eq!(a.sub(&b)?.to_vec()?, vec![-1.0, -6.0, 4.0]);
        assert_eq!(a.mul(&b)?.to_vec()?, vec![2.0, -8.0, -3.0]);
        assert_eq!(a.div(&b)?.to_vec()?, vec![0.5, -0.5, -3.0]);
        assert_eq!(a.maximum(&b)?.to_vec()?, vec![2.0, 4.0, 3.0]);
        assert_eq!(a.minimum(&b)?.to_vec()?, vec![1.0, -2.0, -1.0]);
        assert_eq!(a.affine(2.0, 1.0)?.to_vec()?, vec![3.0, -3.0, 7.0]);
        assert_eq!(a.div_scalar(2.0)?.to_vec()?, vec![0.5, -1.0, 1.5]);
        assert_eq!(a.sub_scalar(1.0)?.add_scalar(0.5)?.to_vec()?, vec![0.5, -2.5, 2.5]);
        Ok(())
    }

    #[test]
    fn broadcasting_both_sides_and_through_views() -> Result<()> {
        // [2,1] + [3] -> [2,3]: out[i][j] = a[i] + b[j]
        let a = Tensor::from_vec(vec![10.0, 20.0], &[2, 1])?;
        let b = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?;
        assert_eq!(a.add(&b)?.to_vec()?, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
        assert_eq!(b.sub(&a)?.to_vec()?, vec![-9.0, -8.0, -7.0, -19.0, -18.0, -17.0]);
        // A transposed view on one side: [[1,3],[2,4]] * [[1,1],[2,2]]
        let m = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?.t()?;
        let n = Tensor::from_vec(vec![1.0, 1.0, 2.0, 2.0], &[2, 2])?;
        assert_eq!(m.mul(&n)?.to_vec()?, vec![1.0, 3.0, 4.0, 8.0]);
        Ok(())
    }

    #[test]
    fn mismatched_shapes_name_both() {
        let err = Tensor::zeros(&[2, 3]).mul(&Tensor::zeros(&[2])).unwrap_err();
        assert_eq!(err.to_string(), "op `mul`: shapes [2, 3] and [2] are incompatible");
        let i = Tensor::full_i64(&[2], 1);
        assert!(matches!(Tensor::zeros(&[2]).add(&i), Err(Error::DTypeMismatch { op: "add", .. })));
    }

    #[test]
    fn gradcheck_binary_ops_with_broadcasting() -> Result<()> {
        // Gradients checked against central differences (eps 1e-3, tolerance 1e-2 relative).
        let shapes: [(&[usize], &[usize]); 3] = [(&[3, 4], &[3, 4]), (&[2, 3, 4], &[4]), (&[3, 1], &[1, 4])];
        for (i, (sa, sb)) in shapes.iter().enumerate() {
            let a = randn(sa, i as u64);
            // Keep divisors away from 0 and max/min inputs away from ties.
            let b = randn(sb, 10 + i as u64).affine(0.5, 2.0)?;
            gradcheck(|x| x[0].add(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
            gradcheck(|x| x[0].sub(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
            gradcheck(|x| x[0].mul(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
            gradcheck(|x| x[0].div(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
            gradcheck(|x| x[0].maximum(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
            gradcheck(|x| x[0].minimum(&x[1]), &[&a, &b], 1e-3, 1e-2)?;
        }
        let a = randn(&[3, 2], 5);
        gradcheck(|x| x[0].affine(-1.5, 2.0), &[&a], 1e-3, 1e-2)?;
        Ok(())
    }

    #[test]
    fn ties_split_the_gradient() -> Result<()> {
        // max(x, y) at x == y: each side gets 1/2 (PyTorch's convention)
        let x = Tensor::from_vec(vec![1.0], &[1])?.requires_grad_()?;
        let y = Tensor::from_vec(vec![1.0], &[1])?.requires_grad_()?;
        x.maximum(&y)?.sum_all()?.backward()?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![0.5]));
        assert_eq!(y.grad().map(|g| g.to_vec()).transpose()?, Some(vec![0.5]));
        Ok(())
    }
}
