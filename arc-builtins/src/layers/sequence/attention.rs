//! `MultiHeadAttention`: PyTorch's `torch.nn.MultiheadAttention`.
//!
//! For queries `Q` (`L` positions), keys `K` and values `V` (`S` positions):
//!
//! ```text
//! q = Q W_q^T + b_q,  k = K W_k^T + b_k,  v = V W_v^T + b_v      (W_q|W_k|W_v = in_proj_weight)
//! head_i = softmax(q_i k_i^T / sqrt(head_dim) + mask) v_i           (i = 1..num_heads, dropout on the softmax)
//! out = concat(head_1..head_h) W_o^T + b_o                          (out_proj)
//! ```
//!
//! # Shapes
//! `query [L, N, E]`, `key [S, N, kdim]`, `value [S, N, vdim]` → `[L, N, E]`
//! (`[N, L, E]`, `[N, S, kdim]`, `[N, S, vdim]` → `[N, L, E]` with
//! `batch_first`; unbatched `[L, E]` → `[L, E]`).
//! `attn_mask`: `[L, S]` or `[N * num_heads, L, S]`; `key_padding_mask`: `[N, S]`.
//! An i64 mask is boolean (non-zero = masked out), an f32 mask is added to
//! the scores, as PyTorch's bool and float masks.
//!
//! # Initialisation (PyTorch's)
//! `in_proj_weight [3E, E]` (or `q_proj_weight [E, E]`, `k_proj_weight
//! [E, kdim]`, `v_proj_weight [E, vdim]` when `kdim`/`vdim` differ from `E`):
//! Xavier uniform; `in_proj_bias [3E]` and `out_proj.bias [E]`: zeros;
//! `out_proj.weight [E, E]`: `U(-1/sqrt(E), 1/sqrt(E))`.
//!
//! # Computation
//! The projections are `linear` ops (one `[.., 3E]` product for
//! self-attention). The attention itself runs as one fused op with its own
//! backward (`fused_attention.rs`: heads read and written in place, parallel
//! over batch and heads), or, when dropout is active or a float mask takes
//! gradients, as composed tensor ops: the same maths either way.

use crate::layers::size::Tally;
use std::sync::Arc;

use arc_core::nn::{Layer, LayerInputs, Param, ShapeSpec, init, join_name};
use arc_core::spec::Config;
use arc_core::{DType, Error, Result, Tensor};
use serde::Deserialize;

use super::fused_attention::{Attention, Geometry};
use super::{DropoutStream, bad_shape, default_true, ensure, ensure_probability};

/// [`MultiHeadAttention`]'s config (PyTorch's parameter names and defaults).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiHeadAttentionConfig {
    /// Model width `E` (required).
    pub embed_dim: usize,
    /// Number of heads; must divide `embed_dim` (required).
    pub num_heads: usize,
    /// Dropout on the attention weights, in training only. Default 0.0.
    #[serde(default)]
    pub dropout: f32,
    /// Whether the input and output projections have biases. Default true.
    #[serde(default = "default_true")]
    pub bias: bool,
    /// Inputs and output are `[N, L, E]` instead of `[L, N, E]`. Default false.
    #[serde(default)]
    pub batch_first: bool,
    /// Width of the keys. Default `embed_dim`.
    #[serde(default)]
    pub kdim: Option<usize>,
    /// Width of the values. Default `embed_dim`.
    #[serde(default)]
    pub vdim: Option<usize>,
}

/// Parses and range-checks a `core.MultiHeadAttention` config.
pub(super) fn parse_config(config: &Config) -> Result<MultiHeadAttentionConfig> {
    let parsed: MultiHeadAttentionConfig = config.parse(MultiHeadAttention::NAME)?;
    check_config(&parsed, MultiHeadAttention::NAME)?;
    Ok(parsed)
}

/// The range checks PyTorch makes, reported for `component`.
pub(super) fn check_config(c: &MultiHeadAttentionConfig, component: &str) -> Result<()> {
    ensure(c.embed_dim > 0 && c.num_heads > 0, component, || {
        format!("embed_dim and num_heads must be positive, got {} and {}", c.embed_dim, c.num_heads)
    })?;
    ensure(c.embed_dim.is_multiple_of(c.num_heads), component, || {
        format!("embed_dim ({}) must be divisible by num_heads ({})", c.embed_dim, c.num_heads)
    })?;
    ensure(c.kdim != Some(0) && c.vdim != Some(0), component, || "kdim and vdim must be positive".into())?;
    ensure_probability(c.dropout, component)
}

/// Multi-head scaled dot-product attention (PyTorch's
/// `torch.nn.MultiheadAttention`; see the module docs for the formula,
/// shapes, masks and initialisation). Ports `query`, `key`, `value` and the
/// optional `attn_mask`, `key_padding_mask`; a single input is
/// self-attention. Returns the attention output only, not the weights.
#[derive(Debug)]
pub struct MultiHeadAttention {
    embed_dim: usize,
    num_heads: usize,
    kdim: usize,
    vdim: usize,
    dropout: f32,
    batch_first: bool,
    training: bool,
    /// `[3E, E]` when `kdim == vdim == E`.
    in_proj_weight: Option<Param>,
    /// `q_proj_weight`, `k_proj_weight`, `v_proj_weight` otherwise.
    separate_proj_weights: Option<[Param; 3]>,
    in_proj_bias: Option<Param>,
    out_proj_weight: Param,
    out_proj_bias: Option<Param>,
    rng: DropoutStream,
}

/// The projected `q, k, v`.
enum Projected {
    /// Self-attention's one `[.., 3E]` product.
    Packed(Tensor),
    /// Three products.
    Separate(Tensor, Tensor, Tensor),
}

impl Projected {
    /// `(q, k, v)`, as views of a packed product.
    fn split(self, e: usize) -> Result<(Tensor, Tensor, Tensor)> {
        match self {
            Projected::Packed(qkv) => Ok((qkv.narrow(-1, 0, e)?, qkv.narrow(-1, e, e)?, qkv.narrow(-1, 2 * e, e)?)),
            Projected::Separate(q, k, v) => Ok((q, k, v)),
        }
    }
}

/// The ports, in order: the first three are the attention's operands.
const PORTS: [&str; 5] = ["query", "key", "value", "attn_mask", "key_padding_mask"];

impl MultiHeadAttention {
    /// The registered name.
    pub const NAME: &'static str = "core.MultiHeadAttention";

    /// Builds the layer from its spec params (see [`MultiHeadAttentionConfig`]).
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Self::new(&parse_config(config)?)?))
    }

    /// Builds the layer from a checked config, with PyTorch's initialisation.
    pub fn new(c: &MultiHeadAttentionConfig) -> Result<Self> {
        let e = c.embed_dim;
        let (kdim, vdim) = (c.kdim.unwrap_or(e), c.vdim.unwrap_or(e));
        let (in_proj_weight, separate_proj_weights) = if kdim == e && vdim == e {
            // xavier_uniform_ on the [3E, E] tensor: fan_in = E, fan_out = 3E.
            (Some(Param::new(init::xavier_uniform(&[3 * e, e], e, 3 * e, 1.0))?), None)
        } else {
            let w = |d: usize| Param::new(init::xavier_uniform(&[e, d], d, e, 1.0));
            (None, Some([w(e)?, w(kdim)?, w(vdim)?]))
        };
        let out_proj_weight = Param::new(init::kaiming_uniform(&[e, e], e))?;
        let zeros = |n: usize| c.bias.then(|| Param::new(Tensor::zeros(&[n]))).transpose();
        Ok(Self {
            embed_dim: e,
            num_heads: c.num_heads,
            kdim,
            vdim,
            dropout: c.dropout,
            batch_first: c.batch_first,
            training: true,
            in_proj_weight,
            separate_proj_weights,
            in_proj_bias: zeros(3 * e)?,
            out_proj_weight,
            out_proj_bias: zeros(e)?,
            rng: DropoutStream::new(),
        })
    }

    /// The attention output for `query`, `key`, `value` and optional masks
    /// (shapes in the module docs). Self-attention (`key` and `value` the
    /// same tensor as `query`) projects all three with one product.
    pub fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        attn_mask: Option<&Tensor>,
        key_padding_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let name = Self::NAME;
        let rank = query.rank();
        if !(rank == 2 || rank == 3) || key.rank() != rank || value.rank() != rank {
            return Err(bad_shape(name, "query, key and value all [L, N, E] (or [L, E] unbatched)", query.shape()));
        }
        let batched = rank == 3;
        // Unbatched inputs run as a batch of one, sequence first.
        let seq_first = !batched || !self.batch_first;
        let lift = |t: &Tensor| if batched { Ok(t.clone()) } else { t.unsqueeze(1) };
        let (q_in, k_in, v_in) = (lift(query)?, lift(key)?, lift(value)?);
        let (seq_dim, batch_dim) = if seq_first { (0, 1) } else { (1, 0) };
        let (l, n, s) = (q_in.shape()[seq_dim], q_in.shape()[batch_dim], k_in.shape()[seq_dim]);
        let widths = [(&q_in, self.embed_dim), (&k_in, self.kdim), (&v_in, self.vdim)];
        for (t, width) in widths {
            if t.shape()[2] != width || t.shape()[batch_dim] != n {
                return Err(Error::ShapeMismatch { op: name, lhs: query.shape().to_vec(), rhs: t.shape().to_vec() });
            }
        }
        if v_in.shape()[seq_dim] != s {
            return Err(Error::ShapeMismatch { op: name, lhs: key.shape().to_vec(), rhs: value.shape().to_vec() });
        }

        let projected = self.project(&q_in, &k_in, &v_in, query.same_tensor(key) && key.same_tensor(value))?;
        let mask = self.additive_mask(attn_mask, key_padding_mask, batched, [n, l, s])?;
        let dropout = self.training && self.dropout > 0.0;
        // The fused op is host code: on a GPU the composed ops run there instead.
        let on_gpu = !q_in.device().is_cpu();
        let merged = if dropout || on_gpu || mask.as_ref().is_some_and(Tensor::requires_grad) {
            self.composed(projected, mask.as_ref(), seq_first, [n, l, s])?
        } else {
            self.fused(projected, mask.as_ref(), seq_first, [n, l, s])?
        };
        let out =
            merged.linear(&self.out_proj_weight.value(), self.out_proj_bias.as_ref().map(Param::value).as_ref())?;
        if batched { Ok(out) } else { out.squeeze(1) }
    }

    /// Attention from composed tensor ops (any mask, dropout on the weights):
    /// heads split and merged through views, `[N, H, L, S]` scores.
    fn composed(
        &self,
        projected: Projected,
        mask: Option<&Tensor>,
        seq_first: bool,
        [n, l, s]: [usize; 3],
    ) -> Result<Tensor> {
        let (q, k, v) = projected.split(self.embed_dim)?;
        let (h, e) = (self.num_heads, self.embed_dim);
        let hd = e / h;
        // [seq, N, E] -> [N, H, seq, hd] (and k -> [N, H, hd, S]) through views.
        let (heads, keys_t) = if seq_first { ([1, 2, 0, 3], [1, 2, 3, 0]) } else { ([0, 2, 1, 3], [0, 2, 3, 1]) };
        let split = |t: &Tensor, len: usize| {
            let shape = if seq_first { [len, n, h, hd] } else { [n, len, h, hd] };
            t.reshape(&shape)
        };
        let q = split(&q, l)?.permute(&heads)?.mul_scalar(1.0 / (hd as f32).sqrt())?;
        let k_t = split(&k, s)?.permute(&keys_t)?;
        let v = split(&v, s)?.permute(&heads)?;

        let mut scores = q.matmul(&k_t)?; // [N, H, L, S]
        if let Some(mask) = mask {
            scores = scores.add(mask)?;
        }
        let mut weights = scores.softmax(-1)?;
        if self.training {
            weights = self.rng.apply(&weights, self.dropout)?;
        }
        let heads_out = weights.matmul(&v)?; // [N, H, L, hd]
        if seq_first {
            heads_out.permute(&[2, 0, 1, 3])?.reshape(&[l, n, e])
        } else {
            heads_out.permute(&[0, 2, 1, 3])?.reshape(&[n, l, e])
        }
    }

    /// Attention as one fused op (`fused_attention.rs`): no dropout, a mask
    /// without gradient.
    fn fused(
        &self,
        projected: Projected,
        mask: Option<&Tensor>,
        seq_first: bool,
        [n, l, s]: [usize; 3],
    ) -> Result<Tensor> {
        let geometry = Geometry {
            batch: n,
            queries: l,
            keys: s,
            heads: self.num_heads,
            head_dim: self.embed_dim / self.num_heads,
            seq_first,
            packed: matches!(projected, Projected::Packed(_)),
        };
        let mask = match mask {
            None => None,
            Some(m) => {
                let m = if m.rank() == 2 { m.reshape(&[1, 1, l, s])? } else { m.clone() };
                let (d0, d1) = (m.shape()[0], m.shape()[1]);
                Some(m.broadcast_as(&[d0, d1, l, s])?.contiguous()?)
            }
        };
        let op = Arc::new(Attention::new(geometry, mask.is_some()));
        let mut inputs: Vec<&Tensor> = match &projected {
            Projected::Packed(qkv) => vec![qkv],
            Projected::Separate(q, k, v) => vec![q, k, v],
        };
        inputs.extend(mask.as_ref());
        Tensor::apply_custom(op, &inputs)
    }

    /// The input projections, each in its input's layout: one packed
    /// `[.., 3E]` product for self-attention, else three.
    fn project(&self, q_in: &Tensor, k_in: &Tensor, v_in: &Tensor, is_self: bool) -> Result<Projected> {
        let e = self.embed_dim;
        let bias = self.in_proj_bias.as_ref().map(Param::value);
        let biases = bias.as_ref().map(|b| b.split(e, 0)).transpose()?;
        let b = |i: usize| biases.as_ref().map(|b| &b[i]);
        if let Some(w) = &self.in_proj_weight {
            let w = w.value();
            if is_self {
                return Ok(Projected::Packed(q_in.linear(&w, bias.as_ref())?));
            }
            let ws = w.split(e, 0)?;
            return Ok(Projected::Separate(
                q_in.linear(&ws[0], b(0))?,
                k_in.linear(&ws[1], b(1))?,
                v_in.linear(&ws[2], b(2))?,
            ));
        }
        let [wq, wk, wv] =
            self.separate_proj_weights.as_ref().expect("in_proj_weight or the three separate weights exist");
        Ok(Projected::Separate(
            q_in.linear(&wq.value(), b(0))?,
            k_in.linear(&wk.value(), b(1))?,
            v_in.linear(&wv.value(), b(2))?,
        ))
    }

    /// The masks as one f32 tensor broadcasting to the scores `[N, H, L, S]`:
    /// boolean (i64) masks become `-inf` where set, float masks are taken as
    /// they are, and the two kinds add up (as PyTorch merges them).
    fn additive_mask(
        &self,
        attn_mask: Option<&Tensor>,
        key_padding_mask: Option<&Tensor>,
        batched: bool,
        [n, l, s]: [usize; 3],
    ) -> Result<Option<Tensor>> {
        let name = Self::NAME;
        let h = self.num_heads;
        let additive = |m: &Tensor| -> Result<Tensor> {
            match m.dtype() {
                DType::F32 => Ok(m.clone()),
                DType::I64 => {
                    let (neg_inf, zero) = (Tensor::scalar(f32::NEG_INFINITY), Tensor::scalar(0.0));
                    Tensor::where_cond(m, &neg_inf.to_device(m.device())?, &zero.to_device(m.device())?)
                }
            }
        };
        let attn = match attn_mask {
            None => None,
            Some(m) if m.shape() == [l, s] => Some(additive(m)?),
            Some(m) if m.shape() == [n * h, l, s] => Some(additive(m)?.reshape(&[n, h, l, s])?),
            Some(m) => return Err(bad_shape(name, "attn_mask [L, S] or [N * num_heads, L, S]", m.shape())),
        };
        let padding = match key_padding_mask {
            None => None,
            Some(m) if (batched && m.shape() == [n, s]) || (!batched && m.shape() == [s]) => {
                Some(additive(m)?.reshape(&[n, 1, 1, s])?)
            }
            Some(m) => return Err(bad_shape(name, "key_padding_mask [N, S] (or [S] unbatched)", m.shape())),
        };
        Ok(match (attn, padding) {
            (Some(a), Some(p)) => Some(a.add(&p)?),
            (a, p) => a.or(p),
        })
    }
}

impl Layer for MultiHeadAttention {
    fn input_names(&self) -> &[&str] {
        &PORTS
    }

    /// Self-attention: `query = key = value = input`.
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        self.attend(input, input, input, None, None)
    }

    /// Takes the inputs by port name, so the masks may be left out; a
    /// missing `key` or `value` defaults to `query` (or `key`).
    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        let find = |port: &str| inputs.iter().find(|(n, _)| *n == port).map(|(_, t)| *t);
        let unknown = inputs.iter().any(|(n, _)| !PORTS.contains(n));
        let Some(query) = find("query").filter(|_| !unknown) else {
            return Err(Error::LayerInputs {
                layer: Self::NAME.into(),
                expected: format!("ports {PORTS:?} (query required)"),
                got: format!("{:?}", inputs.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            });
        };
        let key = find("key").unwrap_or(query);
        let value = find("value").unwrap_or(key);
        self.attend(query, key, value, find("attn_mask"), find("key_padding_mask"))
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        if let Some(w) = &self.in_proj_weight {
            visit(&join_name(prefix, "in_proj_weight"), w);
        }
        if let Some(ws) = &self.separate_proj_weights {
            for (w, name) in ws.iter().zip(["q_proj_weight", "k_proj_weight", "v_proj_weight"]) {
                visit(&join_name(prefix, name), w);
            }
        }
        if let Some(b) = &self.in_proj_bias {
            visit(&join_name(prefix, "in_proj_bias"), b);
        }
        visit(&join_name(prefix, "out_proj.weight"), &self.out_proj_weight);
        if let Some(b) = &self.out_proj_bias {
            visit(&join_name(prefix, "out_proj.bias"), b);
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// The query's shape; a known last dim must be `embed_dim`.
    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let Some(query) = inputs.first() else {
            return Err(Error::LayerInputs {
                layer: Self::NAME.into(),
                expected: "a query shape".into(),
                got: "none".into(),
            });
        };
        let fits = matches!(query.len(), 2 | 3) && query.last().is_some_and(|d| d.is_none_or(|d| d == self.embed_dim));
        if !fits {
            let shape = query.iter().map(|d| d.unwrap_or(0)).collect::<Vec<_>>();
            return Err(bad_shape(Self::NAME, "query [L, N, embed_dim] (0 = unknown)", &shape));
        }
        Ok(query.clone())
    }
}

/// Adds the parameters of an attention layer of config `c` to `tally`: the packed or
/// separate input projections, the output projection and their biases.
pub(super) fn tally(c: &MultiHeadAttentionConfig, tally: Tally) -> Result<Tally> {
    let e = c.embed_dim;
    let (kdim, vdim) = (c.kdim.unwrap_or(e), c.vdim.unwrap_or(e));
    let tally = if kdim == e && vdim == e {
        tally.tensor(&[3, e, e])?
    } else {
        tally.tensor(&[e, e])?.tensor(&[e, kdim])?.tensor(&[e, vdim])?
    };
    tally.tensor(&[e, e])?.tensor_if(c.bias, &[3, e])?.tensor_if(c.bias, &[e])
}

/// `core.MultiHeadAttention`'s [`StateSize`](arc_core::plugin::StateSize).
pub(super) fn state_size(config: &Config) -> Result<u64> {
    Ok(tally(&parse_config(config)?, Tally::new(MultiHeadAttention::NAME))?.total())
}
