//! [`ExportModel`]: a model directory read back for an exporter.

use std::collections::BTreeMap;
use std::path::Path;

use crate::graph::GraphModel;
use crate::model_dir::{self, Loaded};
use crate::nn::ShapeSpec;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::{ArcSpec, Config};
use crate::{Error, Result, Tensor};

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
    /// Reads the model directory `dir` (see [`model_dir::load`]).
    pub fn load(dir: &Path, manager: &PluginManager) -> Result<Self> {
        Self::from_loaded(&model_dir::load(dir)?, manager)
    }

    /// Builds the export view of a loaded model directory: the graph is
    /// built once with the manager's layers (so an unknown type, a dangling
    /// ref or a cycle is the builder's error), every parameter is checked
    /// against the weights file, and the nodes, their inputs and the
    /// outputs are the built model's (its one wiring).
    pub fn from_loaded(loaded: &Loaded, manager: &PluginManager) -> Result<Self> {
        let spec = ArcSpec::from_yaml(&loaded.spec_text, model_dir::SPEC_FILE)?;
        let graph = GraphModel::build(&spec.model, &loaded.fitted.vars, manager)?;
        Self::from_model(spec, &graph, &loaded.weights, &loaded.fitted)
    }

    /// The export view of a built `graph` whose weights are `file` (the
    /// weights file's tensors): each parameter must be there with its
    /// shape; a buffer absent from it keeps the layer's initial value.
    pub fn from_model(
        spec: ArcSpec,
        graph: &GraphModel,
        file: &[(String, Tensor)],
        fitted: &FittedState,
    ) -> Result<Self> {
        let file: BTreeMap<&str, &Tensor> = file.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let inputs: Vec<ExportInput> = graph
            .inputs()
            .map(|(name, source, shape)| ExportInput {
                name: name.to_owned(),
                source: source.to_owned(),
                shape: shape.clone(),
            })
            .collect();
        let mut nodes = Vec::new();
        let mut weights = Vec::new();
        for node in graph.nodes() {
            let mut failed = None;
            node.layer.visit_params(node.name, &mut |pname, p| match file.get(pname) {
                Some(w) if w.shape() == p.shape().as_slice() => weights.push((pname.to_owned(), (*w).clone())),
                Some(w) => {
                    failed.get_or_insert(weights_error(format!(
                        "`{pname}` has shape {:?}, the model wants {:?}",
                        w.shape(),
                        p.shape()
                    )));
                }
                None => {
                    failed.get_or_insert(weights_error(format!("no weights for `{pname}`")));
                }
            });
            node.layer.visit_buffers(node.name, &mut |bname, b| match file.get(bname) {
                Some(w) if w.shape() == b.shape() => weights.push((bname.to_owned(), (*w).clone())),
                Some(w) => {
                    failed.get_or_insert(weights_error(format!(
                        "`{bname}` has shape {:?}, the model wants {:?}",
                        w.shape(),
                        b.shape()
                    )));
                }
                None => weights.push((bname.to_owned(), b.clone())),
            });
            if let Some(e) = failed {
                return Err(e);
            }
            nodes.push(ExportNode {
                name: node.name.to_owned(),
                layer_type: node.layer_type.to_owned(),
                params: node.params.clone(),
                inputs: node.inputs.iter().map(|(p, s)| ((*p).to_owned(), (*s).to_owned())).collect(),
            });
        }
        let outputs = graph
            .outputs()
            .into_iter()
            .map(|(name, source)| ExportOutput { name: name.to_owned(), source: source.to_owned() })
            .collect();
        Ok(Self { spec, inputs, nodes, outputs, weights, fitted: fitted.clone() })
    }

    /// The weight or buffer `name` (`fc1.weight`).
    pub fn weight(&self, name: &str) -> Option<&Tensor> {
        self.weights.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The node `name`.
    pub fn node(&self, name: &str) -> Option<&ExportNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

fn weights_error(message: String) -> Error {
    Error::ModelDir { path: model_dir::WEIGHTS_FILE.into(), message }
}
