//! `core.onnx`: the model as an ONNX graph (default opset 17, ai.onnx domain).
//!
//! Each node becomes one or a few ONNX ops (see [`ops`]): Linear → MatMul
//! (with the weight stored transposed, `{node}.weight_t`) + Add; ReLU,
//! Sigmoid, Tanh, Softmax → the op of that name; GELU → the Erf (or tanh)
//! formula below opset 20 and `Gelu` from it; LayerNorm →
//! LayerNormalization; BatchNorm1d (eval) → BatchNormalization with the
//! running statistics; Dropout (eval) → Identity; Embedding → Gather;
//! Concatenate → Concat; Add → Add; Flatten → Flatten. Another layer type is
//! an [`Error::ExportUnsupported`] naming the node.
//!
//! Graph inputs are the model inputs (batch dimension symbolic, `batch`),
//! graph outputs the model outputs, by name. With `include_processors`
//! (the default) a model input made by a standard, robust or min-max
//! scaler from an assembled feature vector takes the raw features instead,
//! the scaling done by Sub/Div (and Mul/Add) ops with the fitted constants;
//! each input's `doc_string` says what to feed, and the model's metadata
//! `arc.input.<name>.columns` lists the raw columns in order.

mod ops;
pub(crate) mod proto;
mod scalers;

use std::path::Path;

use arc_core::export::{ExportModel, Exporter, write_atomic};
use arc_core::spec::Config;
use arc_core::{Error, Result, Tensor};
use prost::Message;
use serde::Deserialize;

use proto::{
    AttributeProto, DimValue, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type,
};

/// The format's registered name.
pub const NAME: &str = "core.onnx";
/// The lowest opset written (LayerNormalization needs 17).
pub const MIN_OPSET: i64 = 17;
/// The highest opset written.
pub const MAX_OPSET: i64 = 21;

fn default_opset() -> i64 {
    MIN_OPSET
}

fn yes() -> bool {
    true
}

/// Config of the `onnx` exporter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxConfig {
    /// The ai.onnx opset, 17 to 21. Default `17`.
    #[serde(default = "default_opset")]
    pub opset: i64,
    /// Whether scaler processors in front of a model input become ONNX ops
    /// (the input then takes raw features). Default `true`.
    #[serde(default = "yes")]
    pub include_processors: bool,
}

/// Writes an [`ExportModel`] as an ONNX model.
#[derive(Debug)]
pub struct OnnxExporter {
    config: OnnxConfig,
}

impl OnnxExporter {
    /// Builds the exporter; unknown keys and an opset outside 17..=21 are errors.
    pub fn from_config(config: &Config) -> Result<Box<dyn Exporter>> {
        let config: OnnxConfig = config.parse(NAME)?;
        if !(MIN_OPSET..=MAX_OPSET).contains(&config.opset) {
            return Err(Error::InvalidConfig {
                component: NAME.into(),
                message: format!("`opset` must be in {MIN_OPSET}..={MAX_OPSET}, got {}", config.opset),
            });
        }
        Ok(Box::new(Self { config }))
    }
}

impl Exporter for OnnxExporter {
    fn extension(&self) -> &str {
        "onnx"
    }

    fn export(&self, model: &ExportModel, out: &Path) -> Result<()> {
        write_atomic(out, "onnx", &encode(model, &self.config)?)
    }
}

/// The ONNX IR version that goes with an opset (the ONNX versioning table).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=18 => 8,
        19 | 20 => 9,
        _ => 10,
    }
}

/// The ONNX model bytes of `model`.
pub fn encode(model: &ExportModel, config: &OnnxConfig) -> Result<Vec<u8>> {
    let mut b = Builder { model, opset: config.opset, nodes: Vec::new(), initializers: Vec::new(), fresh: 0 };
    let mut inputs = Vec::new();
    let mut metadata = Vec::new();
    for input in &model.inputs {
        let int = ops::takes_indices(model, &input.name);
        let mut value = input.name.clone();
        let mut doc = format!("the pipeline tensor `tensors.{}`", input.source);
        if config.include_processors
            && !int
            && let Some(scaled) = scalers::prepend(&mut b, model, input)?
        {
            metadata.push(entry(&format!("arc.input.{}.columns", input.name), scaled.columns.join(",")));
            value = scaled.value;
            doc = scaled.doc;
        }
        let elem = if int { proto::INT64 } else { proto::FLOAT };
        inputs.push((input, elem, doc, value));
    }
    let mut values: std::collections::BTreeMap<String, String> =
        inputs.iter().map(|(i, _, _, v)| (i.name.clone(), v.clone())).collect();
    for node in &model.nodes {
        let args = node
            .inputs
            .iter()
            .map(|(_, s)| {
                values
                    .get(s)
                    .cloned()
                    .ok_or_else(|| export_error(format!("node `{}`: input `{s}` is not computed", node.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = ops::lower(&mut b, node, &args)?;
        values.insert(node.name.clone(), out);
    }
    let mut outputs = Vec::new();
    for output in &model.outputs {
        let value = values
            .get(&output.source)
            .cloned()
            .ok_or_else(|| export_error(format!("output `{}`: `{}` is not computed", output.name, output.source)))?;
        b.node("Identity", &format!("output.{}", output.name), vec![value], &output.name, Vec::new());
        outputs.push(ValueInfoProto {
            name: output.name.clone(),
            r#type: Some(tensor_type(proto::FLOAT, None)),
            doc_string: String::new(),
        });
    }
    let graph_inputs = inputs
        .iter()
        .map(|(input, elem, doc, _)| ValueInfoProto {
            name: input.name.clone(),
            r#type: Some(tensor_type(*elem, (!input.shape.is_empty()).then_some(&input.shape))),
            doc_string: doc.clone(),
        })
        .collect();
    let graph = GraphProto {
        node: b.nodes,
        name: model.spec.model_name.clone(),
        initializer: b.initializers,
        doc_string: model.spec.description.clone().unwrap_or_default(),
        input: graph_inputs,
        output: outputs,
    };
    let proto = ModelProto {
        ir_version: ir_version(config.opset),
        producer_name: "arc".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: format!("`{}` exported by Arc's {NAME}", model.spec.model_name),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: config.opset }],
        metadata_props: metadata,
    };
    Ok(proto.encode_to_vec())
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto { key: key.to_owned(), value }
}

fn tensor_type(elem: i32, shape: Option<&Vec<Option<usize>>>) -> TypeProto {
    let shape = shape.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .enumerate()
            .map(|(i, d)| Dimension {
                value: Some(match d {
                    Some(n) => DimValue::DimValue(*n as i64),
                    None if i == 0 => DimValue::DimParam("batch".into()),
                    None => DimValue::DimParam(format!("dim_{i}")),
                }),
            })
            .collect(),
    });
    TypeProto { tensor_type: Some(TypeProtoTensor { elem_type: elem, shape }) }
}

pub(crate) fn export_error(message: String) -> Error {
    Error::Export { format: "onnx".into(), message }
}

/// Collects the graph's nodes and initializers.
pub(crate) struct Builder<'a> {
    model: &'a ExportModel,
    opset: i64,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    fresh: usize,
}

impl Builder<'_> {
    /// Adds an op whose single output is named `output`; returns that name.
    pub(crate) fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        output: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.to_owned()],
            name: name.to_owned(),
            op_type: op.to_owned(),
            attribute,
            doc_string: String::new(),
            domain: String::new(),
        });
        output.to_owned()
    }

    /// Adds an op with a fresh output name derived from `prefix`.
    pub(crate) fn op(&mut self, op: &str, prefix: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        self.fresh += 1;
        let out = format!("{prefix}/{op}_{}", self.fresh);
        self.node(op, &out.clone(), inputs, &out, attribute)
    }

    /// Adds an f32 initializer; returns its name.
    pub(crate) fn init_f32(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.to_owned(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_owned()
    }

    /// An f32 scalar constant (an initializer named `{prefix}/const_{n}`).
    pub(crate) fn scalar(&mut self, prefix: &str, value: f32) -> String {
        self.fresh += 1;
        let name = format!("{prefix}/const_{}", self.fresh);
        self.init_f32(&name, &[], &[value])
    }

    /// The model's weight `name` as an initializer of the same name.
    pub(crate) fn weight(&mut self, name: &str) -> Result<String> {
        let t = self.tensor(name)?;
        Ok(self.init_f32(name, t.shape(), &t.to_vec()?))
    }

    /// The model's weight `name`.
    pub(crate) fn tensor(&self, name: &str) -> Result<Tensor> {
        self.model.weight(name).cloned().ok_or_else(|| export_error(format!("no weight `{name}`")))
    }

    /// The opset being written.
    pub(crate) fn opset(&self) -> i64 {
        self.opset
    }
}

/// An `INT` attribute.
pub(crate) fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i, r#type: attribute_type::INT, ..Default::default() }
}

/// A `FLOAT` attribute.
pub(crate) fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), f, r#type: attribute_type::FLOAT, ..Default::default() }
}

/// An `INTS` attribute.
#[allow(dead_code)]
pub(crate) fn attr_ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto { name: name.into(), ints, r#type: attribute_type::INTS, ..Default::default() }
}

#[cfg(test)]
mod tests;
