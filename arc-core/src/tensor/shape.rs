//! Shapes, strides and NumPy broadcasting.
//!
//! A [`Layout`] maps a tensor's multi-index onto its storage: `offset + sum(i_d * stride_d)`.
//! Strides are never negative and never zero on a dimension longer than one, so every layout
//! is a permuted, narrowed window onto a contiguous buffer (views never overlap).

use std::ops::Deref;

use crate::{Error, Result};

const INLINE: usize = 6;

/// A small list of sizes or strides, stored inline up to rank 6 so that creating a tensor of
/// ordinary rank performs no allocation for its shape.
#[derive(Clone)]
pub(crate) enum Dims {
    Inline { len: u8, dims: [usize; INLINE] },
    Heap(Vec<usize>),
}

impl Dims {
    pub(crate) fn from_slice(s: &[usize]) -> Self {
        if s.len() <= INLINE {
            let mut dims = [0; INLINE];
            dims[..s.len()].copy_from_slice(s);
            Dims::Inline { len: s.len() as u8, dims }
        } else {
            Dims::Heap(s.to_vec())
        }
    }

    fn as_mut_slice(&mut self) -> &mut [usize] {
        match self {
            Dims::Inline { len, dims } => &mut dims[..*len as usize],
            Dims::Heap(v) => v,
        }
    }
}

impl Deref for Dims {
    type Target = [usize];
    #[inline]
    fn deref(&self) -> &[usize] {
        match self {
            Dims::Inline { len, dims } => &dims[..*len as usize],
            Dims::Heap(v) => v,
        }
    }
}

impl PartialEq for Dims {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Dims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// Row-major (C-order) strides of `shape`.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Dims {
    let mut strides = Dims::from_slice(shape);
    let s = strides.as_mut_slice();
    let mut acc = 1;
    for (st, &d) in s.iter_mut().zip(shape).rev() {
        *st = acc;
        acc *= d;
    }
    strides
}

/// Shape, strides and storage offset of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    pub(crate) shape: Dims,
    pub(crate) strides: Dims,
    pub(crate) offset: usize,
}

impl Layout {
    /// A contiguous row-major layout starting at offset 0.
    pub(crate) fn contiguous(shape: &[usize]) -> Self {
        Layout { shape: Dims::from_slice(shape), strides: contiguous_strides(shape), offset: 0 }
    }

    pub(crate) fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the elements are laid out row-major without gaps (offset may be non-zero).
    pub(crate) fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for (&d, &s) in self.shape.iter().zip(self.strides.iter()).rev() {
            if d != 1 && s != acc {
                return false;
            }
            acc *= d;
        }
        true
    }

    /// Storage offsets of every element, in row-major order of the logical index.
    pub(crate) fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }
}

/// Iterator over the storage offsets of a (possibly non-contiguous) layout.
pub(crate) struct StridedOffsets<'a> {
    layout: &'a Layout,
    index: Vec<usize>,
    next: usize,
    remaining: usize,
}

impl<'a> StridedOffsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        StridedOffsets { layout, index: vec![0; layout.shape.len()], next: layout.offset, remaining: layout.numel() }
    }
}

impl Iterator for StridedOffsets<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.next;
        let (shape, strides) = (&self.layout.shape, &self.layout.strides);
        for d in (0..shape.len()).rev() {
            self.index[d] += 1;
            self.next += strides[d];
            if self.index[d] < shape[d] {
                break;
            }
            self.next -= strides[d] * shape[d];
            self.index[d] = 0;
        }
        Some(current)
    }
}

/// Resolves a possibly negative `dim` against `rank` (`-1` is the last dimension).
pub(crate) fn normalize_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(Error::BadAxis { op, dim, rank });
    }
    Ok(d as usize)
}

/// The NumPy broadcast of two shapes: align trailing dimensions; sizes must be equal or 1.
pub(crate) fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Dims> {
    if lhs == rhs {
        return Ok(Dims::from_slice(lhs));
    }
    let rank = lhs.len().max(rhs.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let l = if i + lhs.len() >= rank { lhs[i + lhs.len() - rank] } else { 1 };
        let r = if i + rhs.len() >= rank { rhs[i + rhs.len() - rank] } else { 1 };
        *o = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => {
                return Err(Error::ShapeMismatch { op, lhs: lhs.to_vec(), rhs: rhs.to_vec() });
            }
        };
    }
    Ok(Dims::from_slice(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() -> Result<()> {
        assert_eq!(&*broadcast_shapes("t", &[2, 1, 3], &[4, 1])?, &[2, 4, 3]);
        assert_eq!(&*broadcast_shapes("t", &[], &[5])?, &[5]);
        assert_eq!(&*broadcast_shapes("t", &[3], &[3])?, &[3]);
        let err = broadcast_shapes("add", &[2, 3], &[4]).unwrap_err();
        assert_eq!(err.to_string(), "op `add`: shapes [2, 3] and [4] are incompatible");
        Ok(())
    }

    #[test]
    fn strides_and_offsets() {
        assert_eq!(&*contiguous_strides(&[2, 3, 4]), &[12, 4, 1]);
        // A transposed 2x3 view of a contiguous 3x2 buffer.
        let l = Layout { shape: Dims::from_slice(&[2, 3]), strides: Dims::from_slice(&[1, 2]), offset: 0 };
        assert!(!l.is_contiguous());
        assert_eq!(l.offsets().collect::<Vec<_>>(), vec![0, 2, 4, 1, 3, 5]);
        assert!(Layout::contiguous(&[7, 1, 3]).is_contiguous());
    }

    #[test]
    fn dims_go_to_the_heap_past_rank_six() {
        let d = Dims::from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        assert!(matches!(d, Dims::Heap(_)));
        assert_eq!(&*d, &[1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn negative_dims_count_from_the_end() {
        assert_eq!(normalize_dim("t", -1, 3).ok(), Some(2));
        let err = normalize_dim("sum", 3, 3).unwrap_err();
        assert_eq!(err.to_string(), "op `sum`: dim 3 is out of range for a tensor of rank 3");
    }
}
