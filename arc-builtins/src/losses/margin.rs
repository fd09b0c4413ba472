//! Margin and embedding losses: `MarginRankingLoss`, `HingeEmbeddingLoss`,
//! `MultiLabelMarginLoss`, `MultiMarginLoss`, `TripletMarginLoss` and
//! `CosineEmbeddingLoss`.
//!
//! ```text
//! MarginRankingLoss     l = max(0, -y (x1 - x2) + margin)                 y in {1, -1}
//! HingeEmbeddingLoss    l = x (y != -1) + max(0, margin - x) (y != 1)     y in {1, -1}
//! MultiLabelMarginLoss  l_n = sum_{j in targets} sum_{i not in targets} max(0, 1 - (x[j] - x[i])) / C
//! MultiMarginLoss       l_n = sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C
//! TripletMarginLoss     l = max(0, margin + d(a, p) - d(a, n)),  d(u, v) = ||u - v + eps||_p
//!                       (with swap: d(a, n) -> min(d(a, n), d(p, n)))
//! CosineEmbeddingLoss   l = 1 - cos(x1, x2) (y = 1),  max(0, cos(x1, x2) - margin) (y = -1)
//! ```
//!
//! The hinges use PyTorch's conventions at the kink (the gradient passes at
//! 0 where PyTorch uses `clamp_min`, not where its kernels test `z > 0`), so
//! gradients match PyTorch's exactly.

use arc_core::nn::{Loss, Task};
use arc_core::spec::Config;
use std::sync::Arc;

use arc_core::tensor::{CustomOp, DType};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{
    Bound, Reduction, ReductionConfig, check_number, clamp_min_zero, default_reduction, expect_dtype, expect_f32,
    expect_same_shape, inputs, invalid, on_device_of, scalar_on, weight_tensor,
};

use super::LossFactory;
use arc_core::plugin::{ParamsSchema, schema_of};

/// This family's losses: name and constructor.
pub const LOSSES: &[(&str, LossFactory, ParamsSchema)] = &[
    ("MarginRankingLoss", MarginRankingLoss::from_config, schema_of::<MarginConfig>),
    ("HingeEmbeddingLoss", HingeEmbeddingLoss::from_config, schema_of::<MarginConfig>),
    ("MultiLabelMarginLoss", MultiLabelMarginLoss::from_config, schema_of::<ReductionConfig>),
    ("MultiMarginLoss", MultiMarginLoss::from_config, schema_of::<MultiMarginConfig>),
    ("TripletMarginLoss", TripletMarginLoss::from_config, schema_of::<TripletMarginConfig>),
    ("CosineEmbeddingLoss", CosineEmbeddingLoss::from_config, schema_of::<MarginConfig>),
];

/// A `{1, -1}` target as f32 (i64 labels are accepted and converted).
fn sign_target(op: &'static str, target: &Tensor) -> Result<Tensor> {
    match target.dtype() {
        DType::F32 => Ok(target.clone()),
        DType::I64 => target.to_dtype(DType::F32),
    }
    .map_err(|_| Error::DTypeMismatch { op, expected: DType::F32, got: target.dtype() })
}

/// A config with a `margin` and a `reduction`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MarginConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// The margin (default 0 for `MarginRankingLoss` and
    /// `CosineEmbeddingLoss`, 1 for `HingeEmbeddingLoss`).
    #[serde(default)]
    margin: Option<f32>,
}

/// The default margin of `MultiMarginLoss`, `TripletMarginLoss` and `HingeEmbeddingLoss`.
fn one() -> f32 {
    1.0
}

/// Parses a [`MarginConfig`] into `(reduction, margin)`, `margin` defaulting to `default`.
fn margin_config(name: &str, config: &Config, default: f32) -> Result<(Reduction, f32)> {
    let c: MarginConfig = config.parse(name)?;
    let margin = c.margin.unwrap_or(default);
    check_number(name, "margin", margin, Bound::Any)?;
    Ok((Reduction::parse(name, &c.reduction, false)?, margin))
}

/// Ranks `input1` above `input2` where `target` is 1 and below where it is
/// -1, by at least `margin` (PyTorch's `nn.MarginRankingLoss`).
///
/// Ports `input1, input2, target`, all of one shape.
#[derive(Clone, Debug)]
pub struct MarginRankingLoss {
    reduction: Reduction,
    margin: f32,
}

impl MarginRankingLoss {
    /// Builds the loss from its config (`reduction`, `margin` = 0).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let (reduction, margin) = margin_config("core.MarginRankingLoss", config, 0.0)?;
        Ok(Box::new(Self { reduction, margin }))
    }
}

impl Loss for MarginRankingLoss {
    fn input_names(&self) -> &[&str] {
        &["input1", "input2", "target"]
    }

    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "MarginRankingLoss";
        let [x1, x2, target] = inputs(op, inputs_, "3 tensors: input1, input2, target")?;
        expect_f32(op, x1)?;
        expect_f32(op, x2)?;
        expect_same_shape(op, x1, x2)?;
        expect_same_shape(op, x1, target)?;
        let y = sign_target(op, target)?;
        let z = y.neg()?.mul(&x1.sub(x2)?)?.add_scalar(self.margin)?;
        self.reduction.apply(clamp_min_zero(&z)?)
    }
}

/// Pulls `pred` (a distance) to 0 where `target` is 1 and pushes it above
/// `margin` where it is -1 (PyTorch's `nn.HingeEmbeddingLoss`).
///
/// Shapes: `pred` and `target` of any one shape.
#[derive(Clone, Debug)]
pub struct HingeEmbeddingLoss {
    reduction: Reduction,
    margin: f32,
}

impl HingeEmbeddingLoss {
    /// Builds the loss from its config (`reduction`, `margin` = 1).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let (reduction, margin) = margin_config("core.HingeEmbeddingLoss", config, 1.0)?;
        Ok(Box::new(Self { reduction, margin }))
    }
}

impl Loss for HingeEmbeddingLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "HingeEmbeddingLoss";
        let [pred, target] = inputs(op, inputs_, "2 tensors: pred, target")?;
        expect_f32(op, pred)?;
        expect_same_shape(op, pred, target)?;
        let y = sign_target(op, target)?;
        let zero = scalar_on(0.0, pred)?;
        // As PyTorch: a target other than +-1 gets both terms.
        let hinge = clamp_min_zero(&pred.neg()?.add_scalar(self.margin)?)?;
        let hinge = Tensor::where_cond(&y.ne(&scalar_on(1.0, &y)?)?, &hinge, &zero)?;
        let linear = Tensor::where_cond(&y.ne(&scalar_on(-1.0, &y)?)?, pred, &zero)?;
        self.reduction.apply(hinge.add(&linear)?)
    }
}

/// `pred` `[N, C]`, or `[C]` as one sample `[1, C]`.
fn rows(op: &'static str, pred: &Tensor) -> Result<Tensor> {
    match pred.shape() {
        [c] => pred.reshape(&[1, *c]),
        [_, _] => Ok(pred.clone()),
        shape => Err(Error::BadRank { op, expected: "pred of shape [N, C] or [C]", shape: shape.to_vec() }),
    }
}

/// A multi-label hinge loss (PyTorch's `nn.MultiLabelMarginLoss`): every
/// target class should score at least 1 above every other class.
///
/// `target` is i64 of `pred`'s shape (`[N, C]` or `[C]`): each row lists
/// its target classes and ends at the first -1. The result is a scalar, or
/// `[N]` (`[]` for a 1-D `pred`) with `reduction: none`.
#[derive(Clone, Debug)]
pub struct MultiLabelMarginLoss {
    reduction: Reduction,
}

impl MultiLabelMarginLoss {
    /// Builds the loss from its config (`reduction`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.MultiLabelMarginLoss";
        let c: ReductionConfig = config.parse(name)?;
        Ok(Box::new(Self { reduction: Reduction::parse(name, &c.reduction, false)? }))
    }
}

impl Loss for MultiLabelMarginLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "MultiLabelMarginLoss";
        let [pred, target] = inputs(op, inputs_, "2 tensors: pred, target")?;
        expect_f32(op, pred)?;
        expect_dtype(op, target, DType::I64)?;
        expect_same_shape(op, pred, target)?;
        let x = rows(op, pred)?;
        let c = x.shape()[1];
        let labels = target.to_vec_i64()?;
        let targets = labels
            .chunks(c.max(1))
            .map(|row| {
                // A row's targets end at the first -1.
                row.iter()
                    .take_while(|&&t| t != -1)
                    .map(|&t| if t >= 0 && (t as u64) < c as u64 { Ok(t as usize) } else { Err(t) })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|t| Error::IndexOutOfRange { op, index: t, size: c })
            })
            .collect::<Result<_>>()?;
        let op = MultiLabelMargin { targets, classes: c };
        // The host kernel on the CPU; on a GPU the [N, C, C] form in tensor ops there.
        let per_row = if x.device().is_cpu() { Tensor::apply_custom(Arc::new(op), &[&x])? } else { op.composed(&x)? };
        let per_row = if pred.rank() == 1 { per_row.reshape(&[])? } else { per_row };
        self.reduction.apply(per_row)
    }
}

/// PyTorch's `multilabel_margin_loss` kernel on `[N, C]` scores, one loss per
/// row: `sum_{j in targets} sum_{i not in targets} max(0, 1 - x[j] + x[i]) / C`
/// (a repeated target counts each time), in `O(N C |targets|)` time and no
/// `[N, C, C]` temporary. Backward: each pair with a positive hinge adds
/// `g / C` to `dx[i]` and `-g / C` to `dx[j]` (the kernel's `z > 0` test).
struct MultiLabelMargin {
    /// Each row's target classes, checked to lie in `0..classes`.
    targets: Vec<Vec<usize>>,
    /// `C`.
    classes: usize,
}

impl MultiLabelMargin {
    /// The loss in tensor ops on `x`'s device (what a GPU input takes): with `count[j]` how
    /// often class `j` is a target and `other[i]` whether `i` is not one,
    /// `sum_{j, i} count[j] other[i] relu(1 - x[j] + x[i]) / C` over an `[N, C, C]` temporary
    /// (relu's gradient is the kernel's `z > 0` test).
    fn composed(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c) = (self.targets.len(), self.classes);
        let (mut count, mut other) = (vec![0.0f32; n * c], vec![1.0f32; n * c]);
        for (r, targets) in self.targets.iter().enumerate() {
            for &j in targets {
                count[r * c + j] += 1.0;
                other[r * c + j] = 0.0;
            }
        }
        let count = Tensor::from_vec(count, &[n, c, 1])?.to_device(x.device())?;
        let other = Tensor::from_vec(other, &[n, 1, c])?.to_device(x.device())?;
        let z = x.reshape(&[n, 1, c])?.sub(&x.reshape(&[n, c, 1])?)?.add_scalar(1.0)?.relu()?;
        z.mul(&count)?.mul(&other)?.sum(&[1, 2], false)?.div_scalar(c as f32)
    }

    /// Calls `visit(j, i, z)` for each (target `j`, non-target `i`) pair of a row with
    /// `z = 1 - x[j] + x[i] > 0`.
    fn visit_hinges(&self, row: &[f32], targets: &[usize], mut visit: impl FnMut(usize, usize, f32)) {
        let mut is_target = vec![false; self.classes];
        targets.iter().for_each(|&j| is_target[j] = true);
        for &j in targets {
            for (i, &xi) in row.iter().enumerate().filter(|(i, _)| !is_target[*i]) {
                let z = 1.0 - row[j] + xi;
                if z > 0.0 {
                    visit(j, i, z);
                }
            }
        }
    }
}

impl CustomOp for MultiLabelMargin {
    fn name(&self) -> &str {
        "core.MultiLabelMarginLoss.multilabel_margin"
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let x = inputs[0].to_vec()?;
        let c = self.classes;
        let out = x
            .chunks(c.max(1))
            .zip(&self.targets)
            .map(|(row, targets)| {
                let mut sum = 0.0;
                self.visit_hinges(row, targets, |_, _, z| sum += z);
                sum / c as f32
            })
            .collect();
        Tensor::from_vec(out, &[self.targets.len()])
    }

    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, g) = (inputs[0].to_vec()?, grad.to_vec()?);
        let c = self.classes;
        let mut dx = vec![0.0f32; x.len()];
        for ((row, drow), (targets, &g)) in
            x.chunks(c.max(1)).zip(dx.chunks_mut(c.max(1))).zip(self.targets.iter().zip(&g))
        {
            let step = g / c as f32;
            self.visit_hinges(row, targets, |j, i, _| {
                drow[j] -= step;
                drow[i] += step;
            });
        }
        Ok(vec![Some(Tensor::from_vec(dx, inputs[0].shape())?)])
    }
}

/// `MultiMarginLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MultiMarginConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// The exponent of the hinge, 1 (default) or 2.
    #[serde(default = "default_p")]
    p: u32,
    /// The margin (default 1).
    #[serde(default = "one")]
    margin: f32,
    /// A weight per class, applied by the target class (default: none).
    #[serde(default)]
    weight: Option<Vec<f32>>,
}

/// `MultiMarginConfig::p`'s default.
fn default_p() -> u32 {
    1
}

/// A multi-class hinge loss (PyTorch's `nn.MultiMarginLoss`): the target
/// class should score at least `margin` above every other class.
///
/// Shapes: `pred` `[N, C]` with an i64 `target` `[N]`, or `pred` `[C]` with a
/// one-element target; the result is a scalar, or `target`'s shape with
/// `reduction: none`.
#[derive(Clone, Debug)]
pub struct MultiMarginLoss {
    reduction: Reduction,
    p: u32,
    margin: f32,
    weight: Option<Tensor>,
}

impl MultiMarginLoss {
    /// Builds the loss from its config (`reduction`, `p`, `margin`, `weight`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.MultiMarginLoss";
        let c: MultiMarginConfig = config.parse(name)?;
        if c.p != 1 && c.p != 2 {
            return Err(invalid(name, format!("p: only 1 and 2 are supported, got {}", c.p)));
        }
        check_number(name, "margin", c.margin, Bound::Any)?;
        Ok(Box::new(Self {
            reduction: Reduction::parse(name, &c.reduction, false)?,
            p: c.p,
            margin: c.margin,
            weight: weight_tensor(name, "weight", c.weight)?,
        }))
    }
}

impl Loss for MultiMarginLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "MultiMarginLoss";
        let [pred, target] = inputs(op, inputs_, "2 tensors: pred, target")?;
        expect_f32(op, pred)?;
        expect_dtype(op, target, DType::I64)?;
        let x = rows(op, pred)?;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        if target.numel() != n || target.rank() > 1 {
            return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: target.shape().to_vec() });
        }
        if let Some(w) = &self.weight
            && w.numel() != c
        {
            return Err(Error::ShapeMismatch { op, lhs: pred.shape().to_vec(), rhs: w.shape().to_vec() });
        }
        let labels = target.reshape(&[n])?;
        let others = labels.one_hot(c)?.affine(-1.0, 1.0)?;
        let at_target = x.gather(1, &labels.reshape(&[n, 1])?)?;
        // PyTorch's kernel counts z > 0 only: relu's gradient at the kink.
        let mut hinge = x.sub(&at_target)?.add_scalar(self.margin)?.relu()?;
        if self.p == 2 {
            hinge = hinge.square()?;
        }
        if let Some(w) = &self.weight {
            hinge = hinge.mul(&on_device_of(w, &x)?.index_select(0, &labels)?.unsqueeze(1)?)?;
        }
        let per_row = hinge.mul(&others)?.sum(&[1], false)?.div_scalar(c as f32)?;
        self.reduction.apply(per_row.reshape(target.shape())?)
    }

    /// Class scores against class ids: a multiclass model (its scores are
    /// margins, not logits).
    fn task(&self) -> Task {
        Task::Multiclass
    }
}

/// `TripletMarginLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TripletMarginConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// The margin, > 0 (default 1).
    #[serde(default = "one")]
    margin: f32,
    /// The norm's order, > 0 (default 2).
    #[serde(default = "default_triplet_p")]
    p: f32,
    /// Added to the differences before the norm (default 1e-6).
    #[serde(default = "default_triplet_eps")]
    eps: f32,
    /// Whether to use the smaller of d(a, n) and d(p, n) (default false).
    #[serde(default)]
    swap: bool,
}

/// `TripletMarginConfig::p`'s default.
fn default_triplet_p() -> f32 {
    2.0
}

/// `TripletMarginConfig::eps`'s default.
fn default_triplet_eps() -> f32 {
    1e-6
}

/// The triplet loss (PyTorch's `nn.TripletMarginLoss`): the anchor should be
/// closer to the positive than to the negative by `margin`, in the `p`-norm.
///
/// Ports `anchor, positive, negative`, all `[N, D]` (or `[D]`); the result is
/// a scalar, or `[N]` (`[]`) with `reduction: none`.
#[derive(Clone, Debug)]
pub struct TripletMarginLoss {
    reduction: Reduction,
    margin: f32,
    p: f32,
    eps: f32,
    swap: bool,
}

impl TripletMarginLoss {
    /// Builds the loss from its config (`reduction`, `margin`, `p`, `eps`, `swap`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.TripletMarginLoss";
        let c: TripletMarginConfig = config.parse(name)?;
        // PyTorch rejects margin <= 0 ("expected margin to be greater than 0").
        check_number(name, "margin", c.margin, Bound::Positive)?;
        check_number(name, "p", c.p, Bound::Positive)?;
        check_number(name, "eps", c.eps, Bound::Any)?;
        let reduction = Reduction::parse(name, &c.reduction, false)?;
        Ok(Box::new(Self { reduction, margin: c.margin, p: c.p, eps: c.eps, swap: c.swap }))
    }

    /// PyTorch's `pairwise_distance`: `||u - v + eps||_p` over the last dim.
    fn distance(&self, u: &Tensor, v: &Tensor) -> Result<Tensor> {
        let d = u.sub(v)?.add_scalar(self.eps)?;
        if self.p == 2.0 {
            d.square()?.sum(&[-1], false)?.sqrt()
        } else if self.p == 1.0 {
            d.abs()?.sum(&[-1], false)
        } else {
            d.abs()?.powf(self.p)?.sum(&[-1], false)?.powf(1.0 / self.p)
        }
    }
}

impl Loss for TripletMarginLoss {
    fn input_names(&self) -> &[&str] {
        &["anchor", "positive", "negative"]
    }

    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "TripletMarginLoss";
        let [anchor, positive, negative] = inputs(op, inputs_, "3 tensors: anchor, positive, negative")?;
        for t in [anchor, positive, negative] {
            expect_f32(op, t)?;
        }
        if !matches!(anchor.rank(), 1 | 2) {
            return Err(Error::BadRank {
                op,
                expected: "inputs of shape [N, D] or [D]",
                shape: anchor.shape().to_vec(),
            });
        }
        expect_same_shape(op, anchor, positive)?;
        expect_same_shape(op, anchor, negative)?;
        let to_positive = self.distance(anchor, positive)?;
        let mut to_negative = self.distance(anchor, negative)?;
        if self.swap {
            to_negative = to_negative.minimum(&self.distance(positive, negative)?)?;
        }
        let z = to_positive.sub(&to_negative)?.add_scalar(self.margin)?;
        self.reduction.apply(clamp_min_zero(&z)?)
    }
}

/// PyTorch's `EPSILON` in `cosine_embedding_loss`, added to the squared norms.
const COSINE_EPS: f32 = 1e-12;

/// Pulls `input1` and `input2` together in angle where `target` is 1 and
/// apart (cosine below `margin`) where it is -1 (PyTorch's
/// `nn.CosineEmbeddingLoss`).
///
/// Ports `input1, input2, target`: `[N, D]` inputs with a `[N]` target, or
/// `[D]` inputs with a `[]` target.
#[derive(Clone, Debug)]
pub struct CosineEmbeddingLoss {
    reduction: Reduction,
    margin: f32,
}

impl CosineEmbeddingLoss {
    /// Builds the loss from its config (`reduction`, `margin` = 0).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let (reduction, margin) = margin_config("core.CosineEmbeddingLoss", config, 0.0)?;
        Ok(Box::new(Self { reduction, margin }))
    }
}

impl Loss for CosineEmbeddingLoss {
    fn input_names(&self) -> &[&str] {
        &["input1", "input2", "target"]
    }

    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let op = "CosineEmbeddingLoss";
        let [x1, x2, target] = inputs(op, inputs_, "3 tensors: input1, input2, target")?;
        expect_f32(op, x1)?;
        expect_f32(op, x2)?;
        expect_same_shape(op, x1, x2)?;
        let batch = match x1.shape() {
            [_] => &[][..],
            [n, _] => std::slice::from_ref(n),
            shape => {
                return Err(Error::BadRank { op, expected: "inputs of shape [N, D] or [D]", shape: shape.to_vec() });
            }
        };
        if target.shape() != batch {
            return Err(Error::ShapeMismatch { op, lhs: x1.shape().to_vec(), rhs: target.shape().to_vec() });
        }
        let y = sign_target(op, target)?;
        let dot = x1.mul(x2)?.sum(&[-1], false)?;
        let norm1 = x1.square()?.sum(&[-1], false)?.add_scalar(COSINE_EPS)?;
        let norm2 = x2.square()?.sum(&[-1], false)?.add_scalar(COSINE_EPS)?;
        let cos = dot.div(&norm1.mul(&norm2)?.sqrt()?)?;
        let zero = scalar_on(0.0, &cos)?;
        let similar = Tensor::where_cond(&y.eq(&scalar_on(1.0, &y)?)?, &cos.affine(-1.0, 1.0)?, &zero)?;
        let apart = clamp_min_zero(&cos.sub_scalar(self.margin)?)?;
        let apart = Tensor::where_cond(&y.eq(&scalar_on(-1.0, &y)?)?, &apart, &zero)?;
        self.reduction.apply(similar.add(&apart)?)
    }
}

#[cfg(test)]
mod tests {
    use arc_core::tensor::Rng;

    use super::*;

    /// The composed form (what a GPU input takes), run on the CPU, against the host kernel:
    /// per-row losses and the gradient, repeated targets and a row without any included.
    #[test]
    fn the_composed_multilabel_margin_matches_the_kernel() -> Result<()> {
        let op = MultiLabelMargin { targets: vec![vec![0, 3], vec![2, 2, 1], vec![], vec![4]], classes: 5 };
        let x = Tensor::randn(&[4, 5], &mut Rng::new(3));
        let w = Tensor::randn(&[4], &mut Rng::new(4));
        let run = |composed: bool| -> Result<(Vec<f32>, Vec<f32>)> {
            let x = x.detach().requires_grad_()?;
            let y = if composed {
                op.composed(&x)?
            } else {
                let kernel = MultiLabelMargin { targets: op.targets.clone(), classes: op.classes };
                Tensor::apply_custom(Arc::new(kernel), &[&x])?
            };
            y.mul(&w)?.sum_all()?.backward()?;
            Ok((y.to_vec()?, x.grad().expect("a gradient").to_vec()?))
        };
        let (want, got) = (run(false)?, run(true)?);
        for (a, b) in want.0.iter().chain(&want.1).zip(got.0.iter().chain(&got.1)) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{want:?} vs {got:?}");
        }
        Ok(())
    }
}
