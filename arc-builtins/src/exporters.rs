//! Arc's standard export formats: `core.safetensors` (PyTorch `state_dict`
//! names and layouts).
//!
//! Each format is an [`Exporter`](arc_core::export::Exporter) built from its
//! config; unknown config keys are errors (and `validate_export_config`
//! answers `false` for them).

use arc_core::plugin::{ExportHookSpec, ExporterRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

mod safetensors;

/// Registers Arc's standard export formats: `safetensors`.
///
/// ```
/// use arc_builtins::BuiltinExportPlugin;
/// use arc_core::plugin::{ComponentKind, PluginManager};
/// use arc_core::spec::Config;
///
/// let manager = PluginManager::new();
/// manager.register_plugin(BuiltinExportPlugin, "builtin_exporters")?;
/// manager.refresh_registries()?;
/// let st = manager.get_exporter("safetensors")?.create(&Config::from_yaml("metadata: false")?)?;
/// assert_eq!(st.extension(), "safetensors");
/// let bad = Config::from_yaml("metdata: false")?;
/// assert!(!manager.validate_component_config(ComponentKind::Exporter, "safetensors", &bad)?);
/// let err = manager.get_exporter("safetensors")?.create(&bad).err().unwrap();
/// assert!(err.to_string().contains("unknown parameter `metdata`"), "{err}");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[arc_plugin(name = "builtin_exporters", description = "Registers Arc's standard export formats.")]
#[derive(Debug, Default)]
pub struct BuiltinExportPlugin;

#[hookimpl]
impl ExportHookSpec for BuiltinExportPlugin {
    fn register_exporters(&self) -> ExporterRegistrations {
        Registrations::new().add("safetensors", safetensors::SafetensorsExporter::from_config)
    }

    fn validate_export_config(&self, format: &str, config: &Config) -> Option<bool> {
        match format {
            safetensors::NAME => Some(safetensors::SafetensorsExporter::from_config(config).is_ok()),
            _ => None,
        }
    }
}
