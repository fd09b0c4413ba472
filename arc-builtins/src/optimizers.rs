//! Registers PyTorch's standard optimizers.

use arc_core::arc_plugin;

/// Registers PyTorch's standard optimizers.
#[arc_plugin(name = "builtin_optimizers", description = "Registers PyTorch's standard optimizers.")]
#[derive(Debug, Default)]
pub struct BuiltinOptimizerPlugin;
