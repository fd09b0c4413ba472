//! Binary and multi-label losses over independent probabilities or logits:
//! `BCELoss`, `BCEWithLogitsLoss` and `MultiLabelSoftMarginLoss`.
//!
//! Each takes `pred` and an f32 `target` in `[0, 1]` of the same shape; the
//! optional `weight` (and `pos_weight`) lists broadcast along the last
//! dimension (one entry per class, or a single entry). With `x = pred`,
//! `y = target`, `sigma` the sigmoid:
//!
//! ```text
//! BCELoss                   l = -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100))
//! BCEWithLogitsLoss         l = -w (p y log sigma(x) + (1 - y) log(1 - sigma(x))),  p = pos_weight
//!                             = w ((1 - y) x - (1 + (p - 1) y) log sigma(x))   (computed so)
//! MultiLabelSoftMarginLoss  l_n = -1/C sum_c w_c (y_c log sigma(x_c) + (1 - y_c) log sigma(-x_c))
//! ```
//!
//! `log sigma(x)` is computed as `min(x, 0) - log(1 + exp(-|x|))`, which
//! neither overflows nor loses precision for large `|x|`.

use std::sync::Arc;

use arc_core::nn::{Loss, Scores, Task};
use arc_core::spec::Config;
use arc_core::tensor::CustomOp;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{
    Reduction, default_reduction, expect_last_dim_weight, expect_pair, inputs, log_sigmoid, on_device_of, scalar_on,
    weight_tensor,
};

const PORTS: &str = "2 tensors: pred, target";

use super::LossFactory;
use arc_core::plugin::{ParamsSchema, schema_of};

/// This family's losses: name and constructor.
pub const LOSSES: &[(&str, LossFactory, ParamsSchema)] = &[
    ("BCELoss", BCELoss::from_config, schema_of::<WeightedConfig>),
    ("BCEWithLogitsLoss", BCEWithLogitsLoss::from_config, schema_of::<BCEWithLogitsConfig>),
    ("MultiLabelSoftMarginLoss", MultiLabelSoftMarginLoss::from_config, schema_of::<WeightedConfig>),
];

/// The config of `BCELoss` and `MultiLabelSoftMarginLoss`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WeightedConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// A weight per class (last dimension), or one number (default: none).
    #[serde(default)]
    weight: Option<Vec<f32>>,
}

/// Binary cross-entropy of probabilities (PyTorch's `nn.BCELoss`); the logs
/// are clamped to `>= -100` as in PyTorch, so a prediction of exactly 0 or 1
/// gives a finite loss.
///
/// Shapes: `pred` and `target` of any one shape, `pred` in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct BCELoss {
    reduction: Reduction,
    weight: Option<Tensor>,
}

impl BCELoss {
    /// Builds the loss from its config (`reduction`, `weight`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.BCELoss";
        let c: WeightedConfig = config.parse(name)?;
        let reduction = Reduction::parse(name, &c.reduction, false)?;
        Ok(Box::new(Self { reduction, weight: weight_tensor(name, "weight", c.weight)? }))
    }
}

impl Loss for BCELoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "BCELoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_pair(op, pred, target)?;
        if let Some(bad) = out_of_unit_range(pred)? {
            return Err(Error::InvalidArgument {
                op,
                name: "pred",
                value: bad.to_string(),
                expected: "probabilities in [0, 1] (use BCEWithLogitsLoss for logits)",
            });
        }
        let mut loss = Tensor::apply_custom(Arc::new(BinaryCrossEntropy), &[pred, target])?;
        if let Some(w) = &self.weight {
            expect_last_dim_weight(op, pred, w)?;
            loss = loss.mul(&on_device_of(w, pred)?)?;
        }
        self.reduction.apply(loss)
    }

    fn task(&self) -> Task {
        Task::Binary
    }

    fn scores(&self) -> Scores {
        Scores::Probabilities
    }
}

/// The first prediction outside `[0, 1]` (or NaN), if any. On a GPU the count is taken
/// there (one scalar read) and the values are copied only when one is bad.
fn out_of_unit_range(pred: &Tensor) -> Result<Option<f32>> {
    let bad = |v: Vec<f32>| v.into_iter().find(|p| !(0.0..=1.0).contains(p));
    if pred.device().is_cpu() {
        return Ok(bad(pred.to_vec()?));
    }
    let inside = pred.ge(&scalar_on(0.0, pred)?)?.mul(&pred.le(&scalar_on(1.0, pred)?)?)?.sum_all()?.item()?;
    if inside as usize == pred.numel() { Ok(None) } else { Ok(bad(pred.to_vec()?)) }
}

/// The CUDA kernel of [`BinaryCrossEntropy`] (Arc's custom-op convention: inputs, output,
/// element count; `GRID_STRIDE` from Arc's common header).
pub const BCE_CUDA_SOURCE: &str = include_str!("binary_cross_entropy.cu");

/// PyTorch's log clamp in `binary_cross_entropy`.
const LOG_FLOOR: f32 = -100.0;
/// PyTorch's floor on `x (1 - x)` in the gradient of `binary_cross_entropy`.
const GRAD_EPS: f32 = 1e-12;

/// Elementwise `-(y max(log x, -100) + (1 - y) max(log(1 - x), -100))` with
/// PyTorch's backward: `d/dx = (x - y) / max(x (1 - x), 1e-12)` and
/// `d/dy = max(log(1 - x), -100) - max(log x, -100)`. Composing it from `log`
/// and `clamp` would give a NaN gradient at `x = 0` or `1` (where a
/// saturated sigmoid lands), which PyTorch's kernel avoids.
struct BinaryCrossEntropy;

impl CustomOp for BinaryCrossEntropy {
    fn name(&self) -> &str {
        "core.BCELoss.binary_cross_entropy"
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let (x, y) = (inputs[0].to_vec()?, inputs[1].to_vec()?);
        let out = x
            .iter()
            .zip(&y)
            .map(|(&x, &y)| -(y * x.ln().max(LOG_FLOOR) + (1.0 - y) * (1.0 - x).ln().max(LOG_FLOOR)))
            .collect();
        Tensor::from_vec(out, inputs[0].shape())
    }

    fn cuda_source(&self) -> Option<&str> {
        Some(BCE_CUDA_SOURCE)
    }

    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        if !inputs[0].device().is_cpu() {
            return composed_backward(inputs[0], inputs[1], grad);
        }
        let (x, y, g) = (inputs[0].to_vec()?, inputs[1].to_vec()?, grad.to_vec()?);
        let shape = inputs[0].shape();
        let dx = x.iter().zip(&y).zip(&g).map(|((&x, &y), &g)| g * (x - y) / (x * (1.0 - x)).max(GRAD_EPS)).collect();
        let dy = x.iter().zip(&g).map(|(&x, &g)| g * ((1.0 - x).ln().max(LOG_FLOOR) - x.ln().max(LOG_FLOOR))).collect();
        Ok(vec![Some(Tensor::from_vec(dx, shape)?), Some(Tensor::from_vec(dy, shape)?)])
    }
}

/// [`BinaryCrossEntropy`]'s backward in tensor ops (what runs on a GPU): the same formulas,
/// `log 0 = -inf` clamping to -100.
fn composed_backward(x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let one_minus_x = x.affine(-1.0, 1.0)?;
    let denom = x.mul(&one_minus_x)?.clamp(GRAD_EPS, f32::INFINITY)?;
    let dx = grad.mul(&x.sub(y)?)?.div(&denom)?;
    let log_x = x.log()?.clamp(LOG_FLOOR, f32::INFINITY)?;
    let log_1mx = one_minus_x.log()?.clamp(LOG_FLOOR, f32::INFINITY)?;
    let dy = grad.mul(&log_1mx.sub(&log_x)?)?;
    Ok(vec![Some(dx), Some(dy)])
}

/// `BCEWithLogitsLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BCEWithLogitsConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// A weight per class (last dimension), or one number (default: none).
    #[serde(default)]
    weight: Option<Vec<f32>>,
    /// A weight of the positive term per class, or one number (default: none, 1).
    #[serde(default)]
    pos_weight: Option<Vec<f32>>,
}

/// Binary cross-entropy of logits, a sigmoid and `BCELoss` in one
/// numerically stable expression (PyTorch's `nn.BCEWithLogitsLoss`).
///
/// Shapes: `pred` and `target` of any one shape.
#[derive(Clone, Debug)]
pub struct BCEWithLogitsLoss {
    reduction: Reduction,
    weight: Option<Tensor>,
    pos_weight: Option<Tensor>,
}

impl BCEWithLogitsLoss {
    /// Builds the loss from its config (`reduction`, `weight`, `pos_weight`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.BCEWithLogitsLoss";
        let c: BCEWithLogitsConfig = config.parse(name)?;
        Ok(Box::new(Self {
            reduction: Reduction::parse(name, &c.reduction, false)?,
            weight: weight_tensor(name, "weight", c.weight)?,
            pos_weight: weight_tensor(name, "pos_weight", c.pos_weight)?,
        }))
    }
}

impl Loss for BCEWithLogitsLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "BCEWithLogitsLoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_pair(op, pred, target)?;
        let mut log_sig = log_sigmoid(pred)?;
        if let Some(p) = &self.pos_weight {
            let p = &on_device_of(p, pred)?;
            expect_last_dim_weight(op, pred, p)?;
            // 1 + (p - 1) y: p on the positive term, 1 on the part of -log sigma(x)
            // that the negative term shares (log(1 - sigma(x)) = log sigma(x) - x).
            log_sig = log_sig.mul(&p.sub_scalar(1.0)?.mul(target)?.add_scalar(1.0)?)?;
        }
        let mut loss = target.affine(-1.0, 1.0)?.mul(pred)?.sub(&log_sig)?;
        if let Some(w) = &self.weight {
            expect_last_dim_weight(op, pred, w)?;
            loss = loss.mul(&on_device_of(w, pred)?)?;
        }
        self.reduction.apply(loss)
    }

    fn task(&self) -> Task {
        Task::Binary
    }

    fn scores(&self) -> Scores {
        Scores::Logits
    }
}

/// One-vs-all logistic loss over `C` labels, averaged over the labels
/// (PyTorch's `nn.MultiLabelSoftMarginLoss`).
///
/// Shapes: `pred` and `target` `[N, C]` (or `[C]`); the result is a scalar,
/// or `[N]` (`[]`) with `reduction: none`.
#[derive(Clone, Debug)]
pub struct MultiLabelSoftMarginLoss {
    reduction: Reduction,
    weight: Option<Tensor>,
}

impl MultiLabelSoftMarginLoss {
    /// Builds the loss from its config (`reduction`, `weight`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.MultiLabelSoftMarginLoss";
        let c: WeightedConfig = config.parse(name)?;
        let reduction = Reduction::parse(name, &c.reduction, false)?;
        Ok(Box::new(Self { reduction, weight: weight_tensor(name, "weight", c.weight)? }))
    }
}

impl Loss for MultiLabelSoftMarginLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "MultiLabelSoftMarginLoss";
        let [pred, target] = inputs(op, inputs_, PORTS)?;
        expect_pair(op, pred, target)?;
        let Some(&c) = pred.shape().last() else {
            return Err(Error::BadRank { op, expected: "pred of shape [N, C] or [C]", shape: Vec::new() });
        };
        let positive = target.mul(&log_sigmoid(pred)?)?;
        let negative = target.affine(-1.0, 1.0)?.mul(&log_sigmoid(&pred.neg()?)?)?;
        let mut loss = positive.add(&negative)?.neg()?;
        if let Some(w) = &self.weight {
            expect_last_dim_weight(op, pred, w)?;
            loss = loss.mul(&on_device_of(w, pred)?)?;
        }
        self.reduction.apply(loss.sum(&[-1], false)?.div_scalar(c as f32)?)
    }

    fn task(&self) -> Task {
        Task::Binary
    }

    fn scores(&self) -> Scores {
        Scores::Logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The composed backward (the GPU's) against the host kernel, saturated ends included.
    #[test]
    fn the_composed_backward_matches_the_host_kernel() -> Result<()> {
        let x = Tensor::from_vec(vec![0.0, 1e-7, 0.3, 0.5, 0.9, 1.0 - 1e-7, 1.0], &[7])?;
        let y = Tensor::from_vec(vec![1.0, 0.0, 0.2, 1.0, 0.0, 1.0, 0.0], &[7])?;
        let g = Tensor::from_vec(vec![0.5, -1.0, 2.0, 1.0, 0.25, -0.5, 1.5], &[7])?;
        let out = BinaryCrossEntropy.forward_cpu(&[&x, &y])?;
        let want = BinaryCrossEntropy.backward(&[&x, &y], &out, &g)?;
        let got = composed_backward(&x, &y, &g)?;
        for (w, c) in want.iter().zip(&got) {
            let (w, c) = (w.as_ref().expect("a gradient").to_vec()?, c.as_ref().expect("a gradient").to_vec()?);
            for (a, b) in w.iter().zip(&c) {
                assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{w:?} vs {c:?}");
            }
        }
        Ok(())
    }
}
