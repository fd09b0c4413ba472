//! Feature processors: plugins that turn source columns into tensors.

/// A feature processor (an `op` of the spec's `features.processors`),
/// registered by `ProcessorHookSpec::register_processors`.
pub trait Processor: Send + Sync {
    /// Whether the step runs at training only (`inspect.*`, `fit.*` ops).
    fn is_train_only(&self) -> bool {
        false
    }
}
