//! What every loss shares: the `reduction` option, input checks and the
//! per-class weight lists read from YAML.

use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};

/// PyTorch's `reduction`: how the per-element losses become the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over elements (PyTorch's default; the weighted mean for
    /// losses with class weights).
    Mean,
    /// The sum over elements.
    Sum,
    /// No reduction: one loss per element (or per sample).
    None,
    /// The sum divided by the batch size (`KLDivLoss` only).
    BatchMean,
}

/// The default `reduction` of every loss.
pub fn default_reduction() -> String {
    "mean".to_owned()
}

/// The config of the losses whose only option is `reduction`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReductionConfig {
    /// `mean` (default), `sum` or `none`.
    #[serde(default = "default_reduction")]
    pub reduction: String,
}

impl Reduction {
    /// Parses a config's `reduction`; `batchmean` only where
    /// `allow_batchmean` (PyTorch accepts it for `KLDivLoss` alone).
    pub fn parse(component: &str, value: &str, allow_batchmean: bool) -> Result<Self> {
        match value {
            "mean" => Ok(Self::Mean),
            "sum" => Ok(Self::Sum),
            "none" => Ok(Self::None),
            "batchmean" if allow_batchmean => Ok(Self::BatchMean),
            other => {
                let accepted =
                    if allow_batchmean { "'mean', 'sum', 'none' or 'batchmean'" } else { "'mean', 'sum' or 'none'" };
                Err(invalid(component, format!("reduction: expected {accepted}, got '{other}'")))
            }
        }
    }

    /// Reduces per-element losses: `Mean` averages every element, `Sum`
    /// adds them, `None` returns them as they are and `BatchMean` divides the
    /// sum by the size of the first dimension (by 1 for a scalar).
    pub fn apply(self, loss: Tensor) -> Result<Tensor> {
        match self {
            Self::Mean => loss.mean_all(),
            Self::Sum => loss.sum_all(),
            Self::None => Ok(loss),
            Self::BatchMean => {
                let n = loss.shape().first().copied().unwrap_or(1);
                loss.sum_all()?.div_scalar(n as f32)
            }
        }
    }
}

/// An [`Error::InvalidConfig`] for `component`.
pub fn invalid(component: &str, message: String) -> Error {
    Error::InvalidConfig { component: component.to_owned(), message }
}

/// Checks that `value` is finite (and positive or non-negative as asked).
pub fn check_number(component: &str, name: &str, value: f32, bound: Bound) -> Result<()> {
    let ok = value.is_finite()
        && match bound {
            Bound::Any => true,
            Bound::NonNegative => value >= 0.0,
            Bound::Positive => value > 0.0,
        };
    if ok {
        return Ok(());
    }
    let expected = match bound {
        Bound::Any => "a finite number",
        Bound::NonNegative => "a finite number >= 0",
        Bound::Positive => "a finite number > 0",
    };
    Err(invalid(component, format!("{name}: expected {expected}, got {value}")))
}

/// The range a numeric option must lie in.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// Any finite number.
    Any,
    /// `>= 0`.
    NonNegative,
    /// `> 0`.
    Positive,
}

/// A weight list from the config as a 1-D tensor; every entry must be finite.
pub fn weight_tensor(component: &str, name: &str, values: Option<Vec<f32>>) -> Result<Option<Tensor>> {
    let Some(values) = values else { return Ok(None) };
    if values.is_empty() || values.iter().any(|w| !w.is_finite()) {
        return Err(invalid(component, format!("{name}: expected a non-empty list of finite numbers, got {values:?}")));
    }
    let n = values.len();
    Tensor::from_vec(values, &[n]).map(Some)
}

/// The `N` inputs of a loss, or an error naming the ports (`ports`, e.g.
/// `"pred, target"`) when the count is wrong.
pub fn inputs<'a, const N: usize>(
    op: &'static str,
    inputs: &[&'a Tensor],
    ports: &'static str,
) -> Result<[&'a Tensor; N]> {
    <[&Tensor; N]>::try_from(inputs).map_err(|_| Error::InvalidArgument {
        op,
        name: "inputs",
        value: format!("{} tensor(s)", inputs.len()),
        expected: ports,
    })
}

/// Checks that `t` holds f32 values.
pub fn expect_f32(op: &'static str, t: &Tensor) -> Result<()> {
    expect_dtype(op, t, DType::F32)
}

/// Checks that `t` holds `dtype` values.
pub fn expect_dtype(op: &'static str, t: &Tensor, dtype: DType) -> Result<()> {
    if t.dtype() == dtype { Ok(()) } else { Err(Error::DTypeMismatch { op, expected: dtype, got: t.dtype() }) }
}

/// Checks that `a` and `b` have the same shape. PyTorch broadcasts some
/// losses' inputs with only a warning (a `[N, 1]` prediction against a
/// `[N]` target becomes an `[N, N]` loss); Arc refuses instead.
pub fn expect_same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(Error::ShapeMismatch { op, lhs: a.shape().to_vec(), rhs: b.shape().to_vec() })
    }
}

/// Checks that an f32 `pred` and `target` of the same shape came.
pub fn expect_pair(op: &'static str, pred: &Tensor, target: &Tensor) -> Result<()> {
    expect_f32(op, pred)?;
    expect_f32(op, target)?;
    expect_same_shape(op, pred, target)
}

/// Checks that a weight vector broadcasts along the last dimension of
/// `input` without growing it (its length is 1 or that dimension's size).
pub fn expect_last_dim_weight(op: &'static str, input: &Tensor, weight: &Tensor) -> Result<()> {
    let len = weight.numel();
    if len == 1 || input.shape().last() == Some(&len) {
        Ok(())
    } else {
        Err(Error::ShapeMismatch { op, lhs: input.shape().to_vec(), rhs: weight.shape().to_vec() })
    }
}

/// A scalar constant on `like`'s device (a binary op takes both operands on one device).
pub fn scalar_on(value: f32, like: &Tensor) -> Result<Tensor> {
    Tensor::scalar(value).to_device(like.device())
}

/// A loss's constant tensor (class weights) on `like`'s device: itself on the CPU.
pub fn on_device_of(t: &Tensor, like: &Tensor) -> Result<Tensor> {
    t.to_device(like.device())
}

/// `log(sigmoid(x))` in the stable form `min(x, 0) - log(1 + exp(-|x|))`.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let soft = x.abs()?.neg()?.exp()?.add_scalar(1.0)?.log()?;
    x.minimum(&scalar_on(0.0, x)?)?.sub(&soft)
}

/// `max(x, 0)` whose gradient passes at `x = 0`, as PyTorch's `clamp_min(0)`.
pub fn clamp_min_zero(x: &Tensor) -> Result<Tensor> {
    x.clamp(0.0, f32::INFINITY)
}
