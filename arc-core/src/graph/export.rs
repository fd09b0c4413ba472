//! The exporters' view of a built model ([`ExportModel`]).

use std::collections::BTreeMap;

use super::GraphModel;
use crate::export::{ExportInput, ExportModel, ExportNode, ExportOutput};
use crate::process::FittedState;
use crate::spec::ArcSpec;
use crate::{Error, Result, Tensor};

impl GraphModel {
    /// The exporters' view of this model whose weights are `file` (the
    /// weights file's tensors, named as [`named_state`](Self::named_state)
    /// names them): the nodes, their inputs and the outputs are this
    /// model's (its one wiring, no layer built again); each parameter must be
    /// in `file` with its shape, and a buffer absent from it keeps the
    /// layer's initial value.
    pub fn export_model(&self, spec: ArcSpec, file: &[(String, Tensor)], fitted: &FittedState) -> Result<ExportModel> {
        let graph = self;
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
                onnx: node.layer.onnx(),
            });
        }
        let outputs = graph
            .outputs()
            .into_iter()
            .map(|(name, source)| ExportOutput { name: name.to_owned(), source: source.to_owned() })
            .collect();
        Ok(ExportModel { spec, inputs, nodes, outputs, weights, fitted: fitted.clone(), processors: Vec::new() })
    }
}

fn weights_error(message: String) -> Error {
    Error::ModelDir { path: super::WEIGHTS_FILE.into(), message }
}
