//! Regression losses: `MSELoss`, `L1Loss`, `SmoothL1Loss`, `HuberLoss`,
//! `PoissonNLLLoss` and `KLDivLoss`.
//!
//! Each takes `pred` and `target` of the same shape (f32) and computes a
//! per-element loss `l` reduced by `reduction` (`mean`, `sum`, `none`; and
//! `batchmean` for `KLDivLoss`). With `d = pred - target`:
//!
//! ```text
//! MSELoss         l = d^2
//! L1Loss          l = |d|
//! SmoothL1Loss    l = 0.5 d^2 / beta  if |d| < beta,   |d| - 0.5 beta   otherwise
//! HuberLoss       l = 0.5 d^2         if |d| < delta,  delta (|d| - 0.5 delta) otherwise
//! PoissonNLLLoss  l = exp(x) - y x  (log_input)  or  x - y log(x + eps)
//!                     (+ y log y - y + 0.5 log(2 pi y) where y > 1, if full)
//! KLDivLoss       l = y (log y - x)  (0 where y = 0)   or  exp(y) (y - x)  (log_target)
//! ```

use arc_core::nn::Loss;
use arc_core::spec::Config;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::common::{
    Bound, Reduction, ReductionConfig, check_number, default_reduction, expect_pair, inputs, scalar_on,
};

const PORTS: &str = "2 tensors: pred, target";

use super::LossFactory;
use arc_core::plugin::{ParamsSchema, schema_of};

/// This family's losses: name and constructor.
pub const LOSSES: &[(&str, LossFactory, ParamsSchema)] = &[
    ("MSELoss", MSELoss::from_config, schema_of::<ReductionConfig>),
    ("L1Loss", L1Loss::from_config, schema_of::<ReductionConfig>),
    ("SmoothL1Loss", SmoothL1Loss::from_config, schema_of::<SmoothL1Config>),
    ("HuberLoss", HuberLoss::from_config, schema_of::<HuberConfig>),
    ("PoissonNLLLoss", PoissonNLLLoss::from_config, schema_of::<PoissonNLLConfig>),
    ("KLDivLoss", KLDivLoss::from_config, schema_of::<KLDivConfig>),
];

/// Mean squared error, `l = (pred - target)^2` (PyTorch's `nn.MSELoss`).
///
/// Shapes: `pred` and `target` of any one shape; the result is a scalar, or
/// that shape with `reduction: none`.
#[derive(Clone, Debug)]
pub struct MSELoss {
    reduction: Reduction,
}

impl MSELoss {
    /// Builds the loss from its config (`reduction`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let c: ReductionConfig = config.parse("core.MSELoss")?;
        Ok(Box::new(Self { reduction: Reduction::parse("core.MSELoss", &c.reduction, false)? }))
    }
}

impl Loss for MSELoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("MSELoss", inputs_, PORTS)?;
        expect_pair("MSELoss", pred, target)?;
        self.reduction.apply(pred.sub(target)?.square()?)
    }
}

/// Mean absolute error, `l = |pred - target|` (PyTorch's `nn.L1Loss`).
///
/// Shapes as [`MSELoss`].
#[derive(Clone, Debug)]
pub struct L1Loss {
    reduction: Reduction,
}

impl L1Loss {
    /// Builds the loss from its config (`reduction`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let c: ReductionConfig = config.parse("core.L1Loss")?;
        Ok(Box::new(Self { reduction: Reduction::parse("core.L1Loss", &c.reduction, false)? }))
    }
}

impl Loss for L1Loss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("L1Loss", inputs_, PORTS)?;
        expect_pair("L1Loss", pred, target)?;
        self.reduction.apply(pred.sub(target)?.abs()?)
    }
}

/// `SmoothL1Loss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SmoothL1Config {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// Where the loss turns from quadratic to linear (default 1.0, >= 0;
    /// 0 gives `L1Loss`).
    #[serde(default = "one")]
    beta: f32,
}

/// `SmoothL1Config`'s and `HuberConfig`'s defaults, and the default margins.
fn one() -> f32 {
    1.0
}

/// Quadratic near zero and linear beyond `beta` (PyTorch's `nn.SmoothL1Loss`):
/// `l = 0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta`.
///
/// Shapes as [`MSELoss`].
#[derive(Clone, Debug)]
pub struct SmoothL1Loss {
    reduction: Reduction,
    beta: f32,
}

impl SmoothL1Loss {
    /// Builds the loss from its config (`reduction`, `beta`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.SmoothL1Loss";
        let c: SmoothL1Config = config.parse(name)?;
        check_number(name, "beta", c.beta, Bound::NonNegative)?;
        Ok(Box::new(Self { reduction: Reduction::parse(name, &c.reduction, false)?, beta: c.beta }))
    }
}

impl Loss for SmoothL1Loss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("SmoothL1Loss", inputs_, PORTS)?;
        expect_pair("SmoothL1Loss", pred, target)?;
        let d = pred.sub(target)?;
        let abs = d.abs()?;
        if self.beta == 0.0 {
            // PyTorch falls back to L1 here (the quadratic part would divide by 0).
            return self.reduction.apply(abs);
        }
        let quadratic = d.square()?.mul_scalar(0.5 / self.beta)?;
        let linear = abs.sub_scalar(0.5 * self.beta)?;
        let near = abs.lt(&scalar_on(self.beta, &abs)?)?;
        self.reduction.apply(Tensor::where_cond(&near, &quadratic, &linear)?)
    }
}

/// `HuberLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HuberConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// Where the loss turns from quadratic to linear (default 1.0, > 0).
    #[serde(default = "one")]
    delta: f32,
}

/// The Huber loss (PyTorch's `nn.HuberLoss`): `l = 0.5 d^2` where
/// `|d| < delta`, else `delta (|d| - 0.5 delta)`.
///
/// Shapes as [`MSELoss`].
#[derive(Clone, Debug)]
pub struct HuberLoss {
    reduction: Reduction,
    delta: f32,
}

impl HuberLoss {
    /// Builds the loss from its config (`reduction`, `delta`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.HuberLoss";
        let c: HuberConfig = config.parse(name)?;
        check_number(name, "delta", c.delta, Bound::Positive)?;
        Ok(Box::new(Self { reduction: Reduction::parse(name, &c.reduction, false)?, delta: c.delta }))
    }
}

impl Loss for HuberLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("HuberLoss", inputs_, PORTS)?;
        expect_pair("HuberLoss", pred, target)?;
        let d = pred.sub(target)?;
        let abs = d.abs()?;
        let quadratic = d.square()?.mul_scalar(0.5)?;
        let linear = abs.sub_scalar(0.5 * self.delta)?.mul_scalar(self.delta)?;
        let near = abs.lt(&scalar_on(self.delta, &abs)?)?;
        self.reduction.apply(Tensor::where_cond(&near, &quadratic, &linear)?)
    }
}

/// `PoissonNLLLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PoissonNLLConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// Whether `pred` is the log of the rate (default true).
    #[serde(default = "yes")]
    log_input: bool,
    /// Whether to add Stirling's approximation of `log(target!)` (default false).
    #[serde(default)]
    full: bool,
    /// Added to the rate before its log when `log_input` is false (default 1e-8).
    #[serde(default = "default_poisson_eps")]
    eps: f32,
}

/// `PoissonNLLConfig::log_input`'s default.
fn yes() -> bool {
    true
}

/// `PoissonNLLConfig::eps`'s default.
fn default_poisson_eps() -> f32 {
    1e-8
}

/// Negative log-likelihood of a Poisson target (PyTorch's `nn.PoissonNLLLoss`):
/// `l = exp(x) - y x` with `log_input`, else `x - y log(x + eps)`; with
/// `full`, plus `y log y - y + 0.5 log(2 pi y)` where `y > 1`.
///
/// Shapes as [`MSELoss`].
#[derive(Clone, Debug)]
pub struct PoissonNLLLoss {
    reduction: Reduction,
    log_input: bool,
    full: bool,
    eps: f32,
}

impl PoissonNLLLoss {
    /// Builds the loss from its config (`reduction`, `log_input`, `full`, `eps`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let name = "core.PoissonNLLLoss";
        let c: PoissonNLLConfig = config.parse(name)?;
        check_number(name, "eps", c.eps, Bound::Any)?;
        let reduction = Reduction::parse(name, &c.reduction, false)?;
        Ok(Box::new(Self { reduction, log_input: c.log_input, full: c.full, eps: c.eps }))
    }
}

impl Loss for PoissonNLLLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("PoissonNLLLoss", inputs_, PORTS)?;
        expect_pair("PoissonNLLLoss", pred, target)?;
        let mut loss = if self.log_input {
            pred.exp()?.sub(&target.mul(pred)?)?
        } else {
            pred.sub(&target.mul(&pred.add_scalar(self.eps)?.log()?)?)?
        };
        if self.full {
            // Stirling: log(y!) ~ y log y - y + 0.5 log(2 pi y), used where y > 1.
            let big = target.gt(&scalar_on(1.0, target)?)?;
            let safe = Tensor::where_cond(&big, target, &scalar_on(1.0, target)?)?;
            let stirling = safe
                .mul(&safe.log()?)?
                .sub(&safe)?
                .add(&safe.mul_scalar(2.0 * std::f32::consts::PI)?.log()?.mul_scalar(0.5)?)?;
            loss = loss.add(&stirling.mul(&big)?)?;
        }
        self.reduction.apply(loss)
    }
}

/// `KLDivLoss`'s config.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct KLDivConfig {
    /// `mean` (default; the mean over every element), `batchmean` (the sum
    /// over the batch size, the true KL divergence), `sum` or `none`.
    #[serde(default = "default_reduction")]
    reduction: String,
    /// Whether `target` holds log-probabilities (default false).
    #[serde(default)]
    log_target: bool,
}

/// Kullback-Leibler divergence of `target` from the log-probabilities `pred`
/// (PyTorch's `nn.KLDivLoss`): `l = y (log y - x)` (0 where `y = 0`), or
/// `exp(y) (y - x)` with `log_target`.
///
/// Shapes as [`MSELoss`]; `batchmean` divides the sum by `pred`'s first dimension.
#[derive(Clone, Debug)]
pub struct KLDivLoss {
    reduction: Reduction,
    log_target: bool,
}

impl KLDivLoss {
    /// Builds the loss from its config (`reduction`, `log_target`).
    pub fn from_config(config: &Config) -> Result<Box<dyn Loss>> {
        let c: KLDivConfig = config.parse("core.KLDivLoss")?;
        let reduction = Reduction::parse("core.KLDivLoss", &c.reduction, true)?;
        Ok(Box::new(Self { reduction, log_target: c.log_target }))
    }
}

impl Loss for KLDivLoss {
    fn forward(&self, inputs_: &[&Tensor]) -> Result<Tensor> {
        let [pred, target] = inputs("KLDivLoss", inputs_, PORTS)?;
        expect_pair("KLDivLoss", pred, target)?;
        let loss = if self.log_target {
            target.exp()?.mul(&target.sub(pred)?)?
        } else {
            // xlogy(y, y) - y x, with log taken of 1 where y = 0 so no -inf (or NaN
            // gradient) appears: 0 log 0 = 0 by continuity, as PyTorch's xlogy.
            let positive = target.gt(&Tensor::scalar(0.0))?;
            let safe = Tensor::where_cond(&positive, target, &Tensor::scalar(1.0))?;
            target.mul(&safe.log()?)?.sub(&target.mul(pred)?)?
        };
        self.reduction.apply(loss)
    }
}
