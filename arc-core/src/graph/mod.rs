//! The spec's `model` section and the graph built from it.
//!
//! ```yaml
//! model:
//!   inputs:
//!     features: [null, vars.n_features]      # shape; binds tensors.features
//!   graph:
//!     - {name: fc1, type: Linear, params: {in_features: vars.n_features, out_features: 16}, inputs: [features]}
//!     - {name: act, type: ReLU}               # no inputs: the previous node's output
//!     - {name: fc2, type: Linear, params: {in_features: 16, out_features: 3}}
//!   outputs:
//!     logits: fc2
//! ```
//!
//! [`GraphModel::build`] resolves each node's `type` in the layer registry,
//! substitutes `vars.X` params from the fitted pipeline's vars, and orders
//! the nodes topologically (declaration order breaks ties). A ref is a
//! model input name, a node name or `node.output`. Unknown types, dangling
//! refs and cycles are errors naming the node.

mod build;
mod export;
mod feed;
mod model;
mod module;

pub use crate::spec::find_cycle;
pub use crate::spec::{InputSpec, ModelSpec, NodeInputs, NodeSpec, OutputsSpec, Source, Wiring};
pub use build::locate_error;
pub use model::{GraphModel, ModelInput, NodeView};

/// The file of a model directory that holds the weights, named in the
/// errors of [`GraphModel::load_state`] and [`GraphModel::export_model`].
pub const WEIGHTS_FILE: &str = "model.safetensors";
