//! Registers Arc's standard data sources.

use arc_core::arc_plugin;

/// Registers Arc's standard data sources.
#[arc_plugin(name = "builtin_data_sources", description = "Registers Arc's standard data sources.")]
#[derive(Debug, Default)]
pub struct BuiltinDataSourcePlugin;
