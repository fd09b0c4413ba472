//! Arc's standard layers: PyTorch's names, parameters and defaults.
//!
//! The layers are grouped by family: `basic` (Linear, the activations,
//! Dropout, the norms, Embedding, PositionalEncoding, Concatenate, Add,
//! Flatten, Select) and `sequence` (MultiHeadAttention, TransformerEncoderLayer,
//! LSTM, GRU). Each family registers its layers and checks their configs.

use arc_core::plugin::{LayerHookSpec, LayerRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

mod basic;
mod sequence;
mod size;

/// Registers Arc's standard layers (PyTorch's names and defaults).
#[arc_plugin(name = "builtin_layers", description = "Registers Arc's standard layers (PyTorch's names and defaults).")]
#[derive(Debug, Default)]
pub struct BuiltinLayerPlugin;

#[hookimpl]
impl LayerHookSpec for BuiltinLayerPlugin {
    fn register_layers(&self) -> LayerRegistrations {
        sequence::register(basic::register(Registrations::new()))
    }

    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        basic::validate(layer_type, config).or_else(|| sequence::validate(layer_type, config))
    }
}
