//! Ops without gradients: comparisons, `argmax` / `argmin`, `one_hot`, dtype conversion.
//!
//! Their outputs never require grad: comparisons and argmax are piecewise constant (their
//! derivative is zero almost everywhere) and `one_hot` reads integer labels. Comparisons
//! return an f32 mask of 0.0 / 1.0, which `where_cond`, `masked_fill` and `mul` accept.

use ndarray::{ArrayD, IxDyn, Zip};

use super::super::Tensor;
use super::super::device::DType;
use super::super::shape::{broadcast_shapes, normalize_dim};
use super::super::storage::view_f32;
use crate::{Error, Result};

fn compare_views<T: Copy>(
    op: &'static str,
    a: (&[T], &super::super::shape::Layout),
    b: (&[T], &super::super::shape::Layout),
    f: impl Fn(T, T) -> bool,
) -> Result<Tensor> {
    let shape = broadcast_shapes(op, &a.1.shape, &b.1.shape)?;
    let target = IxDyn(&shape);
    let av = view_f32(a.0, a.1);
    let bv = view_f32(b.0, b.1);
    let (Some(av), Some(bv)) = (av.broadcast(target.clone()), bv.broadcast(target.clone())) else {
        unreachable!("both shapes broadcast to `shape` (checked above)")
    };
    let mut out = ArrayD::<f32>::zeros(target);
    Zip::from(&mut out).and(&av).and(&bv).for_each(|o, &x, &y| *o = if f(x, y) { 1.0 } else { 0.0 });
    Ok(Tensor::from_ndarray_owned(out))
}

macro_rules! comparison {
    ($(#[$doc:meta])* $name:ident, $op:tt) => {
        $(#[$doc])*
        pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
            let op = stringify!($name);
            if !self.device().is_cpu() || !rhs.device().is_cpu() {
                return super::super::cuda::compare(op, self, rhs);
            }
            match (self.dtype(), rhs.dtype()) {
                (DType::F32, DType::F32) => compare_views(op, self.cpu_f32(op)?, rhs.cpu_f32(op)?, |x, y| x $op y),
                (DType::I64, DType::I64) => compare_views(op, self.cpu_i64(op)?, rhs.cpu_i64(op)?, |x, y| x $op y),
                (l, r) => Err(Error::DTypeMismatch { op, expected: l, got: r }),
            }
        }
    };
}

impl Tensor {
    comparison!(
        /// `1.0` where `self == rhs`, else `0.0` (broadcasting; both f32 or both i64).
        ///
        /// ```
        /// use arc_core::Tensor;
        /// # fn main() -> arc_core::Result<()> {
        /// let pred = Tensor::from_vec_i64(vec![1, 2, 3], &[3])?;
        /// let target = Tensor::from_vec_i64(vec![1, 0, 3], &[3])?;
        /// assert_eq!(pred.eq(&target)?.mean_all()?.item()?, 2.0 / 3.0); // accuracy
        /// # Ok(()) }
        /// ```
        eq, ==);
    comparison!(
        /// `1.0` where `self != rhs`, else `0.0`.
        ne, !=);
    comparison!(
        /// `1.0` where `self < rhs`, else `0.0`.
        lt, <);
    comparison!(
        /// `1.0` where `self > rhs`, else `0.0`.
        gt, >);
    comparison!(
        /// `1.0` where `self <= rhs`, else `0.0`.
        le, <=);
    comparison!(
        /// `1.0` where `self >= rhs`, else `0.0`.
        ge, >=);

    /// Index of the largest value along `dim` (the first one on ties; NaN counts as largest),
    /// as i64.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmax", dim, keepdim, |v, best| v > best)
    }

    /// Index of the smallest value along `dim` (the first one on ties), as i64.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_extreme("argmin", dim, keepdim, |v, best| v < best)
    }

    fn arg_extreme(&self, op: &'static str, dim: isize, keepdim: bool, better: fn(f32, f32) -> bool) -> Result<Tensor> {
        let d = normalize_dim(op, dim, self.rank())?;
        let size = self.shape()[d];
        if size == 0 {
            return Err(Error::InvalidArgument {
                op,
                name: "dim",
                value: dim.to_string(),
                expected: "a non-empty dim",
            });
        }
        if !self.device().is_cpu() {
            let out = super::super::cuda::arg_extreme(op, self, d, op == "argmin")?;
            if keepdim {
                return Ok(out);
            }
            let mut squeezed = self.shape().to_vec();
            squeezed.remove(d);
            return out.reshape_raw(&squeezed);
        }
        let last = self.rank() - 1;
        let moved = if d == last { self.clone() } else { self.transpose_raw(d, last) };
        let data = moved.f32_data(op)?;
        let idx: Vec<i64> = data
            .chunks(size)
            .map(|row| {
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if row[best].is_nan() {
                        break;
                    }
                    if v.is_nan() || better(v, row[best]) {
                        best = i;
                    }
                }
                best as i64
            })
            .collect();
        // `moved` has `dim` last; its rows are in the order of the other dims with `d` and
        // `last` swapped, so build that shape and swap back.
        let mut shape = moved.shape().to_vec();
        shape[last] = 1;
        let out = Tensor::from_i64(idx, &shape);
        let out = if d == last { out } else { out.transpose_raw(d, last).contiguous_raw()? };
        if keepdim {
            return Ok(out);
        }
        let mut squeezed = self.shape().to_vec();
        squeezed.remove(d);
        out.reshape_raw(&squeezed)
    }

    /// One-hot encoding of i64 labels: shape `[..., num_classes]`, f32 0/1. Errors on a label
    /// outside `0..num_classes`.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let y = Tensor::from_vec_i64(vec![2, 0], &[2])?.one_hot(3)?;
    /// assert_eq!(y.to_vec()?, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn one_hot(&self, num_classes: usize) -> Result<Tensor> {
        if !self.device().is_cpu() {
            if self.dtype() != DType::I64 {
                return Err(Error::DTypeMismatch { op: "one_hot", expected: DType::I64, got: self.dtype() });
            }
            return super::super::cuda::one_hot(self, num_classes);
        }
        let labels = self.i64_data("one_hot")?;
        let mut out = vec![0.0f32; labels.len() * num_classes];
        for (row, &l) in out.chunks_exact_mut(num_classes.max(1)).zip(labels.iter()) {
            if l < 0 || l as u64 >= num_classes as u64 {
                return Err(Error::IndexOutOfRange { op: "one_hot", index: l, size: num_classes });
            }
            row[l as usize] = 1.0;
        }
        if num_classes == 0 && !labels.is_empty() {
            return Err(Error::IndexOutOfRange { op: "one_hot", index: labels[0], size: 0 });
        }
        let mut shape = self.shape().to_vec();
        shape.push(num_classes);
        Ok(Tensor::from_f32(out, &shape))
    }

    /// Converts to `dtype` (f32 -> i64 truncates toward zero, like PyTorch's `.long()`); no
    /// gradient flows through a conversion.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if !self.device().is_cpu() {
            return super::super::cuda::cast(self, dtype);
        }
        Ok(match (self.dtype(), dtype) {
            (DType::F32, DType::F32) | (DType::I64, DType::I64) => self.detach(),
            (DType::I64, DType::F32) => {
                Tensor::from_f32(self.i64_data("to_dtype")?.iter().map(|&v| v as f32).collect(), self.shape())
            }
            (DType::F32, DType::I64) => {
                Tensor::from_i64(self.f32_data("to_dtype")?.iter().map(|&v| v as i64).collect(), self.shape())
            }
        })
    }

    /// An f32 view or conversion (keeps autograd when already f32).
    pub(crate) fn to_f32(&self) -> Result<Tensor> {
        match self.dtype() {
            DType::F32 => Ok(self.clone()),
            DType::I64 => self.to_dtype(DType::F32),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{DType, Tensor};
    use crate::{Error, Result};

    #[test]
    fn comparisons_broadcast_and_accept_both_dtypes() -> Result<()> {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?;
        let two = Tensor::scalar(2.0);
        assert_eq!(a.lt(&two)?.to_vec()?, vec![1.0, 0.0, 0.0]);
        assert_eq!(a.le(&two)?.to_vec()?, vec![1.0, 1.0, 0.0]);
        assert_eq!(a.gt(&two)?.to_vec()?, vec![0.0, 0.0, 1.0]);
        assert_eq!(a.ge(&two)?.to_vec()?, vec![0.0, 1.0, 1.0]);
        assert_eq!(a.eq(&two)?.to_vec()?, vec![0.0, 1.0, 0.0]);
        assert_eq!(a.ne(&two)?.to_vec()?, vec![1.0, 0.0, 1.0]);
        let x = Tensor::ones(&[2]).requires_grad_()?;
        assert!(!x.gt(&two)?.requires_grad());
        let i = Tensor::from_vec_i64(vec![1, 5], &[2])?;
        assert!(matches!(a.eq(&i), Err(Error::DTypeMismatch { op: "eq", .. })));
        Ok(())
    }

    #[test]
    fn argmax_argmin_one_hot_and_conversion() -> Result<()> {
        let x = Tensor::from_vec(vec![1.0, 5.0, 5.0, 7.0, 0.0, -1.0], &[2, 3])?;
        assert_eq!(x.argmax(1, false)?.to_vec_i64()?, vec![1, 0]); // first of the tied 5s
        assert_eq!(x.argmax(0, false)?.to_vec_i64()?, vec![1, 0, 0]);
        assert_eq!(x.argmin(-1, true)?.shape(), &[2, 1]);
        assert_eq!(x.argmin(-1, true)?.to_vec_i64()?, vec![0, 2]);
        assert_eq!(x.argmax(0, true)?.dtype(), DType::I64);
        let y = Tensor::from_vec_i64(vec![0, 2, 1, 1], &[2, 2])?.one_hot(3)?;
        assert_eq!(y.shape(), &[2, 2, 3]);
        assert_eq!(y.sum(&[-1], false)?.to_vec()?, vec![1.0; 4]);
        let err = Tensor::from_vec_i64(vec![3], &[1])?.one_hot(3).unwrap_err();
        assert_eq!(err.to_string(), "op `one_hot`: index 3 is out of range for a dimension of size 3");
        assert_eq!(Tensor::from_vec(vec![-1.7, 2.9], &[2])?.to_dtype(DType::I64)?.to_vec_i64()?, vec![-1, 2]);
        assert!(Tensor::zeros(&[2]).one_hot(2).is_err());
        Ok(())
    }
}
