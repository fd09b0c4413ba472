//! Shape ops: reshape, transpose / permute, contiguous, narrow, split, concat, squeeze /
//! unsqueeze. `transpose`, `permute`, `narrow`, `squeeze` and `unsqueeze` are views (no copy);
//! `reshape` copies only a non-contiguous input. All work on f32 and i64 tensors.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::super::Tensor;
use super::super::autograd::record;
use super::super::device::DType;
use super::super::shape::{Dims, Layout, normalize_dim};
use super::super::storage::view_f32;
use crate::{Error, Result};

impl Tensor {
    /// A view with dims `a` and `b` swapped (no autograd).
    pub(crate) fn transpose_raw(&self, a: usize, b: usize) -> Tensor {
        let l = self.layout();
        let (mut shape, mut strides) = (l.shape.to_vec(), l.strides.to_vec());
        shape.swap(a, b);
        strides.swap(a, b);
        self.view_with(Layout {
            shape: Dims::from_slice(&shape),
            strides: Dims::from_slice(&strides),
            offset: l.offset,
        })
    }

    /// A view with dims reordered so that new dim `i` is old dim `perm[i]` (no autograd).
    pub(crate) fn permute_raw(&self, perm: &[usize]) -> Tensor {
        let l = self.layout();
        let shape: Vec<usize> = perm.iter().map(|&p| l.shape[p]).collect();
        let strides: Vec<usize> = perm.iter().map(|&p| l.strides[p]).collect();
        self.view_with(Layout {
            shape: Dims::from_slice(&shape),
            strides: Dims::from_slice(&strides),
            offset: l.offset,
        })
    }

    /// A row-major copy, or `self` when already contiguous (no autograd).
    pub(crate) fn contiguous_raw(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        if !self.device().is_cpu() {
            return super::super::cuda::contiguous(self);
        }
        Ok(match self.dtype() {
            DType::F32 => Tensor::from_f32(self.f32_data("contiguous")?.into_owned(), self.shape()),
            DType::I64 => Tensor::from_i64(self.i64_data("contiguous")?.into_owned(), self.shape()),
        })
    }

    /// A contiguous tensor of `shape` with the same row-major data (no autograd).
    pub(crate) fn reshape_raw(&self, shape: &[usize]) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if expected != self.numel() {
            return Err(Error::ElementCountMismatch {
                op: "reshape",
                shape: shape.to_vec(),
                expected,
                got: self.numel(),
            });
        }
        let base = self.contiguous_raw()?;
        let offset = base.layout().offset;
        Ok(base.view_with(Layout { offset, ..Layout::contiguous(shape) }))
    }

    /// The same elements (row-major order) under a new shape with the same element count.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let t = Tensor::arange(0.0, 6.0, 1.0)?.reshape(&[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(t.reshape(&[4]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let out = self.reshape_raw(shape)?;
        Ok(record(out, "reshape", &[self], |a| Ok(vec![Some(a.grad.reshape(a.inputs[0].shape())?)])))
    }

    /// Flattens to one dimension.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])
    }

    /// Swaps two dims (a view).
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let a = normalize_dim("transpose", dim0, self.rank())?;
        let b = normalize_dim("transpose", dim1, self.rank())?;
        let out = self.transpose_raw(a, b);
        Ok(record(out, "transpose", &[self], move |g| Ok(vec![Some(g.grad.transpose_raw(a, b))])))
    }

    /// Transpose of the last two dims (a view); errors on tensors of rank below 2.
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::BadRank { op: "t", expected: "at least 2 dims", shape: self.shape().to_vec() });
        }
        self.transpose(-2, -1)
    }

    /// Reorders dims: dim `i` of the result is dim `perm[i]` of `self` (a view).
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank() {
            return Err(Error::ShapeMismatch { op: "permute", lhs: self.shape().to_vec(), rhs: perm.to_vec() });
        }
        for &p in perm {
            if p >= self.rank() || std::mem::replace(&mut seen[p], true) {
                return Err(Error::InvalidArgument {
                    op: "permute",
                    name: "perm",
                    value: format!("{perm:?}"),
                    expected: "a permutation of 0..rank",
                });
            }
        }
        let out = self.permute_raw(perm);
        let mut inverse = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(record(out, "permute", &[self], move |a| Ok(vec![Some(a.grad.permute_raw(&inverse))])))
    }

    /// A row-major copy (or `self` when already contiguous).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let out = self.contiguous_raw()?;
        Ok(record(out, "contiguous", &[self], |a| Ok(vec![Some(a.grad.clone())])))
    }

    /// Inserts a dim of size 1 at `dim` (`0..=rank`, negative counts from the end).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("unsqueeze", dim, self.rank() + 1)?;
        let l = self.layout();
        let (mut shape, mut strides) = (l.shape.to_vec(), l.strides.to_vec());
        let stride = if d < shape.len() { shape[d] * strides[d] } else { 1 };
        shape.insert(d, 1);
        strides.insert(d, stride);
        let out = self.view_with(Layout {
            shape: Dims::from_slice(&shape),
            strides: Dims::from_slice(&strides),
            offset: l.offset,
        });
        Ok(record(out, "unsqueeze", &[self], |a| Ok(vec![Some(a.grad.reshape(a.inputs[0].shape())?)])))
    }

    /// Removes the dim `dim`, which must have size 1.
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("squeeze", dim, self.rank())?;
        if self.shape()[d] != 1 {
            return Err(Error::InvalidArgument {
                op: "squeeze",
                name: "dim",
                value: format!("{dim} (size {})", self.shape()[d]),
                expected: "a dim of size 1",
            });
        }
        let l = self.layout();
        let (mut shape, mut strides) = (l.shape.to_vec(), l.strides.to_vec());
        shape.remove(d);
        strides.remove(d);
        let out = self.view_with(Layout {
            shape: Dims::from_slice(&shape),
            strides: Dims::from_slice(&strides),
            offset: l.offset,
        });
        Ok(record(out, "squeeze", &[self], |a| Ok(vec![Some(a.grad.reshape(a.inputs[0].shape())?)])))
    }

    /// The slice `start..start + len` of dim `dim` (a view). The gradient is zero outside it.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let t = Tensor::arange(0.0, 6.0, 1.0)?.reshape(&[2, 3])?;
    /// assert_eq!(t.narrow(1, 1, 2)?.to_vec()?, vec![1.0, 2.0, 4.0, 5.0]);
    /// assert!(t.narrow(1, 2, 2).is_err());
    /// # Ok(()) }
    /// ```
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = normalize_dim("narrow", dim, self.rank())?;
        let size = self.shape()[d];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::IndexOutOfRange { op: "narrow", index: start.saturating_add(len) as i64, size });
        }
        let l = self.layout();
        let mut shape = l.shape.to_vec();
        shape[d] = len;
        let offset = if len == 0 { l.offset } else { l.offset + start * l.strides[d] };
        let out = self.view_with(Layout { shape: Dims::from_slice(&shape), strides: l.strides.clone(), offset });
        Ok(record(out, "narrow", &[self], move |a| {
            // Scatter the gradient into zeros of the input's shape.
            if !a.grad.device().is_cpu() {
                return Ok(vec![Some(super::super::cuda::narrow_backward(a.grad, a.inputs[0].shape(), d, start)?)]);
            }
            let (gd, gl) = a.grad.cpu_f32("narrow")?;
            let mut full = ArrayD::<f32>::zeros(IxDyn(a.inputs[0].shape()));
            full.slice_axis_mut(Axis(d), Slice::from(start..start + len)).assign(&view_f32(gd, gl));
            Ok(vec![Some(Tensor::from_ndarray_owned(full))])
        }))
    }

    /// Splits `dim` into pieces of `split_size` (the last may be smaller), like PyTorch's
    /// `split(int)`.
    pub fn split(&self, split_size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.rank())?;
        if split_size == 0 {
            return Err(Error::InvalidArgument {
                op: "split",
                name: "split_size",
                value: "0".into(),
                expected: "a positive size",
            });
        }
        let size = self.shape()[d];
        (0..size.div_ceil(split_size))
            .map(|i| self.narrow(d as isize, i * split_size, split_size.min(size - i * split_size)))
            .collect()
    }

    /// Splits `dim` into pieces of the given sizes, which must sum to its size.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.rank())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(Error::ShapeMismatch { op: "split", lhs: self.shape().to_vec(), rhs: sizes.to_vec() });
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(d as isize, start, s);
                start += s;
                t
            })
            .collect()
    }

    /// Joins tensors along `dim`; all other dims must match, and all dtypes.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let a = Tensor::ones(&[1, 2]);
    /// let b = Tensor::zeros(&[2, 2]);
    /// let c = Tensor::concat(&[&a, &b], 0)?;
    /// assert_eq!(c.shape(), &[3, 2]);
    /// assert_eq!(c.to_vec()?, vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn concat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or(Error::InvalidArgument {
            op: "concat",
            name: "tensors",
            value: "[]".into(),
            expected: "at least one tensor",
        })?;
        let d = normalize_dim("concat", dim, first.rank())?;
        for t in &tensors[1..] {
            let compatible = t.rank() == first.rank()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == d || a == b);
            if !compatible {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                });
            }
            if t.dtype() != first.dtype() {
                return Err(Error::DTypeMismatch { op: "concat", expected: first.dtype(), got: t.dtype() });
            }
        }
        let outer: usize = first.shape()[..d].iter().product();
        let mut shape = first.shape().to_vec();
        shape[d] = tensors.iter().map(|t| t.shape()[d]).sum();
        let on_gpu = tensors.iter().any(|t| !t.device().is_cpu());
        let out = match first.dtype() {
            _ if on_gpu => super::super::cuda::concat(tensors, d, &shape)?,
            DType::F32 => {
                let parts = tensors.iter().map(|t| t.f32_data("concat")).collect::<Result<Vec<_>>>()?;
                Tensor::from_f32(interleave(&parts, outer), &shape)
            }
            DType::I64 => {
                let parts = tensors.iter().map(|t| t.i64_data("concat")).collect::<Result<Vec<_>>>()?;
                Tensor::from_i64(interleave(&parts, outer), &shape)
            }
        };
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[d]).collect();
        Ok(record(out, "concat", tensors, move |a| {
            let mut start = 0;
            let mut grads = Vec::with_capacity(sizes.len());
            for (i, &s) in sizes.iter().enumerate() {
                grads.push(if a.needs[i] { Some(a.grad.narrow(d as isize, start, s)?) } else { None });
                start += s;
            }
            Ok(grads)
        }))
    }

    pub(crate) fn from_ndarray_owned(array: ArrayD<f32>) -> Tensor {
        let shape = array.shape().to_vec();
        if array.is_standard_layout() {
            let (data, offset) = array.into_raw_vec_and_offset();
            if offset.unwrap_or(0) == 0 {
                return Tensor::from_f32(data, &shape);
            }
            return Tensor::from_f32(data[offset.unwrap_or(0)..].to_vec(), &shape);
        }
        Tensor::from_f32(array.iter().copied().collect(), &shape)
    }
}

/// Concatenates row-major parts along a dim: for each outer index, each part's block.
fn interleave<T: Copy>(parts: &[std::borrow::Cow<'_, [T]>], outer: usize) -> Vec<T> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(total);
    let blocks: Vec<usize> = parts.iter().map(|p| p.len().checked_div(outer).unwrap_or(0)).collect();
    for o in 0..outer {
        for (p, &b) in parts.iter().zip(&blocks) {
            out.extend_from_slice(&p[o * b..(o + 1) * b]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    #[test]
    fn views_and_copies() -> Result<()> {
        let t = Tensor::arange(0.0, 24.0, 1.0)?.reshape(&[2, 3, 4])?;
        let p = t.permute(&[2, 0, 1])?;
        assert_eq!(p.shape(), &[4, 2, 3]);
        // p[i][j][k] = t[j][k][i] = 12j + 4k + i
        assert_eq!(&p.to_vec()?[..6], &[0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
        assert!(!p.is_contiguous() && p.contiguous()?.is_contiguous());
        assert_eq!(p.reshape(&[24])?.to_vec()?[..3], [0.0, 4.0, 8.0]);
        assert_eq!(t.transpose(0, 2)?.shape(), &[4, 3, 2]);
        let u = t.unsqueeze(1)?;
        assert_eq!(u.shape(), &[2, 1, 3, 4]);
        assert_eq!(u.squeeze(1)?.to_vec()?, t.to_vec()?);
        assert_eq!(t.unsqueeze(-1)?.shape(), &[2, 3, 4, 1]);
        let parts = t.split(3, 2)?;
        assert_eq!(parts.iter().map(|p| p.shape()[2]).collect::<Vec<_>>(), vec![3, 1]);
        assert_eq!(parts[1].to_vec()?, vec![3.0, 7.0, 11.0, 15.0, 19.0, 23.0]);
        let back = Tensor::concat(&parts.iter().collect::<Vec<_>>(), 2)?;
        assert_eq!(back.to_vec()?, t.to_vec()?);
        let s = t.split_sizes(&[1, 2], 1)?;
        assert_eq!((s[0].shape(), s[1].shape()), (&[2usize, 1, 4][..], &[2usize, 2, 4][..]));
        let labels = Tensor::from_vec_i64(vec![1, 2, 3, 4], &[2, 2])?;
        assert_eq!(labels.t()?.reshape(&[4])?.to_vec_i64()?, vec![1, 3, 2, 4]);
        assert_eq!(Tensor::concat(&[&labels, &labels], 1)?.to_vec_i64()?, vec![1, 2, 1, 2, 3, 4, 3, 4]);
        Ok(())
    }

    #[test]
    fn shape_errors() {
        let t = Tensor::zeros(&[2, 3]);
        let err = t.reshape(&[4]).unwrap_err();
        assert_eq!(err.to_string(), "op `reshape`: shape [4] holds 4 elements, got 6");
        assert!(matches!(t.transpose(0, 2), Err(Error::BadAxis { op: "transpose", dim: 2, rank: 2 })));
        assert!(matches!(t.permute(&[0, 0]), Err(Error::InvalidArgument { op: "permute", .. })));
        let err = t.narrow(0, 1, 2).unwrap_err();
        assert_eq!(err.to_string(), "op `narrow`: index 3 is out of range for a dimension of size 2");
        let err = Tensor::concat(&[&t, &Tensor::zeros(&[2, 2, 1])], 0).unwrap_err();
        assert_eq!(err.to_string(), "op `concat`: shapes [2, 3] and [2, 2, 1] are incompatible");
        assert!(Tensor::concat(&[], 0).is_err());
        assert!(t.squeeze(0).is_err());
        assert!(t.split(0, 0).is_err());
        assert!(Tensor::zeros(&[3]).t().is_err());
    }

    #[test]
    fn gradcheck_shape_ops() -> Result<()> {
        let x = Tensor::randn(&[2, 3, 4], &mut Rng::new(0));
        let y = Tensor::randn(&[2, 1, 4], &mut Rng::new(1));
        gradcheck(|t| t[0].reshape(&[6, 4]), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].transpose(0, 2), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].permute(&[1, 2, 0])?.contiguous(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].narrow(1, 1, 2), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].unsqueeze(0)?.squeeze(0), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| Tensor::concat(&[&t[0], &t[1]], 1), &[&x, &y], 1e-3, 1e-2)?;
        gradcheck(|t| Ok(t[0].split(3, -1)?[1].clone()), &[&x], 1e-3, 1e-2)?;
        Ok(())
    }
}
