//! Sequence ops: `transform.sequence_shift` shifts a tensor along its
//! sequence axis (lagged features, next-item labels), and
//! `inspect.sequence_stats` measures a sequence column's lengths.
//!
//! # `transform.sequence_shift {x, direction, fill_value}`
//!
//! The sequence axis is dim 1 of a batch-first tensor `[batch, seq, ...]`,
//! and dim 0 of a 1-D sequence. `direction` is the original schema's word
//! or a number of steps: `left` moves every item one step toward the
//! start, the last position taking `fill_value` (`out[t] = x[t + 1]`: the
//! next-item label of each position), `right` one step toward the end, the
//! first position taking `fill_value` (`out[t] = x[t - 1]`). A number `k`
//! is pandas' `shift(k)`: `out[.., t, ..] = x[.., t - k, ..]` where
//! `0 <= t - k < seq`, `fill_value` elsewhere, so `1` is `right` and `-1`
//! is `left`. The output has `x`'s shape and dtype (an i64 tensor gets
//! `fill_value` truncated toward zero).
//!
//! # `inspect.sequence_stats {sequence}`
//!
//! Train-only. Of a sequence column (whitespace-separated tokens in CSV or
//! SQLite text, a LIST in DuckDB; a missing cell has length 0, a number is
//! one token): the vars `max_length`, `mean_length` and the nearest-rank
//! percentiles `p50_length`, `p95_length` and `p99_length` of the rows'
//! lengths (the smallest length with at least p% of the rows at or below
//! it: `sorted[ceil(p / 100 * n) - 1]`), which are whole numbers and so
//! can size a model (`max_length: vars.max_len`).

use arc_core::process::{Processor, ProcessorInputs, ProcessorOutputs};
use arc_core::spec::Config;
use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};
use serde::{Deserialize, Deserializer};

use super::common::{invalid, row_tokens};

/// `transform.sequence_shift {x, direction, fill_value}` -> `output`.
pub const SEQUENCE_SHIFT: &str = "transform.sequence_shift";
/// `inspect.sequence_stats {sequence}` -> `max_length`, `mean_length`, `p50_length`, `p95_length`, `p99_length`.
pub const SEQUENCE_STATS: &str = "inspect.sequence_stats";

/// `transform.sequence_shift`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ShiftConfig {
    /// `left`, `right`, or steps (positive delays, negative advances).
    /// Default `right` (1).
    #[serde(default = "default_direction")]
    direction: Direction,
    /// The value of the vacated positions. Default 0.
    #[serde(default)]
    fill_value: f64,
}

/// A shift's direction, in pandas' steps.
struct Direction(i64);

fn default_direction() -> Direction {
    Direction(1)
}

impl schemars::JsonSchema for Direction {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Direction".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`left`, `right`, or a whole number of steps (positive delays, negative advances).",
            "anyOf": [{"enum": ["left", "right"]}, {"type": "integer"}]
        })
    }
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Steps(i64),
            Word(String),
        }
        let expected = "`left`, `right` or a whole number of steps";
        match Raw::deserialize(d) {
            Ok(Raw::Steps(k)) => Ok(Self(k)),
            Ok(Raw::Word(w)) if w == "left" => Ok(Self(-1)),
            Ok(Raw::Word(w)) if w == "right" => Ok(Self(1)),
            Ok(Raw::Word(w)) => Err(serde::de::Error::custom(format!("direction: expected {expected}, got `{w}`"))),
            Err(_) => Err(serde::de::Error::custom(format!("direction: expected {expected}"))),
        }
    }
}

/// Shifts along the sequence axis; see the module docs.
#[derive(Debug)]
pub struct SequenceShift {
    direction: i64,
    fill_value: f64,
}

impl SequenceShift {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let ShiftConfig { direction: Direction(direction), fill_value } = config.parse(SEQUENCE_SHIFT)?;
        Ok(Box::new(Self { direction, fill_value }))
    }

    /// `data` of `shape` shifted; `T` is the element type.
    fn shift<T: Copy>(&self, data: &[T], shape: &[usize], fill: T) -> Vec<T> {
        let axis = usize::from(shape.len() >= 2);
        let len = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let mut out = vec![fill; data.len()];
        for (block, out_block) in data.chunks(len * inner).zip(out.chunks_mut(len * inner)) {
            for t in 0..len {
                let source = t as i64 - self.direction;
                if (0..len as i64).contains(&source) {
                    let s = source as usize;
                    out_block[t * inner..(t + 1) * inner].copy_from_slice(&block[s * inner..(s + 1) * inner]);
                }
            }
        }
        out
    }
}

impl Processor for SequenceShift {
    fn name(&self) -> &str {
        SEQUENCE_SHIFT
    }

    fn input_ports(&self) -> &[&str] {
        &["x"]
    }

    fn output_ports(&self) -> &[&str] {
        &["output"]
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let x = inputs.tensor("x")?;
        let shape = x.shape();
        if shape.is_empty() || shape.contains(&0) {
            let expected = "a non-empty tensor of rank 1 or more";
            return Err(Error::BadRank { op: "sequence_shift", expected, shape: shape.to_vec() });
        }
        let output = match x.dtype() {
            DType::F32 => Tensor::from_vec(self.shift(&x.to_vec()?, shape, self.fill_value as f32), shape)?,
            DType::I64 => Tensor::from_vec_i64(self.shift(&x.to_vec_i64()?, shape, self.fill_value as i64), shape)?,
        };
        Ok(ProcessorOutputs::new().tensor("output", output))
    }
}

/// `inspect.sequence_stats`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsConfig {
    /// The sequence column (required).
    sequence: String,
}

/// Measures a sequence column's lengths; see the module docs.
#[derive(Debug)]
pub struct SequenceStats {
    column: String,
}

impl SequenceStats {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let StatsConfig { sequence } = config.parse(SEQUENCE_STATS)?;
        Ok(Box::new(Self { column: sequence }))
    }
}

/// The nearest-rank `p`-th percentile of sorted `lengths` (non-empty).
fn nearest_rank(sorted: &[usize], p: f64) -> usize {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Processor for SequenceStats {
    fn name(&self) -> &str {
        SEQUENCE_STATS
    }

    fn input_ports(&self) -> &[&str] {
        &[]
    }

    fn output_ports(&self) -> &[&str] {
        &["max_length", "mean_length", "p50_length", "p95_length", "p99_length"]
    }

    fn input_columns(&self) -> Vec<&str> {
        vec![&self.column]
    }

    fn is_train_only(&self) -> bool {
        true
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let mut lengths: Vec<usize> = row_tokens(inputs.table(), &self.column)?.iter().map(Vec::len).collect();
        if lengths.is_empty() {
            return Err(invalid(SEQUENCE_STATS, format!("column `{}` has no rows", self.column)));
        }
        lengths.sort_unstable();
        let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
        Ok(ProcessorOutputs::new()
            .var("max_length", lengths[lengths.len() - 1] as f64)
            .var("mean_length", mean)
            .var("p50_length", nearest_rank(&lengths, 50.0) as f64)
            .var("p95_length", nearest_rank(&lengths, 95.0) as f64)
            .var("p99_length", nearest_rank(&lengths, 99.0) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy.percentile(lengths, p, method="inverted_cdf") is the nearest rank.
    #[test]
    fn percentiles_are_nearest_rank() {
        let lengths: Vec<usize> = (1..=20).collect();
        // n = 20: p50 → rank 10, p95 → rank 19, p99 → rank 20.
        assert_eq!(
            (nearest_rank(&lengths, 50.0), nearest_rank(&lengths, 95.0), nearest_rank(&lengths, 99.0)),
            (10, 19, 20)
        );
        assert_eq!(nearest_rank(&[7], 50.0), 7);
        // n = 3: p50 → rank ceil(1.5) = 2.
        assert_eq!(nearest_rank(&[1, 2, 9], 50.0), 2);
    }
}
