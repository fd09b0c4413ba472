//! `LSTM` and `GRU`: PyTorch's `torch.nn.LSTM` and `torch.nn.GRU`, returning
//! the output sequence only (the final states are not an output, as in the
//! seed tool).
//!
//! LSTM, gates in PyTorch's order `i, f, g, o`:
//!
//! ```text
//! i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg)       o = sigmoid(W_io x + b_io + W_ho h + b_ho)
//! c' = f * c + i * g                            h' = o * tanh(c')
//! ```
//!
//! GRU, gates in PyTorch's order `r, z, n`:
//!
//! ```text
//! r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) h' = (1 - z) * n + z * h
//! ```
//!
//! Initial states are zeros. The time loop of each layer direction is one
//! fused op with its own backward (`scan.rs`); on a GPU the same recurrence
//! runs step by step in tensor ops there. Layer `k > 0` reads layer `k - 1`'s output,
//! with dropout `p` between layers in training only; `bidirectional` runs a
//! second pass from the end and concatenates both on the feature dim.
//!
//! # Shapes
//! `[T, N, input_size]` → `[T, N, D * hidden_size]` (`[N, T, ..]` with
//! `batch_first`; unbatched `[T, input_size]` → `[T, D * hidden_size]`),
//! `D = 2` when bidirectional, else 1.
//!
//! # Parameters and initialisation (PyTorch's)
//! Per layer `k` and direction (suffix `_reverse` for the backward one):
//! `weight_ih_l{k} [G * hidden, in]`, `weight_hh_l{k} [G * hidden, hidden]`,
//! `bias_ih_l{k}`, `bias_hh_l{k} [G * hidden]`, `G = 4` (LSTM) or 3 (GRU),
//! `in = input_size` for `k = 0`, else `D * hidden_size`; all drawn from
//! `U(-1/sqrt(hidden), 1/sqrt(hidden))`.

use crate::layers::size::Tally;
use arc_core::nn::{Layer, Param, ShapeSpec, init, join_name};
use arc_core::spec::Config;
use arc_core::tensor::{is_grad_enabled, set_grad_enabled};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::scan::{Cell as ScanCell, Scan};
use super::{DropoutStream, bad_shape, default_true, ensure, ensure_probability};

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrentMode {
    /// Long short-term memory, four gates.
    Lstm,
    /// Gated recurrent unit, three gates.
    Gru,
}

impl RecurrentMode {
    /// Gates per cell: the row blocks of the weights.
    fn gates(self) -> usize {
        match self {
            Self::Lstm => 4,
            Self::Gru => 3,
        }
    }

    /// The registered name.
    fn name(self) -> &'static str {
        match self {
            Self::Lstm => RecurrentLayer::LSTM_NAME,
            Self::Gru => RecurrentLayer::GRU_NAME,
        }
    }
}

/// The config of `LSTM` and `GRU` (PyTorch's names and defaults).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurrentConfig {
    /// Features per input step (required).
    pub input_size: usize,
    /// Features of the hidden state (required).
    pub hidden_size: usize,
    /// Stacked layers. Default 1.
    #[serde(default = "default_num_layers")]
    pub num_layers: usize,
    /// Whether the cells have `bias_ih` and `bias_hh`. Default true.
    #[serde(default = "default_true")]
    pub bias: bool,
    /// Input and output are `[N, T, F]` instead of `[T, N, F]`. Default false.
    #[serde(default)]
    pub batch_first: bool,
    /// Dropout on each layer's output but the last, in training only. Default 0.0.
    #[serde(default)]
    pub dropout: f32,
    /// Whether a second pass runs from the end of the sequence. Default false.
    #[serde(default)]
    pub bidirectional: bool,
}

fn default_num_layers() -> usize {
    1
}

/// Parses and range-checks an `LSTM` or `GRU` config.
pub(super) fn parse_config(mode: RecurrentMode, config: &Config) -> Result<RecurrentConfig> {
    let name = mode.name();
    let parsed: RecurrentConfig = config.parse(name)?;
    ensure(parsed.input_size > 0 && parsed.hidden_size > 0, name, || {
        format!("input_size and hidden_size must be positive, got {} and {}", parsed.input_size, parsed.hidden_size)
    })?;
    ensure(parsed.num_layers > 0, name, || "num_layers must be at least 1".into())?;
    ensure_probability(parsed.dropout, name)?;
    Ok(parsed)
}

/// One direction of one layer: `weight_ih`, `weight_hh` and the optional biases.
#[derive(Debug)]
struct Cell {
    weight_ih: Param,
    weight_hh: Param,
    bias: Option<(Param, Param)>,
    /// `_l{k}` or `_l{k}_reverse`.
    suffix: String,
}

/// An LSTM or a GRU (see the module docs for the equations, shapes and
/// initialisation). One input port; returns the output sequence.
#[derive(Debug)]
pub struct RecurrentLayer {
    mode: RecurrentMode,
    input_size: usize,
    hidden_size: usize,
    batch_first: bool,
    dropout: f32,
    directions: usize,
    /// Per layer, per direction (forward first).
    cells: Vec<Vec<Cell>>,
    training: bool,
    rng: DropoutStream,
}

impl RecurrentLayer {
    /// The registered name of the LSTM.
    pub const LSTM_NAME: &'static str = "core.LSTM";
    /// The registered name of the GRU.
    pub const GRU_NAME: &'static str = "core.GRU";

    /// Builds an `LSTM` from its spec params (see [`RecurrentConfig`]).
    pub fn lstm_from_config(config: &Config) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new(RecurrentMode::Lstm, &parse_config(RecurrentMode::Lstm, config)?)?))
    }

    /// Builds a `GRU` from its spec params (see [`RecurrentConfig`]).
    pub fn gru_from_config(config: &Config) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new(RecurrentMode::Gru, &parse_config(RecurrentMode::Gru, config)?)?))
    }

    /// Builds the layer from a checked config, with PyTorch's initialisation.
    pub fn new(mode: RecurrentMode, c: &RecurrentConfig) -> Result<Self> {
        let directions = if c.bidirectional { 2 } else { 1 };
        let (h, rows) = (c.hidden_size, mode.gates() * c.hidden_size);
        let bound = 1.0 / (h as f32).sqrt();
        let mut cells = Vec::with_capacity(c.num_layers);
        for layer in 0..c.num_layers {
            let in_size = if layer == 0 { c.input_size } else { directions * h };
            let mut per_direction = Vec::with_capacity(directions);
            for direction in 0..directions {
                let weight_ih = Param::new(init::uniform(&[rows, in_size], bound))?;
                let weight_hh = Param::new(init::uniform(&[rows, h], bound))?;
                let bias = if c.bias {
                    Some((Param::new(init::uniform(&[rows], bound))?, Param::new(init::uniform(&[rows], bound))?))
                } else {
                    None
                };
                let suffix = format!("_l{layer}{}", if direction == 1 { "_reverse" } else { "" });
                per_direction.push(Cell { weight_ih, weight_hh, bias, suffix });
            }
            cells.push(per_direction);
        }
        Ok(Self {
            mode,
            input_size: c.input_size,
            hidden_size: h,
            batch_first: c.batch_first,
            dropout: c.dropout,
            directions,
            cells,
            training: true,
            rng: DropoutStream::new(),
        })
    }

    /// Runs one direction of one layer over `x [T, N, in]`, giving `[T, N, H]`:
    /// the input projection of every step in one product, then the fused
    /// time loop ([`Scan`]).
    fn run_cell(&self, cell: &Cell, x: &Tensor, reverse: bool) -> Result<Tensor> {
        let w_ih = cell.weight_ih.value();
        let w_hh = cell.weight_hh.value();
        let biases = cell.bias.as_ref().map(|(b_ih, b_hh)| (b_ih.value(), b_hh.value()));
        match (self.mode, &biases) {
            (RecurrentMode::Lstm, bias) => {
                // The LSTM adds both biases outside the recurrence: fold them into one.
                let bias = bias.as_ref().map(|(b_ih, b_hh)| b_ih.add(b_hh)).transpose()?;
                let projected = x.linear(&w_ih, bias.as_ref())?;
                Scan::new(ScanCell::Lstm, self.hidden_size, reverse).run(&[&projected, &w_hh])
            }
            (RecurrentMode::Gru, Some((b_ih, b_hh))) => {
                let projected = x.linear(&w_ih, Some(b_ih))?;
                Scan::new(ScanCell::Gru, self.hidden_size, reverse).run(&[&projected, &w_hh, b_hh])
            }
            (RecurrentMode::Gru, None) => {
                let projected = x.linear(&w_ih, None)?;
                Scan::new(ScanCell::Gru, self.hidden_size, reverse).run(&[&projected, &w_hh])
            }
        }
    }

    /// The output sequence for `input` (shapes in the module docs).
    pub fn run(&self, input: &Tensor) -> Result<Tensor> {
        let name = self.mode.name();
        let batched = match input.rank() {
            3 => true,
            2 => false,
            _ => return Err(bad_shape(name, "input [T, N, input_size] (or [T, input_size] unbatched)", input.shape())),
        };
        if input.shape()[input.rank() - 1] != self.input_size {
            return Err(bad_shape(name, "input [T, N, input_size] with the configured input_size", input.shape()));
        }
        let mut x = match (batched, self.batch_first) {
            (false, _) => input.unsqueeze(1)?,
            (true, true) => input.transpose(0, 1)?,
            (true, false) => input.clone(),
        };
        let last = self.cells.len() - 1;
        for (layer, cells) in self.cells.iter().enumerate() {
            x = match cells.as_slice() {
                [forward, backward] => {
                    // The two directions are independent: run them side by side (their
                    // per-step products are too small to fill both cores alone). Each
                    // may run on a pool thread, whose own mode is whatever the job it
                    // interrupted set: both take this thread's mode, on or off.
                    let recording = is_grad_enabled();
                    let run = |cell: &Cell, reverse: bool| {
                        let _guard = set_grad_enabled(recording);
                        self.run_cell(cell, &x, reverse)
                    };
                    let (f, b) = rayon::join(|| run(forward, false), || run(backward, true));
                    Tensor::concat(&[&f?, &b?], -1)?
                }
                [forward] => self.run_cell(forward, &x, false)?,
                _ => unreachable!("one cell per direction, one or two directions"),
            };
            if self.training && layer < last {
                x = self.rng.apply(&x, self.dropout)?;
            }
        }
        match (batched, self.batch_first) {
            (false, _) => x.squeeze(1),
            (true, true) => x.transpose(0, 1),
            (true, false) => Ok(x),
        }
    }
}

impl Layer for RecurrentLayer {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        self.run(input)
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        for cell in self.cells.iter().flatten() {
            visit(&join_name(prefix, &format!("weight_ih{}", cell.suffix)), &cell.weight_ih);
            visit(&join_name(prefix, &format!("weight_hh{}", cell.suffix)), &cell.weight_hh);
            if let Some((b_ih, b_hh)) = &cell.bias {
                visit(&join_name(prefix, &format!("bias_ih{}", cell.suffix)), b_ih);
                visit(&join_name(prefix, &format!("bias_hh{}", cell.suffix)), b_hh);
            }
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// `[T, N, input_size]` → `[T, N, D * hidden_size]` (any layout).
    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let name = self.mode.name();
        let input = inputs.first().cloned().unwrap_or_default();
        let fits = matches!(input.len(), 2 | 3) && input.last().is_some_and(|d| d.is_none_or(|d| d == self.input_size));
        if !fits {
            let shape = input.iter().map(|d| d.unwrap_or(0)).collect::<Vec<_>>();
            return Err(Error::BadRank { op: name, expected: "input [T, N, input_size] (0 = unknown)", shape });
        }
        let mut out = input;
        if let Some(last) = out.last_mut() {
            *last = Some(self.directions * self.hidden_size);
        }
        Ok(out)
    }
}

/// The [`StateSize`](arc_core::plugin::StateSize) of an `LSTM` or `GRU`: per layer and
/// direction, the input and hidden weights and their biases.
pub(super) fn state_size(mode: RecurrentMode, config: &Config) -> Result<u64> {
    let c = parse_config(mode, config)?;
    let name = match mode {
        RecurrentMode::Lstm => RecurrentLayer::LSTM_NAME,
        RecurrentMode::Gru => RecurrentLayer::GRU_NAME,
    };
    let (gates, h) = (mode.gates(), c.hidden_size);
    let directions = if c.bidirectional { 2 } else { 1 };
    let mut tally = Tally::new(name);
    for layer in 0..c.num_layers {
        for _ in 0..directions {
            tally = if layer == 0 {
                tally.tensor(&[gates, h, c.input_size])?
            } else {
                tally.tensor(&[gates, h, directions, h])?
            };
            tally = tally.tensor(&[gates, h, h])?.tensor_if(c.bias, &[gates, h])?.tensor_if(c.bias, &[gates, h])?;
        }
    }
    Ok(tally.total())
}

/// `core.LSTM`'s size.
pub(super) fn lstm_state_size(config: &Config) -> Result<u64> {
    state_size(RecurrentMode::Lstm, config)
}

/// `core.GRU`'s size.
pub(super) fn gru_state_size(config: &Config) -> Result<u64> {
    state_size(RecurrentMode::Gru, config)
}
