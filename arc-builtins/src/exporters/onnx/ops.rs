//! One Arc layer → ONNX ops. Params are read with PyTorch's defaults (the
//! layers' own configs validated them when the model was built).

use arc_core::export::{ExportModel, ExportNode};
use arc_core::{Error, Result};
use serde::Deserialize;

use super::{Builder, attr_f, attr_i, export_error};

/// Whether model input `input` feeds an Embedding directly (it is then int64).
pub(crate) fn takes_indices(model: &ExportModel, input: &str) -> bool {
    model.nodes.iter().any(|n| n.layer_type == "core.Embedding" && n.inputs.iter().any(|(_, s)| s == input))
}

fn unsupported(node: &ExportNode, detail: impl Into<String>) -> Error {
    let detail = detail.into();
    Error::ExportUnsupported {
        format: "onnx".into(),
        node: node.name.clone(),
        layer_type: node.layer_type.clone(),
        detail: if detail.is_empty() { String::new() } else { format!(": {detail}") },
    }
}

fn last_dim() -> i64 {
    -1
}
fn one() -> i64 {
    1
}
fn eps() -> f32 {
    1e-5
}
fn yes() -> bool {
    true
}

/// The core layers (names without `core.`) that have an ONNX lowering.
pub(crate) const SUPPORTED: &[&str] = &[
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "LayerNorm",
    "BatchNorm1d",
    "Dropout",
    "Embedding",
    "Concatenate",
    "Add",
    "Flatten",
];

/// The params the lowering reads, with PyTorch's defaults; others are ignored.
#[derive(Debug, Deserialize)]
struct Params {
    #[serde(default = "last_dim")]
    dim: i64,
    #[serde(default = "one")]
    start_dim: i64,
    #[serde(default = "last_dim")]
    end_dim: i64,
    #[serde(default = "eps")]
    eps: f32,
    #[serde(default)]
    approximate: Option<String>,
    #[serde(default)]
    normalized_shape: Option<NormalizedShape>,
    #[serde(default = "yes")]
    elementwise_affine: bool,
    #[serde(default = "yes")]
    bias: bool,
    #[serde(default = "yes")]
    affine: bool,
    #[serde(default = "yes")]
    track_running_stats: bool,
    #[serde(default)]
    max_norm: Option<f32>,
    #[serde(default)]
    num_features: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NormalizedShape {
    One(usize),
    Many(Vec<usize>),
}

impl NormalizedShape {
    fn dims(&self) -> Vec<usize> {
        match self {
            Self::One(n) => vec![*n],
            Self::Many(v) => v.clone(),
        }
    }
}

/// Lowers `node`, whose inputs are the ONNX values `args` (port order);
/// returns the value holding its output.
pub(crate) fn lower(b: &mut Builder<'_>, node: &ExportNode, args: &[String]) -> Result<String> {
    let kind = node.layer_type.strip_prefix("core.").unwrap_or("");
    if !SUPPORTED.contains(&kind) {
        return Err(unsupported(node, format!("supported: {}", SUPPORTED.join(", "))));
    }
    // Unknown keys are ignored here: the layer's own config checked them.
    let p: Params = node.params.parse(&node.layer_type)?;
    let name = node.name.as_str();
    let out = format!("{name}.output");
    let x = || args.first().cloned().ok_or_else(|| export_error(format!("node `{name}` has no input")));
    Ok(match kind {
        "Linear" => {
            let w = b.tensor(&format!("{name}.weight"))?;
            let (out_f, in_f) = match w.shape() {
                [o, i] => (*o, *i),
                s => return Err(export_error(format!("`{name}.weight` has shape {s:?}"))),
            };
            let values = w.to_vec()?;
            let mut transposed = vec![0.0; values.len()];
            for o in 0..out_f {
                for i in 0..in_f {
                    transposed[i * out_f + o] = values[o * in_f + i];
                }
            }
            let wt = b.init_f32(&format!("{name}.weight_t"), &[in_f, out_f], &transposed);
            if b.model.weight(&format!("{name}.bias")).is_some() {
                let y = b.op("MatMul", name, vec![x()?, wt], Vec::new());
                let bias = b.weight(&format!("{name}.bias"))?;
                b.node("Add", name, vec![y, bias], &out, Vec::new())
            } else {
                b.node("MatMul", name, vec![x()?, wt], &out, Vec::new())
            }
        }
        "ReLU" => b.node("Relu", name, vec![x()?], &out, Vec::new()),
        "Sigmoid" => b.node("Sigmoid", name, vec![x()?], &out, Vec::new()),
        "Tanh" => b.node("Tanh", name, vec![x()?], &out, Vec::new()),
        "Softmax" => b.node("Softmax", name, vec![x()?], &out, vec![attr_i("axis", p.dim)]),
        "Dropout" => b.node("Identity", name, vec![x()?], &out, Vec::new()),
        "GELU" => gelu(b, name, x()?, &out, p.approximate.as_deref() == Some("tanh")),
        "LayerNorm" => {
            let dims = p.normalized_shape.as_ref().map(NormalizedShape::dims).unwrap_or_default();
            if dims.is_empty() {
                return Err(unsupported(node, "no `normalized_shape`"));
            }
            let size: usize = dims.iter().product();
            let scale = if p.elementwise_affine {
                b.weight(&format!("{name}.weight"))?
            } else {
                b.init_f32(&format!("{name}.weight"), &dims, &vec![1.0; size])
            };
            let mut inputs = vec![x()?, scale];
            if p.elementwise_affine && p.bias {
                inputs.push(b.weight(&format!("{name}.bias"))?);
            }
            let attrs = vec![attr_i("axis", -(dims.len() as i64)), attr_f("epsilon", p.eps)];
            b.node("LayerNormalization", name, inputs, &out, attrs)
        }
        "BatchNorm1d" => {
            if !p.track_running_stats {
                return Err(unsupported(node, "without running statistics it normalises with each batch's"));
            }
            let c = p.num_features.ok_or_else(|| unsupported(node, "no `num_features`"))?;
            let (scale, bias) = if p.affine {
                (b.weight(&format!("{name}.weight"))?, b.weight(&format!("{name}.bias"))?)
            } else {
                (
                    b.init_f32(&format!("{name}.weight"), &[c], &vec![1.0; c]),
                    b.init_f32(&format!("{name}.bias"), &[c], &vec![0.0; c]),
                )
            };
            let mean = b.weight(&format!("{name}.running_mean"))?;
            let var = b.weight(&format!("{name}.running_var"))?;
            b.node("BatchNormalization", name, vec![x()?, scale, bias, mean, var], &out, vec![attr_f("epsilon", p.eps)])
        }
        "Embedding" => {
            if p.max_norm.is_some() {
                return Err(unsupported(node, "`max_norm` renormalises the weight at each lookup"));
            }
            let weight = b.weight(&format!("{name}.weight"))?;
            b.node("Gather", name, vec![weight, x()?], &out, vec![attr_i("axis", 0)])
        }
        "Concatenate" => b.node("Concat", name, args.to_vec(), &out, vec![attr_i("axis", p.dim)]),
        "Add" => match args {
            [] | [_] => return Err(export_error(format!("node `{name}`: Add needs two inputs"))),
            [first, rest @ ..] => {
                let mut acc = first.clone();
                for (k, next) in rest.iter().enumerate() {
                    acc = if k + 1 == rest.len() {
                        b.node("Add", name, vec![acc, next.clone()], &out, Vec::new())
                    } else {
                        b.op("Add", name, vec![acc, next.clone()], Vec::new())
                    };
                }
                acc
            }
        },
        "Flatten" => {
            if p.end_dim != -1 || p.start_dim < 0 {
                return Err(unsupported(
                    node,
                    format!(
                        "start_dim {} / end_dim {}: only end_dim -1 and start_dim >= 0 map to ONNX Flatten",
                        p.start_dim, p.end_dim
                    ),
                ));
            }
            b.node("Flatten", name, vec![x()?], &out, vec![attr_i("axis", p.start_dim)])
        }
        _ => return Err(unsupported(node, "")),
    })
}

/// GELU: `Gelu` from opset 20; below it the exact form
/// `0.5 x (1 + erf(x / sqrt 2))`, or the tanh form
/// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
fn gelu(b: &mut Builder<'_>, name: &str, x: String, out: &str, tanh: bool) -> String {
    if b.opset() >= 20 {
        let attrs = vec![super::proto::AttributeProto {
            name: "approximate".into(),
            s: if tanh { b"tanh".to_vec() } else { b"none".to_vec() },
            r#type: super::proto::attribute_type::STRING,
            ..Default::default()
        }];
        return b.node("Gelu", name, vec![x], out, attrs);
    }
    let inner = if tanh {
        let x2 = b.op("Mul", name, vec![x.clone(), x.clone()], Vec::new());
        let x3 = b.op("Mul", name, vec![x2, x.clone()], Vec::new());
        let c = b.scalar(name, 0.044715);
        let cx3 = b.op("Mul", name, vec![x3, c], Vec::new());
        let sum = b.op("Add", name, vec![x.clone(), cx3], Vec::new());
        let k = b.scalar(name, (2.0f32 / std::f32::consts::PI).sqrt());
        let arg = b.op("Mul", name, vec![sum, k], Vec::new());
        b.op("Tanh", name, vec![arg], Vec::new())
    } else {
        let sqrt2 = b.scalar(name, std::f32::consts::SQRT_2);
        let scaled = b.op("Div", name, vec![x.clone(), sqrt2], Vec::new());
        b.op("Erf", name, vec![scaled], Vec::new())
    };
    let one = b.scalar(name, 1.0);
    let plus = b.op("Add", name, vec![inner, one], Vec::new());
    let half = b.scalar(name, 0.5);
    let hx = b.op("Mul", name, vec![x, half], Vec::new());
    b.node("Mul", name, vec![hx, plus], out, Vec::new())
}
