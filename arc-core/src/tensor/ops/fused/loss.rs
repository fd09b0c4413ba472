//! Fused cross-entropy over class logits, with PyTorch's exact semantics
//! (`torch.nn.functional.cross_entropy` with class-index targets).
//!
//! For row `n` with target `t = y_n`, `logp = log_softmax(x_n)`, class weights `w`
//! (all 1 when absent), smoothing `eps` and `C` classes:
//!
//! ```text
//! nll_n    = -w[t] * logp[t]
//! smooth_n = -sum_c w[c] * logp[c]
//! loss_n   = (1 - eps) * nll_n + (eps / C) * smooth_n        (0 when t == ignore_index)
//! mean     = sum_n loss_n / sum_{n not ignored} w[y_n]      (PyTorch divides both terms
//!                                                           by the target-weight sum)
//! ```
//!
//! Gradient of `loss_n` wrt `x[n, c]`, with `p = softmax(x_n)` and `W = sum_c w[c]`:
//! `(1 - eps) * w[t] * (p[c] - [c == t]) + (eps / C) * (W * p[c] - w[c])`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::super::super::Tensor;
use super::super::super::autograd::record;
use super::super::super::math::{self, Isa, multiversion};
use super::super::super::storage::{build_f32, should_par};
use super::super::activation::logsumexp;
use crate::{Error, Result};

/// How a loss over a batch is reduced (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The weighted mean (the default).
    #[default]
    Mean,
    /// The sum over the batch.
    Sum,
    /// One loss per row, shape `[N]`.
    None,
}

/// Options of [`Tensor::cross_entropy`]; the defaults are PyTorch's.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// Per-class weights, shape `[C]` (default: none, i.e. all 1).
    pub weight: Option<Tensor>,
    /// Target value whose rows contribute nothing (default -100).
    pub ignore_index: i64,
    /// Label smoothing in `[0, 1]` (default 0).
    pub label_smoothing: f32,
    /// Reduction over the batch (default mean).
    pub reduction: Reduction,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions { weight: None, ignore_index: -100, label_smoothing: 0.0, reduction: Reduction::Mean }
    }
}

/// Cross-entropy on a GPU (shapes and options validated by the op), with its backward: the
/// row kernels of `cuda/rows.rs`. Logits, targets and weights must share the GPU.
fn cross_entropy_cuda(x: &Tensor, target: &Tensor, options: &CrossEntropyOptions) -> Result<Tensor> {
    use super::super::super::cuda;
    let (ignore, eps, reduction) = (options.ignore_index, options.label_smoothing, options.reduction);
    let weight = options.weight.clone();
    let (out, saved) = cuda::cross_entropy(x, target, weight.as_ref(), ignore, eps, reduction)?;
    Ok(record(out, "cross_entropy", &[x], move |a| {
        let dx = cuda::cross_entropy_backward(&a.inputs[0], weight.as_ref(), &saved, a.grad, ignore, eps, reduction)?;
        Ok(vec![Some(dx)])
    }))
}

/// `d_k = a * p_k + b * p_k - c * w_k` with `p_k = exp(x_k - lse)` for one row of the
/// cross-entropy backward; `[lse, a, b, c]`. Vectorised exp (the softmax kernels' own).
#[inline(always)]
fn ce_grad_row_impl<I: Isa>(x: &[f32], weights: &[f32], [lse, a, b, c]: [f32; 4], d: &mut [MaybeUninit<f32>]) {
    for ((d, &xv), &w) in d.iter_mut().zip(x).zip(weights) {
        let p = math::exp::<I>(xv - lse);
        d.write((a + b) * p - c * w);
    }
}
multiversion!(fn ce_grad_row(x: &[f32], weights: &[f32], coeffs: [f32; 4], d: &mut [MaybeUninit<f32>]) => ce_grad_row_impl);

impl Tensor {
    /// Cross-entropy of logits `[N, C]` against i64 class targets `[N]` (fused log-softmax +
    /// NLL); see the module docs for the exact formula. A target outside `0..C` that is not
    /// `ignore_index` is an error.
    ///
    /// ```
    /// use arc_core::{tensor::CrossEntropyOptions, Tensor};
    /// # fn main() -> arc_core::Result<()> {
    /// // Uniform logits over 4 classes: loss = ln 4 whatever the target.
    /// let logits = Tensor::zeros(&[2, 4]);
    /// let target = Tensor::from_vec_i64(vec![3, 0], &[2])?;
    /// let loss = logits.cross_entropy(&target, &CrossEntropyOptions::default())?;
    /// assert!((loss.item()? - 4f32.ln()).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn cross_entropy(&self, target: &Tensor, options: &CrossEntropyOptions) -> Result<Tensor> {
        let op = "cross_entropy";
        if self.rank() != 2 {
            return Err(Error::BadRank { op, expected: "logits of shape [N, C]", shape: self.shape().to_vec() });
        }
        let (n, c) = (self.shape()[0], self.shape()[1]);
        if target.shape() != [n] {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: target.shape().to_vec() });
        }
        let eps = options.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(Error::InvalidArgument {
                op,
                name: "label_smoothing",
                value: eps.to_string(),
                expected: "a value in [0, 1]",
            });
        }
        if let Some(w) = &options.weight
            && w.shape() != [c]
        {
            return Err(Error::ShapeMismatch { op, lhs: self.shape().to_vec(), rhs: w.shape().to_vec() });
        }
        if !self.device().is_cpu() || !target.device().is_cpu() {
            return cross_entropy_cuda(self, target, options);
        }
        let weights: Vec<f32> = match &options.weight {
            Some(w) => w.to_vec()?,
            None => vec![1.0; c],
        };
        let ignore = options.ignore_index;
        let targets = target.i64_data(op)?.into_owned();
        for &t in &targets {
            if t != ignore && (t < 0 || t as u64 >= c as u64) {
                return Err(Error::IndexOutOfRange { op, index: t, size: c });
            }
        }
        let x = self.f32_data(op)?;
        let w_total: f32 = weights.iter().sum();
        let smooth_scale = if c > 0 { eps / c as f32 } else { 0.0 };
        // Per row: (loss_n, lse_n). Rows are independent; parallel when the batch is large.
        let row = |(xr, &t): (&[f32], &i64)| -> (f32, f32) {
            if t == ignore || c == 0 {
                return (0.0, 0.0);
            }
            let lse = logsumexp(xr);
            let nll = weights[t as usize] * (lse - xr[t as usize]);
            let smooth =
                if eps > 0.0 { lse * w_total - xr.iter().zip(&weights).map(|(x, w)| x * w).sum::<f32>() } else { 0.0 };
            ((1.0 - eps) * nll + smooth_scale * smooth, lse)
        };
        let per_row: Vec<(f32, f32)> = if c == 0 {
            // No classes: every target was ignored (others failed the range check above).
            vec![(0.0, 0.0); n]
        } else if should_par(x.len()) {
            x.par_chunks(c).zip(targets.par_iter()).map(row).collect()
        } else {
            x.chunks(c.max(1)).zip(targets.iter()).map(row).collect()
        };
        let denom: f32 = match options.reduction {
            Reduction::Mean => targets.iter().filter(|&&t| t != ignore).map(|&t| weights[t as usize]).sum(),
            _ => 1.0,
        };
        let out = match options.reduction {
            Reduction::None => Tensor::from_f32(per_row.iter().map(|r| r.0).collect(), &[n]),
            Reduction::Sum => Tensor::scalar(per_row.iter().map(|r| r.0).sum()),
            Reduction::Mean => Tensor::scalar(per_row.iter().map(|r| r.0).sum::<f32>() / denom),
        };
        let reduction = options.reduction;
        Ok(record(out, op, &[self], move |a| {
            let x = a.inputs[0].f32_data(op)?;
            let g = a.grad.f32_data(op)?;
            // One row: d = scale * ((1 - eps) * w_t * (p - [k == t]) + eps / C * (W * p - w_k)),
            // every element written (zeros for an ignored row): the buffer is not zero-filled
            // first.
            let row = |r: usize, dxr: &mut [MaybeUninit<f32>], xr: &[f32]| {
                let t = targets[r];
                if t == ignore {
                    dxr.iter_mut().for_each(|d| {
                        d.write(0.0);
                    });
                    return;
                }
                let scale = match reduction {
                    Reduction::None => g[r],
                    Reduction::Sum => g[0],
                    Reduction::Mean => g[0] / denom,
                };
                let wt = weights[t as usize];
                let coeffs =
                    [per_row[r].1, scale * (1.0 - eps) * wt, scale * smooth_scale * w_total, scale * smooth_scale];
                ce_grad_row(xr, &weights, coeffs, dxr);
                math::assume_init(dxr)[t as usize] -= scale * (1.0 - eps) * wt;
            };
            let dx = build_f32(n * c, |dx| {
                if c > 0 && should_par(n * c) {
                    dx.par_chunks_mut(c).zip(x.par_chunks(c)).enumerate().for_each(|(r, (d, xr))| row(r, d, xr));
                } else if c > 0 {
                    dx.chunks_mut(c).zip(x.chunks(c)).enumerate().for_each(|(r, (d, xr))| row(r, d, xr));
                }
            });
            Ok(vec![Some(Tensor::from_f32(dx, &[n, c]))])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Rng, gradcheck};

    /// Logits [[1, 2, 0.5], [0.1, -1, 3], [2, 2, 2]].
    fn logits() -> Result<Tensor> {
        Tensor::from_vec(vec![1.0, 2.0, 0.5, 0.1, -1.0, 3.0, 2.0, 2.0, 2.0], &[3, 3])
    }

    /// The same loss from primitive ops (log_softmax, gather, sums) in f64 by hand.
    fn reference(x: &[f32], t: &[i64], w: &[f64], eps: f64, ignore: i64, reduction: Reduction) -> Vec<f64> {
        let c = w.len();
        let (mut losses, mut denom) = (Vec::new(), 0.0);
        for (r, &tv) in t.iter().enumerate() {
            let row: Vec<f64> = x[r * c..(r + 1) * c].iter().map(|&v| v as f64).collect();
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            if tv == ignore {
                losses.push(0.0);
                continue;
            }
            let nll = -w[tv as usize] * (row[tv as usize] - lse);
            let smooth: f64 = -(0..c).map(|k| w[k] * (row[k] - lse)).sum::<f64>();
            losses.push((1.0 - eps) * nll + eps / c as f64 * smooth);
            denom += w[tv as usize];
        }
        match reduction {
            Reduction::None => losses,
            Reduction::Sum => vec![losses.iter().sum()],
            Reduction::Mean => vec![losses.iter().sum::<f64>() / denom],
        }
    }

    #[test]
    fn matches_pytorch_semantics_in_every_mode() -> Result<()> {
        let x = logits()?;
        let xv = x.to_vec()?;
        for targets in [vec![2i64, 0, 1], vec![2, 0, -100]] {
            let t = Tensor::from_vec_i64(targets.clone(), &[3])?;
            for weighted in [false, true] {
                let w = if weighted { vec![0.2, 1.0, 3.0] } else { vec![1.0; 3] };
                for eps in [0.0, 0.1] {
                    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                        let options = CrossEntropyOptions {
                            weight: weighted.then(|| Tensor::from_vec(vec![0.2, 1.0, 3.0], &[3])).transpose()?,
                            label_smoothing: eps as f32,
                            reduction,
                            ..Default::default()
                        };
                        let got = x.cross_entropy(&t, &options)?.to_vec()?;
                        let want = reference(&xv, &targets, &w, eps, -100, reduction);
                        assert_eq!(got.len(), want.len());
                        for (g, w) in got.iter().zip(&want) {
                            assert!((*g as f64 - w).abs() < 1e-5, "{options:?}: {got:?} vs {want:?}");
                        }
                    }
                }
            }
        }
        // Pinned against PyTorch 2.15 (float64): F.cross_entropy(x, [2, 0, 1]) = 2.0112518;
        // with weight [0.2, 1, 3], label_smoothing 0.1, targets [2, 0, -100]:
        // mean 1.9446214, sum 6.2227884.
        let t = Tensor::from_vec_i64(vec![2, 0, 1], &[3])?;
        let mean = x.cross_entropy(&t, &CrossEntropyOptions::default())?.item()?;
        assert!((mean - 2.011_251_8).abs() < 1e-6, "{mean}");
        let t = Tensor::from_vec_i64(vec![2, 0, -100], &[3])?;
        let mut options = CrossEntropyOptions {
            weight: Some(Tensor::from_vec(vec![0.2, 1.0, 3.0], &[3])?),
            label_smoothing: 0.1,
            ..Default::default()
        };
        assert!((x.cross_entropy(&t, &options)?.item()? - 1.944_621_4).abs() < 1e-6);
        options.reduction = Reduction::Sum;
        assert!((x.cross_entropy(&t, &options)?.item()? - 6.222_788_4).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn cross_entropy_errors() -> Result<()> {
        let x = logits()?;
        let err = x.cross_entropy(&Tensor::from_vec_i64(vec![0, 3, 1], &[3])?, &Default::default()).unwrap_err();
        assert_eq!(err.to_string(), "op `cross_entropy`: index 3 is out of range for a dimension of size 3");
        let err = x.cross_entropy(&Tensor::from_vec_i64(vec![0, 1], &[2])?, &Default::default()).unwrap_err();
        assert_eq!(err.to_string(), "op `cross_entropy`: shapes [3, 3] and [2] are incompatible");
        let err = x.cross_entropy(&Tensor::zeros(&[3]), &Default::default()).unwrap_err();
        assert!(matches!(err, Error::DTypeMismatch { op: "cross_entropy", .. }));
        let bad = CrossEntropyOptions { label_smoothing: 1.5, ..Default::default() };
        assert!(x.cross_entropy(&Tensor::from_vec_i64(vec![0, 1, 2], &[3])?, &bad).is_err());
        Ok(())
    }

    #[test]
    fn large_backward_writes_every_element_on_any_thread_count() -> Result<()> {
        // [400, 300]: past the parallel threshold; every fifth row ignored. Each kept row's
        // gradient is (softmax - onehot) / kept, and an ignored row's is exactly zero (the
        // buffer is not zero-filled before the rows are written).
        let (n, c) = (400, 300);
        let x = Tensor::randn(&[n, c], &mut Rng::new(4));
        let t: Vec<i64> = (0..n).map(|r| if r % 5 == 0 { -100 } else { (r * 7 % c) as i64 }).collect();
        let target = Tensor::from_vec_i64(t.clone(), &[n])?;
        let kept = t.iter().filter(|&&v| v != -100).count() as f64;
        let xs = x.to_vec()?;
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let g = pool.install(|| -> Result<Vec<f32>> {
                let xg = x.detach().requires_grad_()?;
                xg.cross_entropy(&target, &CrossEntropyOptions::default())?.backward()?;
                xg.grad().expect("a gradient").to_vec()
            })?;
            for (r, (gr, xr)) in g.chunks_exact(c).zip(xs.chunks_exact(c)).enumerate() {
                if t[r] == -100 {
                    assert!(gr.iter().all(|&v| v.to_bits() == 0), "row {r}");
                    continue;
                }
                let m = xr.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let z: f64 = xr.iter().map(|&v| (v as f64 - m).exp()).sum();
                for (k, (&gv, &xv)) in gr.iter().zip(xr).enumerate() {
                    let p = (xv as f64 - m).exp() / z - if k as i64 == t[r] { 1.0 } else { 0.0 };
                    assert!((gv as f64 - p / kept).abs() < 1e-7, "row {r} col {k}: {gv} vs {}", p / kept);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn gradcheck_cross_entropy() -> Result<()> {
        let x = Tensor::randn(&[5, 4], &mut Rng::new(0));
        let t = Tensor::from_vec_i64(vec![0, 3, -100, 1, 1], &[5])?;
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            for eps in [0.0, 0.2] {
                let options = CrossEntropyOptions {
                    weight: Some(Tensor::from_vec(vec![0.5, 1.0, 2.0, 1.5], &[4])?),
                    label_smoothing: eps,
                    reduction,
                    ..Default::default()
                };
                gradcheck(|v| v[0].cross_entropy(&t, &options), &[&x], 1e-3, 1e-2)?;
                let plain = CrossEntropyOptions { weight: None, ..options.clone() };
                gradcheck(|v| v[0].cross_entropy(&t, &plain), &[&x], 1e-3, 1e-2)?;
            }
        }
        Ok(())
    }
}
