//! [`ExportModel`]: a trained model as an exporter reads it (made from the
//! built model by `GraphModel::export_model`; `train::ModelBundle` gives one
//! for a model directory).

use crate::Tensor;
use crate::nn::ShapeSpec;
use crate::process::FittedState;
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
}

/// A model output.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOutput {
    /// The output's name (`logits`).
    pub name: String,
    /// The node or model input it is.
    pub source: String,
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
}

impl ExportModel {
    /// The weight or buffer `name` (`fc1.weight`).
    pub fn weight(&self, name: &str) -> Option<&Tensor> {
        self.weights.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The node `name`.
    pub fn node(&self, name: &str) -> Option<&ExportNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}
