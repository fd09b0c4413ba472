//! Registers Arc's standard layers (PyTorch's names and defaults).

use arc_core::arc_plugin;

/// Registers Arc's standard layers (PyTorch's names and defaults).
#[arc_plugin(name = "builtin_layers", description = "Registers Arc's standard layers (PyTorch's names and defaults).")]
#[derive(Debug, Default)]
pub struct BuiltinLayerPlugin;
