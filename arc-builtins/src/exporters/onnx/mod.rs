//! `core.onnx`: the model as an ONNX graph (default opset 17, ai.onnx domain).
//!
//! Each node becomes the ONNX ops its layer's lowering adds
//! ([`Layer::onnx`](arc_core::nn::Layer::onnx), written against
//! [`arc_core::lower::OnnxGraph`], which [`Builder`] implements here). The
//! built-in layers: Linear → MatMul (with the weight stored transposed,
//! `{node}.weight_t`) + Add; ReLU, Sigmoid, Tanh, Softmax → the op of that
//! name; GELU → the Erf (or tanh) formula below opset 20 and `Gelu` from it;
//! LayerNorm → LayerNormalization; BatchNorm1d (eval) → BatchNormalization
//! with the running statistics; Dropout (eval) → Identity; Embedding →
//! Gather; Concatenate → Concat; Add → Add; Flatten → Flatten. A layer
//! without a lowering is an [`Error::ExportUnsupported`] naming the node and
//! its type.
//!
//! Graph inputs are the model inputs (batch dimension symbolic, `batch`),
//! graph outputs the model outputs, by name. With `include_processors`
//! (the default) a model input whose pipeline tensor is made by steps that
//! all have an ONNX form ([`pipeline`]: the built-in scalers over
//! `transform.assemble_vector`) takes the raw features instead, the steps
//! computed in the graph with the fitted constants; each input's
//! `doc_string` says what to feed, and the model's metadata
//! `arc.input.<name>.columns` lists the raw columns in order.

mod pipeline;
pub(crate) mod proto;

use std::path::Path;

use arc_core::export::{ExportModel, ExportNode, Exporter, write_atomic};
use arc_core::lower::{Attr, AttrValue, OnnxGraph, OnnxNode};
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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
        let int = takes_indices(model, &input.name);
        let mut value = input.name.clone();
        let mut doc = format!("the pipeline tensor `tensors.{}`", input.source);
        if config.include_processors
            && !int
            && let Some(processed) = pipeline::prepend(&mut b, model, input)?
        {
            metadata.push(entry(&format!("arc.input.{}.columns", input.name), processed.columns.join(",")));
            value = processed.value;
            doc = processed.doc;
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
        let output = format!("{}.output", node.name);
        lower(&mut b, node, &args, &output)?;
        values.insert(node.name.clone(), output);
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

/// Whether model input `input` feeds a layer taking indices directly (it is then int64).
fn takes_indices(model: &ExportModel, input: &str) -> bool {
    model
        .nodes
        .iter()
        .any(|n| n.onnx.as_ref().is_some_and(|l| l.takes_indices()) && n.inputs.iter().any(|(_, s)| s == input))
}

/// Lowers `node`, whose inputs are the ONNX values `args` (port order), into `output`.
fn lower(b: &mut Builder<'_>, node: &ExportNode, args: &[String], output: &str) -> Result<()> {
    let onnx_node = OnnxNode { name: &node.name, component: &node.layer_type, inputs: args, output };
    match &node.onnx {
        Some(lowering) => lowering.lower(&onnx_node, b),
        None => Err(onnx_node.unsupported("the layer has no ONNX lowering (`Layer::onnx`)")),
    }
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

impl OnnxGraph for Builder<'_> {
    fn opset(&self) -> i64 {
        self.opset
    }

    fn tensor(&self, name: &str) -> Option<Tensor> {
        self.model.weight(name).cloned()
    }

    fn weight(&mut self, name: &str) -> Result<String> {
        let t = self.tensor(name).ok_or_else(|| export_error(format!("no weight `{name}`")))?;
        Ok(self.constant(name, t.shape(), &t.to_vec()?))
    }

    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.to_owned(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_owned()
    }

    fn constant_i64(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: proto::INT64,
            name: name.to_owned(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_owned()
    }

    fn scalar(&mut self, prefix: &str, value: f32) -> String {
        self.fresh += 1;
        let name = format!("{prefix}/const_{}", self.fresh);
        self.constant(&name, &[], &[value])
    }

    fn node(&mut self, op_type: &str, name: &str, inputs: Vec<String>, output: &str, attrs: Vec<Attr>) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.to_owned()],
            name: name.to_owned(),
            op_type: op_type.to_owned(),
            attribute: attrs.into_iter().map(attribute).collect(),
            doc_string: String::new(),
            domain: String::new(),
        });
        output.to_owned()
    }

    fn op(&mut self, op_type: &str, prefix: &str, inputs: Vec<String>, attrs: Vec<Attr>) -> String {
        self.fresh += 1;
        let out = format!("{prefix}/{op_type}_{}", self.fresh);
        self.node(op_type, &out.clone(), inputs, &out, attrs)
    }

    fn op_outputs(
        &mut self,
        op_type: &str,
        prefix: &str,
        inputs: Vec<String>,
        count: usize,
        attrs: Vec<Attr>,
    ) -> Vec<String> {
        self.fresh += 1;
        let name = format!("{prefix}/{op_type}_{}", self.fresh);
        let outputs: Vec<String> = (0..count).map(|k| format!("{name}:{k}")).collect();
        self.nodes.push(NodeProto {
            input: inputs,
            output: outputs.clone(),
            name,
            op_type: op_type.to_owned(),
            attribute: attrs.into_iter().map(attribute).collect(),
            doc_string: String::new(),
            domain: String::new(),
        });
        outputs
    }
}

/// An attribute as protobuf.
fn attribute(attr: Attr) -> AttributeProto {
    let mut proto = AttributeProto { name: attr.name, ..Default::default() };
    match attr.value {
        AttrValue::Int(i) => (proto.i, proto.r#type) = (i, attribute_type::INT),
        AttrValue::Ints(ints) => (proto.ints, proto.r#type) = (ints, attribute_type::INTS),
        AttrValue::Float(f) => (proto.f, proto.r#type) = (f, attribute_type::FLOAT),
        AttrValue::Floats(floats) => (proto.floats, proto.r#type) = (floats, attribute_type::FLOATS),
        AttrValue::Text(s) => (proto.s, proto.r#type) = (s.into_bytes(), attribute_type::STRING),
    }
    proto
}

#[cfg(all(test, feature = "layers", feature = "processors"))]
mod tests;
