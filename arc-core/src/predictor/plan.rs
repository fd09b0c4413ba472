//! The compiled model plan: the graph's layers as plain-f32 kernels over one
//! row, each reading and writing fixed slots of a scratch arena sized at
//! load. Only the common layers compile (see [`compile`]); anything else
//! makes [`compile`] answer `None` and the predictor runs the generic
//! Tensor path.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::kernels::{Act, apply, layer_norm, linear, softmax, transpose};
use crate::graph::GraphModel;
use crate::spec::Config;
use crate::{Result, Tensor};

/// A place in the scratch arena: `len` values from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub offset: usize,
    pub len: usize,
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

/// Compiles the built `model` for rows, its arena starting at
/// `arena_start`. `input_widths` gives each pipeline tensor's width. `None`
/// when some layer, shape or wiring has no kernel here.
pub(crate) fn compile(
    model: &GraphModel,
    weights: &BTreeMap<&str, &Tensor>,
    input_widths: &dyn Fn(&str) -> Option<usize>,
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
    for input in model.input_specs() {
        let Some(width) = input_widths(&input.source) else { return Ok(None) };
        // Rows only: a declared shape must be [batch, width].
        match input.shape.as_slice() {
            [] => {}
            [_, Some(w)] if *w == width => {}
            _ => return Ok(None),
        }
        let slot = alloc(width);
        values.insert(input.name.clone(), slot);
        inputs.push((input.name.clone(), input.source.clone(), slot));
    }
    let mut kernels = Vec::new();
    for node in model.nodes() {
        let mut srcs = Vec::with_capacity(node.inputs.len());
        for (_, source) in &node.inputs {
            let Some(slot) = values.get(*source) else { return Ok(None) };
            srcs.push(*slot);
        }
        let params = node.params;
        let node_name = node.name;
        let weight = |p: &str| weights.get(format!("{node_name}.{p}").as_str()).and_then(|t| t.as_f32_slice());
        let single = match srcs.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let (kernel, out) = match (node.layer_type, single) {
            ("core.Linear", Some(input)) => {
                let Some(p) = parse::<LinearParams>(params) else { return Ok(None) };
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
                if parse::<NoParams>(params).is_none() {
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
                let act = match parse::<GeluParams>(params).map(|p| p.approximate) {
                    Some(None) => Act::GeluExact,
                    Some(Some(a)) if a == "none" => Act::GeluExact,
                    Some(Some(a)) if a == "tanh" => Act::GeluTanh,
                    _ => return Ok(None),
                };
                let output = alloc(input.len);
                (Some(Kernel::Map { act, input, output }), output)
            }
            ("core.Softmax", Some(input)) => match parse::<DimParams>(params) {
                Some(DimParams { dim: -1 | 1, num_inputs: None }) => {
                    let output = alloc(input.len);
                    (Some(Kernel::Softmax { input, output }), output)
                }
                _ => return Ok(None),
            },
            ("core.Dropout", Some(input)) => match parse::<DropoutParams>(params) {
                Some(_) => (None, input),
                None => return Ok(None),
            },
            ("core.Flatten", Some(input)) => match parse::<FlattenParams>(params) {
                // A [batch, width] row stays as it is.
                Some(FlattenParams { start_dim: 1 | -1, end_dim: -1 | 1 }) => (None, input),
                _ => return Ok(None),
            },
            ("core.LayerNorm", Some(input)) => {
                let Some(p) = parse::<LayerNormParams>(params) else { return Ok(None) };
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
                if parse::<AddParams>(params).is_none() || srcs.iter().any(|s| s.len != srcs[0].len) {
                    return Ok(None);
                }
                let output = alloc(srcs[0].len);
                (Some(Kernel::Add { inputs: srcs.clone(), output }), output)
            }
            ("core.Concatenate", _) if srcs.len() >= 2 => match parse::<DimParams>(params) {
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
    let mut outputs = Vec::new();
    for (name, source) in model.outputs() {
        let Some(slot) = values.get(source) else { return Ok(None) };
        outputs.push((name.to_owned(), *slot));
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
