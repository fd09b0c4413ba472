//! Softmax rows with explicit AVX-512: `exp` as `2^n * e^r` with `vscalefps` doing the
//! `2^n` (and its overflow and underflow) in one instruction and a degree-5 minimax
//! polynomial for `e^r`, so a vector of 16 exps costs 12 instructions instead of the portable
//! kernel's 20. Softmax over 64 x 4096 is bound by this count and by memory: 45 -> 37 us on
//! 2 threads of the dev VM. The same Cody-Waite reduction as `math::exp`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::super::math::{self, Avx512};

/// `e^x` of 16 lanes that are at most 0 (or NaN), as `x - max` is: `n = round(x log2 e)`,
/// `r = x - n ln 2` (two constants), `e^r` by a degree-5 minimax polynomial
/// (|r| <= ln2 / 2), scaled by `2^n` with `vscalefps` (0 below f32's range, NaN kept).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn exp16_nonpositive(x: __m512) -> __m512 {
    // The portable kernel's lower clamp: -inf gives 0 (not NaN from inf - inf), NaN stays
    // NaN (max returns its second operand, x, when it is NaN). No upper clamp: x <= 0.
    let x = _mm512_max_ps(_mm512_set1_ps(-87.3), x);
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
        x,
        _mm512_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    // A degree-5 minimax fit of e^r on [-ln2/2, ln2/2] (relative error 7.5e-8, 2.1e-7 with
    // f32 arithmetic), two multiply-adds fewer than the portable kernel's degree-7 Taylor.
    let mut p = _mm512_set1_ps(8.297_655e-3);
    for c in [4.191_538_3e-2, 0.166_675_75, 0.499_988_94, 0.999_999_7, 1.000_000_1] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    _mm512_scalef_ps(p, n)
}

/// `o = softmax(x)` for one row (max, exp with the running sum, scale); the last `len % 16`
/// elements through the portable `math::exp`.
///
/// # Safety
/// The CPU must have AVX-512F; `o.len() == x.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn softmax_row(x: &[f32], o: &mut [MaybeUninit<f32>]) {
    let full = x.len() / 16 * 16;
    let (xv, xt) = x.split_at(full);
    let (ov, ot) = o.split_at_mut(full);
    // Four running maxima, so that four `vmaxps` (4-cycle latency) are in flight.
    let mut vmax = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    for (i, c) in xv.chunks_exact(16).enumerate() {
        // SAFETY: `c` holds 16 floats (unaligned load).
        vmax[i % 4] = _mm512_max_ps(vmax[i % 4], unsafe { _mm512_loadu_ps(c.as_ptr()) });
    }
    let vmax = _mm512_max_ps(_mm512_max_ps(vmax[0], vmax[1]), _mm512_max_ps(vmax[2], vmax[3]));
    let m = xt.iter().fold(_mm512_reduce_max_ps(vmax), |m, &v| m.max(v));
    let vm = _mm512_set1_ps(m);
    // Two running sums, so that two `vaddps` are in flight.
    let mut acc = [_mm512_setzero_ps(); 2];
    for (i, (oc, xc)) in ov.chunks_exact_mut(16).zip(xv.chunks_exact(16)).enumerate() {
        // SAFETY: `xc` and `oc` hold 16 floats each (unaligned load and store).
        let e = exp16_nonpositive(_mm512_sub_ps(unsafe { _mm512_loadu_ps(xc.as_ptr()) }, vm));
        acc[i % 2] = _mm512_add_ps(acc[i % 2], e);
        unsafe { _mm512_storeu_ps(oc.as_mut_ptr().cast(), e) };
    }
    let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
    for (o, &v) in ot.iter_mut().zip(xt) {
        let e = math::exp::<Avx512>(v - m);
        s += e;
        o.write(e);
    }
    let inv = _mm512_set1_ps(1.0 / s);
    let o = math::assume_init(o);
    let (ov, ot) = o.split_at_mut(full);
    for oc in ov.chunks_exact_mut(16) {
        // SAFETY: `oc` holds 16 initialised floats.
        unsafe { _mm512_storeu_ps(oc.as_mut_ptr(), _mm512_mul_ps(_mm512_loadu_ps(oc.as_ptr()), inv)) };
    }
    ot.iter_mut().for_each(|v| *v *= 1.0 / s);
}

/// `log(sum(exp(x)))` of one row, shifted by its max; the last `len % 16` elements as one
/// masked vector (a cross-entropy row of 10 classes is a single masked vector, not ten
/// scalar exps: the MLP step's loss 23 -> ~3 us of CPU time).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn logsumexp_row(x: &[f32]) -> f32 {
    let full = x.len() / 16 * 16;
    let (xv, xt) = x.split_at(full);
    let tail: __mmask16 = (1u32 << xt.len()).wrapping_sub(1) as __mmask16;
    let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
    // SAFETY: the mask covers `xt.len()` < 16 floats of `xt` (masked lanes are not read).
    let last = unsafe { _mm512_mask_loadu_ps(ninf, tail, xt.as_ptr()) };
    let mut vmax = [last, ninf, ninf, ninf];
    for (i, c) in xv.chunks_exact(16).enumerate() {
        // SAFETY: `c` holds 16 floats (unaligned load).
        vmax[i % 4] = _mm512_max_ps(vmax[i % 4], unsafe { _mm512_loadu_ps(c.as_ptr()) });
    }
    let m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(vmax[0], vmax[1]), _mm512_max_ps(vmax[2], vmax[3])));
    if m == f32::NEG_INFINITY {
        return m;
    }
    let vm = _mm512_set1_ps(m);
    let mut acc = [_mm512_maskz_mov_ps(tail, exp16_nonpositive(_mm512_sub_ps(last, vm))), _mm512_setzero_ps()];
    for (i, c) in xv.chunks_exact(16).enumerate() {
        // SAFETY: as above.
        acc[i % 2] =
            _mm512_add_ps(acc[i % 2], exp16_nonpositive(_mm512_sub_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) }, vm)));
    }
    m + _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1])).ln()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn run(x: &[f32]) -> Vec<f32> {
        let mut o = vec![MaybeUninit::new(0.0f32); x.len()];
        // SAFETY: called only when the CPU has AVX-512F; `o` is as long as `x`.
        unsafe { softmax_row(x, &mut o) };
        o.into_iter().map(|v| unsafe { v.assume_init() }).collect()
    }

    #[test]
    fn rows_match_an_f64_softmax_including_tails_and_minus_infinity() {
        if !math::has_avx512() {
            eprintln!("SKIPPED softmax_avx512: the CPU has no AVX-512F");
            return;
        }
        for len in [1usize, 3, 15, 16, 17, 33, 4099] {
            let mut x: Vec<f32> = (0..len).map(|i| ((i * 7919 % 101) as f32 - 50.0) * 0.37).collect();
            if len > 2 {
                x[1] = f32::NEG_INFINITY; // a masked position: exactly 0
                x[len - 1] = 80.0; // e^80 overflows f32 before the max is subtracted
            }
            let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let s: f64 = x.iter().map(|&v| (v as f64 - m).exp()).sum();
            for (i, (got, &v)) in run(&x).iter().zip(&x).enumerate() {
                let want = (v as f64 - m).exp() / s;
                assert!((*got as f64 - want).abs() <= 2e-6 * want + 1e-30, "len {len} [{i}]: {got} vs {want}");
            }
        }
        // A row of -inf is NaN (as in PyTorch), a NaN makes its row NaN.
        assert!(run(&[f32::NEG_INFINITY; 20]).iter().all(|v| v.is_nan()));
        let mut with_nan = vec![1.0f32; 20];
        with_nan[3] = f32::NAN;
        assert!(run(&with_nan).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn logsumexp_rows_match_f64_including_masked_tails() {
        if !math::has_avx512() {
            eprintln!("SKIPPED logsumexp_row: the CPU has no AVX-512F");
            return;
        }
        for len in [1usize, 3, 10, 15, 16, 17, 33, 4099] {
            let mut x: Vec<f32> = (0..len).map(|i| ((i * 7919 % 101) as f32 - 50.0) * 0.37).collect();
            if len > 2 {
                x[1] = f32::NEG_INFINITY;
                x[len - 1] = 80.0;
            }
            let m = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let want = m + x.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
            // SAFETY: the CPU has AVX-512F (checked above).
            let got = unsafe { logsumexp_row(&x) } as f64;
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "len {len}: {got} vs {want}");
        }
        // SAFETY: as above.
        unsafe {
            assert_eq!(logsumexp_row(&[]), f32::NEG_INFINITY);
            assert_eq!(logsumexp_row(&[f32::NEG_INFINITY; 10]), f32::NEG_INFINITY);
            assert!(logsumexp_row(&[1.0, f32::NAN, 2.0]).is_nan());
            let mut long = [1.0f32; 17];
            long[5] = f32::NAN;
            assert!(logsumexp_row(&long).is_nan());
        }
    }
}
