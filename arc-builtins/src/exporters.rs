//! Arc's standard export formats: `core.safetensors` (PyTorch `state_dict`
//! names and layouts) and `core.onnx` (an ONNX graph, opset 17 by default).
//!
//! Each format is an [`Exporter`](arc_core::export::Exporter) built from its
//! config; unknown config keys are errors (and `validate_export_config`
//! answers `false` for them).

use arc_core::plugin::{ExportHookSpec, ExporterRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

mod onnx;
mod safetensors;

/// Registers Arc's standard export formats: `safetensors` and `onnx`.
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
/// let onnx = manager.get_exporter("onnx")?.create(&Config::from_yaml("opset: 18")?)?;
/// assert_eq!(onnx.extension(), "onnx");
/// let old = Config::from_yaml("opset: 12")?;
/// assert!(!manager.validate_component_config(ComponentKind::Exporter, "onnx", &old)?);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[arc_plugin(name = "builtin_exporters", description = "Registers Arc's standard export formats.")]
#[derive(Debug, Default)]
pub struct BuiltinExportPlugin;

#[hookimpl]
impl ExportHookSpec for BuiltinExportPlugin {
    fn register_exporters(&self) -> ExporterRegistrations {
        Registrations::new()
            .add("safetensors", safetensors::SafetensorsExporter::from_config)
            .params_schema(arc_core::plugin::schema_of::<safetensors::SafetensorsConfig>)
            .add("onnx", onnx::OnnxExporter::from_config)
            .params_schema(arc_core::plugin::schema_of::<onnx::OnnxConfig>)
    }

    fn validate_export_config(&self, format: &str, config: &Config) -> Option<bool> {
        match format {
            safetensors::NAME => Some(safetensors::SafetensorsExporter::from_config(config).is_ok()),
            onnx::NAME => Some(onnx::OnnxExporter::from_config(config).is_ok()),
            _ => None,
        }
    }
}
