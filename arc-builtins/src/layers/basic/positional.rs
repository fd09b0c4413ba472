//! `PositionalEncoding`: the fixed sinusoidal table of Vaswani et al. (2017),
//! "Attention Is All You Need", §3.5, added to the input, then dropout (the
//! layer of PyTorch's transformer tutorial, batch-first by default).

use std::sync::Mutex;

use arc_core::nn::{Layer, ShapeSpec};
use arc_core::tensor::Rng;
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::dropout::{apply_dropout, check_probability, seeded_rng};
use super::{LayerConfig, bad_input, invalid, show, single, yes};

fn default_max_len() -> usize {
    5000
}

fn default_dropout() -> f32 {
    0.1
}

/// Params of `core.PositionalEncoding`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionalEncodingConfig {
    /// The embedding size, the input's last dim (required, at least 1).
    pub d_model: usize,
    /// The longest sequence the table covers (at least 1). Default `5000`.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Dropout probability applied after the addition in training mode.
    /// Default `0.1`.
    #[serde(default = "default_dropout")]
    pub dropout: f32,
    /// `true`: input `[N, L, d_model]`; `false`: `[L, N, d_model]`. Default `true`.
    #[serde(default = "yes")]
    pub batch_first: bool,
}

impl LayerConfig for PositionalEncodingConfig {
    const NAME: &'static str = "core.PositionalEncoding";

    /// The sinusoid table it keeps (not a buffer, but memory all the same).
    fn state_size(&self) -> Result<u64> {
        Ok(crate::layers::size::Tally::new(Self::NAME).tensor(&[self.max_len, self.d_model])?.total())
    }

    fn check(&self) -> Result<()> {
        if self.d_model == 0 || self.max_len == 0 {
            return Err(invalid(
                Self::NAME,
                format!("`d_model` and `max_len` must be at least 1, got {} and {}", self.d_model, self.max_len),
            ));
        }
        check_probability(Self::NAME, "dropout", self.dropout)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(PositionalEncoding::new(&self)?))
    }
}

/// Adds the sinusoidal position table to a sequence:
/// `y = dropout(x + pe[:L])`, with, for position `pos` and `0 <= 2i < d_model`,
///
/// ```text
/// pe[pos, 2i]     = sin(pos / 10000^(2i / d_model))
/// pe[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))    (when 2i + 1 < d_model)
/// ```
///
/// The table is computed in f64 and rounded once to f32, so it stays exact
/// to f32 precision out to `max_len` (an f32 `pos * freq` product is off by
/// ~3e-4 near position 5000). Dropout acts in training mode only, with the
/// layer's own stream seeded from `nn::init` (see `Dropout`).
///
/// # Shapes
/// input `[N, L, d_model]` (`batch_first`), `[L, N, d_model]` (otherwise) or
/// unbatched `[L, d_model]`, with `L <= max_len`; the output has its shape.
///
/// # Parameters
/// None. The table is not a buffer: like PyTorch's non-persistent buffers it
/// is rebuilt from `d_model` and `max_len`, not saved with the weights.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let mut pe = create("PositionalEncoding", "d_model: 4")?;
/// pe.set_training(false);
/// let y = pe.forward_single(&Tensor::zeros(&[1, 2, 4]))?.to_vec()?;
/// // Position 0: sin 0, cos 0, ...; position 1: sin 1, cos 1, sin 0.01, cos 0.01.
/// let want = [0.0, 1.0, 0.0, 1.0, 1f32.sin(), 1f32.cos(), 0.01f32.sin(), 0.01f32.cos()];
/// assert!(y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct PositionalEncoding {
    d_model: usize,
    max_len: usize,
    batch_first: bool,
    dropout: f32,
    table: Tensor,
    /// The table's copy on the device of the last GPU input.
    device_table: Mutex<Option<Tensor>>,
    training: bool,
    rng: Mutex<Rng>,
}

/// The `[max_len, d_model]` sinusoid table (see [`PositionalEncoding`]).
pub fn sinusoid_table(max_len: usize, d_model: usize) -> Result<Tensor> {
    let mut data = vec![0.0f32; max_len * d_model];
    for (pos, row) in data.chunks_exact_mut(d_model).enumerate() {
        for two_i in (0..d_model).step_by(2) {
            let angle = pos as f64 / 10000f64.powf(two_i as f64 / d_model as f64);
            row[two_i] = angle.sin() as f32;
            if two_i + 1 < d_model {
                row[two_i + 1] = angle.cos() as f32;
            }
        }
    }
    Tensor::from_vec(data, &[max_len, d_model])
}

impl PositionalEncoding {
    /// A layer in training mode.
    pub fn new(config: &PositionalEncodingConfig) -> Result<Self> {
        Ok(Self {
            d_model: config.d_model,
            max_len: config.max_len,
            batch_first: config.batch_first,
            dropout: config.dropout,
            table: sinusoid_table(config.max_len, config.d_model)?,
            device_table: Mutex::new(None),
            training: true,
            rng: Mutex::new(seeded_rng()),
        })
    }

    /// The table on `device`, copied there on first use.
    fn table_on(&self, device: arc_core::Device) -> Result<Tensor> {
        let mut cached = self.device_table.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some(t) if t.device() == device => Ok(t.clone()),
            _ => {
                let t = self.table.to_device(device)?;
                *cached = Some(t.clone());
                Ok(t)
            }
        }
    }

    /// The index of the sequence dim in an input of this rank, checking the shape.
    fn seq_dim(&self, shape: &[Option<usize>]) -> Result<usize> {
        let seq = match shape.len() {
            2 => Some(0),
            3 => Some(if self.batch_first { 1 } else { 0 }),
            _ => None,
        };
        let fits = seq.filter(|&s| {
            shape[s].is_none_or(|l| l <= self.max_len) && shape[shape.len() - 1].is_none_or(|d| d == self.d_model)
        });
        fits.ok_or_else(|| {
            let (d, max) = (self.d_model, self.max_len);
            let layout = if self.batch_first { "[N, L, d]" } else { "[L, N, d]" };
            bad_input(
                PositionalEncodingConfig::NAME,
                format!("an input {layout} or [L, d] with d = {d} and L <= {max}"),
                show(shape),
            )
        })
    }
}

impl Layer for PositionalEncoding {
    fn forward_single(&self, x: &Tensor) -> Result<Tensor> {
        let shape: ShapeSpec = x.shape().iter().map(|&d| Some(d)).collect();
        let seq = self.seq_dim(&shape)?;
        // The table lives on the host; on a GPU a copy is made once and kept.
        let table = if x.device().is_cpu() { self.table.clone() } else { self.table_on(x.device())? };
        let pe = table.narrow(0, 0, x.shape()[seq])?;
        let pe = match (x.rank(), seq) {
            (2, _) => pe,
            (_, 0) => pe.unsqueeze(1)?,
            _ => pe.unsqueeze(0)?,
        };
        let y = x.add(&pe)?;
        if self.training { apply_dropout(&y, self.dropout, &self.rng) } else { Ok(y) }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let input = single(PositionalEncodingConfig::NAME, inputs)?;
        self.seq_dim(input)?;
        Ok(input.clone())
    }
}
