//! `BatchNorm1d`'s fused kernels: the per-channel statistics, the normalisation and its
//! backward, over an `[n, c, l]` view of the input.
//!
//! They run on one thread: on the 2-core anchor machine, splitting the 64x4096 case across
//! rayon's pool measured slower (train forward 180 -> 320 us with the other core shared),
//! the passes being short and memory-bound.

use std::ops::Range;

use arc_core::tensor::CustomOp;
use arc_core::{Result, Tensor};

use super::data;

/// Channels per block of the reductions: two f64 accumulators each, 4 KiB per block, which
/// stay in L1 across the samples (train forward at 64x4096: 211 us with whole rows, 182 us
/// in blocks).
const BLOCK: usize = 256;

/// An input seen as `[n, c, l]` (`l = 1` for `[N, C]`): channel `ch` of sample `i` is the
/// contiguous run of `l` values at `(i c + ch) l`.
///
/// With `l = 1` a sample is one row of `c` values, zipped with per-channel arrays (the
/// compiler vectorises this across channels); otherwise each channel of a sample is a run.
/// An empty input (`n = 0` or `l = 0`) has no samples and every loop does nothing.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) l: usize,
}

impl Layout {
    fn sample_len(&self) -> usize {
        (self.c * self.l).max(1)
    }

    /// Two per-channel f64 sums: `add(channels, sample, a, b)` accumulates one sample's
    /// contribution for a block of channels into `a` and `b` (indexed from the block start).
    fn channel_sums(&self, add: impl Fn(Range<usize>, usize, &mut [f64], &mut [f64])) -> (Vec<f64>, Vec<f64>) {
        let block = |start: usize| {
            let channels = start..(start + BLOCK).min(self.c);
            let (mut a, mut b) = (vec![0.0f64; channels.len()], vec![0.0f64; channels.len()]);
            for i in 0..self.n {
                add(channels.clone(), i, &mut a, &mut b);
            }
            (a, b)
        };
        let (mut a, mut b) = (Vec::with_capacity(self.c), Vec::with_capacity(self.c));
        for (pa, pb) in (0..self.c).step_by(BLOCK).map(block) {
            a.extend(pa);
            b.extend(pb);
        }
        (a, b)
    }

    /// Per-channel mean and sum of squared deviations, in one pass accumulated in f64 around a
    /// shift `k` (the channel's first value): with `d = x - k`, `mean = k + sum(d) / n` and
    /// `sum((x - mean)^2) = sum(d^2) - sum(d)^2 / n`. Shifting by a value of the data keeps the
    /// subtraction well conditioned (Chan, Golub & LeVeque, 1983, "shifted data").
    pub(super) fn moments(&self, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (c, l) = (self.c, self.l);
        let count = (self.n * l).max(1) as f64;
        let shift: Vec<f64> = (0..c).map(|ch| x.get(ch * l).map_or(0.0, |&v| v as f64)).collect();
        let (sum, sum_sq) = self.channel_sums(|channels, i, sum, sum_sq| {
            let k = &shift[channels.clone()];
            let accumulate = |(((s, sq), k), v): (((&mut f64, &mut f64), &f64), f64)| {
                let d = v - k;
                *s += d;
                *sq += d * d;
            };
            if l == 1 {
                let row = &x[i * c + channels.start..i * c + channels.end];
                sum.iter_mut().zip(sum_sq).zip(k).zip(row.iter().map(|&v| v as f64)).for_each(accumulate);
            } else {
                for (j, ch) in channels.enumerate() {
                    let run = &x[(i * c + ch) * l..(i * c + ch + 1) * l];
                    run.iter().for_each(|&v| accumulate((((&mut sum[j], &mut sum_sq[j]), &k[j]), v as f64)));
                }
            }
        });
        let mean = sum.iter().zip(&shift).map(|(s, k)| k + s / count).collect();
        let sq_dev = sum.iter().zip(&sum_sq).map(|(s, sq)| (sq - s * s / count).max(0.0)).collect();
        (mean, sq_dev)
    }

    /// `out = f(x, y, p[ch])` elementwise, for per-channel values `p`.
    pub(super) fn map2<T: Copy>(&self, x: &[f32], y: &[f32], p: &[T], f: impl Fn(f32, f32, T) -> f32) -> Vec<f32> {
        let (len, l) = (self.sample_len(), self.l);
        let mut out = Vec::with_capacity(x.len());
        for (xs, ys) in x.chunks_exact(len).zip(y.chunks_exact(len)) {
            if l == 1 {
                out.extend(xs.iter().zip(ys).zip(p).map(|((&a, &b), &p)| f(a, b, p)));
            } else {
                for ((xr, yr), &p) in xs.chunks_exact(l).zip(ys.chunks_exact(l)).zip(p) {
                    out.extend(xr.iter().zip(yr).map(|(&a, &b)| f(a, b, p)));
                }
            }
        }
        out
    }
}

/// `y = (x - mean) * invstd * weight + bias` per channel, inputs `[x, weight, bias]` (or `[x]`
/// without `affine`), the statistics fixed when the op is built.
pub(super) struct BatchNormOp {
    pub(super) layout: Layout,
    pub(super) mean: Vec<f32>,
    pub(super) invstd: Vec<f32>,
    /// Whether `mean` and `invstd` are the batch's own (their gradient flows into `dx`).
    pub(super) batch_stats: bool,
    pub(super) affine: bool,
}

impl BatchNormOp {
    fn weight(&self, inputs: &[&Tensor]) -> Result<Vec<f32>> {
        if self.affine { Ok(data(inputs[1])?.into_owned()) } else { Ok(vec![1.0; self.layout.c]) }
    }
}

impl CustomOp for BatchNormOp {
    fn name(&self) -> &str {
        "batch_norm"
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let x = data(inputs[0])?;
        let weight = self.weight(inputs)?;
        let bias = if self.affine { data(inputs[2])?.into_owned() } else { vec![0.0; self.layout.c] };
        // PyTorch's CPU form: y = x * alpha + beta, alpha = invstd * w, beta = b - mean * alpha.
        let affine: Vec<(f32, f32)> = (0..self.layout.c)
            .map(|ch| {
                let alpha = self.invstd[ch] * weight[ch];
                (alpha, bias[ch] - self.mean[ch] * alpha)
            })
            .collect();
        let y = self.layout.map2(&x, &x, &affine, |v, _, (alpha, beta)| v * alpha + beta);
        Tensor::from_vec(y, inputs[0].shape())
    }

    /// Per channel, with `xhat = (x - mean) invstd`, `n = N L`:
    /// `dbias = sum g`, `dweight = sum g xhat`, and `dx = w invstd g` with running
    /// statistics, or with batch statistics
    /// `dx = w invstd (g - sum(g) / n - xhat sum(g xhat) / n)`.
    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, g) = (data(inputs[0])?, data(grad)?);
        let weight = self.weight(inputs)?;
        let Layout { n, c, l } = self.layout;
        // sum(g) and sum(g (x - mean)) per channel, in f64.
        let (sum_g, sum_g_dev) = self.layout.channel_sums(|channels, i, sum_g, sum_g_dev| {
            let mean = &self.mean[channels.clone()];
            if l == 1 {
                let (xs, gs) = (&x[i * c..][channels.clone()], &g[i * c..][channels]);
                let per_channel = sum_g.iter_mut().zip(sum_g_dev).zip(xs).zip(gs).zip(mean);
                per_channel.for_each(|((((sg, sgd), &v), &gv), &m)| {
                    *sg += gv as f64;
                    *sgd += (gv * (v - m)) as f64;
                });
            } else {
                for (j, ch) in channels.enumerate() {
                    let at = (i * c + ch) * l..(i * c + ch + 1) * l;
                    let (xr, gr) = (&x[at.clone()], &g[at]);
                    sum_g[j] += gr.iter().map(|&v| v as f64).sum::<f64>();
                    sum_g_dev[j] += xr.iter().zip(gr).map(|(&v, &gv)| (gv * (v - mean[j])) as f64).sum::<f64>();
                }
            }
        });
        let count = (n * l) as f64;
        let scale: Vec<f32> = self.invstd.iter().zip(&weight).map(|(s, w)| s * w).collect();
        let dx = if self.batch_stats {
            // dx = scale (g - mean_g - (x - mean) k), k = invstd^2 sum(g (x - mean)) / n, is
            // affine in (g, x) per channel: scale g - (scale k) x + scale (k mean - mean_g).
            let factors: Vec<(f32, f32, f32)> = (0..c)
                .map(|ch| {
                    let k = (sum_g_dev[ch] / count) as f32 * self.invstd[ch] * self.invstd[ch];
                    let shift = scale[ch] * (k * self.mean[ch] - (sum_g[ch] / count) as f32);
                    (scale[ch], scale[ch] * k, shift)
                })
                .collect();
            self.layout.map2(&g, &x, &factors, |gv, v, (s, slope, shift)| gv * s - slope * v + shift)
        } else {
            self.layout.map2(&g, &g, &scale, |gv, _, s| gv * s)
        };
        let mut grads = vec![Some(Tensor::from_vec(dx, inputs[0].shape())?)];
        if self.affine {
            let dweight = sum_g_dev.iter().zip(&self.invstd).map(|(s, &is)| (s * is as f64) as f32).collect();
            grads.push(Some(Tensor::from_vec(dweight, &[c])?));
            grads.push(Some(Tensor::from_vec(sum_g.iter().map(|&s| s as f32).collect(), &[c])?));
        }
        Ok(grads)
    }
}
