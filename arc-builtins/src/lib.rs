//! Arc's built-in plugins, one Cargo feature per component group.
//!
//! Each group's plugin is linked into the binary when its feature is on and
//! found by `discover_plugins` with no registration code: PyTorch's layers,
//! optimizers and losses (names, parameters, defaults and numerics checked
//! against torch fixtures in `tests/`), the feature processors of the spec's
//! `features` section, the CSV data source, and a model validator (dead
//! graph nodes). The exporters arrive with the interchange work; until then
//! that plugin registers none.

#[cfg(feature = "data-sources")]
mod data_sources;
#[cfg(feature = "exporters")]
mod exporters;
#[cfg(feature = "layers")]
mod layers;
#[cfg(feature = "losses")]
mod losses;
#[cfg(feature = "optimizers")]
mod optimizers;
#[cfg(feature = "processors")]
mod processors;
#[cfg(feature = "validators")]
mod validators;

#[cfg(feature = "data-sources")]
pub use data_sources::BuiltinDataSourcePlugin;
#[cfg(feature = "sqlite")]
pub use data_sources::write_predictions;
#[cfg(feature = "exporters")]
pub use exporters::BuiltinExportPlugin;
#[cfg(feature = "layers")]
pub use layers::BuiltinLayerPlugin;
#[cfg(feature = "losses")]
pub use losses::BuiltinLossPlugin;

/// The CUDA C sources of the built-in custom ops as `(kernel, source)` (Arc's custom-op
/// convention; `common.cuh` is prepended when compiled), for an NVRTC compile check.
#[cfg(feature = "losses")]
pub fn cuda_sources() -> Vec<(&'static str, &'static str)> {
    vec![("binary_cross_entropy", losses::BCE_CUDA_SOURCE)]
}
#[cfg(feature = "optimizers")]
pub use optimizers::BuiltinOptimizerPlugin;
#[cfg(feature = "processors")]
pub use processors::BuiltinProcessorPlugin;
#[cfg(feature = "validators")]
pub use validators::BuiltinValidatorPlugin;
