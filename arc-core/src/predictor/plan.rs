//! The compiled model plan: the graph's layers as plain-f32 kernels over one
//! row, each reading and writing fixed slots of a scratch arena sized at
//! load. Only the common layers compile (see [`compile`]); anything else
//! makes [`compile`] answer `None` and the predictor runs the generic
//! Tensor path.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::graph::{ModelSpec, NodeInputs, OutputsSpec};
use crate::plugin::PluginManager;
use crate::spec::Config;
use crate::{Result, Tensor};

/// A place in the scratch arena: `len` values from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub offset: usize,
    pub len: usize,
}

/// An elementwise activation.
#[derive(Clone, Copy, Debug)]
enum Act {
    Relu,
    Sigmoid,
    Tanh,
    GeluExact,
    GeluTanh,
}

/// One kernel of the plan.
#[derive(Debug)]
enum Kernel {
    /// `out = W x + b`, with `W^T` row-major `[in, out]`.
    Linear {
        weight_t: Vec<f32>,
        bias: Option<Vec<f32>>,
        input: Slot,
        output: Slot,
    },
    Map {
        act: Act,
        input: Slot,
        output: Slot,
    },
    Softmax {
        input: Slot,
        output: Slot,
    },
    LayerNorm {
        weight: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
        eps: f32,
        input: Slot,
        output: Slot,
    },
    Add {
        inputs: Vec<Slot>,
        output: Slot,
    },
    Concat {
        inputs: Vec<Slot>,
        output: Slot,
    },
}

/// The model as kernels: inputs (model input name, pipeline tensor, slot),
/// kernels in execution order, outputs (name, slot) sorted by name.
#[derive(Debug)]
pub(crate) struct ModelPlan {
    pub inputs: Vec<(String, String, Slot)>,
    kernels: Vec<Kernel>,
    pub outputs: Vec<(String, Slot)>,
    /// The arena size this plan needs from `arena_start`.
    pub arena_end: usize,
}

/// Params the kernels understand, per layer (PyTorch's names; an unknown
/// param makes the layer fall back to the generic path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinearParams {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {
    #[serde(default)]
    #[allow(dead_code, reason = "accepted, no effect at inference")]
    inplace: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeluParams {
    #[serde(default)]
    approximate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DimParams {
    #[serde(default = "last")]
    dim: isize,
    #[serde(default)]
    num_inputs: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropoutParams {
    #[serde(default)]
    #[allow(dead_code, reason = "dropout is the identity at inference")]
    p: Option<f32>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted, no effect at inference")]
    inplace: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlattenParams {
    #[serde(default = "one")]
    start_dim: isize,
    #[serde(default = "last")]
    end_dim: isize,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Sizes {
    One(usize),
    Many(Vec<usize>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerNormParams {
    normalized_shape: Sizes,
    #[serde(default = "default_eps")]
    eps: f32,
    #[serde(default = "yes")]
    elementwise_affine: bool,
    #[serde(default = "yes")]
    bias: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    #[serde(default)]
    #[allow(dead_code, reason = "the wiring gives the inputs")]
    num_inputs: Option<usize>,
}

fn yes() -> bool {
    true
}
fn last() -> isize {
    -1
}
fn one() -> isize {
    1
}
fn default_eps() -> f32 {
    1e-5
}

/// Compiles the model of `spec` (its nodes in `order`, the execution order
/// of the built model) for rows, its arena starting at `arena_start`.
/// `input_widths` gives each pipeline tensor's width. `None` when some
/// layer, shape or wiring has no kernel here.
pub(crate) fn compile(
    spec: &ModelSpec,
    order: &[&str],
    vars: &BTreeMap<String, f64>,
    weights: &BTreeMap<&str, &Tensor>,
    input_widths: &dyn Fn(&str) -> Option<usize>,
    manager: &PluginManager,
    arena_start: usize,
) -> Result<Option<ModelPlan>> {
    let mut end = arena_start;
    let mut alloc = |len: usize| {
        let slot = Slot { offset: end, len };
        end += len;
        slot
    };
    let mut values: BTreeMap<String, Slot> = BTreeMap::new();
    let mut inputs = Vec::new();
    for (name, input) in &spec.inputs {
        let (shape, source) = match input {
            crate::graph::InputSpec::Shape(s) => (Some(s), name.clone()),
            crate::graph::InputSpec::Full { shape, source } => (
                shape.as_ref(),
                source.as_deref().map(|s| s.strip_prefix("tensors.").unwrap_or(s).to_owned()).unwrap_or(name.clone()),
            ),
        };
        let Some(width) = input_widths(&source) else { return Ok(None) };
        // Rows only: a declared shape must be [batch, width].
        if let Some(shape) = shape {
            let declared = match shape.as_slice() {
                [_, w] => match w {
                    serde_yaml::Value::Number(n) => n.as_u64().map(|n| n as usize),
                    serde_yaml::Value::String(s) => {
                        s.strip_prefix("vars.").and_then(|k| vars.get(k)).map(|v| *v as usize)
                    }
                    _ => None,
                },
                _ => return Ok(None),
            };
            if declared != Some(width) {
                return Ok(None);
            }
        }
        let slot = alloc(width);
        values.insert(name.clone(), slot);
        inputs.push((name.clone(), source, slot));
    }
    let mut kernels = Vec::new();
    for &node_name in order {
        let Some(index) = spec.graph.iter().position(|n| n.name == node_name) else { return Ok(None) };
        let node = &spec.graph[index];
        let refs: Vec<String> = match &node.inputs {
            None if index == 0 => match spec.inputs.as_slice() {
                [(only, _)] => vec![only.clone()],
                _ => return Ok(None),
            },
            None => vec![spec.graph[index - 1].name.clone()],
            Some(NodeInputs::One(r)) => vec![r.clone()],
            Some(NodeInputs::List(list)) => list.clone(),
            Some(NodeInputs::Ports(ports)) => {
                // Ports `input` or `input_<i>`, in index order.
                let mut indexed = Vec::new();
                for (port, r) in ports {
                    let i = if port == "input" {
                        Some(0)
                    } else {
                        port.strip_prefix("input_").and_then(|i| i.parse().ok())
                    };
                    let Some(i) = i else { return Ok(None) };
                    indexed.push((i, r.clone()));
                }
                indexed.sort();
                indexed.into_iter().map(|(_, r)| r).collect()
            }
        };
        let mut srcs = Vec::with_capacity(refs.len());
        for r in &refs {
            let bare = r.strip_prefix("inputs.").unwrap_or(r);
            let bare = if values.contains_key(bare) { bare } else { r.strip_suffix(".output").unwrap_or(r) };
            let Some(slot) = values.get(bare) else { return Ok(None) };
            srcs.push(*slot);
        }
        let params = node.params.clone().unwrap_or_default().resolve_vars(vars).unwrap_or_default();
        let kind = manager.get_layer(&node.layer_type)?.name().to_owned();
        let weight = |p: &str| weights.get(format!("{node_name}.{p}").as_str()).and_then(|t| t.as_f32_slice());
        let single = match srcs.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let (kernel, out) = match (kind.as_str(), single) {
            ("core.Linear", Some(input)) => {
                let Some(p) = parse::<LinearParams>(&params) else { return Ok(None) };
                let Some(w) = weight("weight") else { return Ok(None) };
                if p.in_features != input.len || w.len() != p.in_features * p.out_features {
                    return Ok(None);
                }
                let bias = match (p.bias, weight("bias")) {
                    (true, Some(b)) if b.len() == p.out_features => Some(b.to_vec()),
                    (false, None) => None,
                    _ => return Ok(None),
                };
                let output = alloc(p.out_features);
                let weight_t = transpose(w, p.out_features, p.in_features);
                (Some(Kernel::Linear { weight_t, bias, input, output }), output)
            }
            (name @ ("core.ReLU" | "core.Sigmoid" | "core.Tanh"), Some(input)) => {
                if parse::<NoParams>(&params).is_none() {
                    return Ok(None);
                }
                let act = match name {
                    "core.ReLU" => Act::Relu,
                    "core.Sigmoid" => Act::Sigmoid,
                    _ => Act::Tanh,
                };
                let output = alloc(input.len);
                (Some(Kernel::Map { act, input, output }), output)
            }
            ("core.GELU", Some(input)) => {
                let act = match parse::<GeluParams>(&params).map(|p| p.approximate) {
                    Some(None) => Act::GeluExact,
                    Some(Some(a)) if a == "none" => Act::GeluExact,
                    Some(Some(a)) if a == "tanh" => Act::GeluTanh,
                    _ => return Ok(None),
                };
                let output = alloc(input.len);
                (Some(Kernel::Map { act, input, output }), output)
            }
            ("core.Softmax", Some(input)) => match parse::<DimParams>(&params) {
                Some(DimParams { dim: -1 | 1, num_inputs: None }) => {
                    let output = alloc(input.len);
                    (Some(Kernel::Softmax { input, output }), output)
                }
                _ => return Ok(None),
            },
            ("core.Dropout", Some(input)) => match parse::<DropoutParams>(&params) {
                Some(_) => (None, input),
                None => return Ok(None),
            },
            ("core.Flatten", Some(input)) => match parse::<FlattenParams>(&params) {
                // A [batch, width] row stays as it is.
                Some(FlattenParams { start_dim: 1 | -1, end_dim: -1 | 1 }) => (None, input),
                _ => return Ok(None),
            },
            ("core.LayerNorm", Some(input)) => {
                let Some(p) = parse::<LayerNormParams>(&params) else { return Ok(None) };
                let n = match p.normalized_shape {
                    Sizes::One(n) => n,
                    Sizes::Many(v) if v.len() == 1 => v[0],
                    Sizes::Many(_) => return Ok(None),
                };
                if n != input.len {
                    return Ok(None);
                }
                let (weight, bias) = match (p.elementwise_affine, p.bias) {
                    (true, true) => match (weight("weight"), weight("bias")) {
                        (Some(w), Some(b)) if w.len() == n && b.len() == n => (Some(w.to_vec()), Some(b.to_vec())),
                        _ => return Ok(None),
                    },
                    (true, false) => match weight("weight") {
                        Some(w) if w.len() == n => (Some(w.to_vec()), None),
                        _ => return Ok(None),
                    },
                    (false, _) => (None, None),
                };
                let output = alloc(n);
                (Some(Kernel::LayerNorm { weight, bias, eps: p.eps, input, output }), output)
            }
            ("core.Add", _) if srcs.len() >= 2 => {
                if parse::<AddParams>(&params).is_none() || srcs.iter().any(|s| s.len != srcs[0].len) {
                    return Ok(None);
                }
                let output = alloc(srcs[0].len);
                (Some(Kernel::Add { inputs: srcs.clone(), output }), output)
            }
            ("core.Concatenate", _) if srcs.len() >= 2 => match parse::<DimParams>(&params) {
                Some(DimParams { dim: -1 | 1, .. }) => {
                    let output = alloc(srcs.iter().map(|s| s.len).sum());
                    (Some(Kernel::Concat { inputs: srcs.clone(), output }), output)
                }
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        kernels.extend(kernel);
        values.insert(node_name.to_owned(), out);
    }
    let resolve = |r: &str| {
        let bare = r.strip_prefix("inputs.").unwrap_or(r);
        values.get(bare).or_else(|| values.get(r.strip_suffix(".output").unwrap_or(r))).copied()
    };
    let mut outputs = Vec::new();
    match &spec.outputs {
        None => match order.last() {
            Some(last) => outputs.push(((*last).to_owned(), values[*last])),
            None => return Ok(None),
        },
        Some(OutputsSpec::Named(map)) => {
            for (name, r) in map {
                let Some(slot) = resolve(r) else { return Ok(None) };
                outputs.push((name.clone(), slot));
            }
        }
        Some(OutputsSpec::List(list)) => {
            for r in list {
                let Some(slot) = resolve(r) else { return Ok(None) };
                outputs.push((r.split('.').next().unwrap_or(r).to_owned(), slot));
            }
        }
    }
    // The generic model returns its outputs in a map, sorted by name.
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(ModelPlan { inputs, kernels, outputs, arena_end: end }))
}

fn parse<T: serde::de::DeserializeOwned>(params: &Config) -> Option<T> {
    params.parse("predictor").ok()
}

impl ModelPlan {
    /// Runs the kernels over `arena`, whose input slots are filled.
    pub(crate) fn run(&self, arena: &mut [f32]) {
        for kernel in &self.kernels {
            match kernel {
                Kernel::Linear { weight_t, bias, input, output } => {
                    let (x, y) = split(arena, *input, *output);
                    linear(weight_t, bias.as_deref(), x, y);
                }
                Kernel::Map { act, input, output } => {
                    let (x, y) = split(arena, *input, *output);
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = apply(*act, x);
                    }
                }
                Kernel::Softmax { input, output } => {
                    let (x, y) = split(arena, *input, *output);
                    softmax(x, y);
                }
                Kernel::LayerNorm { weight, bias, eps, input, output } => {
                    let (x, y) = split(arena, *input, *output);
                    layer_norm(x, y, weight.as_deref(), bias.as_deref(), *eps);
                }
                Kernel::Add { inputs, output } => {
                    for i in 0..output.len {
                        let mut s = arena[inputs[0].offset + i];
                        for slot in &inputs[1..] {
                            s += arena[slot.offset + i];
                        }
                        arena[output.offset + i] = s;
                    }
                }
                Kernel::Concat { inputs, output } => {
                    let mut at = output.offset;
                    for slot in inputs {
                        arena.copy_within(slot.offset..slot.offset + slot.len, at);
                        at += slot.len;
                    }
                }
            }
        }
    }
}

/// The input and output slots of one kernel: slots never overlap, and
/// outputs are allocated after their inputs.
fn split(arena: &mut [f32], input: Slot, output: Slot) -> (&[f32], &mut [f32]) {
    debug_assert!(input.offset + input.len <= output.offset, "outputs follow their inputs in the arena");
    let (head, tail) = arena.split_at_mut(output.offset);
    (&head[input.offset..input.offset + input.len], &mut tail[..output.len])
}

/// `y = W x + b` for one row (`weight_t` = `W^T`), with the widest
/// vector instructions the CPU has (checked once per call through std's
/// cached feature detection).
fn linear(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features `linear_avx512` is compiled for.
            return unsafe { linear_avx512(weight_t, bias, x, y) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the features `linear_avx2` is compiled for.
            return unsafe { linear_avx2(weight_t, bias, x, y) };
        }
    }
    linear_rows(weight_t, bias, x, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn linear_avx512(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    linear_rows(weight_t, bias, x, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn linear_avx2(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    linear_rows(weight_t, bias, x, y);
}

/// `y = b + sum_i x[i] W^T[i, :]`, `weight_t` being `W` transposed to
/// `[in, out]` with each row padded with zeros to a multiple of 16
/// ([`transpose`]): the outputs in blocks of 64 while they last, each
/// block's sums held in registers across the inputs, then in blocks of 16
/// with four partial sums over the inputs (so a short tail, such as a
/// classifier's 10 outputs, is not one long chain of dependent adds).
/// The loops vectorize over the outputs; no horizontal sums.
#[inline(always)]
fn linear_rows(weight_t: &[f32], bias: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    let out = y.len();
    let stride = padded(out);
    let mut start = 0;
    while start + 64 <= out {
        let mut acc = [0.0f32; 64];
        if let Some(b) = bias {
            acc.copy_from_slice(&b[start..start + 64]);
        }
        for (i, &xi) in x.iter().enumerate() {
            let w = &weight_t[i * stride + start..i * stride + start + 64];
            for (a, &w) in acc.iter_mut().zip(w) {
                *a += xi * w;
            }
        }
        y[start..start + 64].copy_from_slice(&acc);
        start += 64;
    }
    while start < out {
        let mut acc = [[0.0f32; 16]; 4];
        let rows = x.chunks_exact(4);
        let rest = rows.remainder();
        for (r, xs) in rows.enumerate() {
            for (p, (&xi, acc)) in xs.iter().zip(acc.iter_mut()).enumerate() {
                let at = (4 * r + p) * stride + start;
                for (a, &w) in acc.iter_mut().zip(&weight_t[at..at + 16]) {
                    *a += xi * w;
                }
            }
        }
        for (p, &xi) in rest.iter().enumerate() {
            let at = (x.len() - rest.len() + p) * stride + start;
            for (a, &w) in acc[p].iter_mut().zip(&weight_t[at..at + 16]) {
                *a += xi * w;
            }
        }
        let n = (out - start).min(16);
        for (k, y) in y[start..start + n].iter_mut().enumerate() {
            let sum = (acc[0][k] + acc[1][k]) + (acc[2][k] + acc[3][k]);
            *y = bias.map_or(0.0, |b| b[start + k]) + sum;
        }
        start += n;
    }
}

/// `out` rounded up to a multiple of 16: the row stride of a transposed weight.
fn padded(out: usize) -> usize {
    out.div_ceil(16) * 16
}

/// `W` `[out, in]` row-major, transposed to `[in, out]` with each row
/// padded with zeros to [`padded`]`(out)` values.
fn transpose(weight: &[f32], out: usize, inputs: usize) -> Vec<f32> {
    let stride = padded(out);
    let mut t = vec![0.0; inputs * stride];
    for o in 0..out {
        for i in 0..inputs {
            t[i * stride + o] = weight[o * inputs + i];
        }
    }
    t
}

fn apply(act: Act, x: f32) -> f32 {
    match act {
        Act::Relu => x.max(0.0),
        Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Act::Tanh => x.tanh(),
        Act::GeluExact => {
            let x = f64::from(x);
            (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
        }
        Act::GeluTanh => {
            let x = f64::from(x);
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            (0.5 * x * (1.0 + inner.tanh())) as f32
        }
    }
}

/// Softmax of one row, shifted by its max.
pub(crate) fn softmax(x: &[f32], y: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - m).exp();
        s += *y;
    }
    for y in y.iter_mut() {
        *y /= s;
    }
}

fn layer_norm(x: &[f32], y: &mut [f32], weight: Option<&[f32]>, bias: Option<&[f32]>, eps: f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + f64::from(eps)).sqrt();
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let mut v = ((f64::from(x) - mean) * inv) as f32;
        if let Some(w) = weight {
            v *= w[i];
        }
        if let Some(b) = bias {
            v += b[i];
        }
        *y = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [[1, 2], [3, 4], [5, 6]] . [1, -1] + [0.5, 0, -0.5] = [-0.5, -1, -1.5].
    #[test]
    fn linear_is_w_x_plus_b() {
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let t = transpose(&w, 3, 2);
        assert_eq!(t.len(), 32, "two rows padded to 16");
        assert_eq!((&t[..3], &t[16..19]), (&[1.0, 3.0, 5.0][..], &[2.0, 4.0, 6.0][..]));
        let mut y = [0.0; 3];
        linear(&transpose(&w, 3, 2), Some(&[0.5, 0.0, -0.5]), &[1.0, -1.0], &mut y);
        assert_eq!(y, [-0.5, -1.0, -1.5]);
        // 22 inputs into 83 outputs (a block of 64, blocks of 16, a short one; inputs in fours and
        // a rest of 2): output o = (o + 1) * sum(i < 22) = 231 (o + 1), exact in f32.
        let w: Vec<f32> = (0..83).flat_map(|o| std::iter::repeat_n((o + 1) as f32, 22)).collect();
        let x: Vec<f32> = (0..22).map(|i| i as f32).collect();
        let mut y = vec![0.0; 83];
        let bias: Vec<f32> = (0..83).map(|o| o as f32).collect();
        linear(&transpose(&w, 83, 22), Some(&bias), &x, &mut y);
        assert_eq!(y, (0..83).map(|o| 231.0 * (o + 1) as f32 + o as f32).collect::<Vec<_>>());
    }

    /// softmax([1, 2, 3]) = [0.09003057, 0.24472847, 0.66524096] (NumPy).
    #[test]
    fn softmax_matches_numpy() {
        let mut y = [0.0; 3];
        softmax(&[1.0, 2.0, 3.0], &mut y);
        for (a, b) in y.iter().zip([0.090_030_57, 0.244_728_47, 0.665_240_96]) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    /// LayerNorm([1, 3]) = [-1, 1] (mean 2, variance 1, eps 0), then *w + b.
    #[test]
    fn layer_norm_normalizes_then_scales() {
        let mut y = [0.0; 2];
        layer_norm(&[1.0, 3.0], &mut y, Some(&[2.0, 3.0]), Some(&[0.5, 0.5]), 0.0);
        assert_eq!(y, [-1.5, 3.5]);
    }

    /// GELU(1) = 0.8413447 (exact), 0.8411920 (tanh), as torch.nn.GELU gives.
    #[test]
    fn activations_match_torch() {
        assert!((apply(Act::GeluExact, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((apply(Act::GeluTanh, 1.0) - 0.841_192).abs() < 1e-6);
        assert_eq!(apply(Act::Relu, -2.0), 0.0);
        assert!((apply(Act::Sigmoid, 0.0) - 0.5).abs() < 1e-7);
    }
}
