//! Building a whole spec's model: the lifecycle hooks around the builder,
//! located errors and shape inference.

use std::collections::BTreeMap;

use super::GraphModel;
use crate::plugin::{LifecycleHookSpec, PluginManager};
use crate::spec::ArcSpec;
use crate::{Error, Result};

impl GraphModel {
    /// Builds `spec.model` (its `modules` included) with the fitted `vars`:
    /// calls the `pre_model_build` hooks, [`build`](Self::build)s, infers
    /// the shapes ([`infer_shapes`](Self::infer_shapes)), then calls the
    /// `post_model_build` hooks with the model. Errors about a node carry
    /// its YAML location ([`Error::Located`]).
    pub fn build_spec(spec: &ArcSpec, vars: &BTreeMap<String, f64>, manager: &PluginManager) -> Result<Self> {
        let lifecycle = manager.hook::<dyn LifecycleHookSpec>();
        lifecycle.pre_model_build(spec)?;
        let model = Self::build(&spec.model, vars, manager).map_err(|e| locate_error(spec, e))?;
        model.infer_shapes().map_err(|e| locate_error(spec, e))?;
        lifecycle.post_model_build(spec, &model)?;
        Ok(model)
    }
}

/// `e` (from building or running `spec.model`) at the YAML node it is about: the node's `type` for a layer that
/// fails to build, its `params` for a bad `vars.X`, the node for a shape
/// mismatch, the first node of a cycle.
pub fn locate_error(spec: &ArcSpec, e: Error) -> Error {
    let index = |name: &str| spec.model.graph.iter().position(|n| n.name == name);
    let path = match &e {
        Error::GraphNode { node, source, .. } => index(node).map(|i| match **source {
            Error::UnknownComponent { .. } => format!("model.graph[{i}].type"),
            _ => format!("model.graph[{i}].params"),
        }),
        Error::DanglingRef { node, reference, .. } => match index(node) {
            Some(i) if reference.starts_with("vars.") => Some(format!("model.graph[{i}].params")),
            Some(i) => Some(format!("model.graph[{i}].inputs")),
            None => node.strip_prefix("inputs.").map(|input| format!("model.inputs.{input}")),
        },
        Error::GraphShape { node, .. } => index(node).map(|i| format!("model.graph[{i}]")),
        Error::GraphCycle { nodes } => nodes.first().and_then(|n| index(n)).map(|i| format!("model.graph[{i}]")),
        _ => None,
    };
    match path {
        Some(path) => e.located(spec.locate(&path)),
        None => e,
    }
}
