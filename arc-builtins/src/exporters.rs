//! Registers Arc's standard export formats.

use arc_core::arc_plugin;

/// Registers Arc's standard export formats.
#[arc_plugin(name = "builtin_exporters", description = "Registers Arc's standard export formats.")]
#[derive(Debug, Default)]
pub struct BuiltinExportPlugin;
