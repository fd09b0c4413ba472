//! Feature scaling: the Python tool's `fit.standard_scaler` /
//! `transform.standard_scaler` pair, and the named processors
//! `StandardNormalization` (alias `ZScoreNormalization`),
//! `MinMaxNormalization` and `RobustNormalization`, which fit at training
//! and transform at both.
//!
//! Each scales every feature (the last dimension of `x`) on its own, in
//! f64, as scikit-learn's scalers of the same names do:
//!
//! - standard: `(x - mean) / std`, `std` the population standard
//!   deviation (divisor `n`);
//! - min-max: `(x - data_min) / (data_max - data_min) * (max - min) + min`
//!   with `feature_range = [min, max]` (default `[0, 1]`);
//! - robust: `(x - median) / (q_hi - q_lo)`, the quantiles of
//!   `quantile_range` (default `[25, 75]`, the IQR) interpolated linearly
//!   like `numpy.percentile`.
//!
//! A zero scale (a constant feature) scales by 1, as scikit-learn does.
//! Shapes: `x` is `[rows, features]` (or `[features...]`-last, or 1-D for a
//! single feature); the output has `x`'s shape, in f32.

use std::sync::Arc;

use arc_core::lower::{OnnxGraph, RowTransform};
use arc_core::process::{
    OnnxProcessor, OnnxStep, Processor, ProcessorInputs, ProcessorLowering, ProcessorOutputs, ProcessorState,
    RowTransformContext,
};
use arc_core::spec::Config;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::common::{Features, invalid, mean_std, nonzero_scale};

/// What a scaler computes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Standard,
    MinMax { min: f64, max: f64 },
    Robust { q_lo: f64, q_hi: f64 },
}

impl Kind {
    /// The state kind each writes: the standard ops share theirs, so a
    /// `fit.standard_scaler` state feeds `StandardNormalization` too.
    fn state_kind(self) -> &'static str {
        match self {
            Self::Standard => "standard_scaler",
            Self::MinMax { .. } => "minmax_scaler",
            Self::Robust { .. } => "robust_scaler",
        }
    }
}

/// Which half of fit/transform a component does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    FitOnly,
    TransformOnly,
    Both,
}

/// One scaling component.
#[derive(Debug)]
pub struct Scaler {
    name: &'static str,
    role: Role,
    kind: Kind,
}

/// `fit.standard_scaler` and `StandardNormalization` take no params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NoParams {}

/// `MinMaxNormalization`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MinMaxConfig {
    /// The output range `[min, max]`, `min < max`. Default `[0, 1]`.
    #[serde(default = "default_feature_range")]
    feature_range: [f64; 2],
}

fn default_feature_range() -> [f64; 2] {
    [0.0, 1.0]
}

/// `RobustNormalization`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RobustConfig {
    /// The percentiles `[lo, hi]` whose difference is the scale,
    /// `0 <= lo <= hi <= 100`. Default `[25, 75]` (the IQR).
    #[serde(default = "default_quantile_range")]
    quantile_range: [f64; 2],
}

fn default_quantile_range() -> [f64; 2] {
    [25.0, 75.0]
}

/// `fit.standard_scaler {x}` -> `state`.
pub const FIT_STANDARD: &str = "fit.standard_scaler";
/// `transform.standard_scaler {x, state}` -> `output`.
pub const TRANSFORM_STANDARD: &str = "transform.standard_scaler";
/// `StandardNormalization {x}` -> `output`, `state`.
pub const STANDARD: &str = "core.StandardNormalization";
/// `MinMaxNormalization {x, feature_range}` -> `output`, `state`.
pub const MIN_MAX: &str = "core.MinMaxNormalization";
/// `RobustNormalization {x, quantile_range}` -> `output`, `state`.
pub const ROBUST: &str = "core.RobustNormalization";

impl Scaler {
    /// Builds `fit.standard_scaler`.
    pub fn fit_standard(config: &Config) -> Result<Box<dyn Processor>> {
        config.parse::<NoParams>(FIT_STANDARD)?;
        Ok(Box::new(Self { name: FIT_STANDARD, role: Role::FitOnly, kind: Kind::Standard }))
    }

    /// Builds `transform.standard_scaler`.
    pub fn transform_standard(config: &Config) -> Result<Box<dyn Processor>> {
        config.parse::<NoParams>(TRANSFORM_STANDARD)?;
        Ok(Box::new(Self { name: TRANSFORM_STANDARD, role: Role::TransformOnly, kind: Kind::Standard }))
    }

    /// Builds `StandardNormalization`.
    pub fn standard(config: &Config) -> Result<Box<dyn Processor>> {
        config.parse::<NoParams>(STANDARD)?;
        Ok(Box::new(Self { name: STANDARD, role: Role::Both, kind: Kind::Standard }))
    }

    /// Builds `MinMaxNormalization`.
    pub fn min_max(config: &Config) -> Result<Box<dyn Processor>> {
        let MinMaxConfig { feature_range: [min, max] } = config.parse(MIN_MAX)?;
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(invalid(
                MIN_MAX,
                format!("feature_range: expected [min, max] with min < max, got [{min}, {max}]"),
            ));
        }
        Ok(Box::new(Self { name: MIN_MAX, role: Role::Both, kind: Kind::MinMax { min, max } }))
    }

    /// Builds `RobustNormalization`.
    pub fn robust(config: &Config) -> Result<Box<dyn Processor>> {
        let RobustConfig { quantile_range: [q_lo, q_hi] } = config.parse(ROBUST)?;
        if !(0.0 <= q_lo && q_lo <= q_hi && q_hi <= 100.0) {
            let message = format!("quantile_range: expected [lo, hi] with 0 <= lo <= hi <= 100, got [{q_lo}, {q_hi}]");
            return Err(invalid(ROBUST, message));
        }
        Ok(Box::new(Self { name: ROBUST, role: Role::Both, kind: Kind::Robust { q_lo, q_hi } }))
    }

    /// The state fitted on `x`'s features.
    fn fit_state(&self, x: &Features) -> ProcessorState {
        let columns: Vec<Vec<f64>> = (0..x.width).map(|j| x.column(j)).collect();
        let state = ProcessorState::new(self.kind.state_kind());
        match self.kind {
            Kind::Standard => {
                let (mean, std): (Vec<f64>, Vec<f64>) = columns.iter().map(|c| mean_std(c)).unzip();
                state.with_numbers("mean", mean).with_numbers("scale", std.into_iter().map(nonzero_scale).collect())
            }
            Kind::MinMax { .. } => {
                let min = columns.iter().map(|c| c.iter().copied().fold(f64::INFINITY, f64::min)).collect();
                let max = columns.iter().map(|c| c.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
                state.with_numbers("data_min", min).with_numbers("data_max", max)
            }
            Kind::Robust { q_lo, q_hi } => {
                let mut center = Vec::with_capacity(x.width);
                let mut scale = Vec::with_capacity(x.width);
                for mut c in columns {
                    c.sort_by(f64::total_cmp);
                    center.push(percentile(&c, 50.0));
                    scale.push(nonzero_scale(percentile(&c, q_hi) - percentile(&c, q_lo)));
                }
                state.with_numbers("center", center).with_numbers("scale", scale)
            }
        }
    }

    /// `x` scaled with a fitted `state`.
    fn apply(&self, x: &Features, state: &ProcessorState) -> Result<Tensor> {
        state.expect_kind(self.name, self.kind.state_kind())?;
        let op = "scale";
        match self.kind {
            Kind::Standard | Kind::Robust { .. } => {
                let center_key = if matches!(self.kind, Kind::Standard) { "mean" } else { "center" };
                let (center, scale) = (state.numbers(self.name, center_key)?, state.numbers(self.name, "scale")?);
                x.check_width(op, center.len())?;
                x.check_width(op, scale.len())?;
                x.map(|j, v| (v - center[j]) / scale[j])
            }
            Kind::MinMax { min, max } => {
                let (lo, hi) = (state.numbers(self.name, "data_min")?, state.numbers(self.name, "data_max")?);
                x.check_width(op, lo.len())?;
                x.check_width(op, hi.len())?;
                x.map(|j, v| (v - lo[j]) / nonzero_scale(hi[j] - lo[j]) * (max - min) + min)
            }
        }
    }
}

/// The `q`-th percentile of sorted, non-empty `sorted` with linear
/// interpolation (numpy's default): position `q / 100 * (n - 1)`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return f64::NAN };
    let position = q / 100.0 * last as f64;
    let lo = position.floor() as usize;
    let hi = (lo + 1).min(last);
    let fraction = position - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * fraction
}

impl Processor for Scaler {
    fn name(&self) -> &str {
        self.name
    }

    fn input_ports(&self) -> &[&str] {
        match self.role {
            Role::FitOnly => &["x"],
            Role::TransformOnly | Role::Both => &["x", "state"],
        }
    }

    fn output_ports(&self) -> &[&str] {
        match self.role {
            Role::FitOnly => &["state"],
            Role::TransformOnly => &["output"],
            Role::Both => &["output", "state"],
        }
    }

    fn is_train_only(&self) -> bool {
        self.role == Role::FitOnly
    }

    fn fit(&self, inputs: &ProcessorInputs<'_>) -> Result<Option<ProcessorState>> {
        if self.role == Role::TransformOnly {
            return Ok(None);
        }
        let x = Features::read(inputs.tensor("x")?, "fit")?;
        if x.rows() == 0 {
            return Err(invalid(self.name, "cannot fit on an input with no rows".into()));
        }
        Ok(Some(self.fit_state(&x)))
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        if self.role == Role::FitOnly {
            return Ok(ProcessorOutputs::new());
        }
        let x = Features::read(inputs.tensor("x")?, "transform")?;
        Ok(ProcessorOutputs::new().tensor("output", self.apply(&x, inputs.state("state")?)?))
    }

    /// `(x - center) / scale * mul + add` per feature, from the saved state.
    fn row_transform(&self, context: &RowTransformContext<'_>) -> Result<Option<RowTransform>> {
        let Some(width) = context.width("x").filter(|_| self.role != Role::FitOnly) else { return Ok(None) };
        let state = context.state.ok_or_else(|| invalid(self.name, "no fitted state".into()))?;
        let (center, scale, mul, add) = affine(self.name, self.kind, state, width)?;
        let kernel = Box::new(super::row::AffineRow { center, scale, mul, add });
        Ok(Some(RowTransform { columns: Vec::new(), inputs: vec!["x".into()], width, kernel }))
    }

    /// Sub and Div (and Mul, Add for min-max) with the fitted constants.
    fn onnx(&self) -> Option<OnnxProcessor> {
        (self.role != Role::FitOnly).then(|| OnnxProcessor::Lowering {
            ports: vec!["x".into()],
            lowering: Arc::new(ScalerOnnx { name: self.name, kind: self.kind }),
        })
    }
}

/// A fitted `state` of scaler `name` of `kind`, over `width` features, as
/// `(center, scale, mul, add)`: `y = (x - center) / scale * mul + add`.
fn affine(name: &str, kind: Kind, state: &ProcessorState, width: usize) -> Result<(Vec<f64>, Vec<f64>, f64, f64)> {
    state.expect_kind(name, kind.state_kind())?;
    let pair = |a: &str, b: &str| -> Result<(Vec<f64>, Vec<f64>)> {
        let (x, y) = (state.numbers(name, a)?, state.numbers(name, b)?);
        if x.len() != width || y.len() != width {
            return Err(invalid(
                name,
                format!("the state's `{a}`/`{b}` have {}/{} values for {width} features", x.len(), y.len()),
            ));
        }
        Ok((x.to_vec(), y.to_vec()))
    };
    Ok(match kind {
        // Fitted scales are never 0 (a constant feature scales by 1); an edited state's 0 is 1 too.
        Kind::Standard => {
            let (center, scale) = pair("mean", "scale")?;
            (center, scale.into_iter().map(nonzero_scale).collect(), 1.0, 0.0)
        }
        Kind::Robust { .. } => {
            let (center, scale) = pair("center", "scale")?;
            (center, scale.into_iter().map(nonzero_scale).collect(), 1.0, 0.0)
        }
        Kind::MinMax { min, max } => {
            let (lo, hi) = pair("data_min", "data_max")?;
            let range = lo.iter().zip(&hi).map(|(l, h)| nonzero_scale(h - l)).collect();
            (lo, range, max - min, min)
        }
    })
}

/// A scaler in ONNX: `Sub(x, center)`, `Div(scale)`, and for min-max
/// `Mul(max - min)`, `Add(min)`; the constants are the initializers
/// `processors.<step>.{mean|center|data_min}` and `.{scale|data_range}`.
#[derive(Debug)]
struct ScalerOnnx {
    name: &'static str,
    kind: Kind,
}

impl ProcessorLowering for ScalerOnnx {
    fn lower(&self, step: &OnnxStep<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let state = step.state()?;
        let width = state.numbers(self.name, "scale").or_else(|_| state.numbers(self.name, "data_min"))?.len();
        let (center, scale, mul, add) = affine(self.name, self.kind, state, width)?;
        let prefix = step.prefix();
        let (center_key, scale_key) = match self.kind {
            Kind::Standard => ("mean", "scale"),
            Kind::Robust { .. } => ("center", "scale"),
            Kind::MinMax { .. } => ("data_min", "data_range"),
        };
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
        let center = g.constant(&format!("{prefix}.{center_key}"), &[width], &f32s(center));
        let scale = g.constant(&format!("{prefix}.{scale_key}"), &[width], &f32s(scale));
        let centered = g.op("Sub", &prefix, vec![step.input()?, center], Vec::new());
        if let Kind::MinMax { .. } = self.kind {
            let unit = g.op("Div", &prefix, vec![centered, scale], Vec::new());
            let span = g.scalar(&prefix, mul as f32);
            let stretched = g.op("Mul", &prefix, vec![unit, span], Vec::new());
            let offset = g.scalar(&prefix, add as f32);
            g.node("Add", &prefix, vec![stretched, offset], step.output, Vec::new());
        } else {
            g.node("Div", &prefix, vec![centered, scale], step.output, Vec::new());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy.percentile([1, 2, 3, 4], q): position q/100 * 3, interpolated.
    #[test]
    fn percentile_interpolates_linearly_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 25.0), 1.75);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&[7.0], 30.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn bad_ranges_are_config_errors() {
        let err = Scaler::robust(&Config::from_yaml("quantile_range: [80, 20]").unwrap()).err().expect("an error");
        assert_eq!(
            err.to_string(),
            "core.RobustNormalization: invalid config: quantile_range: expected [lo, hi] with 0 <= lo <= hi <= 100, got [80, 20]"
        );
        assert!(Scaler::standard(&Config::from_yaml("with_mean: false").unwrap()).is_err());
    }
}
