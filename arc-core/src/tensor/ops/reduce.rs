//! Reductions over dims, with `keepdim`: sum, mean, max (PyTorch's `amax`), var.
//!
//! One kernel serves all of them: when the reduced dims are a suffix the rows are reduced in
//! place, when they are a prefix the rows are accumulated column-wise, and otherwise the
//! tensor is permuted (one copy) so that the reduced dims come last. On a GPU the CUDA
//! kernels (`cuda/reduce.rs`) do the same; the backwards are composed from ops and so run
//! wherever their inputs are.

use rayon::prelude::*;

use super::super::Tensor;
use super::super::autograd::{no_grad, record};
use super::super::math;
use super::super::shape::normalize_dim;
use super::super::storage::should_par;
use crate::{Error, Result};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Max,
}

/// Which dims of a rank-`rank` tensor `dims` selects (empty `dims` selects all).
fn reduced_mask(op: &'static str, dims: &[isize], rank: usize) -> Result<Vec<bool>> {
    let mut mask = vec![dims.is_empty(); rank];
    for &d in dims {
        mask[normalize_dim(op, d, rank)?] = true;
    }
    Ok(mask)
}

/// The keepdim shape: reduced dims become 1.
fn keep_shape(shape: &[usize], mask: &[bool]) -> Vec<usize> {
    shape.iter().zip(mask).map(|(&s, &m)| if m { 1 } else { s }).collect()
}

/// The output shape with or without the reduced dims.
fn out_shape(shape: &[usize], mask: &[bool], keepdim: bool) -> Vec<usize> {
    if keepdim {
        return keep_shape(shape, mask);
    }
    shape.iter().zip(mask).filter(|(_, m)| !**m).map(|(&s, _)| s).collect()
}

/// The max of nothing is undefined: an error when a reduced dim is empty.
fn check_nonempty(op: &'static str, shape: &[usize], mask: &[bool], kind: Kind) -> Result<()> {
    if kind == Kind::Max && shape.iter().zip(mask).any(|(&s, &m)| m && s == 0) {
        return Err(Error::InvalidArgument {
            op,
            name: "dims",
            value: format!("{shape:?}"),
            expected: "non-empty reduced dims (the max of nothing is undefined)",
        });
    }
    Ok(())
}

/// Reduces over the masked dims into a keepdim-shaped tensor on `x`'s device (the CUDA
/// kernels for a tensor on a GPU).
fn reduce_keep(x: &Tensor, op: &'static str, mask: &[bool], kind: Kind) -> Result<Tensor> {
    if !x.device().is_cpu() {
        check_nonempty(op, x.shape(), mask, kind)?;
        return super::super::cuda::reduce(op, x, mask, kind == Kind::Max);
    }
    Ok(Tensor::from_f32(reduce_raw(x, op, mask, kind)?, &keep_shape(x.shape(), mask)))
}

/// Reduces over the masked dims; the result is in keepdim row-major order.
fn reduce_raw(x: &Tensor, op: &'static str, mask: &[bool], kind: Kind) -> Result<Vec<f32>> {
    let shape = x.shape();
    check_nonempty(op, shape, mask, kind)?;
    // Dims of size 1 may count as reduced or kept; ignore them when classifying.
    let significant: Vec<bool> = shape.iter().zip(mask).filter(|(s, _)| **s != 1).map(|(_, &m)| m).collect();
    let k = significant.iter().rev().take_while(|&&m| m).count();
    let is_suffix = significant[..significant.len() - k].iter().all(|&m| !m);
    let p = significant.iter().take_while(|&&m| m).count();
    let is_prefix = significant[p..].iter().all(|&m| !m);
    let reduced: usize = shape.iter().zip(mask).filter(|(_, m)| **m).map(|(&s, _)| s).product();
    let kept: usize = shape.iter().zip(mask).filter(|(_, m)| !**m).map(|(&s, _)| s).product();
    if is_suffix {
        let data = x.f32_data(op)?;
        return Ok(reduce_rows(&data, kept, reduced, kind));
    }
    if is_prefix {
        let data = x.f32_data(op)?;
        return Ok(reduce_cols(&data, reduced, kept, kind));
    }
    let perm: Vec<usize> =
        (0..shape.len()).filter(|&d| !mask[d]).chain((0..shape.len()).filter(|&d| mask[d])).collect();
    let moved = x.permute_raw(&perm);
    let data = moved.f32_data(op)?;
    Ok(reduce_rows(&data, kept, reduced, kind))
}

fn reduce_rows(data: &[f32], rows: usize, cols: usize, kind: Kind) -> Vec<f32> {
    let f = move |r: &[f32]| match kind {
        Kind::Sum => math::sum(r),
        Kind::Max => math::max(r),
    };
    if cols == 0 {
        return vec![if kind == Kind::Sum { 0.0 } else { f32::NEG_INFINITY }; rows];
    }
    if should_par(data.len()) { data.par_chunks(cols).map(f).collect() } else { data.chunks(cols).map(f).collect() }
}

/// Elements from which [`reduce_cols`] splits its columns across threads.
const PAR_MIN_COLS_ELEMS: usize = 1 << 18;

/// Column-wise reduction of a row-major `[rows, cols]` buffer (a Linear's bias gradient: a
/// sum over the batch). Blocks of columns run in parallel when the buffer is large; each
/// column is still reduced row by row in order, so the bits do not depend on the threads.
fn reduce_cols(data: &[f32], rows: usize, cols: usize, kind: Kind) -> Vec<f32> {
    let init = if kind == Kind::Sum { 0.0 } else { f32::NEG_INFINITY };
    let mut acc = vec![init; cols];
    let block = |j0: usize, acc: &mut [f32]| {
        for r in data.chunks_exact(cols.max(1)).take(rows) {
            reduce_into(acc, &r[j0..j0 + acc.len()], kind);
        }
    };
    // From 1 MiB on (the transformer step's [1280, 1000] bias gradient), not for the MLP's
    // [128, 256], where waking a pool thread cost more than the sum (MLP step +2%).
    if should_par(rows * cols) && rows * cols >= PAR_MIN_COLS_ELEMS && cols >= 32 {
        // One block of columns per thread (whole 64-byte lines where the widths allow).
        let width = cols.div_ceil(rayon::current_num_threads()).next_multiple_of(16);
        acc.par_chunks_mut(width).enumerate().for_each(|(b, acc)| block(b * width, acc));
    } else {
        block(0, &mut acc);
    }
    acc
}

#[inline(always)]
fn reduce_into_impl<I: math::Isa>(acc: &mut [f32], row: &[f32], kind: Kind) {
    match kind {
        Kind::Sum => acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v),
        Kind::Max => acc.iter_mut().zip(row).for_each(|(a, &v)| *a = if v > *a { v } else { *a }),
    }
}
math::multiversion!(fn reduce_into(acc: &mut [f32], row: &[f32], kind: Kind) => reduce_into_impl);

impl Tensor {
    /// Sum over `dims` (all dims when empty), keeping them as size 1 when `keepdim`.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.sum(&[0], false)?.to_vec()?, vec![5.0, 7.0, 9.0]);
    /// assert_eq!(t.sum(&[-1], true)?.shape(), &[2, 1]);
    /// # Ok(()) }
    /// ```
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let mask = reduced_mask("sum", dims, self.rank())?;
        let out = reduce_keep(self, "sum", &mask, Kind::Sum)?.reshape_raw(&out_shape(self.shape(), &mask, keepdim))?;
        let keep = keep_shape(self.shape(), &mask);
        Ok(record(out, "sum", &[self], move |a| {
            Ok(vec![Some(a.grad.reshape(&keep)?.broadcast_as(a.inputs[0].shape())?)])
        }))
    }

    /// Sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&[], false)
    }

    /// Mean over `dims` (all when empty).
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let mask = reduced_mask("mean", dims, self.rank())?;
        let count: usize = self.shape().iter().zip(&mask).filter(|(_, m)| **m).map(|(&s, _)| s).product();
        let scale = 1.0 / count as f32;
        let shape = out_shape(self.shape(), &mask, keepdim);
        let out = if self.device().is_cpu() {
            let data: Vec<f32> = reduce_raw(self, "mean", &mask, Kind::Sum)?.into_iter().map(|v| v * scale).collect();
            Tensor::from_f32(data, &shape)
        } else {
            // The raw sum records no node, so this affine is the scaling kernel alone.
            reduce_keep(self, "mean", &mask, Kind::Sum)?.affine(scale, 0.0)?.reshape_raw(&shape)?
        };
        let keep = keep_shape(self.shape(), &mask);
        Ok(record(out, "mean", &[self], move |a| {
            Ok(vec![Some(a.grad.reshape(&keep)?.affine(scale, 0.0)?.broadcast_as(a.inputs[0].shape())?)])
        }))
    }

    /// Mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&[], false)
    }

    /// Maximum over `dims` (PyTorch's `amax`); the gradient is shared equally among tied
    /// maxima. Errors on an empty reduced dim.
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let mask = reduced_mask("max", dims, self.rank())?;
        let keep = keep_shape(self.shape(), &mask);
        let out = reduce_keep(self, "max", &mask, Kind::Max)?.reshape_raw(&out_shape(self.shape(), &mask, keepdim))?;
        let dims: Vec<isize> = (0..self.rank()).filter(|&d| mask[d]).map(|d| d as isize).collect();
        Ok(record(out, "max", &[self], move |a| {
            let x = &a.inputs[0];
            let m = reduce_keep(x, "max", &mask, Kind::Max)?;
            let hit = x.eq(&m)?;
            let count = hit.sum(&dims, true)?;
            Ok(vec![Some(hit.mul(&a.grad.reshape(&keep)?.div(&count)?)?)])
        }))
    }

    /// Variance over `dims` (all when empty): `sum((x - mean)^2) / (N - c)` with `c = 1` when
    /// `unbiased` (Bessel's correction, PyTorch's default) else 0.
    /// Backward: `dx = 2 (x - mean) / (N - c) * g`.
    pub fn var(&self, dims: &[isize], unbiased: bool, keepdim: bool) -> Result<Tensor> {
        let mask = reduced_mask("var", dims, self.rank())?;
        let count: usize = self.shape().iter().zip(&mask).filter(|(_, m)| **m).map(|(&s, _)| s).product();
        let denom = count as f32 - if unbiased { 1.0 } else { 0.0 };
        let dims: Vec<isize> = (0..self.rank()).filter(|&d| mask[d]).map(|d| d as isize).collect();
        let keep = keep_shape(self.shape(), &mask);
        let out = {
            let _g = no_grad();
            let centered = self.sub(&self.mean(&dims, true)?)?;
            centered.square()?.sum(&dims, keepdim)?.div_scalar(denom)?
        };
        Ok(record(out, "var", &[self], move |a| {
            let x = &a.inputs[0];
            let centered = x.sub(&x.mean(&dims, true)?)?;
            Ok(vec![Some(centered.mul(&a.grad.reshape(&keep)?)?.mul_scalar(2.0 / denom)?)])
        }))
    }

    /// The tensor broadcast (NumPy rules) to `shape`, materialised; the gradient is summed
    /// back over the broadcast dims.
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let target = super::super::shape::broadcast_shapes("broadcast_as", self.shape(), shape)?;
        if &*target != shape {
            return Err(Error::ShapeMismatch { op: "broadcast_as", lhs: self.shape().to_vec(), rhs: shape.to_vec() });
        }
        let out = if self.device().is_cpu() {
            super::map2("broadcast_as", "", self, &Tensor::zeros(shape), [0.0; 2], |x, _| x)?
        } else {
            super::super::cuda::expand(self, shape)?
        };
        Ok(record(out, "broadcast_as", &[self], |a| Ok(vec![Some(super::sum_to_shape(a.grad, a.inputs[0].shape())?)])))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    #[test]
    fn reductions_over_every_kind_of_dim_set() -> Result<()> {
        // t[i][j][k] = 12i + 4j + k
        let t = Tensor::arange(0.0, 24.0, 1.0)?.reshape(&[2, 3, 4])?;
        assert_eq!(t.sum(&[2], false)?.to_vec()?, vec![6.0, 22.0, 38.0, 54.0, 70.0, 86.0]);
        // prefix: sum over i of (12i + 4j + k) = 12 + 8j + 2k
        assert_eq!(t.sum(&[0], false)?.to_vec()?[..4], [12.0, 14.0, 16.0, 18.0]);
        // middle: sum over j = 36i + 12 + 3k
        assert_eq!(t.sum(&[1], true)?.to_vec()?, vec![12.0, 15.0, 18.0, 21.0, 48.0, 51.0, 54.0, 57.0]);
        assert_eq!(t.sum(&[1], true)?.shape(), &[2, 1, 4]);
        // i and k: sum = 4*(12i+4j) + 6 over i -> 48 + 32j + 12
        assert_eq!(t.sum(&[0, 2], false)?.to_vec()?, vec![60.0, 92.0, 124.0]);
        assert_eq!(t.sum_all()?.item()?, 276.0);
        assert_eq!(t.mean_all()?.item()?, 11.5);
        assert_eq!(t.mean(&[-1], false)?.to_vec()?, vec![1.5, 5.5, 9.5, 13.5, 17.5, 21.5]);
        assert_eq!(t.max(&[1], false)?.to_vec()?, vec![8.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0]);
        assert_eq!(t.max(&[], false)?.item()?, 23.0);
        // var of [0,1,2,3]: mean 1.5, sum sq dev 5 -> 5/3 unbiased, 5/4 biased
        let v = t.var(&[2], true, false)?.to_vec()?;
        assert!(v.iter().all(|&x| (x - 5.0 / 3.0).abs() < 1e-6));
        let v = t.var(&[2], false, true)?;
        assert_eq!(v.shape(), &[2, 3, 1]);
        assert!(v.to_vec()?.iter().all(|&x| (x - 1.25).abs() < 1e-6));
        assert_eq!(Tensor::from_vec(vec![1.0, 2.0], &[2])?.broadcast_as(&[2, 2])?.to_vec()?, vec![1.0, 2.0, 1.0, 2.0]);
        Ok(())
    }

    #[test]
    fn large_column_sums_are_exact_row_order_sums_on_any_thread_count() -> Result<()> {
        // [600, 1000]: past the parallel threshold, so blocks of columns run on the pool.
        let x = Tensor::randn(&[600, 1000], &mut Rng::new(3));
        let data = x.to_vec()?;
        let mut want = vec![0.0f32; 1000];
        for row in data.chunks_exact(1000) {
            want.iter_mut().zip(row).for_each(|(w, &v)| *w += v);
        }
        let want_max: Vec<f32> =
            (0..1000).map(|j| data.chunks_exact(1000).map(|r| r[j]).fold(f32::NEG_INFINITY, f32::max)).collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let (sum, max) =
                pool.install(|| -> Result<_> { Ok((x.sum(&[0], false)?.to_vec()?, x.max(&[0], false)?.to_vec()?)) })?;
            assert!(sum.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads");
            assert_eq!(max, want_max, "{threads} threads");
        }
        Ok(())
    }

    #[test]
    fn reduction_errors() {
        let t = Tensor::zeros(&[2, 3]);
        let err = t.sum(&[2], false).unwrap_err();
        assert_eq!(err.to_string(), "op `sum`: dim 2 is out of range for a tensor of rank 2");
        assert!(matches!(Tensor::zeros(&[0, 2]).max(&[0], false), Err(Error::InvalidArgument { op: "max", .. })));
        assert!(t.broadcast_as(&[3, 3]).is_err());
        assert!(t.broadcast_as(&[3]).is_err());
    }

    #[test]
    fn gradcheck_reductions() -> Result<()> {
        let x = Tensor::randn(&[2, 3, 4], &mut Rng::new(0));
        for dims in [&[0isize][..], &[1], &[2], &[0, 2], &[]] {
            for keepdim in [false, true] {
                gradcheck(|t| t[0].sum(dims, keepdim), &[&x], 1e-3, 1e-2)?;
                gradcheck(|t| t[0].mean(dims, keepdim), &[&x], 1e-3, 1e-2)?;
                gradcheck(|t| t[0].max(dims, keepdim), &[&x], 1e-3, 1e-2)?;
                gradcheck(|t| t[0].var(dims, true, keepdim), &[&x], 1e-3, 1e-2)?;
                gradcheck(|t| t[0].var(dims, false, keepdim), &[&x], 1e-3, 1e-2)?;
            }
        }
        let small = Tensor::randn(&[3], &mut Rng::new(1));
        gradcheck(|t| t[0].broadcast_as(&[2, 3]), &[&small], 1e-3, 1e-2)?;
        Ok(())
    }
}
