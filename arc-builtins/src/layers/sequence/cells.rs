//! The per-step cell updates of the fused recurrences (`scan.rs`), written
//! so that LLVM vectorises them: branch-free `exp` (Cephes' `expf`
//! polynomial with Cody-Waite range reduction, about 2 ulp), `sigmoid` and
//! `tanh` built on it, and slices zipped so no index is bounds-checked. On
//! x86-64 CPUs with AVX-512F, or AVX2 and FMA, the kernels run a build compiled
//! for those features (the default target assumes SSE2 only).
//!
//! Layouts, for one step of `N` rows and hidden size `H`: gate blocks
//! `[N, G*H]` (row-major, gate-major within a row, PyTorch's order), states
//! `[N, H]`.

/// `a * b + c`, fused when compiled for FMA (a software `fmaf` would be far
/// slower than the two operations, so the generic build does not fuse).
#[inline(always)]
fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `e^x` to about 2 ulp, inputs clamped to `[-87.3, 88.3]`.
#[inline(always)]
fn exp<const FMA: bool>(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let t = fma::<FMA>(x, std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = fma::<FMA>(n, -0.693_359_4, x);
    let r = fma::<FMA>(n, 2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4;
    p = fma::<FMA>(p, r, 1.398_199_9e-3);
    p = fma::<FMA>(p, r, 8.333_452e-3);
    p = fma::<FMA>(p, r, 4.166_579_6e-2);
    p = fma::<FMA>(p, r, 1.666_666_5e-1);
    p = fma::<FMA>(p, r, 0.5);
    let y = fma::<FMA>(p, r * r, r) + 1.0;
    // t's bits are those of 1.5 * 2^23 + n, so n is their difference.
    let n_int = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    y * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(super) fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<FMA>(-x))
}

/// `tanh(x)`: Cephes' `tanhf` odd polynomial for `|x| < 0.625` (where
/// `1 - e^-2|x|` would cancel), `(1 - e) / (1 + e)` with `e = e^(-2|x|)`
/// above; both computed and one selected, so loops vectorise.
#[inline(always)]
pub(super) fn tanh<const FMA: bool>(x: f32) -> f32 {
    let ax = x.abs();
    let e = exp::<FMA>(-2.0 * ax);
    let large = (1.0 - e) / (1.0 + e);
    let z = ax * ax;
    let mut p = -5.704_988_7e-3;
    p = fma::<FMA>(p, z, 2.063_909e-2);
    p = fma::<FMA>(p, z, -5.373_971_6e-2);
    p = fma::<FMA>(p, z, 1.333_144_2e-1);
    p = fma::<FMA>(p, z, -3.333_328e-1);
    let small = fma::<FMA>(p * z, ax, ax);
    (if ax < 0.625 { small } else { large }).copysign(x)
}

/// Defines `pub(super) fn $name(args)` running `$generic::<true>` compiled with AVX-512F
/// (16 lanes; the same operations per element, so the same bits) or AVX2 and FMA when the
/// CPU has them, else `$generic::<false>`.
macro_rules! dispatch {
    ($name:ident => $generic:ident($($arg:ident : $ty:ty),* $(,)?)) => {
        pub(super) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                if arc_core::tensor::avx512_enabled() {
                    // SAFETY: the CPU has the features `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}

/// `v = sigmoid(v)` over a slice (a loop of one stream, so it vectorises).
#[inline(always)]
fn sigmoid_slice<const FMA: bool>(v: &mut [f32]) {
    for x in v {
        *x = sigmoid::<FMA>(*x);
    }
}

/// `v = tanh(v)` over a slice.
#[inline(always)]
fn tanh_slice<const FMA: bool>(v: &mut [f32]) {
    for x in v {
        *x = tanh::<FMA>(*x);
    }
}

/// One LSTM step. `x`, `rec`: the input and recurrent pre-activations
/// `[N, 4H]`; `c`: the cell state, updated in place; `h`: the new hidden
/// state; `acts`: the gates `i, f, g, o` after activation, for the backward.
#[inline(always)]
fn lstm_step_impl<const FMA: bool>(x: &[f32], rec: &[f32], c: &mut [f32], h: &mut [f32], acts: &mut [f32], hs: usize) {
    let rows = x.chunks_exact(4 * hs).zip(rec.chunks_exact(4 * hs)).zip(acts.chunks_exact_mut(4 * hs));
    for (((x, rec), acts), (c, h)) in rows.zip(c.chunks_exact_mut(hs).zip(h.chunks_exact_mut(hs))) {
        for ((a, &x), &r) in acts.iter_mut().zip(x).zip(rec) {
            *a = x + r;
        }
        sigmoid_slice::<FMA>(&mut acts[..2 * hs]);
        tanh_slice::<FMA>(&mut acts[2 * hs..3 * hs]);
        sigmoid_slice::<FMA>(&mut acts[3 * hs..]);
        let (i, rest) = acts.split_at(hs);
        let (f, rest) = rest.split_at(hs);
        let (g, o) = rest.split_at(hs);
        let (f, g, o) = (&f[..i.len()], &g[..i.len()], &o[..i.len()]);
        let (c, h) = (&mut c[..i.len()], &mut h[..i.len()]);
        for j in 0..i.len() {
            c[j] = fma::<FMA>(f[j], c[j], i[j] * g[j]);
            h[j] = c[j];
        }
        tanh_slice::<FMA>(h);
        for j in 0..o.len() {
            h[j] *= o[j];
        }
    }
}
dispatch!(lstm_step => lstm_step_impl(x: &[f32], rec: &[f32], c: &mut [f32], h: &mut [f32], acts: &mut [f32], hs: usize));

/// One LSTM step backward. `acts`: the step's gates; `c`, `c_prev`: the
/// cell states after and before it; `dh`: the gradient reaching `h_t`;
/// `dc`: the gradient reaching `c_t` from later steps, replaced by the one
/// for `c_{t-1}`; `dgates`: the gradient of the pre-activations `[N, 4H]`.
#[inline(always)]
fn lstm_step_backward_impl<const FMA: bool>(
    acts: &[f32],
    c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
    hs: usize,
) {
    let rows = acts.chunks_exact(4 * hs).zip(dgates.chunks_exact_mut(4 * hs));
    let states = c.chunks_exact(hs).zip(c_prev.chunks_exact(hs)).zip(dh.chunks_exact(hs).zip(dc.chunks_exact_mut(hs)));
    for ((acts, dg), ((c, c_prev), (dh, dc))) in rows.zip(states) {
        let (i, rest) = acts.split_at(hs);
        let (f, rest) = rest.split_at(hs);
        let (g, o) = rest.split_at(hs);
        let (di, rest) = dg.split_at_mut(hs);
        let (df, rest) = rest.split_at_mut(hs);
        let (dgg, d_o) = rest.split_at_mut(hs);
        let n = i.len();
        let (f, g, o, c, c_prev, dh) = (&f[..n], &g[..n], &o[..n], &c[..n], &c_prev[..n], &dh[..n]);
        let (dc, df, dgg, d_o) = (&mut dc[..n], &mut df[..n], &mut dgg[..n], &mut d_o[..n]);
        for j in 0..n {
            let tc = tanh::<FMA>(c[j]);
            // dc_t = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh^2 c_t)
            let dct = fma::<FMA>(dh[j] * o[j], 1.0 - tc * tc, dc[j]);
            dc[j] = dct * f[j];
            di[j] = dct * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dct * c_prev[j] * f[j] * (1.0 - f[j]);
            dgg[j] = dct * i[j] * (1.0 - g[j] * g[j]);
            d_o[j] = dh[j] * tc * o[j] * (1.0 - o[j]);
        }
    }
}
dispatch!(lstm_step_backward => lstm_step_backward_impl(
    acts: &[f32], c: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32], dgates: &mut [f32], hs: usize,
));

/// One GRU step. `x`, `rec`: `[N, 3H]` input and recurrent (`h W_hh^T +
/// b_hh`) pre-activations; `h`: the hidden state, updated in place; `acts`:
/// `r, z, n, W_hn h + b_hn` per row `[N, 4H]`, for the backward.
#[inline(always)]
fn gru_step_impl<const FMA: bool>(x: &[f32], rec: &[f32], h: &mut [f32], acts: &mut [f32], hs: usize) {
    let rows = x.chunks_exact(3 * hs).zip(rec.chunks_exact(3 * hs)).zip(acts.chunks_exact_mut(4 * hs));
    for (((x, rec), acts), h) in rows.zip(h.chunks_exact_mut(hs)) {
        let (rz, rest) = acts.split_at_mut(2 * hs);
        let (n_act, hn) = rest.split_at_mut(hs);
        for ((a, &x), &r) in rz.iter_mut().zip(&x[..2 * hs]).zip(&rec[..2 * hs]) {
            *a = x + r;
        }
        sigmoid_slice::<FMA>(rz);
        hn.copy_from_slice(&rec[2 * hs..]);
        let (r, z) = rz.split_at(hs);
        let m = r.len();
        let (z, xn, hn, n_act, h) = (&z[..m], &x[2 * hs..2 * hs + m], &hn[..m], &mut n_act[..m], &mut h[..m]);
        for j in 0..m {
            n_act[j] = fma::<FMA>(r[j], hn[j], xn[j]);
        }
        tanh_slice::<FMA>(n_act);
        for j in 0..m {
            // (1 - z) n + z h = n + z (h - n)
            h[j] = fma::<FMA>(z[j], h[j] - n_act[j], n_act[j]);
        }
    }
}
dispatch!(gru_step => gru_step_impl(x: &[f32], rec: &[f32], h: &mut [f32], acts: &mut [f32], hs: usize));

/// One GRU step backward. `acts`: the step's `r, z, n, W_hn h + b_hn`;
/// `h_prev`: the state before it; `dh`: the gradient reaching `h_t`,
/// replaced by its direct part for `h_{t-1}` (`dh z`; the part through
/// `W_hh` is added by the caller); `dx`, `drec`: the gradients of the input
/// and recurrent pre-activations `[N, 3H]`.
#[inline(always)]
fn gru_step_backward_impl<const FMA: bool>(
    acts: &[f32],
    h_prev: &[f32],
    dh: &mut [f32],
    dx: &mut [f32],
    drec: &mut [f32],
    hs: usize,
) {
    let rows = acts.chunks_exact(4 * hs).zip(dx.chunks_exact_mut(3 * hs)).zip(drec.chunks_exact_mut(3 * hs));
    for (((acts, dx), drec), (h_prev, dh)) in rows.zip(h_prev.chunks_exact(hs).zip(dh.chunks_exact_mut(hs))) {
        let (r, rest) = acts.split_at(hs);
        let (z, rest) = rest.split_at(hs);
        let (n_act, hn) = rest.split_at(hs);
        let (dxr, rest) = dx.split_at_mut(hs);
        let (dxz, dxn) = rest.split_at_mut(hs);
        let (drr, rest) = drec.split_at_mut(hs);
        let (drz, drn) = rest.split_at_mut(hs);
        let m = r.len();
        let (z, n_act, hn, hp, dh) = (&z[..m], &n_act[..m], &hn[..m], &h_prev[..m], &mut dh[..m]);
        let (dxr, dxz, dxn, drr, drz, drn) =
            (&mut dxr[..m], &mut dxz[..m], &mut dxn[..m], &mut drr[..m], &mut drz[..m], &mut drn[..m]);
        for j in 0..m {
            let g = dh[j];
            let dn = g * (1.0 - z[j]) * (1.0 - n_act[j] * n_act[j]);
            let dz = g * (hp[j] - n_act[j]) * z[j] * (1.0 - z[j]);
            let dr = dn * hn[j] * r[j] * (1.0 - r[j]);
            (dxr[j], dxz[j], dxn[j]) = (dr, dz, dn);
            (drr[j], drz[j], drn[j]) = (dr, dz, dn * r[j]);
            dh[j] = g * z[j];
        }
    }
}
dispatch!(gru_step_backward => gru_step_backward_impl(
    acts: &[f32], h_prev: &[f32], dh: &mut [f32], dx: &mut [f32], drec: &mut [f32], hs: usize,
));

#[cfg(test)]
mod tests {
    use super::*;

    /// `|got - want| <= 4 ulp of |want|` plus 1e-9 (the polynomial `exp` is
    /// ~2 ulp; the division adds one).
    fn close(got: f32, want: f64) -> bool {
        (f64::from(got) - want).abs() <= 4.0 * f64::from(f32::EPSILON) * want.abs() + 1e-9
    }

    #[test]
    fn sigmoid_and_tanh_are_accurate_in_both_builds() {
        for i in -30_000..=30_000 {
            let x = i as f32 * 1e-3 + 3e-7;
            let (s, t) = (1.0 / (1.0 + (-f64::from(x)).exp()), f64::from(x).tanh());
            assert!(close(sigmoid::<false>(x), s) && close(sigmoid::<true>(x), s), "sigmoid({x})");
            assert!(close(tanh::<false>(x), t) && close(tanh::<true>(x), t), "tanh({x}): {} vs {t}", tanh::<true>(x));
        }
        assert_eq!((tanh::<true>(0.0), tanh::<true>(200.0), tanh::<true>(-200.0)), (0.0, 1.0, -1.0));
        assert_eq!((sigmoid::<true>(200.0), sigmoid::<false>(0.0)), (1.0, 0.5));
        assert!(sigmoid::<true>(-200.0) < 1e-30);
    }

    #[test]
    fn lstm_step_follows_the_equations() {
        // One row, H = 1, pre-activations (i, f, g, o) = x + rec = (0, 1, 0.5, -1), c = 2:
        // c' = sigmoid(1) * 2 + sigmoid(0) tanh(0.5), h' = sigmoid(-1) tanh(c').
        let (x, rec) = ([0.0, 0.5, 0.25, -0.5], [0.0, 0.5, 0.25, -0.5]);
        let (mut c, mut h, mut acts) = ([2.0], [0.0], [0.0; 4]);
        lstm_step(&x, &rec, &mut c, &mut h, &mut acts, 1);
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let c_want = s(1.0) * 2.0 + 0.5 * 0.5f64.tanh();
        assert!(close(c[0], c_want) && close(h[0], s(-1.0) * c_want.tanh()), "{c:?} {h:?}");
    }
}
