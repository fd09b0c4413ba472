//! The legacy table: type names of the later Python format
//! (`torch.nn.Linear`, ...) mapped to core layers. Looked up before the
//! plugin registries.

/// `torch.nn.*` names and the core layers they stand for.
const LEGACY_LAYERS: &[(&str, &str)] = &[
    ("torch.nn.Linear", "core.Linear"),
    ("torch.nn.ReLU", "core.ReLU"),
    ("torch.nn.Sigmoid", "core.Sigmoid"),
    ("torch.nn.Tanh", "core.Tanh"),
    ("torch.nn.GELU", "core.GELU"),
    ("torch.nn.Softmax", "core.Softmax"),
    ("torch.nn.Dropout", "core.Dropout"),
    ("torch.nn.BatchNorm1d", "core.BatchNorm1d"),
    ("torch.nn.LayerNorm", "core.LayerNorm"),
    ("torch.nn.Embedding", "core.Embedding"),
    ("torch.nn.MultiheadAttention", "core.MultiHeadAttention"),
    ("torch.nn.TransformerEncoderLayer", "core.TransformerEncoderLayer"),
    ("torch.nn.LSTM", "core.LSTM"),
    ("torch.nn.GRU", "core.GRU"),
    ("torch.nn.Flatten", "core.Flatten"),
];

/// The core layer a legacy `torch.nn.*` name stands for.
///
/// ```
/// assert_eq!(arc_core::plugin::legacy_layer_name("torch.nn.Linear"), Some("core.Linear"));
/// assert_eq!(arc_core::plugin::legacy_layer_name("Linear"), None);
/// ```
pub fn legacy_layer_name(name: &str) -> Option<&'static str> {
    if !name.starts_with("torch.nn.") {
        return None;
    }
    LEGACY_LAYERS.iter().find(|(legacy, _)| *legacy == name).map(|(_, core)| *core)
}

/// The legacy `torch.nn.*` names that stand for the core layer `full`.
///
/// ```
/// assert_eq!(arc_core::plugin::legacy_names_of("core.Linear").collect::<Vec<_>>(), ["torch.nn.Linear"]);
/// ```
pub fn legacy_names_of(full: &str) -> impl Iterator<Item = &'static str> + '_ {
    LEGACY_LAYERS.iter().filter(move |(_, core)| *core == full).map(|(legacy, _)| *legacy)
}
