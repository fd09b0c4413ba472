//! The one error type of arc-core, grouped by concern.

/// Every error arc-core returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- plugins -------------------------------------------------------
    /// A plugin with this name is already registered.
    #[error("plugin `{name}` is already registered")]
    PluginNameTaken {
        /// The plugin name.
        name: String,
    },
}

/// `Result` with arc-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
