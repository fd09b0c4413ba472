//! Plain-f32 maths over one row, for [`RowKernel`](super::RowKernel)s:
//! a linear map (a register-blocked matrix-vector product over transposed
//! weights, with AVX-512 / AVX2 dispatch), the activations, softmax and
//! layer norm. None of them allocates.

/// `y = W x + b` for one row (`weight_t` = `W^T`), with the widest
/// vector instructions the CPU has (checked once per call through std's
/// cached feature detection).
pub fn linear(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features `linear_avx512` is compiled for.
            return unsafe { linear_avx512(weight_t, bias, x, y) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the features `linear_avx2` is compiled for.
            return unsafe { linear_avx2(weight_t, bias, x, y) };
        }
    }
    linear_rows(weight_t, bias, x, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn linear_avx512(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    linear_rows(weight_t, bias, x, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn linear_avx2(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    linear_rows(weight_t, bias, x, y);
}

/// `y = b + sum_i x[i] W^T[i, :]`, `weight_t` being `W` transposed to
/// `[in, out]` with each row padded with zeros to a multiple of 16
/// ([`transpose`]): the outputs in blocks of 64 while they last, each
/// block's sums held in registers across the inputs, then in blocks of 16
/// with four partial sums over the inputs (so a short tail, such as a
/// classifier's 10 outputs, is not one long chain of dependent adds).
/// The loops vectorize over the outputs; no horizontal sums.
#[inline(always)]
fn linear_rows(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    let out = y.len();
    let stride = padded(out);
    let mut start = 0;
    while start + 64 <= out {
        let mut acc = [0.0f32; 64];
        if let Some(b) = bias {
            acc.copy_from_slice(&b[start..start + 64]);
        }
        for (i, &xi) in x.iter().enumerate() {
            let w = &weight_t[i * stride + start..i * stride + start + 64];
            for (a, &w) in acc.iter_mut().zip(w) {
                *a += xi * w;
            }
        }
        y[start..start + 64].copy_from_slice(&acc);
        start += 64;
    }
    while start < out {
        let mut acc = [[0.0f32; 16]; 4];
        let rows = x.chunks_exact(4);
        let rest = rows.remainder();
        for (r, xs) in rows.enumerate() {
            for (p, (&xi, acc)) in xs.iter().zip(acc.iter_mut()).enumerate() {
                let at = (4 * r + p) * stride + start;
                for (a, &w) in acc.iter_mut().zip(&weight_t[at..at + 16]) {
                    *a += xi * w;
                }
            }
        }
        for (p, &xi) in rest.iter().enumerate() {
            let at = (x.len() - rest.len() + p) * stride + start;
            for (a, &w) in acc[p].iter_mut().zip(&weight_t[at..at + 16]) {
                *a += xi * w;
            }
        }
        let n = (out - start).min(16);
        for (k, y) in y[start..start + n].iter_mut().enumerate() {
            let sum = (acc[0][k] + acc[1][k]) + (acc[2][k] + acc[3][k]);
            *y = bias.map_or(0.0, |b| b[start + k]) + sum;
        }
        start += n;
    }
}

/// `out` rounded up to a multiple of 16: the row stride of a transposed weight.
pub fn padded(out: usize) -> usize {
    out.div_ceil(16) * 16
}

/// `W` `[out, in]` row-major, transposed to `[in, out]` with each row
/// padded with zeros to [`padded`]`(out)` values.
pub fn transpose(weight: &[f32], out: usize, inputs: usize) -> Vec<f32> {
    let stride = padded(out);
    let mut t = vec![0.0; inputs * stride];
    for o in 0..out {
        for i in 0..inputs {
            t[i * stride + o] = weight[o * inputs + i];
        }
    }
    t
}

/// `1 / (1 + exp(-x))`.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The exact GELU, `x Phi(x)` with `Phi(x) = (1 + erf(x / sqrt 2)) / 2`, in f64.
pub fn gelu_exact(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
}

/// GELU's tanh form, `x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2`, in f64.
pub fn gelu_tanh(x: f32) -> f32 {
    let x = f64::from(x);
    let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    (0.5 * x * (1.0 + inner.tanh())) as f32
}

/// Softmax of one row, shifted by its max.
pub fn softmax(x: &[f32], y: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - m).exp();
        s += *y;
    }
    for y in y.iter_mut() {
        *y /= s;
    }
}

/// Layer norm of one row (mean and biased variance in f64), then `* weight + bias`.
pub fn layer_norm(x: &[f32], y: &mut [f32], weight: Option<&[f32]>, bias: Option<&[f32]>, eps: f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + f64::from(eps)).sqrt();
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let mut v = ((f64::from(x) - mean) * inv) as f32;
        if let Some(w) = weight {
            v *= w[i];
        }
        if let Some(b) = bias {
            v += b[i];
        }
        *y = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [[1, 2], [3, 4], [5, 6]] . [1, -1] + [0.5, 0, -0.5] = [-0.5, -1, -1.5].
    #[test]
    fn linear_is_w_x_plus_b() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let t = transpose(&w, 3, 2);
        assert_eq!(t.len(), 32, "two rows padded to 16");
        assert_eq!((&t[..3], &t[16..19]), (&[1.0, 3.0, 5.0][..], &[2.0, 4.0, 6.0][..]));
        let mut y = [0.0; 3];
        linear(&transpose(&w, 3, 2), Some(&[0.5, 0.0, -0.5]), &[1.0, -1.0], &mut y);
        assert_eq!(y, [-0.5, -1.0, -1.5]);
        // 22 inputs into 83 outputs (a block of 64, blocks of 16, a short one; inputs in fours and
        // a rest of 2): output o = (o + 1) * sum(i < 22) = 231 (o + 1), exact in f32.
        let w: Vec<f32> = (0..83).flat_map(|o| std::iter::repeat_n((o + 1) as f32, 22)).collect();
        let x: Vec<f32> = (0..22).map(|i| i as f32).collect();
        let mut y = vec![0.0; 83];
        let bias: Vec<f32> = (0..83).map(|o| o as f32).collect();
        linear(&transpose(&w, 83, 22), Some(&bias), &x, &mut y);
        assert_eq!(y, (0..83).map(|o| 231.0 * (o + 1) as f32 + o as f32).collect::<Vec<_>>());
    }

    /// softmax([1, 2, 3]) = [0.09003057, 0.24472847, 0.66524096] (NumPy).
    #[test]
    fn softmax_matches_numpy() {
        let mut y = [0.0; 3];
        softmax(&[1.0, 2.0, 3.0], &mut y);
        for (a, b) in y.iter().zip([0.090_030_57, 0.244_728_47, 0.665_240_96]) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    /// LayerNorm([1, 3]) = [-1, 1] (mean 2, variance 1, eps 0), then *w + b.
    #[test]
    fn layer_norm_normalizes_then_scales() {
        let mut y = [0.0; 2];
        layer_norm(&[1.0, 3.0], &mut y, Some(&[2.0, 3.0]), Some(&[0.5, 0.5]), 0.0);
        assert_eq!(y, [-1.5, 3.5]);
    }

    /// GELU(1) = 0.8413447 (exact), 0.8411920 (tanh), as torch.nn.GELU gives.
    #[test]
    fn activations_match_torch() {
        assert!((gelu_exact(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-6);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }
}
