//! Scalar and slice math shared by the CPU kernels: order-insensitive reductions written so
//! LLVM vectorises them, a vectorisable `exp`, and runtime dispatch to AVX2+FMA builds of
//! the hot row kernels (the default x86-64 target only assumes SSE2).

use std::mem::MaybeUninit;

/// How a kernel computes `a * b + c`: fused on CPUs with FMA, plain otherwise (a software
/// `fmaf` call would be far slower than the two operations).
pub(crate) trait Isa: Copy {
    fn fma(a: f32, b: f32, c: f32) -> f32;
}

/// Any x86-64 (SSE2) or non-x86 CPU.
#[derive(Clone, Copy)]
pub(crate) struct Generic;

impl Isa for Generic {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// A CPU with AVX2 and FMA (the kernels are compiled with those features enabled).
#[derive(Clone, Copy)]
pub(crate) struct Avx2;

impl Isa for Avx2 {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// A CPU with AVX-512F (the kernels are compiled for 512-bit vectors).
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

impl Isa for Avx512 {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// Whether the CPU has AVX-512F and the environment does not set `ARC_DISABLE_AVX512`
/// (for comparing the two builds of the kernels; read once per process).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx512f") && std::env::var_os("ARC_DISABLE_AVX512").is_none())
}

/// Whether the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Defines `fn $name(args)` that calls `$generic::<Avx512>` compiled with AVX-512F when the
/// CPU has it, `$generic::<Avx2>` compiled with AVX2+FMA when it has those, and
/// `$generic::<Generic>` otherwise. `$generic` must be `#[inline(always)]`.
macro_rules! multiversion {
    ($vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $generic:ident) => {
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $generic::<$crate::tensor::math::Avx512>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic::<$crate::tensor::math::Avx2>($($arg),*)
                }
                if $crate::tensor::math::has_avx512() {
                    // SAFETY: the CPU has the features `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::tensor::math::has_avx2_fma() {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic::<$crate::tensor::math::Generic>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Independent accumulators of the reductions: four AVX-512 vectors, so that four adds are
/// in flight (one vector would wait out the add's 4-cycle latency at every step: LayerNorm
/// over 64 x 4096 spent 37 of its 70 us on one thread there).
const LANES: usize = 64;

/// Sum of a slice with 64 independent accumulators (vectorises; the summation order differs
/// from a left fold, so results may differ from it in the last bits).
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Sum of `(x_i - shift)^2`.
#[inline(always)]
pub(crate) fn sum_sq_dev<I: Isa>(x: &[f32], shift: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            let d = v - shift;
            *a = I::fma(d, d, *a);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|&v| (v - shift) * (v - shift)).sum::<f32>()
}

/// Sum of `a_i * b_i`.
#[inline(always)]
pub(crate) fn dot<I: Isa>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (c, d) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(c).zip(d) {
            *s = I::fma(x, y, *s);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Largest element (`-inf` for an empty slice; NaN-propagation is not guaranteed).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter().chain(rest).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// `e^x` to about 2 ulp, branch-free so that loops over it vectorise (Cephes `expf`
/// polynomial with Cody-Waite range reduction). Inputs are clamped to `[-87.3, 88.3]`:
/// below, the result is ~1e-38 instead of a denormal or 0, which is harmless in softmax.
#[inline(always)]
pub(crate) fn exp<I: Isa>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let t = I::fma(x, LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = I::fma(n, -0.693_359_4, x);
    let r = I::fma(n, 2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4;
    p = I::fma(p, r, 1.398_199_9e-3);
    p = I::fma(p, r, 8.333_452e-3);
    p = I::fma(p, r, 4.166_579_6e-2);
    p = I::fma(p, r, 1.666_666_5e-1);
    p = I::fma(p, r, 0.5);
    let y = I::fma(p, r * r, r) + 1.0;
    // t's bits are those of 1.5 * 2^23 + n, so n is their difference.
    let n_int = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    y * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// `sqrt(2 / pi)`, the scale inside the tanh approximation of GELU.
pub(crate) const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation of GELU.
pub(crate) const GELU_COEF: f32 = 0.044_715;

/// `gelu_tanh(x) = 0.5 x (1 + tanh(u))` with `u = sqrt(2/pi) (x + 0.044715 x^3)`, computed as
/// `x / (1 + e^(-2u))` (since `0.5 (1 + tanh u) = sigmoid(2u)`).
#[inline(always)]
pub(crate) fn gelu_tanh<I: Isa>(x: f32) -> f32 {
    let u2 = -2.0 * SQRT_2_OVER_PI * x * I::fma(GELU_COEF * x, x, 1.0);
    x / (1.0 + exp::<I>(u2))
}

#[inline(always)]
fn transpose_impl<I: Isa>(
    src: &[f32],
    rows: usize,
    cols: usize,
    c0: usize,
    bias: Option<&[f32]>,
    out: &mut [MaybeUninit<f32>],
) {
    // `out` holds dst rows c0.. (each `rows` long); dst[c][r] = src[r][c] (+ bias[r]).
    let cn = out.len() / rows;
    let b = |r: usize| bias.map_or(0.0, |b| b[r]);
    let (r8, c8) = (rows / 8 * 8, cn / 8 * 8);
    for j0 in (0..c8).step_by(8) {
        for r0 in (0..r8).step_by(8) {
            // 8x8 tiles: rows of 32 bytes on both sides (a column-by-column walk would put
            // every store of a tile in the same L1 set when `rows` is a multiple of 1024).
            let mut tile = [[0f32; 8]; 8];
            for (i, t) in tile.iter_mut().enumerate() {
                t.copy_from_slice(&src[(r0 + i) * cols + c0 + j0..][..8]);
            }
            let mut bt = [0f32; 8];
            if let Some(bias) = bias {
                bt.copy_from_slice(&bias[r0..r0 + 8]);
            }
            for j in 0..8 {
                let o = &mut out[(j0 + j) * rows + r0..][..8];
                for (i, o) in o.iter_mut().enumerate() {
                    o.write(tile[i][j] + bt[i]);
                }
            }
        }
    }
    // Edges: the last rows % 8 source rows and cols % 8 destination rows.
    for j in 0..cn {
        let r_start = if j < c8 { r8 } else { 0 };
        for r in r_start..rows {
            out[j * rows + r].write(src[r * cols + c0 + j] + b(r));
        }
    }
}
multiversion!(fn transpose_block(
    src: &[f32], rows: usize, cols: usize, c0: usize, bias: Option<&[f32]>, out: &mut [MaybeUninit<f32>]
) => transpose_impl);

/// The transpose of a row-major `[rows, cols]` matrix, plus `bias[r]` on destination column
/// `r` when given. Parallel over blocks of destination rows above the rayon threshold.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, bias: Option<&[f32]>) -> Vec<f32> {
    use rayon::prelude::*;
    const BLOCK: usize = 64;
    let n = rows * cols;
    if n == 0 {
        return Vec::new();
    }
    super::storage::build_f32(n, |out| {
        if super::storage::should_par(n) {
            out.par_chunks_mut(BLOCK * rows)
                .enumerate()
                .for_each(|(k, o)| transpose_block(src, rows, cols, k * BLOCK, bias, o));
        } else {
            for (k, o) in out.chunks_mut(BLOCK * rows).enumerate() {
                transpose_block(src, rows, cols, k * BLOCK, bias, o);
            }
        }
    })
}

/// Views a fully written output row as initialised floats.
#[inline(always)]
pub(crate) fn assume_init(o: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: callers pass rows whose every element they have just written; MaybeUninit<f32>
    // has the layout of f32.
    unsafe { &mut *(o as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        // Relative error against f64 exp over [-80, 80]: below 3e-7 (~2.5 ulp).
        let mut worst = 0.0f64;
        for i in -80_000..=80_000 {
            let x = i as f32 * 1e-3;
            let want = (x as f64).exp();
            for got in [exp::<Generic>(x) as f64, exp::<Avx2>(x) as f64] {
                worst = worst.max(((got - want) / want).abs());
            }
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp::<Generic>(-1000.0) < 1e-37);
        assert!(exp::<Generic>(1000.0).is_finite());
    }

    #[test]
    fn fast_gelu_tanh_matches_the_definition() {
        for i in -2000..=2000 {
            let x = i as f32 * 5e-3;
            let xd = x as f64;
            let want = 0.5 * xd * (1.0 + (0.7978845608028654 * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!((gelu_tanh::<Generic>(x) as f64 - want).abs() < 1e-6, "x = {x}");
        }
    }

    #[test]
    fn transpose_handles_edges_and_bias() {
        for (rows, cols) in [(1, 1), (3, 5), (8, 8), (17, 70), (1024, 64), (64, 9)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let bias: Vec<f32> = (0..rows).map(|r| 1000.0 * r as f32).collect();
            let t = transpose(&src, rows, cols, Some(&bias));
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], src[r * cols + c] + bias[r], "{rows}x{cols} at {r},{c}");
                }
            }
            assert_eq!(transpose(&src, rows, cols, None)[cols.min(2) - 1], src[(cols.min(2) - 1) * cols]);
        }
    }

    #[test]
    fn reductions_agree_with_naive_loops() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin()).collect();
        let naive: f32 = x.iter().sum();
        assert!((sum(&x) - naive).abs() < 1e-5);
        assert_eq!(max(&x), x.iter().cloned().fold(f32::MIN, f32::max));
        let d: f32 = x.iter().map(|v| v * v).sum();
        assert!((dot::<Generic>(&x, &x) - d).abs() < 1e-5);
        assert!((sum_sq_dev::<Avx2>(&x, 0.0) - d).abs() < 1e-5);
    }
}
