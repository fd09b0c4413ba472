//! Integer indexing: `index_select` (rows of an embedding table) and `gather` (one class
//! score per row, as NLL needs). Both scatter-add their gradient back into a zero tensor.

use std::borrow::Cow;

use super::super::Tensor;
use super::super::autograd::record;
use super::super::cuda;
use super::super::device::DType;
use super::super::shape::{contiguous_strides, normalize_dim};
use crate::{Error, Result};

/// Checks every index against `size` and converts it to `usize`.
fn checked_indices(op: &'static str, index: &[i64], size: usize) -> Result<Vec<usize>> {
    index
        .iter()
        .map(|&i| {
            if i < 0 || i as u64 >= size as u64 {
                Err(Error::IndexOutOfRange { op, index: i, size })
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

/// `out[o, j, :] = x[o, idx[j], :]` over a `[outer, size, inner]` view of `x`.
fn select_blocks<T: Copy>(x: &[T], outer: usize, size: usize, inner: usize, idx: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        let base = o * size * inner;
        for &i in idx {
            out.extend_from_slice(&x[base + i * inner..base + (i + 1) * inner]);
        }
    }
    out
}

/// Offsets (in a contiguous tensor of `shape`) addressed by `gather`: the index position with
/// its `dim` coordinate replaced by the index value.
fn gather_offsets(shape: &[usize], index_shape: &[usize], dim: usize, idx: &[usize]) -> Vec<usize> {
    let strides = contiguous_strides(shape);
    let mut pos = vec![0usize; index_shape.len()];
    let mut out = Vec::with_capacity(idx.len());
    for &i in idx {
        let off: usize =
            pos.iter().zip(strides.iter()).enumerate().map(|(d, (&p, &s))| if d == dim { i * s } else { p * s }).sum();
        out.push(off);
        for d in (0..pos.len()).rev() {
            pos[d] += 1;
            if pos[d] < index_shape[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    out
}

impl Tensor {
    /// Picks entries along `dim` by a 1-D i64 `index` (PyTorch's `index_select`): the result
    /// has `index.len()` entries along `dim`. Works on f32 (with gradient) and i64 tensors.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let table = Tensor::from_vec(vec![0.0, 0.1, 1.0, 1.1, 2.0, 2.1], &[3, 2])?;
    /// let ids = Tensor::from_vec_i64(vec![2, 0, 2], &[3])?;
    /// assert_eq!(table.index_select(0, &ids)?.to_vec()?, vec![2.0, 2.1, 0.0, 0.1, 2.0, 2.1]);
    /// # Ok(()) }
    /// ```
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("index_select", dim, self.rank())?;
        if index.rank() != 1 {
            return Err(Error::BadRank { op: "index_select", expected: "a 1-D index", shape: index.shape().to_vec() });
        }
        if !self.device().is_cpu() || !index.device().is_cpu() {
            let out = cuda::index_select(self, d, index)?;
            return Ok(record(out, "index_select", &[self, index], move |a| {
                Ok(vec![Some(cuda::index_select_backward(a.grad, &a.inputs[1], d, a.inputs[0].shape())?), None])
            }));
        }
        let size = self.shape()[d];
        let idx = checked_indices("index_select", &index.i64_data("index_select")?, size)?;
        let outer: usize = self.shape()[..d].iter().product();
        let inner: usize = self.shape()[d + 1..].iter().product();
        let mut shape = self.shape().to_vec();
        shape[d] = idx.len();
        let out = match self.dtype() {
            DType::F32 => {
                Tensor::from_f32(select_blocks(&self.f32_data("index_select")?, outer, size, inner, &idx), &shape)
            }
            DType::I64 => {
                Tensor::from_i64(select_blocks(&self.i64_data("index_select")?, outer, size, inner, &idx), &shape)
            }
        };
        Ok(record(out, "index_select", &[self, index], move |a| {
            let g = a.grad.f32_data("index_select")?;
            let mut full = vec![0.0f32; outer * size * inner];
            for o in 0..outer {
                for (j, &i) in idx.iter().enumerate() {
                    let src = &g[(o * idx.len() + j) * inner..][..inner];
                    let dst = &mut full[(o * size + i) * inner..][..inner];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
            Ok(vec![Some(Tensor::from_f32(full, a.inputs[0].shape())), None])
        }))
    }

    /// `out[p] = self[p with p[dim] = index[p]]` (PyTorch's `gather`): `index` is i64 with
    /// the rank of `self` and sizes no larger outside `dim`; the result has its shape.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let scores = Tensor::from_vec(vec![0.1, 0.7, 0.2, 0.5, 0.3, 0.2], &[2, 3])?;
    /// let target = Tensor::from_vec_i64(vec![1, 0], &[2, 1])?;
    /// assert_eq!(scores.gather(1, &target)?.to_vec()?, vec![0.7, 0.5]);
    /// # Ok(()) }
    /// ```
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("gather", dim, self.rank())?;
        let fits = index.rank() == self.rank()
            && index.shape().iter().zip(self.shape()).enumerate().all(|(i, (a, b))| i == d || a <= b);
        if !fits {
            return Err(Error::ShapeMismatch { op: "gather", lhs: self.shape().to_vec(), rhs: index.shape().to_vec() });
        }
        if !self.device().is_cpu() || !index.device().is_cpu() {
            let out = cuda::gather(self, d, index)?;
            return Ok(record(out, "gather", &[self, index], move |a| {
                Ok(vec![Some(cuda::gather_backward(a.grad, &a.inputs[1], d, a.inputs[0].shape())?), None])
            }));
        }
        let idx = checked_indices("gather", &index.i64_data("gather")?, self.shape()[d])?;
        let offsets = gather_offsets(self.shape(), index.shape(), d, &idx);
        let x: Cow<'_, [f32]> = self.f32_data("gather")?;
        let out = Tensor::from_f32(offsets.iter().map(|&o| x[o]).collect(), index.shape());
        Ok(record(out, "gather", &[self, index], move |a| {
            let g = a.grad.f32_data("gather")?;
            let mut full = vec![0.0f32; a.inputs[0].numel()];
            for (&o, &gv) in offsets.iter().zip(g.iter()) {
                full[o] += gv;
            }
            Ok(vec![Some(Tensor::from_f32(full, a.inputs[0].shape())), None])
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    #[test]
    fn index_select_along_inner_dims_and_on_labels() -> Result<()> {
        let x = Tensor::arange(0.0, 6.0, 1.0)?.reshape(&[2, 3])?;
        let idx = Tensor::from_vec_i64(vec![2, 2, 0], &[3])?;
        assert_eq!(x.index_select(1, &idx)?.to_vec()?, vec![2.0, 2.0, 0.0, 5.0, 5.0, 3.0]);
        let labels = Tensor::from_vec_i64(vec![7, 8, 9], &[3])?;
        assert_eq!(labels.index_select(0, &idx)?.to_vec_i64()?, vec![9, 9, 7]);
        Ok(())
    }

    #[test]
    fn gather_with_a_smaller_index() -> Result<()> {
        // x[i][j] = 3i + j; index [[2,0]] along dim 1 over the first row only
        let x = Tensor::arange(0.0, 6.0, 1.0)?.reshape(&[2, 3])?;
        let idx = Tensor::from_vec_i64(vec![2, 0], &[1, 2])?;
        assert_eq!(x.gather(1, &idx)?.to_vec()?, vec![2.0, 0.0]);
        // along dim 0: out[0][j] = x[idx[0][j]][j]
        let idx0 = Tensor::from_vec_i64(vec![1, 0, 1], &[1, 3])?;
        assert_eq!(x.gather(0, &idx0)?.to_vec()?, vec![3.0, 1.0, 5.0]);
        Ok(())
    }

    #[test]
    fn index_errors() -> Result<()> {
        let x = Tensor::zeros(&[2, 3]);
        let err = x.index_select(0, &Tensor::from_vec_i64(vec![0, 2], &[2])?).unwrap_err();
        assert_eq!(err.to_string(), "op `index_select`: index 2 is out of range for a dimension of size 2");
        let err = x.gather(1, &Tensor::from_vec_i64(vec![-1, 0], &[2, 1])?).unwrap_err();
        assert!(matches!(err, Error::IndexOutOfRange { op: "gather", index: -1, size: 3 }));
        let err = x.index_select(0, &Tensor::zeros(&[1])).unwrap_err();
        assert_eq!(err.to_string(), "op `index_select`: expected dtype i64, got f32");
        let err = x.gather(1, &Tensor::from_vec_i64(vec![0; 3], &[3, 1])?).unwrap_err();
        assert_eq!(err.to_string(), "op `gather`: shapes [2, 3] and [3, 1] are incompatible");
        Ok(())
    }

    #[test]
    fn gradcheck_indexing_with_repeated_indices() -> Result<()> {
        // Repeated indices accumulate: d/dx of x[2] + x[2] is 2 at row 2.
        let x = Tensor::randn(&[4, 3], &mut Rng::new(0));
        let idx = Tensor::from_vec_i64(vec![2, 0, 2], &[3])?;
        gradcheck(|t| t[0].index_select(0, &t[1]), &[&x, &idx], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].index_select(1, &t[1]), &[&x, &idx], 1e-3, 1e-2)?;
        let g = Tensor::from_vec_i64(vec![1, 1, 0, 2, 2, 2], &[3, 2])?;
        gradcheck(|t| t[0].gather(1, &t[1]), &[&x, &g], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].gather(0, &t[1]), &[&x, &g], 1e-3, 1e-2)?;
        Ok(())
    }
}
