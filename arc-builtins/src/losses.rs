//! Registers PyTorch's standard loss functions.

use arc_core::arc_plugin;

/// Registers PyTorch's standard loss functions.
#[arc_plugin(name = "builtin_losses", description = "Registers PyTorch's standard loss functions.")]
#[derive(Debug, Default)]
pub struct BuiltinLossPlugin;
