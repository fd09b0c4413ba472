//! Layers, losses, optimizers and the built model.

/// A graph layer, registered by `LayerHookSpec::register_layers`.
pub trait Layer: Send + Sync {}

/// A loss, registered by `LossHookSpec::register_losses`.
pub trait Loss: Send + Sync {}

/// An optimizer, registered by `OptimizerHookSpec::register_optimizers`.
pub trait Optimizer: Send + Sync {}

/// A model built from a spec: its layers by node name, in graph order.
#[derive(Default)]
pub struct Model {
    /// The spec's `model_name`.
    pub name: String,
    /// The layers, by node name.
    pub layers: Vec<(String, Box<dyn Layer>)>,
}
