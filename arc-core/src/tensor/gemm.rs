//! The one strided matrix product every CPU kernel calls: `matmul`, the recurrent scans and
//! the fused attention alike, built-in or third-party.
//!
//! Operands are [`ndarray`] views, so their bounds and (for the destination) the absence of
//! aliasing are checked when the view is made; any row and column strides are taken in place
//! (a transposed weight is never copied). Parallel callers split a destination into
//! disjoint views with ndarray's own splitting (`axis_chunks_iter_mut`, `split_at`) and call
//! [`gemm()`] on each from their threads, with no shared pointer in sight.
//!
//! ```
//! use arc_core::tensor::gemm::{Threads, gemm};
//! use arc_core::tensor::ndarray::{ArrayView2, ArrayViewMut2};
//! # fn main() -> arc_core::Result<()> {
//! let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
//! let b = [5.0, 6.0, 7.0, 8.0];
//! let mut c = [0.0f32; 4];
//! let at = ArrayView2::from_shape((2, 2), &a).unwrap().reversed_axes(); // a^T, in place
//! gemm(ArrayViewMut2::from_shape((2, 2), &mut c).unwrap(), at, ArrayView2::from_shape((2, 2), &b).unwrap(), false, Threads::Calling)?;
//! assert_eq!(c, [26.0, 30.0, 38.0, 44.0]); // [[1*5+3*7, 1*6+3*8], [2*5+4*7, 2*6+4*8]]
//! # Ok(()) }
//! ```

use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;
use std::sync::Once;

use super::storage::build_f32;
use crate::{Error, Result};

/// Below `m * n * k` = 64^3 multiply-adds a product runs on the calling thread whatever
/// [`Threads`] says: handing it to the pool costs more than it saves.
pub const PARALLEL_MIN_MULTIPLY_ADDS: usize = 64 * 64 * 64;

/// Where a product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// On the calling thread only (the caller already runs in parallel, per block).
    Calling,
    /// On rayon's current pool (`RAYON_NUM_THREADS`) when the product is large enough
    /// ([`PARALLEL_MIN_MULTIPLY_ADDS`]).
    Pool,
}

/// `dst = a @ b`, or `dst += a @ b` with `accumulate`; `dst` is `[m, n]`, `a` `[m, k]`, `b`
/// `[k, n]`, each with any strides. Results are the same, bit for bit, for the same inputs
/// and thread count.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes do not chain.
pub fn gemm(
    mut dst: ArrayViewMut2<'_, f32>,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    accumulate: bool,
    threads: Threads,
) -> Result<()> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    if k != k2 || dst.dim() != (m, n) {
        return Err(Error::ShapeMismatch { op: "gemm", lhs: vec![m, k, k2, n], rhs: vec![dst.dim().0, dst.dim().1] });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return Ok(());
    }
    let pool = rayon::current_num_threads();
    let parallel =
        threads == Threads::Pool && pool > 1 && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MULTIPLY_ADDS;
    let (ds, as_, bs) = (dst.strides().to_vec(), a.strides().to_vec(), b.strides().to_vec());
    // SAFETY: ndarray views address in-bounds elements for every index of their shapes (checked
    // when they were made), `as_ptr` is element (0, 0) whatever the strides' signs, `dst` is a
    // unique borrow that cannot alias `a` or `b` (shared borrows), and the shapes chain (above).
    unsafe {
        strided(
            m,
            n,
            k,
            (dst.as_mut_ptr(), ds[0], ds[1]),
            (a.as_ptr(), as_[0], as_[1]),
            (b.as_ptr(), bs[0], bs[1]),
            accumulate,
            parallel,
        )
    }
    Ok(())
}

/// The `[rows, cols]` view of `data` with element (i, j) at `offset + i * rs + j * cs`.
///
/// ```
/// use arc_core::tensor::gemm::{Threads, gemm, view};
/// use arc_core::tensor::ndarray::ArrayViewMut2;
/// # fn main() -> arc_core::Result<()> {
/// let w = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // W [2, 3], row-major
/// let x = vec![1.0f32, 0.0, 1.0]; // x [1, 3]
/// let mut y = vec![0.0f32; 2]; // y = x @ W^T, [1, 2]
/// let wt = view(&w, 0, (2, 3), (3, 1))?.reversed_axes(); // W^T [3, 2], no copy
/// gemm(ArrayViewMut2::from_shape((1, 2), &mut y[..]).unwrap(), view(&x, 0, (1, 3), (3, 1))?, wt, false, Threads::Calling)?;
/// assert_eq!(y, [4.0, 10.0]);
/// assert!(view(&w, 1, (2, 3), (3, 1)).is_err()); // the last element would be past the end
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when some element would lie outside `data`.
pub fn view(
    data: &[f32],
    offset: usize,
    (rows, cols): (usize, usize),
    (rs, cs): (usize, usize),
) -> Result<ArrayView2<'_, f32>> {
    let outside =
        || Error::ShapeMismatch { op: "gemm (view)", lhs: vec![rows, cols, rs, cs, offset], rhs: vec![data.len()] };
    let rest = data.get(offset..).ok_or_else(outside)?;
    ArrayView2::from_shape((rows, cols).strides((rs, cs)), rest).map_err(|_| outside())
}

/// A freshly allocated row-major `[m, n]` product `a @ b` (never zero-filled first). Tall
/// products on several threads get one block of rows per thread, each a calling-thread
/// product: gemm's own threading splits tall-and-narrow or low-depth products poorly
/// (measured on the 2-core dev VM: [1024, 1024] x [1024, 64] 494 -> 450 us, [1024, 64] x [64,
/// 1024] 581 -> 458 us, [1024]^3 unchanged).
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes do not chain.
pub(crate) fn product(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
    product_plus_row(a, b, None)
}

/// [`product`] plus `row` (length `n`) added to every row: a Linear's bias, written into
/// each block just before the product accumulates onto it (no separate pass over the
/// output).
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes do not chain or `row` is not `n` long.
pub(crate) fn product_plus_row(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    row: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    if k != k2 || row.is_some_and(|r| r.len() != n) {
        return Err(Error::ShapeMismatch { op: "gemm", lhs: vec![m, k], rhs: vec![k2, n] });
    }
    if k == 0 || m == 0 || n == 0 {
        return Ok(match row {
            Some(r) if n > 0 => r.repeat(m),
            _ => vec![0.0; m * n],
        });
    }
    let threads = rayon::current_num_threads();
    let large = m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MULTIPLY_ADDS;
    let tall = threads > 1 && large && m >= 128 * threads;
    let rows = if tall { m.div_ceil(threads) } else { m };
    let bs = b.strides().to_vec();
    Ok(build_f32(m * n, |out| {
        out.par_chunks_mut(rows * n).enumerate().for_each(|(i, block)| {
            if let Some(r) = row {
                for dst in block.chunks_exact_mut(n) {
                    for (d, &v) in dst.iter_mut().zip(r) {
                        d.write(v);
                    }
                }
            }
            let a_block = a.slice(ndarray::s![i * rows..i * rows + block.len() / n, ..]);
            let a_s = a_block.strides().to_vec();
            // SAFETY: `block` holds `block.len() / n` whole rows of the row-major destination
            // (uninitialised without `row`: gemm then writes every element, never reading it,
            // as accumulate is false; with `row`, every element was written just above); `a_block`
            // and `b` are ndarray views (in bounds); the shapes chain.
            unsafe {
                strided(
                    block.len() / n,
                    n,
                    k,
                    (block.as_mut_ptr().cast(), n as isize, 1),
                    (a_block.as_ptr(), a_s[0], a_s[1]),
                    (b.as_ptr(), bs[0], bs[1]),
                    row.is_some(),
                    !tall && large && threads > 1,
                )
            }
        })
    }))
}

/// A raw strided operand: element (i, j) at `ptr + i * rs + j * cs`.
type Raw<P> = (P, isize, isize);

/// Whether a product goes to the `gemm` crate rather than Arc's kernel
/// ([`super::microkernel`]): on CPUs with neither AVX-512 nor AVX2; with the AVX-512 build,
/// for small products whose `n` leaves a half-empty 32-wide tile (around 48^3 the crate
/// measured ~20% faster) and for products of 1024 or more in every dim, where the crate
/// measured 1-3% faster (sgemm2048 451 vs 445 GFLOPS on 2 threads). The AVX2 build takes
/// every product: on a 2-core Zen 3 it measured 0.97-1.7x the crate's speed from 8^3 up,
/// the attention's per-head products included (`benches/sgemm_kernel.rs`,
/// docs/PERFORMANCE.md).
fn use_gemm_crate(m: usize, n: usize, k: usize) -> bool {
    if !super::microkernel::available() {
        return true;
    }
    if !super::math::has_avx512() {
        return false;
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    let small_ragged = work <= 64 * 64 * 64 && (1..=16).contains(&(n % 32));
    let large_square = m >= 1024 && n >= 1024 && k >= 1024;
    small_ragged || large_square
}

/// The product on raw strided operands: Arc's kernel ([`super::microkernel`], AVX-512 or
/// AVX2) or the `gemm` crate ([`use_gemm_crate`]).
///
/// # Safety
/// As [`gemm()`]'s views guarantee: in bounds for `[m, n]`, `[m, k]`, `[k, n]`; `dst` unaliased.
#[allow(clippy::too_many_arguments)]
unsafe fn strided(
    m: usize,
    n: usize,
    k: usize,
    dst: Raw<*mut f32>,
    a: Raw<*const f32>,
    b: Raw<*const f32>,
    accumulate: bool,
    parallel: bool,
) {
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let non_negative = [dst.1, dst.2, a.1, a.2, b.1, b.2].iter().all(|&s| s >= 0);
    if non_negative && !use_gemm_crate(m, n, k) {
        // SAFETY: forwarded from the caller; the kernel is available (checked) and takes
        // non-negative strides (checked).
        unsafe {
            super::microkernel::sgemm(m, n, k, a.0, a.1, a.2, b.0, b.1, b.2, dst.0, dst.1, dst.2, accumulate, threads)
        };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { crate_gemm(m, n, k, dst, a, b, accumulate, threads) }
}

/// The product through the `gemm` crate.
///
/// # Safety
/// As [`strided`].
#[allow(clippy::too_many_arguments)]
unsafe fn crate_gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: Raw<*mut f32>,
    a: Raw<*const f32>,
    b: Raw<*const f32>,
    accumulate: bool,
    threads: usize,
) {
    // gemm packs a column-major lhs panel only when the panel is wider than 16 * NR columns
    // on several threads; `g @ W` for a row-major `W` (a Linear's dX, [64, 1024] @ [1024,
    // 1024]) then streams W unpacked and took 2.2 ms instead of 0.94 ms on 2 threads
    // (measured on the 2-core dev VM). Packing always costs little, so ask for it. This is
    // a process-wide gemm setting.
    static PACKING: Once = Once::new();
    PACKING.call_once(|| gemm::set_lhs_packing_threshold_multi_thread(1));
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: forwarded from the caller. gemm's argument order: dst, dst col stride, dst row
    // stride, read_dst, lhs, lhs col/row strides, rhs, rhs col/row strides, alpha (the
    // factor on dst, used only with read_dst), beta (on the product), conj flags.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2,
            dst.1,
            accumulate,
            a.0,
            a.2,
            a.1,
            b.0,
            b.2,
            b.1,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn reference(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        let (m, k) = a.dim();
        let n = b.dim().1;
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] as f64 * b[[p, j]] as f64).sum::<f64>() as f32)
    }

    fn filled(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17 + seed as usize * 7) % 23) as f32 / 7.0 - 1.5)
    }

    #[test]
    fn transposed_strided_and_accumulated_operands_match_the_naive_loop() -> Result<()> {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (70, 65, 80), (130, 7, 33)] {
            let a = filled(m, k, 1);
            let bt = filled(n, k, 2); // b = bt^T: a column-major operand
            let want = reference(a.view(), bt.t());
            for threads in [Threads::Calling, Threads::Pool] {
                let mut c = Array2::<f32>::from_elem((m, n), 9.0);
                gemm(c.view_mut(), a.view(), bt.t(), false, threads)?;
                assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs())), "{m}x{k}x{n}");
                // A strided destination: every other column of a wider buffer, accumulated.
                let mut wide = Array2::<f32>::from_elem((m, 2 * n), 1.0);
                gemm(wide.slice_mut(s![.., ..;2]), a.view(), bt.t(), true, threads)?;
                assert!(
                    wide.slice(s![.., ..;2])
                        .iter()
                        .zip(&want)
                        .all(|(x, y)| (x - 1.0 - y).abs() <= 1e-4 * (1.0 + y.abs()))
                );
                assert!(wide.slice(s![.., 1..;2]).iter().all(|&x| x == 1.0));
            }
        }
        Ok(())
    }

    #[test]
    fn empty_depth_zeroes_or_keeps_and_bad_shapes_are_errors() -> Result<()> {
        let (a, b) = (Array2::<f32>::zeros((2, 0)), Array2::<f32>::zeros((0, 3)));
        let mut c = Array2::<f32>::from_elem((2, 3), 4.0);
        gemm(c.view_mut(), a.view(), b.view(), true, Threads::Pool)?;
        assert!(c.iter().all(|&x| x == 4.0));
        gemm(c.view_mut(), a.view(), b.view(), false, Threads::Pool)?;
        assert!(c.iter().all(|&x| x == 0.0));
        let err =
            gemm(c.view_mut(), filled(2, 4, 0).view(), filled(3, 3, 0).view(), false, Threads::Calling).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { op: "gemm", .. }), "{err}");
        Ok(())
    }
}
