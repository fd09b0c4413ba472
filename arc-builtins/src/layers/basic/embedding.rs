//! `Embedding`: PyTorch's `torch.nn.Embedding`, with its lookup as a custom op
//! (the backward honours `padding_idx` and `scale_grad_by_freq`).

use std::sync::Arc;

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode};
use arc_core::nn::{Layer, Param, ShapeSpec, init, join_name};
use arc_core::tensor::{CustomOp, DType};
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, data, invalid, param_value, single};

fn default_norm_type() -> f32 {
    2.0
}

/// Params of `core.Embedding` (`torch.nn.Embedding`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Size of the table: indices run over `0..num_embeddings` (required).
    pub num_embeddings: usize,
    /// Size of each embedding vector (required).
    pub embedding_dim: usize,
    /// A row that is initialised to zeros and never receives a gradient
    /// (e.g. for padding tokens); negative counts from the end, as in
    /// PyTorch. Default `null` (none).
    #[serde(default)]
    pub padding_idx: Option<i64>,
    /// When set, each looked-up row whose `norm_type`-norm exceeds it is
    /// rescaled in the weight itself, before the lookup, to norm `max_norm`
    /// (must be > 0). Default `null` (no renormalisation).
    #[serde(default)]
    pub max_norm: Option<f32>,
    /// The `p` of the p-norm for `max_norm` (must be > 0). Default `2.0`.
    #[serde(default = "default_norm_type")]
    pub norm_type: f32,
    /// Divides each row's gradient by how often its index occurs in the
    /// batch. Default `false`.
    #[serde(default)]
    pub scale_grad_by_freq: bool,
    /// Must be `false`: Arc's gradients are dense. Accepted so PyTorch
    /// configs that spell out the default load. Default `false`.
    #[serde(default)]
    pub sparse: bool,
}

impl EmbeddingConfig {
    /// `padding_idx` as a row index (negative values count from the end).
    fn padding_row(&self) -> Option<usize> {
        let n = self.num_embeddings as i64;
        self.padding_idx.map(|p| if p < 0 { p + n } else { p } as usize)
    }
}

impl LayerConfig for EmbeddingConfig {
    const NAME: &'static str = "core.Embedding";

    fn state_size(&self) -> Result<u64> {
        Ok(crate::layers::size::Tally::new(Self::NAME).tensor(&[self.num_embeddings, self.embedding_dim])?.total())
    }

    fn check(&self) -> Result<()> {
        if self.num_embeddings == 0 || self.embedding_dim == 0 {
            return Err(invalid(
                Self::NAME,
                format!(
                    "num_embeddings and embedding_dim must be at least 1, got {} and {}",
                    self.num_embeddings, self.embedding_dim
                ),
            ));
        }
        let n = self.num_embeddings as i64;
        if let Some(p) = self.padding_idx
            && !(-n..n).contains(&p)
        {
            return Err(invalid(Self::NAME, format!("`padding_idx` must be within [-{n}, {n}), got {p}")));
        }
        if let Some(m) = self.max_norm
            && (m <= 0.0 || m.is_nan())
        {
            return Err(invalid(Self::NAME, format!("`max_norm` must be > 0, got {m}")));
        }
        if self.norm_type <= 0.0 || self.norm_type.is_nan() {
            return Err(invalid(Self::NAME, format!("`norm_type` must be > 0, got {}", self.norm_type)));
        }
        if self.sparse {
            return Err(invalid(Self::NAME, "`sparse: true` is not supported: Arc's gradients are dense"));
        }
        Ok(())
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Embedding::new(&self)?))
    }
}

/// A lookup table: `y[..., :] = weight[ids[...], :]`.
///
/// With `max_norm`, every row about to be looked up whose p-norm exceeds
/// `max_norm` is first scaled by `max_norm / (norm + 1e-7)` in the weight
/// itself, as PyTorch's `embedding_renorm_` does (in evaluation mode too);
/// the renormalisation is not differentiated. Arc's parameters are replaced
/// rather than written in place, so a gradient already accumulated on the
/// weight is carried over to the new value. (One case differs from PyTorch:
/// when a second forward renormalises rows before the backward of a first
/// forward through the same layer, the first graph's gradient reaches the
/// replaced value, not the parameter.)
///
/// The gradient reaching row `r` is the sum of the output gradients of the
/// positions that looked it up; none for `padding_idx`; divided by the count
/// of `r` in the batch with `scale_grad_by_freq`.
///
/// # Shapes
/// input: i64 indices of any shape `[*]`; output `[*, embedding_dim]`.
///
/// # Parameters and initialisation (PyTorch's)
/// `weight` `[num_embeddings, embedding_dim]`, `N(0, 1)`, with the
/// `padding_idx` row set to zeros.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let emb = create("Embedding", "{num_embeddings: 10, embedding_dim: 3, padding_idx: 0}")?;
/// let ids = Tensor::from_vec_i64(vec![0, 4, 4, 9], &[2, 2])?;
/// let y = emb.forward_single(&ids)?;
/// assert_eq!(y.shape(), &[2, 2, 3]);
/// assert_eq!(y.to_vec()?[..3], [0.0; 3], "the padding row starts at zero");
/// y.sum_all()?.backward()?;
/// emb.visit_params("", &mut |_, w| {
///     let grad = w.grad().unwrap().to_vec().unwrap();
///     assert_eq!(grad[..3], [0.0; 3], "and gets no gradient");
///     assert_eq!(grad[12..15], [2.0; 3], "row 4 is looked up twice");
/// });
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Embedding {
    num_embeddings: usize,
    embedding_dim: usize,
    padding_row: Option<usize>,
    max_norm: Option<f32>,
    norm_type: f32,
    scale_grad_by_freq: bool,
    weight: Param,
}

impl Embedding {
    /// A table with PyTorch's initial weight.
    pub fn new(config: &EmbeddingConfig) -> Result<Self> {
        let (n, d) = (config.num_embeddings, config.embedding_dim);
        let padding_row = config.padding_row();
        let mut weight = init::normal(&[n, d], 0.0, 1.0);
        if let Some(p) = padding_row {
            let mut data = weight.to_vec()?;
            data[p * d..(p + 1) * d].fill(0.0);
            weight = Tensor::from_vec(data, &[n, d])?;
        }
        Ok(Self {
            num_embeddings: n,
            embedding_dim: d,
            padding_row,
            max_norm: config.max_norm,
            norm_type: config.norm_type,
            scale_grad_by_freq: config.scale_grad_by_freq,
            weight: Param::new(weight)?,
        })
    }

    /// The indices as rows of the table, checked.
    fn rows(&self, input: &Tensor) -> Result<Vec<usize>> {
        if input.dtype() != DType::I64 {
            return Err(Error::DTypeMismatch { op: "embedding", expected: DType::I64, got: input.dtype() });
        }
        let size = self.num_embeddings;
        input
            .to_vec_i64()?
            .into_iter()
            .map(|i| {
                if (0..size as i64).contains(&i) {
                    Ok(i as usize)
                } else {
                    Err(Error::IndexOutOfRange { op: "embedding", index: i, size })
                }
            })
            .collect()
    }

    /// The lookup in tensor ops on the weight's device (what a GPU takes): `index_select`,
    /// whose backward scatters the rows' gradients there. A padding row or frequency scaling
    /// scales each position's gradient (`0` at the padding row, `1 / count(row)`) with
    /// `y = rows.detach() + (rows - rows.detach()) * scale`, whose value is exactly `rows`.
    fn lookup_composed(&self, weight: &Tensor, input: &Tensor, rows: &[usize], out_shape: &[usize]) -> Result<Tensor> {
        let index = input.flatten_all()?.to_device(weight.device())?;
        let looked_up = weight.index_select(0, &index)?;
        if self.padding_row.is_none() && !self.scale_grad_by_freq {
            return looked_up.reshape(out_shape);
        }
        let mut counts = vec![0u32; self.num_embeddings];
        rows.iter().for_each(|&r| counts[r] += 1);
        let scale: Vec<f32> = rows
            .iter()
            .map(|&r| match (Some(r) == self.padding_row, self.scale_grad_by_freq) {
                (true, _) => 0.0,
                (false, true) => 1.0 / counts[r] as f32,
                (false, false) => 1.0,
            })
            .collect();
        let scale = Tensor::from_vec(scale, &[rows.len(), 1])?.to_device(weight.device())?;
        let fixed = looked_up.detach();
        fixed.add(&looked_up.sub(&fixed)?.mul(&scale)?)?.reshape(out_shape)
    }

    /// PyTorch's `embedding_renorm_`: rescales the looked-up rows whose norm
    /// exceeds `max_norm`, replacing the weight when any does.
    fn renorm(&self, rows: &[usize], max_norm: f32) -> Result<()> {
        let d = self.embedding_dim;
        let weight = self.weight.value();
        let data = data(&weight)?;
        // (row, scale) for each distinct looked-up row over the limit.
        let mut seen = vec![false; self.num_embeddings];
        let mut scales = Vec::new();
        for &r in rows {
            if std::mem::replace(&mut seen[r], true) {
                continue;
            }
            let norm = p_norm(&data[r * d..(r + 1) * d], self.norm_type);
            if norm > max_norm {
                scales.push((r, max_norm / (norm + 1e-7)));
            }
        }
        if scales.is_empty() {
            return Ok(());
        }
        let mut data = data.into_owned();
        for (r, scale) in scales {
            data[r * d..(r + 1) * d].iter_mut().for_each(|v| *v *= scale);
        }
        let pending = self.weight.grad();
        self.weight.set(Tensor::from_vec(data, &[self.num_embeddings, d])?.to_device(weight.device())?)?;
        // `set` starts the new value without a gradient; PyTorch renormalises in place and keeps
        // `.grad`. Seeding backward on the new leaf with the old gradient restores it exactly.
        if let Some(grad) = pending {
            self.weight.value().backward_with(&grad)?;
        }
        Ok(())
    }
}

/// `(sum |v|^p)^(1/p)`, with the usual fast paths for p = 1 and 2.
fn p_norm(row: &[f32], p: f32) -> f32 {
    if p == 1.0 {
        row.iter().map(|v| v.abs()).sum()
    } else if p == 2.0 {
        row.iter().map(|v| v * v).sum::<f32>().sqrt()
    } else {
        row.iter().map(|v| v.abs().powf(p)).sum::<f32>().powf(1.0 / p)
    }
}

impl Layer for Embedding {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let rows = self.rows(input)?;
        let shape = [self.num_embeddings, self.embedding_dim];
        param_value(EmbeddingConfig::NAME, &self.weight, &shape)?;
        if let Some(max_norm) = self.max_norm {
            self.renorm(&rows, max_norm)?;
        }
        let out_shape = [input.shape(), &[self.embedding_dim]].concat();
        let weight = self.weight.value();
        if !weight.device().is_cpu() || !input.device().is_cpu() {
            return self.lookup_composed(&weight, input, &rows, &out_shape);
        }
        let op = Arc::new(Lookup {
            rows,
            out_shape,
            padding_row: self.padding_row,
            scale_grad_by_freq: self.scale_grad_by_freq,
        });
        Tensor::apply_custom(op, &[&self.weight.value()])
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        visit(&join_name(prefix, "weight"), &self.weight);
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(EmbeddingOnnx { max_norm: self.max_norm }))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let mut out = single(EmbeddingConfig::NAME, inputs)?.clone();
        out.push(Some(self.embedding_dim));
        Ok(out)
    }
}

/// The lookup `weight[rows]` as a custom op on the weight, the rows checked beforehand.
struct Lookup {
    rows: Vec<usize>,
    out_shape: Vec<usize>,
    padding_row: Option<usize>,
    scale_grad_by_freq: bool,
}

impl CustomOp for Lookup {
    fn name(&self) -> &str {
        "embedding"
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let weight = inputs[0];
        let d = weight.shape()[1];
        let table = data(weight)?;
        let mut out = Vec::with_capacity(self.rows.len() * d);
        for &r in &self.rows {
            out.extend_from_slice(&table[r * d..(r + 1) * d]);
        }
        Tensor::from_vec(out, &self.out_shape)
    }

    /// `dW[r] = sum of g over the positions that looked up r` (scaled by
    /// `1 / count(r)` with `scale_grad_by_freq`), zero for the padding row.
    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (n, d) = (inputs[0].shape()[0], inputs[0].shape()[1]);
        let g = data(grad)?;
        let mut counts = vec![0u32; n];
        if self.scale_grad_by_freq {
            self.rows.iter().for_each(|&r| counts[r] += 1);
        }
        let mut dw = vec![0.0f32; n * d];
        for (pos, &r) in self.rows.iter().enumerate() {
            if Some(r) == self.padding_row {
                continue;
            }
            let scale = if self.scale_grad_by_freq { 1.0 / counts[r] as f32 } else { 1.0 };
            let src = &g[pos * d..(pos + 1) * d];
            dw[r * d..(r + 1) * d].iter_mut().zip(src).for_each(|(acc, v)| *acc += v * scale);
        }
        Ok(vec![Some(Tensor::from_vec(dw, &[n, d])?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor-op lookup (what a GPU takes), run on the CPU, against the host op: values
    /// and the weight's gradient, with a padding row and frequency scaling.
    #[test]
    fn the_composed_lookup_matches_the_host_op() -> Result<()> {
        for (padding_idx, scale_grad_by_freq) in [(None, false), (Some(1), false), (None, true), (Some(2), true)] {
            let config = EmbeddingConfig {
                num_embeddings: 6,
                embedding_dim: 3,
                padding_idx,
                max_norm: None,
                norm_type: 2.0,
                scale_grad_by_freq,
                sparse: false,
            };
            let emb = Embedding::new(&config)?;
            let input = Tensor::from_vec_i64(vec![1, 2, 2, 5, 1, 2, 0, 4], &[2, 4])?;
            let rows = emb.rows(&input)?;
            let out_shape = [2, 4, 3];
            let g = Tensor::randn(&out_shape, &mut arc_core::tensor::Rng::new(7));
            let run = |composed: bool| -> Result<(Vec<f32>, Vec<f32>)> {
                emb.weight.zero_grad();
                let y = if composed {
                    emb.lookup_composed(&emb.weight.value(), &input, &rows, &out_shape)?
                } else {
                    emb.forward_single(&input)?
                };
                y.mul(&g)?.sum_all()?.backward()?;
                Ok((y.to_vec()?, emb.weight.grad().expect("a gradient").to_vec()?))
            };
            let (want, got) = (run(false)?, run(true)?);
            assert_eq!(want.0, got.0, "the values are the rows exactly");
            for (a, b) in want.1.iter().zip(&got.1) {
                assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{padding_idx:?} {scale_grad_by_freq}: {a} vs {b}");
            }
        }
        Ok(())
    }
}

/// ONNX `Gather(weight, indices, axis = 0)`.
#[derive(Debug)]
struct EmbeddingOnnx {
    max_norm: Option<f32>,
}

impl OnnxLowering for EmbeddingOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        if self.max_norm.is_some() {
            return Err(node.unsupported("`max_norm` renormalises the weight at each lookup"));
        }
        let weight = g.weight(&node.weight_name("weight"))?;
        g.node("Gather", node.name, vec![weight, node.input()?], node.output, vec![Attr::int("axis", 0)]);
        Ok(())
    }

    fn takes_indices(&self) -> bool {
        true
    }
}
