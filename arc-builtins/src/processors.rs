//! Registers Arc's standard feature processors.

use arc_core::arc_plugin;

/// Registers Arc's standard feature processors.
#[arc_plugin(name = "builtin_processors", description = "Registers Arc's standard feature processors.")]
#[derive(Debug, Default)]
pub struct BuiltinProcessorPlugin;
