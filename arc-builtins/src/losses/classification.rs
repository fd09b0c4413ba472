//! Multi-class losses over class scores: `CrossEntropyLoss` and `NLLLoss`.
//!
//! Both take `pred` of shape `[N, C]`, `[N, C, d1, ...]` (a class score per
//! position, as PyTorch's "K-dimensional" case) or `[C]` (one sample), and a
//! `target` of class indices (i64) of shape `[N]`, `[N, d1, ...]` or `[]`.
//! `CrossEntropyLoss` also takes class probabilities (f32, `pred`'s shape).
//! With weights `w` (all 1 by default), for a sample of target class `t`:
//!
//! ```text
//! NLLLoss           l = -w[t] x[t]                       (x: log-probabilities)
//! CrossEntropyLoss  l = -w[t] log_softmax(x)[t]          (class indices; with
//!                   label smoothing eps: (1 - eps) l + eps/C sum_c -w[c] log_softmax(x)[c])
//!                   l = -sum_c w[c] y[c] log_softmax(x)[c]  (probabilities y, smoothed
//!                   as y (1 - eps) + eps / C)
//! ```
//!
//! A target equal to `ignore_index` contributes 0. `mean` divides the sum by
//! the weights of the targets not ignored (class indices), or by the number
//! of samples (probabilities), as PyTorch does.
//!
//! # Per-position scores
//!
//! A sequence model writes class scores per position `[N, L, C]` (classes
//! last), where PyTorch takes `[N, C, L]` (classes on dim 1). Against class
//! indices `[N, L]` both are read: the classes are on the dim whose removal
//! leaves the target's shape. When both dims fit (`L == C`) the loss option
//! `class_dim` (Arc's; `1` as PyTorch, or `-1` for classes last) must say
//! which, and without it the error says so. `class_dim` also applies to
//! class-probability targets (default dim 1, PyTorch's).

use arc_core::nn::{Loss, Scores, Task};
use arc_core::spec::Config;
use arc_core::tensor::{CrossEntropyOptions, DType, Reduction as TensorReduction};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{Reduction, default_reduction, expect_f32, inputs, invalid, on_device_of, weight_tensor};

const PORTS: &str = "2 tensors: pred, target";

use super::LossFactory;
use arc_core::plugin::{ParamsSchema, schema_of};

/// This family's losses: name and constructor.
pub const LOSSES: &[(&str, LossFactory, ParamsSchema)] = &[
    ("CrossEntropyLoss", CrossEntropyLoss::from_config, schema_of::<CrossEntropyConfig>),
    ("NLLLoss", NLLLoss::from_config, schema_of::<NLLConfig>),
];

/// The dim of `pred` holding the classes for class-index `target`s of
/// `target` shape (see the module docs): `class_dim` when the spec gives
/// one, else the one dim whose removal leaves the target's shape.
fn resolve_class_dim(
    op: &'static str,
    class_dim: Option<i64>,
    pred: &[usize],
    target: &[usize],
    indices: bool,
) -> Result<usize> {
    let rank = pred.len();
    if let Some(dim) = class_dim {
        let resolved = if dim < 0 { dim + rank as i64 } else { dim };
        return match usize::try_from(resolved) {
            Ok(d) if d < rank && (d >= 1 || rank == 1) => Ok(d),
            _ => Err(Error::BadAxis { op, dim: dim as isize, rank }),
        };
    }
    if rank < 3 || !indices {
        return Ok(usize::from(rank >= 2));
    }
    let without = |d: usize| pred.iter().enumerate().filter(|(i, _)| *i != d).map(|(_, n)| *n).collect::<Vec<_>>();
    match (without(1) == target, without(rank - 1) == target) {
        (true, true) => Err(Error::InvalidArgument {
            op,
            name: "class_dim",
            value: format!("unset (pred {pred:?}, target {target:?})"),
            expected: "the dim holding the classes, since both dim 1 and the last fit the target (L == C): \
                       set the loss option `class_dim` to 1 (PyTorch's [N, C, L]) or -1 ([N, L, C])",
        }),
        (false, true) => Ok(rank - 1),
        _ => Ok(1),
    }
}

/// `pred` as `[M, C]` rows of class scores, with the shape of the batch
/// (`pred`'s shape without the class dim `dim`; `[]` for a 1-D `pred`).
fn classes_last(op: &'static str, pred: &Tensor, dim: usize) -> Result<(Tensor, Vec<usize>)> {
    let shape = pred.shape();
    match shape.len() {
        0 => Err(Error::BadRank { op, expected: "pred of shape [N, C, ...] or [C]", shape: Vec::new() }),
        1 => Ok((pred.reshape(&[1, shape[0]])?, Vec::new())),
        2 => Ok((pred.clone(), vec![shape[0]])),
        rank if dim == rank - 1 => {
            // Classes last already: [N, d1, ..., C] -> [M, C], no copy.
            let batch = shape[..rank - 1].to_vec();
            let m = batch.iter().product();
            Ok((pred.reshape(&[m, shape[rank - 1]])?, batch))
        }
        rank => {
            // [N, C, d1, ...] (classes on `dim`) -> [N, d1, ..., C] -> [M, C].
            let mut perm: Vec<usize> = (0..rank).filter(|&d| d != dim).collect();
            let batch: Vec<usize> = perm.iter().map(|&d| shape[d]).collect();
            perm.push(dim);
            let m = batch.iter().product();
            Ok((pred.permute(&perm)?.reshape(&[m, shape[dim]])?, batch))
        }
    }
}

/// Checks class indices against `pred`: shape `batch`, dtype i64.
fn check_class_target(op: &'static str, pred: &Tensor, target: &Tensor, batch: &[usize]) -> Result<()> {
    if target.dtype() != DType::I64 {
        return Err(Error::DTypeMismatch { op, expected: DType::I64, got: target.dtype() });
    }
    if target.shape() != batch {
        return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: target.shape().to_vec() });
    }
    Ok(())
}

/// Checks that a class-weight vector has `c` entries.
fn check_weight(op: &'static str, pred: &Tensor, weight: Option<&Tensor>, c: usize) -> Result<()> {
    match weight {
        Some(w) if w.numel() != c => {
            Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: w.shape().to_vec() })
        }
        _ => Ok(()),
    }
}

/// `CrossEntropyLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CrossEntropyConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// A weight per class, `C` numbers (default: none, all 1).
    #[serde(default)]
    weight: Option<Vec<f32>>,
    /// A class index whose targets contribute nothing (default -100).
    #[serde(default = "default_ignore_index")]
    ignore_index: i64,
    /// Label smoothing in `[0, 1]` (default 0).
    #[serde(default)]
    label_smoothing: f32,
    /// The dim of `pred` holding the classes (Arc's option: `1` as PyTorch,
    /// `-1` for `[N, L, C]`). Default: found from the shapes.
    #[serde(default)]
    class_dim: Option<i64>,
}

/// `ignore_index`'s default, PyTorch's.
fn default_ignore_index() -> i64 {
    -100
}

/// Cross-entropy of class scores (logits) against class indices or class
/// probabilities (PyTorch's `nn.CrossEntropyLoss`); see the module docs.
///
/// Class-index targets go through the fused `Tensor::cross_entropy` kernel.
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss {
    reduction: Reduction,
    weight: Option<Tensor>,
    ignore_index: i64,
    label_smoothing: f32,
    class_dim: Option<i64>,
}

impl CrossEntropyLoss {
    /// Builds the loss from its config (`reduction`, `weight`, `ignore_index`,
    /// `label_smoothing`, `class_dim`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.CrossEntropyLoss";
        let c: CrossEntropyConfig = config.parse(name)?;
        if !(0.0..=1.0).contains(&c.label_smoothing) {
            return Err(invalid(
                name,
                format!("label_smoothing: expected a number in [0, 1], got {}", c.label_smoothing),
            ));
        }
        Ok(Box::new(Self {
            reduction: Reduction::parse(name, &c.reduction, false)?,
            weight: weight_tensor(name, "weight", c.weight)?,
            ignore_index: c.ignore_index,
            label_smoothing: c.label_smoothing,
            class_dim: c.class_dim,
        }))
    }

    /// The loss against class probabilities `target` (`pred`'s shape).
    fn forward_probabilities(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        let op = "CrossEntropyLoss";
        if target.shape() != pred.shape() {
            return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: target.shape().to_vec() });
        }
        let dim = resolve_class_dim(op, self.class_dim, pred.shape(), target.shape(), false)?;
        let (x, batch) = classes_last(op, pred, dim)?;
        let (y, _) = classes_last(op, target, dim)?;
        let c = x.shape()[1];
        check_weight(op, pred, self.weight.as_ref(), c)?;
        let mut y = y;
        if self.label_smoothing > 0.0 {
            y = y.affine(1.0 - self.label_smoothing, self.label_smoothing / c as f32)?;
        }
        let mut terms = x.log_softmax(-1)?.mul(&y)?;
        if let Some(w) = &self.weight {
            terms = terms.mul(&on_device_of(w, pred)?)?;
        }
        let per_sample = terms.sum(&[-1], false)?.neg()?;
        match self.reduction {
            Reduction::None => per_sample.reshape(&batch),
            // PyTorch divides by the number of samples, whatever the weights.
            _ => self.reduction.apply(per_sample),
        }
    }
}

impl Loss for CrossEntropyLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "CrossEntropyLoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_f32(op, pred)?;
        if target.dtype() == DType::F32 {
            return self.forward_probabilities(pred, target);
        }
        let dim = resolve_class_dim(op, self.class_dim, pred.shape(), target.shape(), true)?;
        let (x, batch) = classes_last(op, pred, dim)?;
        check_class_target(op, pred, target, &batch)?;
        check_weight(op, pred, self.weight.as_ref(), x.shape()[1])?;
        let options = CrossEntropyOptions {
            weight: self.weight.as_ref().map(|w| on_device_of(w, pred)).transpose()?,
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: match self.reduction {
                Reduction::Sum => TensorReduction::Sum,
                Reduction::None => TensorReduction::None,
                Reduction::Mean | Reduction::BatchMean => TensorReduction::Mean,
            },
        };
        let loss = x.cross_entropy(&target.reshape(&[x.shape()[0]])?, &options)?;
        if self.reduction == Reduction::None { loss.reshape(&batch) } else { Ok(loss) }
    }

    fn task(&self) -> Task {
        Task::Multiclass
    }

    fn scores(&self) -> Scores {
        Scores::Logits
    }

    fn ignore_index(&self) -> Option<i64> {
        Some(self.ignore_index)
    }

    fn class_dim(&self, pred: &[usize], target: &[usize]) -> Result<usize> {
        resolve_class_dim("CrossEntropyLoss", self.class_dim, pred, target, true)
    }
}

/// `NLLLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NLLConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// A weight per class, `C` numbers (default: none, all 1).
    #[serde(default)]
    weight: Option<Vec<f32>>,
    /// A class index whose targets contribute nothing (default -100).
    #[serde(default = "default_ignore_index")]
    ignore_index: i64,
    /// The dim of `pred` holding the classes (see `CrossEntropyLoss`).
    #[serde(default)]
    class_dim: Option<i64>,
}

/// Negative log-likelihood of class indices under log-probabilities `pred`
/// (PyTorch's `nn.NLLLoss`): `l = -w[t] pred[t]`; see the module docs.
#[derive(Clone, Debug)]
pub struct NLLLoss {
    reduction: Reduction,
    weight: Option<Vec<f32>>,
    ignore_index: i64,
    class_dim: Option<i64>,
}

impl NLLLoss {
    /// Builds the loss from its config (`reduction`, `weight`, `ignore_index`, `class_dim`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.NLLLoss";
        let c: NLLConfig = config.parse(name)?;
        let weight = weight_tensor(name, "weight", c.weight)?.map(|w| w.to_vec()).transpose()?;
        Ok(Box::new(Self {
            reduction: Reduction::parse(name, &c.reduction, false)?,
            weight,
            ignore_index: c.ignore_index,
            class_dim: c.class_dim,
        }))
    }
}

impl Loss for NLLLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "NLLLoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_f32(op, pred)?;
        let dim = resolve_class_dim(op, self.class_dim, pred.shape(), target.shape(), true)?;
        let (x, batch) = classes_last(op, pred, dim)?;
        check_class_target(op, pred, target, &batch)?;
        let (m, c) = (x.shape()[0], x.shape()[1]);
        if let Some(w) = &self.weight
            && w.len() != c
        {
            return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: vec![w.len()] });
        }
        // Per sample: the class to pick (0 for ignored ones) and its weight (0 if ignored).
        let targets = target.to_vec_i64()?;
        let mut picks = Vec::with_capacity(m);
        let mut weights = Vec::with_capacity(m);
        for &t in &targets {
            if t == self.ignore_index {
                picks.push(0);
                weights.push(0.0);
            } else if t < 0 || t as u64 >= c as u64 {
                return Err(Error::IndexOutOfRange { op, index: t, size: c });
            } else {
                picks.push(t);
                weights.push(self.weight.as_ref().map_or(1.0, |w| w[t as usize]));
            }
        }
        let weight_total: f32 = weights.iter().sum();
        // The targets are read on the host (checked there); picks and weights go to x's device.
        let picks = Tensor::from_vec_i64(picks, &[m, 1])?.to_device(x.device())?;
        let picked = x.gather(1, &picks)?.reshape(&[m])?;
        let loss = picked.mul(&Tensor::from_vec(weights, &[m])?.to_device(x.device())?)?.neg()?;
        match self.reduction {
            Reduction::None => loss.reshape(&batch),
            // The weighted mean; 0 / 0 = NaN when every target is ignored, as in PyTorch.
            Reduction::Mean | Reduction::BatchMean => loss.sum_all()?.div_scalar(weight_total),
            Reduction::Sum => loss.sum_all(),
        }
    }

    fn task(&self) -> Task {
        Task::Multiclass
    }

    fn scores(&self) -> Scores {
        Scores::LogProbabilities
    }

    fn ignore_index(&self) -> Option<i64> {
        Some(self.ignore_index)
    }

    fn class_dim(&self, pred: &[usize], target: &[usize]) -> Result<usize> {
        resolve_class_dim("NLLLoss", self.class_dim, pred, target, true)
    }
}
