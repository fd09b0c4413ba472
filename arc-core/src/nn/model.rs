//! The model built from a spec.

use super::Layer;

/// A model built from a spec: its layers by node name, in graph order.
#[derive(Default)]
pub struct Model {
    /// The spec's `model_name`.
    pub name: String,
    /// The layers, by node name.
    pub layers: Vec<(String, Box<dyn Layer>)>,
}
