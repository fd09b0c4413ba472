//! The kinds of component a plugin can register.

use std::fmt;

/// The kinds of component a plugin can register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// Graph layers (`LayerHookSpec`).
    Layer,
    /// Feature processors (`ProcessorHookSpec`).
    Processor,
    /// Optimizers (`OptimizerHookSpec`).
    Optimizer,
    /// Losses (`LossHookSpec`).
    Loss,
    /// Model validators (`ValidatorHookSpec`).
    Validator,
    /// Data sources (`DataSourceHookSpec`).
    DataSource,
    /// Exporters (`ExportHookSpec`).
    Exporter,
}

impl ComponentKind {
    /// Every kind, in the order `arc plugins` lists them.
    pub const ALL: [ComponentKind; 7] =
        [Self::Layer, Self::Processor, Self::Optimizer, Self::Loss, Self::Validator, Self::DataSource, Self::Exporter];

    /// The kind's name as `validate_component_config` takes it: `layer`,
    /// `processor`, `optimizer`, `loss`, `validator`, `data_source`, `exporter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Layer => "layer",
            Self::Processor => "processor",
            Self::Optimizer => "optimizer",
            Self::Loss => "loss",
            Self::Validator => "validator",
            Self::DataSource => "data_source",
            Self::Exporter => "exporter",
        }
    }

    /// Parses a kind name (see [`as_str`](Self::as_str)); `None` if unknown.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
