//! [`ExportModel`]: a trained model as an exporter reads it (made from the
//! built model by `GraphModel::export_model`; `train::ModelBundle` gives one
//! for a model directory).

use std::sync::Arc;

use crate::Tensor;
use crate::lower::OnnxLowering;
use crate::nn::ShapeSpec;
use crate::process::{FittedState, OnnxProcessor, ProcessorState};
use crate::spec::{ArcSpec, Config};

/// A model input.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportInput {
    /// The input's name in the spec (`features`).
    pub name: String,
    /// The pipeline tensor it reads (`features` for `tensors.features`).
    pub source: String,
    /// The declared shape, `None` for the batch and unknown sizes; empty
    /// when the spec declares none.
    pub shape: ShapeSpec,
}

/// A graph node, with its params and inputs resolved.
#[derive(Clone, Debug)]
pub struct ExportNode {
    /// The node's name; its weights are `name.weight`, ...
    pub name: String,
    /// The layer's full registered name (`core.Linear`), legacy names
    /// (`torch.nn.Linear`) and short names resolved.
    pub layer_type: String,
    /// The params with `vars.X` substituted.
    pub params: Config,
    /// (port, source) in the layer's port order; a source is a model
    /// input's name or a node's name.
    pub inputs: Vec<(String, String)>,
    /// The layer's ONNX form ([`Layer::onnx`](crate::nn::Layer::onnx)),
    /// `None` when it has none.
    pub onnx: Option<Arc<dyn OnnxLowering>>,
}

/// A model output.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOutput {
    /// The output's name (`logits`).
    pub name: String,
    /// The node or model input it is.
    pub source: String,
}

/// A processor step that runs at prediction, with what an exporter needs
/// of its processor.
#[derive(Clone, Debug)]
pub struct ExportStep {
    /// The step's name.
    pub name: String,
    /// The processor's registered name (`core.StandardNormalization`).
    pub component: String,
    /// (port, tensor name) of each input port bound to a `tensors.X`.
    pub tensor_inputs: Vec<(String, String)>,
    /// The tensor its `output` port makes, if it makes one.
    pub output: Option<String>,
    /// The saved state it transforms with.
    pub state: Option<ProcessorState>,
    /// Its ONNX form ([`Processor::onnx`](crate::process::Processor::onnx)).
    pub onnx: Option<OnnxProcessor>,
}

/// What an exporter gets: a model directory read back and checked
/// against its spec (every parameter present with the model's shape).
#[derive(Clone, Debug)]
pub struct ExportModel {
    /// The parsed spec.
    pub spec: ArcSpec,
    /// The model inputs, in declaration order.
    pub inputs: Vec<ExportInput>,
    /// The nodes, in execution (topological) order.
    pub nodes: Vec<ExportNode>,
    /// The outputs, in spec order.
    pub outputs: Vec<ExportOutput>,
    /// Parameters and buffers under PyTorch `state_dict` names
    /// (`fc1.weight`, `bn.running_mean`), node by node in execution order,
    /// each node's parameters before its buffers. Buffers absent from the
    /// weights file are the layer's initial values (what `arc predict` uses).
    pub weights: Vec<(String, Tensor)>,
    /// The fitted processor vars and states.
    pub fitted: FittedState,
    /// The prediction-time processor steps, in order (empty when the view
    /// was made without the pipeline).
    pub processors: Vec<ExportStep>,
}

impl ExportModel {
    /// The weight or buffer `name` (`fc1.weight`).
    pub fn weight(&self, name: &str) -> Option<&Tensor> {
        self.weights.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The prediction-time step whose `output` is the tensor `tensor`.
    pub fn producer(&self, tensor: &str) -> Option<&ExportStep> {
        self.processors.iter().rev().find(|s| s.output.as_deref() == Some(tensor))
    }

    /// The node `name`.
    pub fn node(&self, name: &str) -> Option<&ExportNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
