//! `BatchNorm1d`: PyTorch's `torch.nn.BatchNorm1d`, as a fused custom op.

use std::sync::{Arc, Mutex, MutexGuard};

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode};
use arc_core::nn::{Layer, Param, ShapeSpec, join_name};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::batch_norm_kernel::{BatchNormOp, Layout};
use super::{LayerConfig, bad_input, check_eps, data, default_eps, invalid, param_value, show, single, yes};

fn default_momentum() -> Option<f32> {
    Some(0.1)
}

/// Params of `core.BatchNorm1d` (`torch.nn.BatchNorm1d`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm1dConfig {
    /// `C`, the number of channels (required, at least 1).
    pub num_features: usize,
    /// Added to the variance for numerical stability. Default `1e-5`.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Weight of the current batch in the running statistics, in `[0, 1]`;
    /// `null` for a cumulative (equal-weight) average. Default `0.1`.
    #[serde(default = "default_momentum")]
    pub momentum: Option<f32>,
    /// Whether the layer learns a per-channel scale and shift. Default `true`.
    #[serde(default = "yes")]
    pub affine: bool,
    /// Whether running statistics are kept (and used in evaluation mode);
    /// without them both modes normalise with the batch's statistics.
    /// Default `true`.
    #[serde(default = "yes")]
    pub track_running_stats: bool,
}

impl LayerConfig for BatchNorm1dConfig {
    const NAME: &'static str = "core.BatchNorm1d";

    fn state_size(&self) -> Result<u64> {
        let c = self.num_features;
        let tally =
            crate::layers::size::Tally::new(Self::NAME).tensor_if(self.affine, &[c])?.tensor_if(self.affine, &[c])?;
        let stats = self.track_running_stats;
        Ok(tally.tensor_if(stats, &[c])?.tensor_if(stats, &[c])?.tensor_if(stats, &[])?.total())
    }

    fn check(&self) -> Result<()> {
        if self.num_features == 0 {
            return Err(invalid(Self::NAME, "`num_features` must be at least 1"));
        }
        check_eps(Self::NAME, self.eps)?;
        match self.momentum {
            Some(m) if !(0.0..=1.0).contains(&m) => {
                Err(invalid(Self::NAME, format!("`momentum` must be in [0, 1] or null, got {m}")))
            }
            _ => Ok(()),
        }
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(BatchNorm1d::new(&self)?))
    }
}

/// Batch normalisation over the channels of `[N, C]` or `[N, C, L]` input
/// (Ioffe & Szegedy, 2015):
/// `y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`, per channel `c`,
/// with the mean and variance taken over `N` (and `L`).
///
/// In training mode (the default) `E[x]` and `Var[x]` are the batch's, the
/// variance biased (divided by `n = N L`); the running statistics, when
/// kept, are then updated as PyTorch does:
/// `running = (1 - m) running + m batch`, with the *unbiased* batch variance
/// (`n / (n - 1)` times the biased one), `m = momentum`, or
/// `1 / num_batches_tracked` when `momentum` is null; `num_batches_tracked`
/// counts the training batches. Training needs `n > 1`. In evaluation mode
/// the running statistics are used (the batch's without them).
///
/// Forward and backward are one fused kernel each (a custom op): per channel,
/// `y = x * a + b'` with `a = weight / sqrt(var + eps)` and
/// `b' = bias - mean * a` (PyTorch's CPU form); the statistics are
/// accumulated in f64.
///
/// # Shapes
/// input `[N, C]` or `[N, C, L]`; the output has its shape.
///
/// # Parameters, buffers and initialisation (PyTorch's)
/// - `weight` `[C]` ones and `bias` `[C]` zeros, when `affine`;
/// - buffers `running_mean` `[C]` zeros, `running_var` `[C]` ones,
///   `num_batches_tracked` (i64 scalar) 0, when `track_running_stats`.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let bn = create("BatchNorm1d", "num_features: 1")?;
/// // Batch [1, 3]: mean 2, biased variance 1, so y = (x - 2) / sqrt(1 + 1e-5).
/// let y = bn.forward_single(&Tensor::from_vec(vec![1.0, 3.0], &[2, 1])?)?.to_vec()?;
/// assert!((y[0] + 1.0).abs() < 1e-5 && (y[1] - 1.0).abs() < 1e-5);
/// // running_mean = 0.9 * 0 + 0.1 * 2; running_var = 0.9 * 1 + 0.1 * 2 (unbiased variance).
/// let mut stats = Vec::new();
/// bn.visit_buffers("bn", &mut |name, t| stats.push((name.to_owned(), t.clone())));
/// assert_eq!(stats[0].0, "bn.running_mean");
/// assert!((stats[0].1.item()? - 0.2).abs() < 1e-6 && (stats[1].1.item()? - 1.1).abs() < 1e-6);
/// assert_eq!(stats[2].1.item_i64()?, 1);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct BatchNorm1d {
    num_features: usize,
    eps: f32,
    momentum: Option<f32>,
    weight: Option<Param>,
    bias: Option<Param>,
    stats: Option<Mutex<RunningStats>>,
    training: bool,
}

/// Running statistics of a [`BatchNorm1d`].
#[derive(Debug)]
struct RunningStats {
    mean: Tensor,
    var: Tensor,
    /// i64, rank 0, as PyTorch's buffer.
    num_batches_tracked: Tensor,
}

impl BatchNorm1d {
    /// A layer in training mode with PyTorch's initial parameters and buffers.
    pub fn new(config: &BatchNorm1dConfig) -> Result<Self> {
        let c = config.num_features;
        let (weight, bias) = if config.affine {
            (Some(Param::new(Tensor::ones(&[c]))?), Some(Param::new(Tensor::zeros(&[c]))?))
        } else {
            (None, None)
        };
        let stats = config.track_running_stats.then(|| {
            Mutex::new(RunningStats {
                mean: Tensor::zeros(&[c]),
                var: Tensor::ones(&[c]),
                num_batches_tracked: Tensor::full_i64(&[], 0),
            })
        });
        Ok(Self { num_features: c, eps: config.eps, momentum: config.momentum, weight, bias, stats, training: true })
    }

    fn check_shape(&self, shape: &[Option<usize>]) -> Result<()> {
        let fits = matches!(shape.len(), 2 | 3) && shape[1].is_none_or(|c| c == self.num_features);
        if fits {
            Ok(())
        } else {
            let c = self.num_features;
            Err(bad_input(BatchNorm1dConfig::NAME, format!("an input [N, {c}] or [N, {c}, L]"), show(shape)))
        }
    }

    fn stats(&self) -> Option<MutexGuard<'_, RunningStats>> {
        // A poisoned lock only means another thread panicked; the tensors are whole.
        self.stats.as_ref().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Folds one training batch's mean and summed squared deviations into the running
    /// statistics: `running = (1 - m) running + m batch`, the variance unbiased.
    fn update_running_stats(&self, mean: &[f64], sq_dev: &[f64], count: usize) -> Result<()> {
        let Some(mut stats) = self.stats() else { return Ok(()) };
        let tracked = stats.num_batches_tracked.item_i64()? + 1;
        let m = self.momentum.map_or(1.0 / tracked as f64, f64::from);
        let blend = |old: &Tensor, new: &mut dyn Iterator<Item = f64>| -> Result<Tensor> {
            let values = data(old)?.iter().zip(new).map(|(&o, b)| ((1.0 - m) * o as f64 + m * b) as f32).collect();
            Tensor::from_vec(values, &[self.num_features])
        };
        stats.mean = blend(&stats.mean, &mut mean.iter().copied())?;
        stats.var = blend(&stats.var, &mut sq_dev.iter().map(|s| s / (count - 1) as f64))?;
        stats.num_batches_tracked = Tensor::full_i64(&[], tracked);
        Ok(())
    }
}

impl BatchNorm1d {
    /// The forward pass in composed tensor ops, for an input on a GPU (the fused kernel is
    /// host code): the same statistics (biased batch variance for normalising, unbiased for
    /// the running variance) with autograd through the batch mean and variance. The running
    /// statistics stay on the input's device; `num_batches_tracked` is kept on the host.
    fn forward_composed(&self, x: &Tensor, count: usize) -> Result<Tensor> {
        let c = self.num_features;
        let (dims, bshape): (&[isize], Vec<usize>) =
            if x.rank() == 3 { (&[0, 2], vec![1, c, 1]) } else { (&[0], vec![1, c]) };
        let batch_stats = self.training || self.stats.is_none();
        let (mean, var) = if batch_stats {
            let mean = x.mean(dims, true)?;
            let var = x.sub(&mean)?.square()?.mean(dims, true)?;
            if self.training
                && let Some(mut stats) = self.stats()
            {
                let tracked = stats.num_batches_tracked.item_i64()? + 1;
                let m = self.momentum.unwrap_or(1.0 / tracked as f32);
                let unbiased = count as f32 / (count - 1) as f32;
                let (bm, bv) = (mean.detach().reshape(&[c])?, var.detach().reshape(&[c])?.mul_scalar(unbiased)?);
                let blend = |old: &Tensor, new: &Tensor| -> Result<Tensor> {
                    old.to_device(new.device())?.mul_scalar(1.0 - m)?.add(&new.mul_scalar(m)?)
                };
                stats.mean = blend(&stats.mean, &bm)?;
                stats.var = blend(&stats.var, &bv)?;
                stats.num_batches_tracked = Tensor::full_i64(&[], tracked);
            }
            (mean, var)
        } else {
            let stats = self.stats().expect("running stats exist: batch_stats is false");
            (stats.mean.to_device(x.device())?.reshape(&bshape)?, stats.var.to_device(x.device())?.reshape(&bshape)?)
        };
        let y = x.sub(&mean)?.div(&var.add_scalar(self.eps)?.sqrt()?)?;
        let channel = [c];
        match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => {
                let w = param_value(BatchNorm1dConfig::NAME, w, &channel)?.reshape(&bshape)?;
                let b = param_value(BatchNorm1dConfig::NAME, b, &channel)?.reshape(&bshape)?;
                y.mul(&w)?.add(&b)
            }
            _ => Ok(y),
        }
    }
}

impl Layer for BatchNorm1d {
    fn forward_single(&self, x: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = x.shape().iter().map(|&d| Some(d)).collect();
        self.check_shape(&shape)?;
        if !x.device().is_cpu() {
            let count = x.shape()[0] * x.shape().get(2).copied().unwrap_or(1);
            if self.training && count <= 1 {
                let got = format!("shape {:?}", x.shape());
                return Err(bad_input(BatchNorm1dConfig::NAME, "more than 1 value per channel when training", got));
            }
            return self.forward_composed(x, count);
        }
        let layout = Layout { n: x.shape()[0], c: self.num_features, l: x.shape().get(2).copied().unwrap_or(1) };
        let count = layout.n * layout.l;
        let batch_stats = self.training || self.stats.is_none();
        let (mean, var): (Vec<f32>, Vec<f32>) = if batch_stats {
            if self.training && count <= 1 {
                let got = format!("shape {:?}", x.shape());
                return Err(bad_input(BatchNorm1dConfig::NAME, "more than 1 value per channel when training", got));
            }
            let (mean, sq_dev) = layout.moments(&data(x)?);
            if self.training {
                self.update_running_stats(&mean, &sq_dev, count)?;
            }
            let var = sq_dev.iter().map(|s| (s / count.max(1) as f64) as f32).collect();
            (mean.into_iter().map(|m| m as f32).collect(), var)
        } else {
            let stats = self.stats().expect("running stats exist: batch_stats is false");
            (data(&stats.mean)?.into_owned(), data(&stats.var)?.into_owned())
        };
        let invstd = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let channel = [self.num_features];
        let weight = self.weight.as_ref().map(|w| param_value(BatchNorm1dConfig::NAME, w, &channel)).transpose()?;
        let bias = self.bias.as_ref().map(|b| param_value(BatchNorm1dConfig::NAME, b, &channel)).transpose()?;
        let op = Arc::new(BatchNormOp { layout, mean, invstd, batch_stats, affine: weight.is_some() });
        let mut inputs = vec![x];
        inputs.extend(weight.as_ref());
        inputs.extend(bias.as_ref());
        Tensor::apply_custom(op, &inputs)
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            visit(&join_name(prefix, "weight"), w);
            visit(&join_name(prefix, "bias"), b);
        }
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(BatchNormOnnx {
            num_features: self.num_features,
            eps: self.eps,
            affine: self.weight.is_some(),
            running_stats: self.stats.is_some(),
        }))
    }

    fn visit_buffers(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Tensor)) {
        if let Some(stats) = self.stats() {
            visit(&join_name(prefix, "running_mean"), &stats.mean);
            visit(&join_name(prefix, "running_var"), &stats.var);
            visit(&join_name(prefix, "num_batches_tracked"), &stats.num_batches_tracked);
        }
    }

    fn load_buffers(&self, prefix: &str, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<()> {
        let Some(mut stats) = self.stats() else { return Ok(()) };
        let c = self.num_features;
        let mut take = |name: &str, want: &Tensor| -> Result<Option<Tensor>> {
            let full = join_name(prefix, name);
            match get(&full) {
                Some(t) if t.shape() == want.shape() && t.dtype() == want.dtype() => Ok(Some(t)),
                Some(t) => Err(invalid(
                    BatchNorm1dConfig::NAME,
                    format!(
                        "buffer `{full}` is {:?} {:?}, the layer ({c} features) wants {:?} {:?}",
                        t.dtype(),
                        t.shape(),
                        want.dtype(),
                        want.shape()
                    ),
                )),
                None => Ok(None),
            }
        };
        let mean = take("running_mean", &stats.mean)?;
        let var = take("running_var", &stats.var)?;
        let count = take("num_batches_tracked", &stats.num_batches_tracked)?;
        if let Some(t) = mean {
            stats.mean = t;
        }
        if let Some(t) = var {
            stats.var = t;
        }
        if let Some(t) = count {
            // A host scalar wherever the layer runs (read at each training step).
            stats.num_batches_tracked = t.to_device(arc_core::Device::Cpu)?;
        }
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(BatchNorm1dConfig::NAME, inputs)?;
        self.check_shape(input)?;
        Ok(input.clone())
    }
}

#[cfg(test)]
mod tests {
    use arc_core::tensor::Rng;

    use super::*;

    fn layer(c: usize, momentum: Option<f32>, affine: bool) -> Result<BatchNorm1d> {
        let config = BatchNorm1dConfig { num_features: c, eps: 1e-5, momentum, affine, track_running_stats: true };
        let bn = BatchNorm1d::new(&config)?;
        if let (Some(w), Some(b)) = (&bn.weight, &bn.bias) {
            w.set(Tensor::randn(&[c], &mut Rng::new(1)))?;
            b.set(Tensor::randn(&[c], &mut Rng::new(2)))?;
        }
        Ok(bn)
    }

    /// Output, input gradient and parameter gradients of `sum(f(x) * w)`.
    fn run(bn: &BatchNorm1d, x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<Vec<f32>>> {
        let x = x.detach().requires_grad_()?;
        let y = f(&x)?;
        y.mul(&Tensor::randn(y.shape(), &mut Rng::new(9)))?.sum_all()?.backward()?;
        let mut out = vec![y.to_vec()?, x.grad().map(|g| g.to_vec()).transpose()?.unwrap_or_default()];
        for p in [&bn.weight, &bn.bias].into_iter().flatten() {
            out.push(p.grad().map(|g| g.to_vec()).transpose()?.unwrap_or_default());
            p.zero_grad();
        }
        let stats = bn.stats().expect("tracked");
        out.extend([stats.mean.to_vec()?, stats.var.to_vec()?]);
        Ok(out)
    }

    /// The composed path (what a GPU input takes) against the fused host kernel, run on
    /// the CPU: training (2-D and 3-D input, momentum and cumulative average), evaluation,
    /// without affine parameters.
    #[test]
    fn the_composed_path_matches_the_fused_kernel() -> Result<()> {
        for (shape, momentum, affine, training) in [
            (vec![8, 3], Some(0.1), true, true),
            (vec![4, 3, 5], None, true, true),
            (vec![8, 3], Some(0.1), false, true),
            (vec![8, 3], Some(0.1), true, false),
        ] {
            let x = Tensor::randn(&shape, &mut Rng::new(3));
            let (mut fused, mut composed) = (layer(3, momentum, affine)?, layer(3, momentum, affine)?);
            fused.training = training;
            composed.training = training;
            let count = shape[0] * shape.get(2).copied().unwrap_or(1);
            for _ in 0..2 {
                let want = run(&fused, &x, |x| fused.forward_single(x))?;
                let got = run(&composed, &x, |x| composed.forward_composed(x, count))?;
                for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                    assert_eq!(a.len(), b.len());
                    for (p, q) in a.iter().zip(b) {
                        assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{shape:?} part {i}: {p} vs {q}");
                    }
                }
            }
            let tracked = |bn: &BatchNorm1d| bn.stats().map(|s| s.num_batches_tracked.item_i64());
            assert_eq!(tracked(&fused).transpose()?, tracked(&composed).transpose()?);
        }
        Ok(())
    }
}

/// ONNX `BatchNormalization` (evaluation) with the running statistics.
#[derive(Debug)]
struct BatchNormOnnx {
    num_features: usize,
    eps: f32,
    affine: bool,
    running_stats: bool,
}

impl OnnxLowering for BatchNormOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        if !self.running_stats {
            return Err(node.unsupported("without running statistics it normalises with each batch's"));
        }
        let c = self.num_features;
        let (scale, bias) = if self.affine {
            (g.weight(&node.weight_name("weight"))?, g.weight(&node.weight_name("bias"))?)
        } else {
            (
                g.constant(&node.weight_name("weight"), &[c], &vec![1.0; c]),
                g.constant(&node.weight_name("bias"), &[c], &vec![0.0; c]),
            )
        };
        let mean = g.weight(&node.weight_name("running_mean"))?;
        let var = g.weight(&node.weight_name("running_var"))?;
        let inputs = vec![node.input()?, scale, bias, mean, var];
        g.node("BatchNormalization", node.name, inputs, node.output, vec![Attr::float("epsilon", self.eps)]);
        Ok(())
    }
}
