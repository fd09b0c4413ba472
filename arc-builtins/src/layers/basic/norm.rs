//! The norms: `BatchNorm1d` (`torch.nn.BatchNorm1d`) and `LayerNorm` (`torch.nn.LayerNorm`).

use std::sync::Mutex;

use arc_core::nn::{Layer, Param, ShapeSpec, join_name};
use arc_core::tensor::no_grad;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, invalid, show, single, yes};

fn default_eps() -> f32 {
    1e-5
}

fn default_momentum() -> Option<f32> {
    Some(0.1)
}

fn check_eps(component: &str, eps: f32) -> Result<()> {
    if eps >= 0.0 && eps.is_finite() {
        Ok(())
    } else {
        Err(invalid(component, format!("`eps` must be a finite number >= 0, got {eps}")))
    }
}

/// Params of `core.BatchNorm1d` (`torch.nn.BatchNorm1d`).
#[derive(Debug, Deserialize)]
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

/// Running statistics of a [`BatchNorm1d`].
#[derive(Debug)]
struct RunningStats {
    mean: Tensor,
    var: Tensor,
    /// i64, rank 0, as PyTorch's buffer.
    num_batches_tracked: Tensor,
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

    fn stats(&self) -> Option<std::sync::MutexGuard<'_, RunningStats>> {
        // A poisoned lock only means another thread panicked; the tensors are whole.
        self.stats.as_ref().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Folds one training batch's statistics into the running ones.
    fn update_running_stats(&self, mean: &Tensor, var: &Tensor, count: usize) -> Result<()> {
        let Some(mut stats) = self.stats() else { return Ok(()) };
        let _guard = no_grad();
        let tracked = stats.num_batches_tracked.item_i64()? + 1;
        let m = self.momentum.unwrap_or(1.0 / tracked as f32);
        let c = [self.num_features];
        let unbiased = var.reshape(&c)?.mul_scalar(count as f32 / (count - 1) as f32)?;
        stats.mean = stats.mean.mul_scalar(1.0 - m)?.add(&mean.reshape(&c)?.mul_scalar(m)?)?.detach();
        stats.var = stats.var.mul_scalar(1.0 - m)?.add(&unbiased.mul_scalar(m)?)?.detach();
        stats.num_batches_tracked = Tensor::full_i64(&[], tracked);
        Ok(())
    }
}

impl Layer for BatchNorm1d {
    fn forward_single(&self, x: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = x.shape().iter().map(|&d| Some(d)).collect();
        self.check_shape(&shape)?;
        let c = self.num_features;
        // Per-channel tensors broadcast against [N, C] as [C], against [N, C, L] as [C, 1].
        let (dims, channel): (&[isize], Vec<usize>) =
            if x.rank() == 2 { (&[0], vec![c]) } else { (&[0, 2], vec![c, 1]) };
        let count = x.numel() / c;
        let use_batch_stats = self.training || self.stats.is_none();
        let normalised = if use_batch_stats {
            if self.training && count <= 1 {
                return Err(bad_input(
                    BatchNorm1dConfig::NAME,
                    "more than 1 value per channel when training",
                    format!("shape {:?}", x.shape()),
                ));
            }
            let mean = x.mean(dims, true)?;
            let var = x.var(dims, false, true)?;
            if self.training {
                self.update_running_stats(&mean.detach(), &var.detach(), count)?;
            }
            x.sub(&mean)?.div(&var.add_scalar(self.eps)?.sqrt()?)?
        } else {
            let (mean, var) = {
                let stats = self.stats().expect("running stats exist: use_batch_stats is false");
                (stats.mean.reshape(&channel)?, stats.var.reshape(&channel)?)
            };
            x.sub(&mean)?.div(&var.add_scalar(self.eps)?.sqrt()?)?
        };
        let scaled = match &self.weight {
            Some(w) => normalised.mul(&w.value().reshape(&channel)?)?,
            None => normalised,
        };
        match &self.bias {
            Some(b) => scaled.add(&b.value().reshape(&channel)?),
            None => Ok(scaled),
        }
    }

    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Param)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            visit(&join_name(prefix, "weight"), w);
            visit(&join_name(prefix, "bias"), b);
        }
    }

    fn visit_buffers(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Tensor)) {
        if let Some(stats) = self.stats() {
            visit(&join_name(prefix, "running_mean"), &stats.mean);
            visit(&join_name(prefix, "running_var"), &stats.var);
            visit(&join_name(prefix, "num_batches_tracked"), &stats.num_batches_tracked);
        }
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

/// `normalized_shape`: one size or a list of sizes.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum NormalizedShape {
    /// The last dim's size.
    One(usize),
    /// The sizes of the last dims.
    Many(Vec<usize>),
}

impl NormalizedShape {
    fn dims(&self) -> Vec<usize> {
        match self {
            Self::One(d) => vec![*d],
            Self::Many(ds) => ds.clone(),
        }
    }
}

/// Params of `core.LayerNorm` (`torch.nn.LayerNorm`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNormConfig {
    /// The trailing dims normalised over: an int (the last dim) or a list
    /// (required; sizes at least 1).
    pub normalized_shape: NormalizedShape,
    /// Added to the variance for numerical stability. Default `1e-5`.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Whether the layer learns an elementwise `weight` (and `bias`). Default `true`.
    #[serde(default = "yes")]
    pub elementwise_affine: bool,
    /// Whether it learns a `bias` when `elementwise_affine`. Default `true`.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl LayerConfig for LayerNormConfig {
    const NAME: &'static str = "core.LayerNorm";

    fn check(&self) -> Result<()> {
        let dims = self.normalized_shape.dims();
        if dims.is_empty() || dims.contains(&0) {
            return Err(invalid(Self::NAME, format!("`normalized_shape` must be sizes >= 1, got {dims:?}")));
        }
        check_eps(Self::NAME, self.eps)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(LayerNorm::new(&self)?))
    }
}

/// Layer normalisation (Ba et al., 2016) over the trailing `normalized_shape`
/// dims: `y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`, the mean and
/// the biased variance taken over those dims of each sample. Runs the fused
/// `Tensor::layer_norm` kernel (a multi-dim shape is flattened to one row).
///
/// # Shapes
/// input `[*, normalized_shape...]`; the output has its shape.
///
/// # Parameters and initialisation (PyTorch's)
/// `weight` ones and `bias` zeros, both of shape `normalized_shape`, when
/// `elementwise_affine` (`bias` only when `bias` too).
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let ln = create("LayerNorm", "{normalized_shape: [2, 2], eps: 0.0}")?;
/// // Over all four values: mean 2.5, variance 1.25.
/// let y = ln.forward_single(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 2])?)?;
/// let want = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
/// assert!(y.to_vec()?.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct LayerNorm {
    shape: Vec<usize>,
    eps: f32,
    weight: Option<Param>,
    bias: Option<Param>,
}

impl LayerNorm {
    /// A layer with PyTorch's initial parameters.
    pub fn new(config: &LayerNormConfig) -> Result<Self> {
        let shape = config.normalized_shape.dims();
        let affine = config.elementwise_affine;
        let weight = if affine { Some(Param::new(Tensor::ones(&shape))?) } else { None };
        let bias = if affine && config.bias { Some(Param::new(Tensor::zeros(&shape))?) } else { None };
        Ok(Self { shape, eps: config.eps, weight, bias })
    }

    fn check_shape(&self, shape: &[Option<usize>]) -> Result<()> {
        let k = self.shape.len();
        let fits = shape.len() >= k
            && shape[shape.len() - k..].iter().zip(&self.shape).all(|(a, b)| a.is_none_or(|a| a == *b));
        if fits {
            Ok(())
        } else {
            let want: Vec<String> = self.shape.iter().map(usize::to_string).collect();
            Err(bad_input(LayerNormConfig::NAME, format!("an input [*, {}]", want.join(", ")), show(shape)))
        }
    }
}

impl Layer for LayerNorm {
    fn forward_single(&self, x: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = x.shape().iter().map(|&d| Some(d)).collect();
        self.check_shape(&shape)?;
        let weight = self.weight.as_ref().map(Param::value);
        let bias = self.bias.as_ref().map(Param::value);
        if self.shape.len() == 1 {
            return x.layer_norm(weight.as_ref(), bias.as_ref(), self.eps);
        }
        // The fused kernel normalises the last dim: view the normalised dims as one.
        let d: usize = self.shape.iter().product();
        let mut rows = x.shape()[..x.rank() - self.shape.len()].to_vec();
        rows.push(d);
        let weight = weight.map(|w| w.reshape(&[d])).transpose()?;
        let bias = bias.map(|b| b.reshape(&[d])).transpose()?;
        x.reshape(&rows)?.layer_norm(weight.as_ref(), bias.as_ref(), self.eps)?.reshape(x.shape())
    }

    fn visit_params(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Param)) {
        if let Some(w) = &self.weight {
            visit(&join_name(prefix, "weight"), w);
        }
        if let Some(b) = &self.bias {
            visit(&join_name(prefix, "bias"), b);
        }
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(LayerNormConfig::NAME, inputs)?;
        self.check_shape(input)?;
        Ok(input.clone())
    }
}
