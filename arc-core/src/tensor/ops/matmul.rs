//! Matrix products through the `gemm` crate.
//!
//! `gemm` takes arbitrary row and column strides, so transposed views (`w.t()`) are
//! multiplied in place, never copied. Products above [`PAR_FLOPS`] use
//! `gemm::Parallelism::Rayon` with rayon's current thread count (`RAYON_NUM_THREADS`).

use super::super::Tensor;
use std::sync::Once;

use rayon::prelude::*;

use super::super::autograd::record;
use super::super::shape::{Layout, broadcast_shapes};
use super::super::storage::build_f32;
use super::sum_to_shape;
use crate::{Error, Result};

/// Below `m * n * k` = 64^3 multiply-adds a product runs on the calling thread.
const PAR_FLOPS: usize = 64 * 64 * 64;

/// One strided matrix operand: storage, offset of element (0, 0), row and column strides.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) offset: usize,
    pub(crate) rs: isize,
    pub(crate) cs: isize,
}

/// `dst[m, n] = a[m, k] @ b[k, n]`; `dst` is row-major with row stride `n`. `threaded` lets
/// gemm use rayon (above [`PAR_FLOPS`]).
///
/// # Safety
/// `dst` must be valid for `m * n` writes; `a` and `b` must
/// address in-bounds elements for every index in `[m, k]` and `[k, n]`.
pub(crate) unsafe fn gemm_into(
    dst: *mut f32,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    threaded: bool,
) {
    // gemm packs a column-major lhs panel only when the panel is wider than 16 * NR columns
    // on several threads; `g @ W` for a row-major `W` (a Linear's dX, [64, 1024] @ [1024,
    // 1024]) then streams W unpacked and took 2.2 ms instead of 0.94 ms on 2 threads
    // (measured on the 2-core dev VM). Packing always costs little, so ask for it. This is
    // a process-wide gemm setting.
    static PACKING: Once = Once::new();
    PACKING.call_once(|| gemm::set_lhs_packing_threshold_multi_thread(1));
    let parallelism = if threaded && m * n * k >= PAR_FLOPS && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: forwarded from the caller; `a.data[a.offset..]` is in bounds (layouts are).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            false,
            a.data.as_ptr().add(a.offset),
            a.cs,
            a.rs,
            b.data.as_ptr().add(b.offset),
            b.cs,
            b.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// A freshly allocated `[m, n]` product.
pub(crate) fn gemm_new(m: usize, n: usize, k: usize, a: MatRef<'_>, b: MatRef<'_>) -> Vec<f32> {
    if k == 0 {
        return vec![0.0; m * n];
    }
    let threads = rayon::current_num_threads();
    if threads > 1 && m * n * k >= PAR_FLOPS && m >= 128 * threads && n > 0 {
        // One block of dst rows per thread, each a single-threaded gemm. gemm's own
        // threading splits tall-and-narrow or low-depth products poorly; measured on the
        // 2-core dev VM: [1024, 1024] x [1024, 64] 494 -> 450 us, [1024, 64] x [64, 1024]
        // 581 -> 458 us, [1024]^3 unchanged.
        let rows = m.div_ceil(threads);
        return build_f32(m * n, |out| {
            out.par_chunks_mut(rows * n).enumerate().for_each(|(i, block)| {
                let a_block = MatRef { offset: a.offset + i * rows * a.rs.unsigned_abs(), ..a };
                // SAFETY: `block` holds `block.len() / n` rows of dst, all written by gemm
                // (read_dst = false); `a_block` starts at row `i * rows` of `a`, in bounds
                // because every row below `m` is (strides are non-negative).
                unsafe { gemm_into(block.as_mut_ptr().cast(), block.len() / n, n, k, a_block, b, false) };
            })
        });
    }
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: `out` has capacity m*n; gemm writes every element (read_dst = false) before
    // set_len; the operands come from valid layouts.
    unsafe {
        gemm_into(out.as_mut_ptr(), m, n, k, a, b, true);
        out.set_len(m * n);
    }
    out
}

fn mat<'a>(data: &'a [f32], l: &Layout, offset: usize) -> MatRef<'a> {
    let r = l.shape.len();
    MatRef { data, offset, rs: l.strides[r - 2] as isize, cs: l.strides[r - 1] as isize }
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
        let out = gemm_new(m, n, k, mat(ad, al, al.offset), mat(bd, bl, bl.offset));
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
        let oa = al.offset + index.iter().zip(&sa).map(|(i, s)| i * s).sum::<usize>();
        let ob = bl.offset + index.iter().zip(&sb).map(|(i, s)| i * s).sum::<usize>();
        if k > 0 && m * n > 0 {
            // SAFETY: `chunk` holds m*n initialised floats; offsets index valid batches.
            unsafe { gemm_into(chunk.as_mut_ptr(), m, n, k, mat(ad, al, oa), mat(bd, bl, ob), true) };
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
