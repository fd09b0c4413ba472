//! The sequence layers: `MultiHeadAttention`, `TransformerEncoderLayer`,
//! `LSTM` and `GRU`, with PyTorch's parameters, defaults, state_dict names
//! and initialisation.
//!
//! Forwards are autograd-capable: projections, norms and feed-forward blocks
//! compose [`Tensor`](arc_core::Tensor) ops, and the two hot loops are
//! fused custom ops with hand-written, gradchecked backwards: the attention
//! over all heads (`fused_attention.rs`) and the time loop of each LSTM/GRU
//! layer direction (`scan.rs`, cell updates in `cells.rs`).
//!
//! Masks follow PyTorch's two kinds, told apart by dtype since Arc's tensors
//! have no `bool`: an **i64** mask is boolean (non-zero = "may not attend",
//! PyTorch's `True`), an **f32** mask is added to the attention scores
//! (`-inf` forbids).
//!
//! Optional ports (the masks) and a single input to a multi-port layer
//! (self-attention) are handled by `forward_multi` / `forward_single`
//! themselves, which take inputs by port name.

use std::sync::Mutex;

use arc_core::plugin::{LayerRegistrations, schema_of};
use arc_core::spec::Config;
use arc_core::tensor::Rng;
use arc_core::{Error, Result, Tensor, nn::init};

mod attention;
mod cells;
mod fused_attention;
mod recurrent;
mod scan;
mod transformer;

use attention::MultiHeadAttention;
use recurrent::{RecurrentLayer, RecurrentMode};
use transformer::TransformerEncoderLayer;

/// Adds this family's layers: `core.MultiHeadAttention` (alias
/// `MultiheadAttention`, PyTorch's spelling), `core.TransformerEncoderLayer`,
/// `core.LSTM` and `core.GRU`.
pub fn register(registrations: LayerRegistrations) -> LayerRegistrations {
    registrations
        .add("MultiHeadAttention", MultiHeadAttention::from_config)
        .params_schema(schema_of::<attention::MultiHeadAttentionConfig>)
        .state_size(attention::state_size)
        .alias("MultiheadAttention")
        .add("TransformerEncoderLayer", TransformerEncoderLayer::from_config)
        .params_schema(schema_of::<transformer::TransformerEncoderLayerConfig>)
        .state_size(transformer::state_size)
        .add("LSTM", RecurrentLayer::lstm_from_config)
        .params_schema(schema_of::<recurrent::RecurrentConfig>)
        .state_size(recurrent::lstm_state_size)
        .add("GRU", RecurrentLayer::gru_from_config)
        .params_schema(schema_of::<recurrent::RecurrentConfig>)
        .state_size(recurrent::gru_state_size)
}

/// Checks a config of this family's layers (full names, `core.X`): `Some(true)`
/// when it builds, `Some(false)` when a parameter is unknown, missing or out
/// of range; `None` for other layers.
pub fn validate(layer_type: &str, config: &Config) -> Option<bool> {
    let checked = match layer_type {
        MultiHeadAttention::NAME => attention::parse_config(config).map(drop),
        TransformerEncoderLayer::NAME => transformer::parse_config(config).map(drop),
        RecurrentLayer::LSTM_NAME => recurrent::parse_config(RecurrentMode::Lstm, config).map(drop),
        RecurrentLayer::GRU_NAME => recurrent::parse_config(RecurrentMode::Gru, config).map(drop),
        _ => return None,
    };
    Some(checked.is_ok())
}

/// `Err(InvalidConfig)` for `component` with `message` unless `ok`.
fn ensure(ok: bool, component: &str, message: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::InvalidConfig { component: component.to_owned(), message: message() }) }
}

/// Checks a dropout probability as PyTorch does: `0 <= p <= 1`.
fn ensure_probability(p: f32, component: &str) -> Result<()> {
    ensure((0.0..=1.0).contains(&p), component, || {
        format!("dropout probability has to be between 0 and 1, but got {p}")
    })
}

/// Serde default `true`.
fn default_true() -> bool {
    true
}

/// A layer's dropout stream: seeded from the initialisation stream when the
/// layer is built (so `init::manual_seed` makes training runs repeatable),
/// drawn under a lock since layers compute through `&self`.
#[derive(Debug)]
struct DropoutStream(Mutex<Rng>);

impl DropoutStream {
    /// A stream seeded from this thread's initialisation stream.
    fn new() -> Self {
        Self(Mutex::new(Rng::new(init::with_rng(|rng| rng.next_u64()))))
    }

    /// `x` with dropout `p` applied (inverted scaling), or `x` itself when
    /// `p == 0`.
    fn apply(&self, x: &Tensor, p: f32) -> Result<Tensor> {
        if p == 0.0 {
            return Ok(x.clone());
        }
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        super::basic::device_dropout(x, p, &mut rng)
    }
}

/// A bad input shape for layer `layer`.
fn bad_shape(layer: &'static str, expected: &'static str, shape: &[usize]) -> Error {
    Error::BadRank { op: layer, expected, shape: shape.to_vec() }
}
