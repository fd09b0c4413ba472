//! `transform.sequence_shift {x, direction, fill_value}`: shifts a tensor
//! along its sequence axis (lagged features, next-token targets).
//!
//! The sequence axis is dim 1 of a batch-first tensor `[batch, seq, ...]`,
//! and dim 0 of a 1-D sequence. `out[.., t, ..] = x[.., t - direction, ..]`
//! where `0 <= t - direction < seq`, and `fill_value` elsewhere: as pandas'
//! `shift(direction)`, so `direction = 1` delays the sequence one step and
//! `-1` advances it. The output has `x`'s shape and dtype (an i64 tensor
//! gets `fill_value` truncated toward zero).

use arc_core::process::{Processor, ProcessorInputs, ProcessorOutputs};
use arc_core::spec::Config;
use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

/// The op's name.
pub const SEQUENCE_SHIFT: &str = "transform.sequence_shift";

/// `transform.sequence_shift`'s params.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftConfig {
    /// Steps to shift by; positive delays, negative advances. Default 1.
    #[serde(default = "default_direction")]
    direction: i64,
    /// The value of the vacated positions. Default 0.
    #[serde(default)]
    fill_value: f64,
}

fn default_direction() -> i64 {
    1
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
        let ShiftConfig { direction, fill_value } = config.parse(SEQUENCE_SHIFT)?;
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
