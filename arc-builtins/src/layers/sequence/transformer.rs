//! `TransformerEncoderLayer`: PyTorch's `torch.nn.TransformerEncoderLayer`.
//!
//! ```text
//! sa(x) = dropout1(self_attn(x, x, x, src_mask, src_key_padding_mask))
//! ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))
//! norm_first = false (post-norm, the default): x = norm1(x + sa(x)); y = norm2(x + ff(x))
//! norm_first = true  (pre-norm):               x = x + sa(norm1(x)); y = x + ff(norm2(x))
//! ```
//!
//! # Shapes
//! `src [S, N, d_model]` → the same (`[N, S, d_model]` with `batch_first`;
//! unbatched `[S, d_model]`). Optional `src_mask [S, S]` or
//! `[N * nhead, S, S]` and `src_key_padding_mask [N, S]`; i64 masks are
//! boolean (non-zero = masked out), f32 masks are added to the scores.
//!
//! `is_causal: true` (Arc's param; PyTorch passes `is_causal` with the
//! mask at call time, and `scaled_dot_product_attention` takes it alone)
//! masks every position's view of the positions after it, as
//! `nn.Transformer.generate_square_subsequent_mask(S)` given as `src_mask`
//! does: what a next-item model needs, since a spec cannot compute a mask.
//! A `src_mask` given on the port takes its place.
//!
//! # Parameters and initialisation (PyTorch's names and defaults)
//! `self_attn.*` as [`MultiHeadAttention`]; `linear1.weight
//! [dim_feedforward, d_model]`, `linear2.weight [d_model, dim_feedforward]`:
//! `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, their biases likewise;
//! `norm1.weight`, `norm2.weight`: ones, `norm1.bias`, `norm2.bias`: zeros.
//! `bias: false` drops every bias, the norms' included.

use crate::layers::size::Tally;
use arc_core::nn::{Layer, LayerInputs, Param, ShapeSpec, init, join_name};
use arc_core::spec::Config;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::attention::{MultiHeadAttention, MultiHeadAttentionConfig, check_config};
use super::{DropoutStream, default_true, ensure};

/// The feed-forward activation.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(x, 0)` (PyTorch's default).
    #[default]
    Relu,
    /// Exact (erf) GELU.
    Gelu,
}

/// [`TransformerEncoderLayer`]'s config (PyTorch's names and defaults).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformerEncoderLayerConfig {
    /// Model width (required).
    pub d_model: usize,
    /// Number of attention heads; must divide `d_model` (required).
    pub nhead: usize,
    /// Width of the feed-forward block. Default 2048.
    #[serde(default = "default_dim_feedforward")]
    pub dim_feedforward: usize,
    /// Dropout probability (attention weights, residual branches, feed-forward), training only. Default 0.1.
    #[serde(default = "default_dropout")]
    pub dropout: f32,
    /// `relu` or `gelu`. Default `relu`.
    #[serde(default)]
    pub activation: Activation,
    /// The layer norms' eps. Default 1e-5.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    /// Inputs and output are `[N, S, E]` instead of `[S, N, E]`. Default false.
    #[serde(default)]
    pub batch_first: bool,
    /// Pre-norm (norm before attention and feed-forward) instead of post-norm. Default false.
    #[serde(default)]
    pub norm_first: bool,
    /// Whether the linear layers and the norms have biases. Default true.
    #[serde(default = "default_true")]
    pub bias: bool,
    /// Each position attends only to itself and the positions before it
    /// (Arc's; see the module docs). Default false.
    #[serde(default)]
    pub is_causal: bool,
}

fn default_dim_feedforward() -> usize {
    2048
}

fn default_dropout() -> f32 {
    0.1
}

fn default_eps() -> f32 {
    1e-5
}

impl TransformerEncoderLayerConfig {
    /// The config of the `self_attn` block.
    fn attention(&self) -> MultiHeadAttentionConfig {
        MultiHeadAttentionConfig {
            embed_dim: self.d_model,
            num_heads: self.nhead,
            dropout: self.dropout,
            bias: self.bias,
            batch_first: self.batch_first,
            kdim: None,
            vdim: None,
        }
    }
}

/// Parses and range-checks a `core.TransformerEncoderLayer` config.
pub(super) fn parse_config(config: &Config) -> Result<TransformerEncoderLayerConfig> {
    let name = TransformerEncoderLayer::NAME;
    let parsed: TransformerEncoderLayerConfig = config.parse(name)?;
    ensure(parsed.d_model > 0 && parsed.nhead > 0, name, || {
        format!("d_model and nhead must be positive, got {} and {}", parsed.d_model, parsed.nhead)
    })?;
    ensure(parsed.d_model.is_multiple_of(parsed.nhead), name, || {
        format!("d_model ({}) must be divisible by nhead ({})", parsed.d_model, parsed.nhead)
    })?;
    ensure(parsed.dim_feedforward > 0, name, || "dim_feedforward must be positive".into())?;
    ensure(parsed.layer_norm_eps >= 0.0, name, || {
        format!("layer_norm_eps must be >= 0, got {}", parsed.layer_norm_eps)
    })?;
    check_config(&parsed.attention(), name)?;
    Ok(parsed)
}

/// A linear block's parameters: `weight [out, in]` and an optional `bias [out]`.
#[derive(Debug)]
struct LinearParams {
    weight: Param,
    bias: Option<Param>,
}

impl LinearParams {
    /// PyTorch's `Linear` initialisation: `U(-1/sqrt(in), 1/sqrt(in))` for both.
    fn new(in_features: usize, out_features: usize, bias: bool) -> Result<Self> {
        let weight = Param::new(init::kaiming_uniform(&[out_features, in_features], in_features))?;
        let bias = bias.then(|| Param::new(init::kaiming_uniform(&[out_features], in_features))).transpose()?;
        Ok(Self { weight, bias })
    }

    /// `x W^T + b`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight.value(), self.bias.as_ref().map(Param::value).as_ref())
    }

    fn visit<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        visit(&join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            visit(&join_name(prefix, "bias"), b);
        }
    }
}

/// A layer norm's parameters: `weight [d]` (ones) and an optional `bias [d]` (zeros).
#[derive(Debug)]
struct NormParams {
    weight: Param,
    bias: Option<Param>,
}

impl NormParams {
    fn new(d: usize, bias: bool) -> Result<Self> {
        Ok(Self {
            weight: Param::new(Tensor::ones(&[d]))?,
            bias: bias.then(|| Param::new(Tensor::zeros(&[d]))).transpose()?,
        })
    }

    fn forward(&self, x: &Tensor, eps: f32) -> Result<Tensor> {
        x.layer_norm(Some(&self.weight.value()), self.bias.as_ref().map(Param::value).as_ref(), eps)
    }

    fn visit<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        visit(&join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            visit(&join_name(prefix, "bias"), b);
        }
    }
}

/// One transformer encoder block: self-attention and a feed-forward
/// network, each with a residual connection and a layer norm (see the
/// module docs for the formula, shapes and initialisation). Ports `src` and
/// the optional `src_mask`, `src_key_padding_mask`.
#[derive(Debug)]
pub struct TransformerEncoderLayer {
    self_attn: MultiHeadAttention,
    linear1: LinearParams,
    linear2: LinearParams,
    norm1: NormParams,
    norm2: NormParams,
    d_model: usize,
    dropout: f32,
    activation: Activation,
    layer_norm_eps: f32,
    norm_first: bool,
    is_causal: bool,
    batch_first: bool,
    training: bool,
    rng: DropoutStream,
}

/// The ports, `src` first.
const PORTS: [&str; 3] = ["src", "src_mask", "src_key_padding_mask"];

impl TransformerEncoderLayer {
    /// The registered name.
    pub const NAME: &'static str = "core.TransformerEncoderLayer";

    /// Builds the layer from its spec params (see [`TransformerEncoderLayerConfig`]).
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new(&parse_config(config)?)?))
    }

    /// Builds the layer from a checked config, with PyTorch's initialisation.
    pub fn new(c: &TransformerEncoderLayerConfig) -> Result<Self> {
        Ok(Self {
            self_attn: MultiHeadAttention::new(&c.attention())?,
            linear1: LinearParams::new(c.d_model, c.dim_feedforward, c.bias)?,
            linear2: LinearParams::new(c.dim_feedforward, c.d_model, c.bias)?,
            norm1: NormParams::new(c.d_model, c.bias)?,
            norm2: NormParams::new(c.d_model, c.bias)?,
            d_model: c.d_model,
            dropout: c.dropout,
            activation: c.activation,
            layer_norm_eps: c.layer_norm_eps,
            norm_first: c.norm_first,
            is_causal: c.is_causal,
            batch_first: c.batch_first,
            training: true,
            rng: DropoutStream::new(),
        })
    }

    /// Dropout in training, identity in evaluation.
    fn drop(&self, x: &Tensor) -> Result<Tensor> {
        if self.training { self.rng.apply(x, self.dropout) } else { Ok(x.clone()) }
    }

    /// `dropout1(self_attn(x, x, x))`.
    fn self_attention_block(&self, x: &Tensor, mask: Option<&Tensor>, padding: Option<&Tensor>) -> Result<Tensor> {
        self.drop(&self.self_attn.attend(x, x, x, mask, padding)?)
    }

    /// `dropout2(linear2(dropout(activation(linear1(x)))))`.
    fn feed_forward_block(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = self.linear1.forward(x)?;
        let hidden = match self.activation {
            Activation::Relu => hidden.relu()?,
            Activation::Gelu => hidden.gelu()?,
        };
        self.drop(&self.linear2.forward(&self.drop(&hidden)?)?)
    }

    /// The causal mask `[S, S]` of `src`: `-inf` above the diagonal, 0 elsewhere.
    fn causal_mask(&self, src: &Tensor) -> Result<Tensor> {
        let seq_dim = usize::from(self.batch_first && src.rank() == 3);
        let s = src.shape().get(seq_dim).copied().unwrap_or(0);
        let data = (0..s * s).map(|k| if k % s > k / s { f32::NEG_INFINITY } else { 0.0 }).collect();
        Tensor::from_vec(data, &[s, s])?.to_device(src.device())
    }

    /// The block's output for `src` and optional masks.
    pub fn encode(&self, src: &Tensor, src_mask: Option<&Tensor>, padding: Option<&Tensor>) -> Result<Tensor> {
        let causal = match (src_mask, self.is_causal) {
            (None, true) => Some(self.causal_mask(src)?),
            _ => None,
        };
        let src_mask = src_mask.or(causal.as_ref());
        let eps = self.layer_norm_eps;
        if self.norm_first {
            let x = src.add(&self.self_attention_block(&self.norm1.forward(src, eps)?, src_mask, padding)?)?;
            x.add(&self.feed_forward_block(&self.norm2.forward(&x, eps)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&self.self_attention_block(src, src_mask, padding)?)?, eps)?;
            self.norm2.forward(&x.add(&self.feed_forward_block(&x)?)?, eps)
        }
    }
}

impl Layer for TransformerEncoderLayer {
    fn input_names(&self) -> &[&str] {
        &PORTS
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        self.encode(input, None, None)
    }

    /// Takes the inputs by port name, so the masks may be left out.
    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        let find = |port: &str| inputs.iter().find(|(n, _)| *n == port).map(|(_, t)| *t);
        let unknown = inputs.iter().any(|(n, _)| !PORTS.contains(n));
        match find("src") {
            Some(src) if !unknown => self.encode(src, find("src_mask"), find("src_key_padding_mask")),
            _ => Err(Error::LayerInputs {
                layer: Self::NAME.into(),
                expected: format!("ports {PORTS:?} (src required)"),
                got: format!("{:?}", inputs.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            }),
        }
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        self.self_attn.visit_params(&join_name(prefix, "self_attn"), visit);
        self.linear1.visit(&join_name(prefix, "linear1"), visit);
        self.linear2.visit(&join_name(prefix, "linear2"), visit);
        self.norm1.visit(&join_name(prefix, "norm1"), visit);
        self.norm2.visit(&join_name(prefix, "norm2"), visit);
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.self_attn.set_training(training);
    }

    /// `src`'s shape; a known last dim must be `d_model`.
    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let src = inputs.first().cloned().unwrap_or_default();
        let fits = matches!(src.len(), 2 | 3) && src.last().is_some_and(|d| d.is_none_or(|d| d == self.d_model));
        if !fits {
            let shape = src.iter().map(|d| d.unwrap_or(0)).collect::<Vec<_>>();
            return Err(Error::BadRank { op: Self::NAME, expected: "src [S, N, d_model] (0 = unknown)", shape });
        }
        Ok(src)
    }
}

/// `core.TransformerEncoderLayer`'s [`StateSize`](arc_core::plugin::StateSize): the
/// attention, the two feed-forward projections and the two norms.
pub(super) fn state_size(config: &Config) -> Result<u64> {
    let c = parse_config(config)?;
    let (d, ff) = (c.d_model, c.dim_feedforward);
    let tally = super::attention::tally(&c.attention(), Tally::new(TransformerEncoderLayer::NAME))?;
    let tally = tally.tensor(&[ff, d])?.tensor_if(c.bias, &[ff])?.tensor(&[d, ff])?.tensor_if(c.bias, &[d])?;
    Ok(tally.tensor(&[d])?.tensor_if(c.bias, &[d])?.tensor(&[d])?.tensor_if(c.bias, &[d])?.total())
}
