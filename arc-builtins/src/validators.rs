//! Registers Arc's standard model validators.

use arc_core::arc_plugin;

/// Registers Arc's standard model validators.
#[arc_plugin(name = "builtin_validators", description = "Registers Arc's standard model validators.")]
#[derive(Debug, Default)]
pub struct BuiltinValidatorPlugin;
