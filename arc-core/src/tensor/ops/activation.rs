//! Activations: relu, sigmoid, tanh, gelu (exact erf form and tanh approximation), silu,
//! softmax and log_softmax.
//!
//! The hot forwards (tanh-GELU, softmax, log-softmax) are fused row kernels over contiguous
//! slices, compiled twice (SSE2 and AVX2+FMA, chosen at run time) and split across rows with
//! rayon above [`PAR_ELEMS`](super::super::storage::PAR_ELEMS) elements. Backwards are plain
//! elementwise maps with std's accurate `exp`/`tanh`/`erf`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::super::Tensor;
use super::super::autograd::{record, record_with_output};
use super::super::math::{self, Isa, multiversion};
use super::super::shape::normalize_dim;
use super::super::storage::{build_f32, par_rows, should_par};
use super::map2;
use crate::Result;

/// Elements per task of the elementwise GELU kernel.
const GELU_CHUNK: usize = 1 << 12;

#[inline(always)]
fn gelu_tanh_slice_impl<I: Isa>(x: &[f32], o: &mut [MaybeUninit<f32>]) {
    for (o, &v) in o.iter_mut().zip(x) {
        o.write(math::gelu_tanh::<I>(v));
    }
}
multiversion!(fn gelu_tanh_slice(x: &[f32], o: &mut [MaybeUninit<f32>]) => gelu_tanh_slice_impl);

/// `o = softmax(x)` for one row: max, then `exp(x - max)` with the running sum, then scale.
#[inline(always)]
fn softmax_row_impl<I: Isa>(x: &[f32], o: &mut [MaybeUninit<f32>]) {
    let m = math::max(x);
    let mut acc = [0.0f32; 16];
    let mut oc = o.chunks_exact_mut(16);
    let mut xc = x.chunks_exact(16);
    for (oc, xc) in (&mut oc).zip(&mut xc) {
        for ((o, &v), a) in oc.iter_mut().zip(xc).zip(acc.iter_mut()) {
            let e = math::exp::<I>(v - m);
            *a += e;
            o.write(e);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (o, &v) in oc.into_remainder().iter_mut().zip(xc.remainder()) {
        let e = math::exp::<I>(v - m);
        s += e;
        o.write(e);
    }
    let inv = 1.0 / s;
    for v in math::assume_init(o) {
        *v *= inv;
    }
}
multiversion!(fn softmax_row_portable(x: &[f32], o: &mut [MaybeUninit<f32>]) => softmax_row_impl);

/// One softmax row: the explicit AVX-512 kernel where the CPU has it, else the portable one.
fn softmax_row(x: &[f32], o: &mut [MaybeUninit<f32>]) {
    #[cfg(target_arch = "x86_64")]
    if math::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked); `o` is the row's output, as long as `x`.
        return unsafe { super::softmax_avx512::softmax_row(x, o) };
    }
    softmax_row_portable(x, o)
}

/// `log(sum(exp(x)))` of one row, shifted by its max for stability.
#[inline(always)]
pub(crate) fn logsumexp_impl<I: Isa>(x: &[f32]) -> f32 {
    let m = math::max(x);
    if m == f32::NEG_INFINITY {
        return m;
    }
    let mut acc = [0.0f32; 16];
    let xc = x.chunks_exact(16);
    let rest: f32 = xc.remainder().iter().map(|&v| math::exp::<I>(v - m)).sum();
    for c in xc {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += math::exp::<I>(v - m);
        }
    }
    m + (acc.iter().sum::<f32>() + rest).ln()
}
multiversion!(fn logsumexp_portable(x: &[f32]) -> f32 => logsumexp_impl);

/// `log(sum(exp(x)))` of one row: the explicit AVX-512 kernel where the CPU has it, else
/// the portable one.
pub(crate) fn logsumexp(x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if math::has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked).
        return unsafe { super::softmax_avx512::logsumexp_row(x) };
    }
    logsumexp_portable(x)
}

#[inline(always)]
fn log_softmax_row_impl<I: Isa>(x: &[f32], o: &mut [MaybeUninit<f32>]) {
    let lse = logsumexp_impl::<I>(x);
    for (o, &v) in o.iter_mut().zip(x) {
        o.write(v - lse);
    }
}
multiversion!(fn log_softmax_row(x: &[f32], o: &mut [MaybeUninit<f32>]) => log_softmax_row_impl);

/// Applies a row kernel along `dim`: rows are the 1-D slices along that dimension.
/// A non-last `dim` is swapped to the end (one copy) and the result swapped back (a view).
fn along_dim(
    x: &Tensor,
    op: &'static str,
    dim: isize,
    kernel: impl Fn(&[f32], &mut [MaybeUninit<f32>]) + Sync,
) -> Result<Tensor> {
    let d = normalize_dim(op, dim, x.rank())?;
    let last = x.rank() - 1;
    let moved = if d == last { x.clone() } else { x.transpose_raw(d, last) };
    let data = moved.f32_data(op)?;
    let cols = moved.shape()[last];
    let out = Tensor::from_f32(par_rows(&data, cols, |_, i, o| kernel(i, o)), moved.shape());
    Ok(if d == last { out } else { out.transpose_raw(d, last) })
}

/// Like [`along_dim`] over two same-shape tensors (for backwards).
fn along_dim2(
    a: &Tensor,
    b: &Tensor,
    op: &'static str,
    dim: usize,
    kernel: impl Fn(&[f32], &[f32], &mut [MaybeUninit<f32>]) + Sync,
) -> Result<Tensor> {
    let last = a.rank() - 1;
    let (ma, mb) =
        if dim == last { (a.clone(), b.clone()) } else { (a.transpose_raw(dim, last), b.transpose_raw(dim, last)) };
    let (da, db) = (ma.f32_data(op)?, mb.f32_data(op)?);
    let cols = ma.shape()[last];
    let n = da.len();
    let out = if cols == 0 {
        Vec::new()
    } else {
        build_f32(n, |o| {
            if should_par(n) {
                o.par_chunks_mut(cols)
                    .zip(da.par_chunks(cols).zip(db.par_chunks(cols)))
                    .for_each(|(o, (x, y))| kernel(x, y, o));
            } else {
                for (o, (x, y)) in o.chunks_mut(cols).zip(da.chunks(cols).zip(db.chunks(cols))) {
                    kernel(x, y, o);
                }
            }
        })
    };
    let out = Tensor::from_f32(out, ma.shape());
    Ok(if dim == last { out } else { out.transpose_raw(dim, last) })
}

/// Softmax / log-softmax (`log`) of a tensor on a GPU, with its backward: row kernels over
/// `dim` moved last (`cuda/rows.rs`), the same formulas as the CPU's.
fn softmax_cuda(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let d = normalize_dim(op, dim, x.rank())?;
    let out = super::super::cuda::softmax(x, d, log)?;
    Ok(record_with_output(out, op, &[x], move |a| {
        Ok(vec![Some(super::super::cuda::softmax_backward(a.grad, a.output(), d, log)?)])
    }))
}

/// The standard normal density and distribution function at `x` (f64 for the backward).
fn normal_pdf_cdf(x: f32) -> (f32, f32) {
    let x = x as f64;
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    (pdf as f32, cdf as f32)
}

impl Tensor {
    /// `max(x, 0)`; the gradient is 1 where `x > 0`, else 0.
    pub fn relu(&self) -> Result<Tensor> {
        let out = self.map1("relu", "relu", [0.0; 2], |x| if x > 0.0 { x } else { 0.0 })?;
        Ok(record(out, "relu", &[self], |a| {
            Ok(vec![Some(map2(
                "relu",
                "relu_grad",
                a.grad,
                &a.inputs[0],
                [0.0; 2],
                |g, x| if x > 0.0 { g } else { 0.0 },
            )?)])
        }))
    }

    /// `1 / (1 + e^-x)` (`d/dx = y (1 - y)`).
    pub fn sigmoid(&self) -> Result<Tensor> {
        let out = self.map1("sigmoid", "sigmoid", [0.0; 2], |x| 1.0 / (1.0 + (-x).exp()))?;
        Ok(record_with_output(out, "sigmoid", &[self], |a| {
            Ok(vec![Some(map2("sigmoid", "sigmoid_grad", a.grad, a.output(), [0.0; 2], |g, y| g * y * (1.0 - y))?)])
        }))
    }

    /// Hyperbolic tangent (`d/dx = 1 - y^2`).
    pub fn tanh(&self) -> Result<Tensor> {
        let out = self.map1("tanh", "tanh", [0.0; 2], f32::tanh)?;
        Ok(record_with_output(out, "tanh", &[self], |a| {
            Ok(vec![Some(map2("tanh", "tanh_grad", a.grad, a.output(), [0.0; 2], |g, y| g * (1.0 - y * y))?)])
        }))
    }

    /// Exact GELU, `x * Phi(x)` with `Phi(x) = (1 + erf(x / sqrt 2)) / 2` (PyTorch's
    /// `approximate="none"`); `d/dx = Phi(x) + x phi(x)`.
    pub fn gelu(&self) -> Result<Tensor> {
        let out = self.map1("gelu", "gelu", [0.0; 2], |x| {
            let x64 = x as f64;
            (0.5 * x64 * (1.0 + libm::erf(x64 / std::f64::consts::SQRT_2))) as f32
        })?;
        Ok(record(out, "gelu", &[self], |a| {
            let d = |g: f32, x: f32| {
                let (pdf, cdf) = normal_pdf_cdf(x);
                g * (cdf + x * pdf)
            };
            Ok(vec![Some(map2("gelu", "gelu_grad", a.grad, &a.inputs[0], [0.0; 2], d)?)])
        }))
    }

    /// GELU's tanh approximation (PyTorch's `approximate="tanh"`):
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. A fused vectorised kernel.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let y = Tensor::from_vec(vec![0.0, 1.0], &[2])?.gelu_tanh()?.to_vec()?;
    /// assert_eq!(y[0], 0.0);
    /// assert!((y[1] - 0.841_192).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        if !self.device().is_cpu() {
            let out = super::super::cuda::unary("gelu_tanh", "gelu_tanh", self, [0.0; 2])?;
            return Ok(record(out, "gelu_tanh", &[self], |a| {
                Ok(vec![Some(super::super::cuda::binary(
                    "gelu_tanh",
                    "gelu_tanh_grad",
                    a.grad,
                    &a.inputs[0],
                    [0.0; 2],
                )?)])
            }));
        }
        let data = self.f32_data("gelu_tanh")?;
        let out = par_rows(&data, GELU_CHUNK, |_, i, o| gelu_tanh_slice(i, o));
        let out = Tensor::from_f32(out, self.shape());
        Ok(record(out, "gelu_tanh", &[self], |a| {
            let d = |g: f32, x: f32| {
                let c = math::SQRT_2_OVER_PI;
                let t = (c * (x + math::GELU_COEF * x * x * x)).tanh();
                let du = c * (1.0 + 3.0 * math::GELU_COEF * x * x);
                g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
            };
            Ok(vec![Some(map2("gelu_tanh", "gelu_tanh_grad", a.grad, &a.inputs[0], [0.0; 2], d)?)])
        }))
    }

    /// SiLU (swish), `x * sigmoid(x)`; `d/dx = s (1 + x (1 - s))`.
    pub fn silu(&self) -> Result<Tensor> {
        let out = self.map1("silu", "silu", [0.0; 2], |x| x / (1.0 + (-x).exp()))?;
        Ok(record(out, "silu", &[self], |a| {
            let d = |g: f32, x: f32| {
                let s = 1.0 / (1.0 + (-x).exp());
                g * s * (1.0 + x * (1.0 - s))
            };
            Ok(vec![Some(map2("silu", "silu_grad", a.grad, &a.inputs[0], [0.0; 2], d)?)])
        }))
    }

    /// Softmax along `dim` (negative counts from the end). Backward:
    /// `dx = y * (g - sum(g * y, dim))`.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let p = Tensor::from_vec(vec![0.0, 0.0, 1.0, 1.0], &[2, 2])?.softmax(-1)?;
    /// assert_eq!(p.to_vec()?, vec![0.5, 0.5, 0.5, 0.5]);
    /// # Ok(()) }
    /// ```
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        if !self.device().is_cpu() {
            return softmax_cuda(self, dim, false);
        }
        let out = along_dim(self, "softmax", dim, softmax_row)?;
        let d = normalize_dim("softmax", dim, self.rank())?;
        Ok(record_with_output(out, "softmax", &[self], move |a| {
            let gx = along_dim2(a.grad, a.output(), "softmax", d, |g, y, o| {
                let s: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                for ((o, &g), &y) in o.iter_mut().zip(g).zip(y) {
                    o.write(y * (g - s));
                }
            })?;
            Ok(vec![Some(gx)])
        }))
    }

    /// Log-softmax along `dim`: `x - logsumexp(x)`. Backward: `dx = g - exp(y) * sum(g, dim)`.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        if !self.device().is_cpu() {
            return softmax_cuda(self, dim, true);
        }
        let out = along_dim(self, "log_softmax", dim, log_softmax_row)?;
        let d = normalize_dim("log_softmax", dim, self.rank())?;
        Ok(record_with_output(out, "log_softmax", &[self], move |a| {
            let gx = along_dim2(a.grad, a.output(), "log_softmax", d, |g, y, o| {
                let s: f32 = g.iter().sum();
                for ((o, &g), &y) in o.iter_mut().zip(g).zip(y) {
                    o.write(g - y.exp() * s);
                }
            })?;
            Ok(vec![Some(gx)])
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::tensor::{Rng, Tensor, gradcheck};
    use crate::{Error, Result};

    fn close(a: &[f32], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| (x as f64 - y).abs() <= tol)
    }

    #[test]
    fn values_against_f64_formulas() -> Result<()> {
        let xs = [-3.0f64, -0.5, 0.0, 0.7, 2.5];
        let x = Tensor::from_vec(xs.iter().map(|&v| v as f32).collect(), &[5])?;
        let sig: Vec<f64> = xs.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        assert!(close(&x.sigmoid()?.to_vec()?, &sig, 1e-7));
        let silu: Vec<f64> = xs.iter().zip(&sig).map(|(v, s)| v * s).collect();
        assert!(close(&x.silu()?.to_vec()?, &silu, 1e-6));
        let tanh: Vec<f64> = xs.iter().map(|v| v.tanh()).collect();
        assert!(close(&x.tanh()?.to_vec()?, &tanh, 1e-7));
        assert_eq!(x.relu()?.to_vec()?, vec![0.0, 0.0, 0.0, 0.7, 2.5]);
        // Exact GELU: x * Phi(x), Phi from erf (libm, f64).
        let gelu: Vec<f64> = xs.iter().map(|v| 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2))).collect();
        assert!(close(&x.gelu()?.to_vec()?, &gelu, 1e-6));
        // gelu(1) = 0.841344746..., gelu(-0.5) = -0.154268...
        assert!((gelu[3] - 0.7 * 0.758_036_347_776_927_4).abs() < 1e-9);
        let gt: Vec<f64> = xs
            .iter()
            .map(|v| 0.5 * v * (1.0 + (0.797_884_560_802_865_4 * (v + 0.044715 * v * v * v)).tanh()))
            .collect();
        assert!(close(&x.gelu_tanh()?.to_vec()?, &gt, 1e-6));
        Ok(())
    }

    #[test]
    fn softmax_values_and_stability() -> Result<()> {
        // softmax([1, 2, 3]) = e^(x-3) / sum = [0.09003057, 0.24472847, 0.66524096]
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0], &[2, 3])?;
        let p = x.softmax(1)?.to_vec()?;
        let want = [0.090_030_57, 0.244_728_47, 0.665_240_96, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
        assert!(close(&p, &want, 1e-6));
        // log_softmax = x - logsumexp(x); logsumexp([1,2,3]) = 3.40760596
        let lp = x.log_softmax(-1)?.to_vec()?;
        let lse = 3.407_605_964_444_38;
        assert!(close(&lp[..3], &[1.0 - lse, 2.0 - lse, 3.0 - lse], 1e-5));
        // Along dim 0 of [[1,2,3],[1000,...]]: column softmax = [~0, 1].
        let c = x.softmax(0)?.to_vec()?;
        assert!(close(&c, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 1e-7));
        // A long row exercises the 16-wide chunks and the remainder.
        let long = Tensor::randn(&[3, 37], &mut Rng::new(1));
        let sums = long.softmax(-1)?.sum(&[-1], false)?.to_vec()?;
        assert!(close(&sums, &[1.0, 1.0, 1.0], 1e-6));
        assert!(matches!(x.softmax(2), Err(Error::BadAxis { op: "softmax", dim: 2, rank: 2 })));
        Ok(())
    }

    #[test]
    fn every_isa_build_of_the_row_kernels_agrees() {
        // The dispatcher picks one build per CPU; check the others directly (tol 1e-6).
        use super::super::super::math::{Avx2, Avx512, Generic};
        use std::mem::MaybeUninit;
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin() * 4.0).collect();
        type Kernel<'a> = &'a dyn Fn(&[f32], &mut [MaybeUninit<f32>]);
        let run = |k: Kernel<'_>| -> Vec<f32> {
            let mut o = vec![MaybeUninit::new(0.0f32); x.len()];
            k(&x, &mut o);
            o.iter().map(|v| unsafe { v.assume_init() }).collect()
        };
        let base = run(&|x, o| super::softmax_row(x, o));
        let gelu = run(&|x, o| super::gelu_tanh_slice(x, o));
        let lsm = run(&|x, o| super::log_softmax_row(x, o));
        for got in [
            run(&|x, o| super::softmax_row_impl::<Generic>(x, o)),
            run(&|x, o| super::softmax_row_impl::<Avx2>(x, o)),
            run(&|x, o| super::softmax_row_impl::<Avx512>(x, o)),
        ] {
            assert!(got.iter().zip(&base).all(|(a, b)| (a - b).abs() < 1e-6));
        }
        for got in [
            run(&|x, o| super::gelu_tanh_slice_impl::<Generic>(x, o)),
            run(&|x, o| super::gelu_tanh_slice_impl::<Avx2>(x, o)),
        ] {
            assert!(got.iter().zip(&gelu).all(|(a, b)| (a - b).abs() < 1e-6));
        }
        let got = run(&|x, o| super::log_softmax_row_impl::<Generic>(x, o));
        assert!(got.iter().zip(&lsm).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn parallel_paths_match_the_formulas() -> Result<()> {
        // 64 x 1024 is above the rayon threshold; compare with f64 formulas (tol 1e-5).
        let x = Tensor::randn(&[64, 1024], &mut Rng::new(4)).mul_scalar(3.0)?;
        let xs = x.to_vec()?;
        let gelu = x.gelu_tanh()?.to_vec()?;
        for (&v, &g) in xs.iter().zip(&gelu) {
            let v = v as f64;
            let want = 0.5 * v * (1.0 + (0.797_884_560_802_865_4 * (v + 0.044715 * v * v * v)).tanh());
            assert!((g as f64 - want).abs() < 1e-5, "{v}: {g} vs {want}");
        }
        let p = x.softmax(-1)?.to_vec()?;
        let lp = x.log_softmax(-1)?.to_vec()?;
        for ((row, prow), lrow) in xs.chunks(1024).zip(p.chunks(1024)).zip(lp.chunks(1024)) {
            let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let s: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            for ((&v, &pv), &lv) in row.iter().zip(prow).zip(lrow) {
                let want = (v as f64 - m).exp() / s;
                assert!((pv as f64 - want).abs() < 1e-6 * want.max(1e-3) * 10.0 + 1e-9);
                assert!((lv as f64 - (v as f64 - m - s.ln())).abs() < 1e-4);
            }
        }
        Ok(())
    }

    #[test]
    fn gradcheck_activations() -> Result<()> {
        let x = Tensor::randn(&[4, 5], &mut Rng::new(2));
        gradcheck(|t| t[0].relu(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].sigmoid(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].tanh(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].gelu(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].gelu_tanh(), &[&x], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].silu(), &[&x], 1e-3, 1e-2)?;
        for dim in [0, 1, -1] {
            gradcheck(|t| t[0].softmax(dim), &[&x], 1e-3, 1e-2)?;
            gradcheck(|t| t[0].log_softmax(dim), &[&x], 1e-3, 1e-2)?;
        }
        let x3 = Tensor::randn(&[2, 3, 4], &mut Rng::new(3));
        gradcheck(|t| t[0].softmax(1), &[&x3], 1e-3, 1e-2)?;
        gradcheck(|t| t[0].log_softmax(1), &[&x3], 1e-3, 1e-2)?;
        Ok(())
    }
}
