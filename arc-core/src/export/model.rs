//! [`ExportModel`]: a model directory read back for an exporter.

use std::collections::BTreeMap;
use std::path::Path;

use crate::graph::{GraphModel, NodeInputs, OutputsSpec};
use crate::model_dir::{self, Loaded};
use crate::nn::ShapeSpec;
use crate::plugin::{ComponentKind, PluginManager, legacy_layer_name};
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
    /// built with the manager's layers (so an unknown type, a dangling ref
    /// or a cycle is the builder's error) and every parameter is checked
    /// against the weights file.
    pub fn from_loaded(loaded: &Loaded, manager: &PluginManager) -> Result<Self> {
        let spec = ArcSpec::from_yaml(&loaded.spec_text, model_dir::SPEC_FILE)?;
        let model_spec = &spec.model;
        let vars = &loaded.fitted.vars;
        let graph = GraphModel::build(model_spec, vars, manager)?;
        let file: BTreeMap<&str, &Tensor> = loaded.weights.iter().map(|(n, t)| (n.as_str(), t)).collect();

        let inputs: Vec<ExportInput> = graph
            .inputs()
            .map(|(name, source, shape)| ExportInput {
                name: name.to_owned(),
                source: source.to_owned(),
                shape: shape.clone(),
            })
            .collect();
        let input_names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        let registries = manager.registries();
        let mut nodes = Vec::new();
        let mut weights = Vec::new();
        for name in graph.node_names() {
            let Some(i) = model_spec.graph.iter().position(|n| n.name == name) else {
                return Err(Error::Spec { message: format!("node `{name}` is not in the spec") });
            };
            let node = &model_spec.graph[i];
            let layer_name = legacy_layer_name(&node.layer_type).unwrap_or(&node.layer_type);
            let layer_type = registries.full_name(ComponentKind::Layer, layer_name)?.to_owned();
            // The builder resolved these params already; this cannot fail differently.
            let params = node
                .params
                .clone()
                .unwrap_or_default()
                .resolve_vars(vars)
                .map_err(|r| Error::DanglingRef { node: node.name.clone(), reference: r, hint: Default::default() })?;
            let layer = manager.get_layer(&layer_type)?.create(&params)?;
            let source = |r: &str| {
                let bare = r.strip_prefix("inputs.").unwrap_or(r);
                if input_names.contains(&bare) {
                    bare.to_owned()
                } else {
                    r.strip_suffix(".output").unwrap_or(r).to_owned()
                }
            };
            let ports = layer.input_names();
            let port = |k: usize| ports.get(k).map_or_else(|| "input".to_owned(), |p| (*p).to_owned());
            let node_inputs = match &node.inputs {
                None if i == 0 => vec![(port(0), input_names.first().map(|n| (*n).to_owned()).unwrap_or_default())],
                None => vec![(port(0), model_spec.graph[i - 1].name.clone())],
                Some(NodeInputs::One(r)) => vec![(port(0), source(r))],
                Some(NodeInputs::List(list)) => list.iter().enumerate().map(|(k, r)| (port(k), source(r))).collect(),
                Some(NodeInputs::Ports(map)) => {
                    let mut given: Vec<(String, String)> = map.iter().map(|(p, r)| (p.clone(), source(r))).collect();
                    given.sort_by_key(|(p, _)| ports.iter().position(|q| q == p).unwrap_or(usize::MAX));
                    given
                }
            };
            let mut failed = None;
            layer.visit_params(&node.name, &mut |pname, p| match file.get(pname) {
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
            layer.visit_buffers(&node.name, &mut |bname, b| match file.get(bname) {
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
            nodes.push(ExportNode { name: node.name.clone(), layer_type, params, inputs: node_inputs });
        }
        let source = |r: &str| {
            let bare = r.strip_prefix("inputs.").unwrap_or(r);
            if input_names.contains(&bare) {
                bare.to_owned()
            } else {
                r.strip_suffix(".output").unwrap_or(r).to_owned()
            }
        };
        let outputs = match &model_spec.outputs {
            None => nodes.last().map(|n| vec![(n.name.clone(), n.name.clone())]).unwrap_or_default(),
            Some(OutputsSpec::Named(map)) => map.iter().map(|(k, r)| (k.clone(), source(r))).collect(),
            Some(OutputsSpec::List(list)) => {
                list.iter().map(|r| (r.split('.').next().unwrap_or(r).to_owned(), source(r))).collect()
            }
        };
        let outputs = outputs.into_iter().map(|(name, source)| ExportOutput { name, source }).collect();
        Ok(Self { spec, inputs, nodes, outputs, weights, fitted: loaded.fitted.clone() })
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
