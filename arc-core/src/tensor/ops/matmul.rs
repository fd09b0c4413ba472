//! Matrix products through the `gemm` crate.
//!
//! `gemm` takes arbitrary row and column strides, so transposed views (`w.t()`) are
//! multiplied in place, never copied. Products above [`PAR_FLOPS`] use
//! `gemm::Parallelism::Rayon` with rayon's current thread count (`RAYON_NUM_THREADS`).

use super::super::Tensor;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::super::autograd::record;
use super::super::gemm::{self, Threads};
use super::super::shape::{Layout, broadcast_shapes};
use super::sum_to_shape;
use crate::{Error, Result};

/// The `[m, k]` matrix of a rank >= 2 layout's last two dims, starting at `offset`.
pub(crate) fn mat<'a>(data: &'a [f32], l: &Layout, offset: usize) -> Result<ArrayView2<'a, f32>> {
    let r = l.shape.len();
    gemm::view(data, offset, (l.shape[r - 2], l.shape[r - 1]), (l.strides[r - 2], l.strides[r - 1]))
}

/// Batched product of rank >= 2 operands (no autograd); on a GPU through cuBLAS.
fn matmul_raw(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !a.device().is_cpu() || !b.device().is_cpu() {
        if a.device().is_cpu() {
            return Err(Error::DeviceMismatch { op: "matmul", expected: b.device().to_string(), got: a.device() });
        }
        return super::super::cuda::matmul(a, b);
    }
    let (ad, al) = a.cpu_f32("matmul")?;
    let (bd, bl) = b.cpu_f32("matmul")?;
    let (ra, rb) = (al.shape.len(), bl.shape.len());
    let (m, k, k2, n) = (al.shape[ra - 2], al.shape[ra - 1], bl.shape[rb - 2], bl.shape[rb - 1]);
    if k != k2 {
        return Err(Error::ShapeMismatch { op: "matmul", lhs: a.shape().to_vec(), rhs: b.shape().to_vec() });
    }
    let batch = broadcast_shapes("matmul", &al.shape[..ra - 2], &bl.shape[..rb - 2])
        .map_err(|_| Error::ShapeMismatch { op: "matmul", lhs: a.shape().to_vec(), rhs: b.shape().to_vec() })?;
    let nb: usize = batch.iter().product();
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    if nb == 1 {
        let out = gemm::product(mat(ad, al, al.offset)?, mat(bd, bl, bl.offset)?)?;
        return Ok(Tensor::from_f32(out, &shape));
    }
    // Per-operand batch strides, 0 along broadcast dims.
    let bstrides = |l: &Layout, r: usize| -> Vec<usize> {
        let lead = batch.len() - (r - 2);
        (0..batch.len()).map(|i| if i < lead || l.shape[i - lead] == 1 { 0 } else { l.strides[i - lead] }).collect()
    };
    let (sa, sb) = (bstrides(al, ra), bstrides(bl, rb));
    let mut out = vec![0.0f32; nb * m * n];
    let mut index = vec![0usize; batch.len()];
    for chunk in out.chunks_exact_mut((m * n).max(1)).take(nb) {
        let chunk_len = chunk.len();
        let oa = al.offset + index.iter().zip(&sa).map(|(i, s)| i * s).sum::<usize>();
        let ob = bl.offset + index.iter().zip(&sb).map(|(i, s)| i * s).sum::<usize>();
        if m * n > 0 {
            let dst = ArrayViewMut2::from_shape((m, n), chunk).map_err(|_| Error::ShapeMismatch {
                op: "matmul",
                lhs: vec![m, n],
                rhs: vec![chunk_len],
            })?;
            gemm::gemm(dst, mat(ad, al, oa)?, mat(bd, bl, ob)?, false, Threads::Pool)?;
        }
        for d in (0..batch.len()).rev() {
            index[d] += 1;
            if index[d] < batch[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(Tensor::from_f32(out, &shape))
}

/// Whether the last two dims of a rank-2 tensor are a transposed (column-major) view.
fn is_col_major(t: &Tensor) -> bool {
    let l = t.layout();
    t.rank() == 2 && l.strides[0] == 1 && l.shape[0] > 1 && l.shape[1] > 1
}

impl Tensor {
    /// Matrix product with PyTorch's `matmul` rules: `[..., m, k] @ [..., k, n]` with the
    /// leading (batch) dims broadcast; a 1-D left operand is a row vector and a 1-D right
    /// operand a column vector, their added dim removed from the result.
    ///
    /// Backward: `dA = g @ B^T`, `dB = A^T @ g`, each summed over broadcast batch dims.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let b = Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], &[2, 2])?;
    /// // [[1*5+2*7, 1*6+2*8], [3*5+4*7, 3*6+4*8]]
    /// assert_eq!(a.matmul(&b)?.to_vec()?, vec![19.0, 22.0, 43.0, 50.0]);
    /// assert_eq!(a.matmul(&b.t()?)?.to_vec()?, vec![17.0, 23.0, 39.0, 53.0]);
    /// # Ok(()) }
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.rank() == 0 || rhs.rank() == 0 {
            let shape = if self.rank() == 0 { self.shape() } else { rhs.shape() };
            return Err(Error::BadRank { op: "matmul", expected: "at least 1 dim", shape: shape.to_vec() });
        }
        if self.rank() == 1 {
            // The added row dim is second to last, or last once a 1-D rhs dropped its own.
            let dim = if rhs.rank() == 1 { -1 } else { -2 };
            return self.unsqueeze(0)?.matmul(rhs)?.squeeze(dim);
        }
        if rhs.rank() == 1 {
            return self.matmul(&rhs.unsqueeze(1)?)?.squeeze(-1);
        }
        let out = matmul_raw(self, rhs)?;
        Ok(record(out, "matmul", &[self, rhs], |args| {
            let (a, b, g) = (&args.inputs[0], &args.inputs[1], args.grad);
            let ga = if args.needs[0] {
                // A column-major A (a transposed view) gets its gradient in the same layout,
                // so that the transpose's backward hands a contiguous tensor to the leaf.
                let ga = if a.rank() == 2 && b.rank() > 2 && !b.device().is_cpu() {
                    // On a GPU the batch sum is folded into the product: dA = G' @ B' with
                    // G' = G as [m, batch * n] and B' = B^T as [batch * n, k].
                    let r = g.rank();
                    let (m, n, k) = (g.shape()[r - 2], g.shape()[r - 1], a.shape()[1]);
                    let nb: usize = g.shape()[..r - 2].iter().product();
                    let mut perm = vec![r - 2];
                    perm.extend(0..r - 2);
                    perm.push(r - 1);
                    let g2 = g.permute_raw(&perm).reshape_raw(&[m, nb * n])?;
                    let b2 = b.transpose_raw(r - 2, r - 1).reshape_raw(&[nb * n, k])?;
                    matmul_raw(&g2, &b2)?
                } else if is_col_major(a) && b.rank() == 2 {
                    matmul_raw(b, &g.transpose_raw(0, 1))?.transpose_raw(0, 1)
                } else {
                    matmul_raw(g, &b.transpose_raw(b.rank() - 2, b.rank() - 1))?
                };
                Some(sum_to_shape(&ga, a.shape())?)
            } else {
                None
            };
            let gb = if args.needs[1] {
                let gb = if b.rank() == 2 && a.rank() > 2 && !a.device().is_cpu() {
                    // On a GPU the batch sum is folded into the product: dB = A'^T @ G' with
                    // A' = A as [batch * m, k] and G' = G as [batch * m, n] (one gemm, no
                    // reduction kernel).
                    let (k, n) = (a.shape()[a.rank() - 1], b.shape()[1]);
                    let rows: usize = a.shape()[..a.rank() - 1].iter().product();
                    let a2 = a.reshape_raw(&[rows, k])?;
                    matmul_raw(&a2.transpose_raw(0, 1), &g.reshape_raw(&[rows, n])?)?
                } else if is_col_major(b) && a.rank() == 2 {
                    matmul_raw(&g.transpose_raw(0, 1), a)?.transpose_raw(0, 1)
                } else {
                    matmul_raw(&a.transpose_raw(a.rank() - 2, a.rank() - 1), g)?
                };
                Some(sum_to_shape(&gb, b.shape())?)
            } else {
                None
            };
            Ok(vec![ga, gb])
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    /// Naive triple loop in f64.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>() as f32;
            }
        }
        out
    }

    #[test]
    fn large_products_match_the_naive_loop() -> Result<()> {
        // 96^3 is above the parallel threshold; tolerance 1e-4 for f32 sums of 96 products.
        let (m, k, n) = (96, 80, 72);
        let a = Tensor::randn(&[m, k], &mut Rng::new(0));
        let b = Tensor::randn(&[k, n], &mut Rng::new(1));
        let want = reference(&a.to_vec()?, &b.to_vec()?, m, k, n);
        let got = a.matmul(&b)?.to_vec()?;
        assert!(got.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4));
        // Through transposed views: (b^T)^T = b.
        let got_t = a.matmul(&b.t()?.contiguous()?.t()?)?.to_vec()?;
        assert!(got_t.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4));
        Ok(())
    }

    #[test]
    fn tall_products_split_across_threads_match_the_naive_loop() -> Result<()> {
        // m = 301 rows is split into one row block per thread (with 2+ threads); the lhs is
        // both row-major and a transposed view. Tolerance 1e-4 for sums of 40 products.
        let (m, k, n) = (301, 40, 50);
        let a = Tensor::randn(&[m, k], &mut Rng::new(11));
        let at = a.t()?.contiguous()?.t()?;
        let b = Tensor::randn(&[k, n], &mut Rng::new(12));
        let want = reference(&a.to_vec()?, &b.to_vec()?, m, k, n);
        for lhs in [&a, &at] {
            let got = lhs.matmul(&b)?.to_vec()?;
            assert!(got.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-4));
        }
        Ok(())
    }

    #[test]
    fn batched_broadcast_and_vector_cases() -> Result<()> {
        // [2,1,2,3] @ [3,3,2] -> [2,3,2,2]
        let a = Tensor::randn(&[2, 1, 2, 3], &mut Rng::new(2));
        let b = Tensor::randn(&[3, 3, 2], &mut Rng::new(3));
        let c = a.matmul(&b)?;
        assert_eq!(c.shape(), &[2, 3, 2, 2]);
        // Batch (1, 2) = a[1,0] @ b[2]
        let a10 = a.narrow(0, 1, 1)?.reshape(&[2, 3])?;
        let b2 = b.narrow(0, 2, 1)?.reshape(&[3, 2])?;
        assert_eq!(c.narrow(0, 1, 1)?.narrow(1, 2, 1)?.to_vec()?, a10.matmul(&b2)?.to_vec()?);
        let v = Tensor::from_vec(vec![1.0, 2.0], &[2])?;
        let m = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
        assert_eq!(v.matmul(&m)?.to_vec()?, vec![7.0, 10.0]);
        assert_eq!(m.matmul(&v)?.to_vec()?, vec![5.0, 11.0]);
        assert_eq!(v.matmul(&v)?.shape(), &[] as &[usize]);
        assert_eq!(v.matmul(&v)?.item()?, 5.0);
        Ok(())
    }

    #[test]
    fn matmul_errors() {
        let err = Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[2, 3])).unwrap_err();
        assert_eq!(err.to_string(), "op `matmul`: shapes [2, 3] and [2, 3] are incompatible");
        let err = Tensor::zeros(&[2, 2, 3]).matmul(&Tensor::zeros(&[3, 3, 2])).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { op: "matmul", .. }));
        let err = Tensor::scalar(1.0).matmul(&Tensor::zeros(&[1])).unwrap_err();
        assert!(matches!(err, Error::BadRank { op: "matmul", .. }));
        assert_eq!(err.to_string(), "op `matmul`: expected at least 1 dim, got a tensor of shape []");
    }

    #[test]
    fn gradcheck_matmul() -> Result<()> {
        let a = Tensor::randn(&[3, 4], &mut Rng::new(4));
        let b = Tensor::randn(&[4, 2], &mut Rng::new(5));
        gradcheck(|t| t[0].matmul(&t[1]), &[&a, &b], 1e-3, 1e-2)?;
        // Through a transposed weight, as in Linear: x @ w^T.
        let w = Tensor::randn(&[2, 4], &mut Rng::new(6));
        gradcheck(|t| t[0].matmul(&t[1].t()?), &[&a, &w], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].t()?.matmul(&t[1]), &[&a.t()?.contiguous()?, &b], 1e-3, 1e-2)?;
        // Batched with broadcasting: [2,3,4] @ [4,2] and [1,3,4] @ [2,4,2].
        let ab = Tensor::randn(&[2, 3, 4], &mut Rng::new(7));
        gradcheck(|t| t[0].matmul(&t[1]), &[&ab, &b], 1e-3, 1e-2)?;
        let a1 = Tensor::randn(&[1, 3, 4], &mut Rng::new(8));
        let bb = Tensor::randn(&[2, 4, 2], &mut Rng::new(9));
        gradcheck(|t| t[0].matmul(&t[1]), &[&a1, &bb], 1e-3, 1e-2)?;
        let v = Tensor::randn(&[4], &mut Rng::new(10));
        gradcheck(|t| t[0].matmul(&t[1]), &[&v, &b], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].matmul(&t[1]), &[&a, &v], 1e-3, 1e-2)?;
        Ok(())
    }
}
