//! Exporters: plugins that write a trained model in some format.

use std::path::Path;

use crate::Result;
use crate::nn::Model;

/// Writes a model in one format, registered by `ExportHookSpec::register_exporters`.
pub trait Exporter: Send + Sync {
    /// The file extension the format uses, e.g. `safetensors`.
    fn extension(&self) -> &str;

    /// Writes `model` to `out`. Implementations write to a temporary file
    /// and rename it, so nothing the user had is left half-written.
    fn export(&self, model: &Model, out: &Path) -> Result<()>;
}
