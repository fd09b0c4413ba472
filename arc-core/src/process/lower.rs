//! What a processor gives the fast paths and the exporters, with its fitted
//! state: the context of [`Processor::row_transform`](super::Processor::row_transform)
//! and the ONNX form of [`Processor::onnx`](super::Processor::onnx). The row
//! kernels and the ONNX graph API are [`crate::lower`]'s.

use std::fmt::Debug;
use std::sync::Arc;

use super::ProcessorState;
use crate::lower::OnnxGraph;
use crate::{Error, Result};

/// What [`Processor::row_transform`](super::Processor::row_transform) is given.
#[derive(Clone, Copy, Debug)]
pub struct RowTransformContext<'a> {
    /// The step's fitted state (its input `state`), if it has one.
    pub state: Option<&'a ProcessorState>,
    /// (port, row width) of each input port bound to a tensor.
    pub input_widths: &'a [(&'a str, usize)],
}

impl RowTransformContext<'_> {
    /// The row width of the tensor bound to `port`.
    pub fn width(&self, port: &str) -> Option<usize> {
        self.input_widths.iter().find(|(p, _)| *p == port).map(|(_, w)| *w)
    }
}

/// A processor's ONNX form.
#[derive(Clone, Debug)]
pub enum OnnxProcessor {
    /// Its output is these numeric table columns, as float32
    /// `[batch, columns]`: the exported graph takes them raw as its input.
    RawColumns(Vec<String>),
    /// Computed in the graph from the tensors bound to `ports` (in that
    /// order) and the step's fitted state.
    Lowering {
        /// The tensor input ports it reads.
        ports: Vec<String>,
        /// The lowering.
        lowering: Arc<dyn ProcessorLowering>,
    },
}

/// The processor step being lowered.
#[derive(Clone, Copy, Debug)]
pub struct OnnxStep<'a> {
    /// The step's name; its constants go under `processors.<name>.*`.
    pub name: &'a str,
    /// The processor's registered name, for messages.
    pub component: &'a str,
    /// The ONNX values of its tensor inputs, in [`OnnxProcessor::Lowering`]'s
    /// `ports` order.
    pub inputs: &'a [String],
    /// The value name its output must get.
    pub output: &'a str,
    /// The step's fitted state, if it has one.
    pub state: Option<&'a ProcessorState>,
}

impl OnnxStep<'_> {
    /// The prefix of the step's initializer names, `processors.<name>`.
    pub fn prefix(&self) -> String {
        format!("processors.{}", self.name)
    }

    /// The fitted state; a step without one is an error naming the step.
    pub fn state(&self) -> Result<&ProcessorState> {
        self.state.ok_or_else(|| Error::Export {
            format: "onnx".into(),
            message: format!("processor step `{}` ({}) has no fitted state", self.name, self.component),
        })
    }

    /// The first input; a step without one is an error.
    pub fn input(&self) -> Result<String> {
        self.inputs.first().cloned().ok_or_else(|| Error::Export {
            format: "onnx".into(),
            message: format!("processor step `{}` ({}) has no tensor input", self.name, self.component),
        })
    }
}

/// A processor's in-graph computation.
pub trait ProcessorLowering: Send + Sync + Debug {
    /// Adds the nodes computing `step.output` from `step.inputs` and the state.
    fn lower(&self, step: &OnnxStep<'_>, g: &mut dyn OnnxGraph) -> Result<()>;
}
