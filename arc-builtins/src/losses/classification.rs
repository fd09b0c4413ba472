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

use arc_core::nn::Loss;
use arc_core::spec::Config;
use arc_core::tensor::{CrossEntropyOptions, DType, Reduction as TensorReduction};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{Reduction, default_reduction, expect_f32, inputs, invalid, on_device_of, weight_tensor};

const PORTS: &str = "2 tensors: pred, target";

use super::LossFactory;

/// This family's losses: name and constructor.
pub const LOSSES: &[(&str, LossFactory)] =
    &[("CrossEntropyLoss", CrossEntropyLoss::from_config), ("NLLLoss", NLLLoss::from_config)];

/// `pred` as `[M, C]` rows of class scores, with the shape of the batch
/// (`pred`'s shape without the class dim, dim 1; `[]` for a 1-D `pred`).
fn classes_last(op: &'static str, pred: &Tensor) -> Result<(Tensor, Vec<usize>)> {
    let shape = pred.shape();
    match shape.len() {
        0 => Err(Error::BadRank { op, expected: "pred of shape [N, C, ...] or [C]", shape: Vec::new() }),
        1 => Ok((pred.reshape(&[1, shape[0]])?, Vec::new())),
        2 => Ok((pred.clone(), vec![shape[0]])),
        rank => {
            // [N, C, d1, ...] -> [N, d1, ..., C] -> [M, C].
            let mut perm = vec![0];
            perm.extend(2..rank);
            perm.push(1);
            let mut batch = vec![shape[0]];
            batch.extend_from_slice(&shape[2..]);
            let m = batch.iter().product();
            Ok((pred.permute(&perm)?.reshape(&[m, shape[1]])?, batch))
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrossEntropyConfig {
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
}

impl CrossEntropyLoss {
    /// Builds the loss from its config (`reduction`, `weight`, `ignore_index`,
    /// `label_smoothing`).
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
        }))
    }

    /// The loss against class probabilities `target` (`pred`'s shape).
    fn forward_probabilities(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        let op = "CrossEntropyLoss";
        if target.shape() != pred.shape() {
            return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: target.shape().to_vec() });
        }
        let (x, batch) = classes_last(op, pred)?;
        let (y, _) = classes_last(op, target)?;
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
        let (x, batch) = classes_last(op, pred)?;
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
}

/// `NLLLoss`'s config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NLLConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// A weight per class, `C` numbers (default: none, all 1).
    #[serde(default)]
    weight: Option<Vec<f32>>,
    /// A class index whose targets contribute nothing (default -100).
    #[serde(default = "default_ignore_index")]
    ignore_index: i64,
}

/// Negative log-likelihood of class indices under log-probabilities `pred`
/// (PyTorch's `nn.NLLLoss`): `l = -w[t] pred[t]`; see the module docs.
#[derive(Clone, Debug)]
pub struct NLLLoss {
    reduction: Reduction,
    weight: Option<Vec<f32>>,
    ignore_index: i64,
}

impl NLLLoss {
    /// Builds the loss from its config (`reduction`, `weight`, `ignore_index`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.NLLLoss";
        let c: NLLConfig = config.parse(name)?;
        let weight = weight_tensor(name, "weight", c.weight)?.map(|w| w.to_vec()).transpose()?;
        Ok(Box::new(Self {
            reduction: Reduction::parse(name, &c.reduction, false)?,
            weight,
            ignore_index: c.ignore_index,
        }))
    }
}

impl Loss for NLLLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "NLLLoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_f32(op, pred)?;
        let (x, batch) = classes_last(op, pred)?;
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
}
