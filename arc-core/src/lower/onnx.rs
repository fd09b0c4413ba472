//! The ONNX lowering API: a component adds ONNX nodes and initializers to an
//! [`OnnxGraph`] by value name; the exporter plugin that implements the
//! graph does the protobuf encoding. A plugin crate depending on arc-core
//! alone can lower its layers.

use std::fmt::Debug;

use crate::{Error, Result, Tensor};

/// An attribute value of an ONNX node.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// `INT`.
    Int(i64),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `FLOAT`.
    Float(f32),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `STRING` (UTF-8).
    Text(String),
}

/// A named attribute of an ONNX node.
#[derive(Clone, Debug, PartialEq)]
pub struct Attr {
    /// The attribute's name (`axis`).
    pub name: String,
    /// Its value.
    pub value: AttrValue,
}

impl Attr {
    /// An `INT` attribute.
    pub fn int(name: &str, value: i64) -> Self {
        Self { name: name.to_owned(), value: AttrValue::Int(value) }
    }

    /// An `INTS` attribute.
    pub fn ints(name: &str, value: Vec<i64>) -> Self {
        Self { name: name.to_owned(), value: AttrValue::Ints(value) }
    }

    /// A `FLOAT` attribute.
    pub fn float(name: &str, value: f32) -> Self {
        Self { name: name.to_owned(), value: AttrValue::Float(value) }
    }

    /// A `STRING` attribute.
    pub fn text(name: &str, value: &str) -> Self {
        Self { name: name.to_owned(), value: AttrValue::Text(value.to_owned()) }
    }
}

/// The ONNX graph being written (ai.onnx domain), as a lowering sees it.
pub trait OnnxGraph {
    /// The opset being written.
    fn opset(&self) -> i64;

    /// The model's weight or buffer `name` (`fc1.weight`), if it has one.
    fn tensor(&self, name: &str) -> Option<Tensor>;

    /// The weight `name` as an initializer of that name; returns the name.
    /// A model without it is an error naming it.
    fn weight(&mut self, name: &str) -> Result<String>;

    /// An f32 initializer `name` of shape `dims`; returns the name.
    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String;

    /// An int64 initializer `name` of shape `dims` (axes, shapes, split
    /// sizes); returns the name.
    fn constant_i64(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String;

    /// An f32 scalar initializer with a fresh name under `prefix`.
    fn scalar(&mut self, prefix: &str, value: f32) -> String;

    /// Adds an `op_type` node whose one output is `output`; returns `output`.
    fn node(&mut self, op_type: &str, name: &str, inputs: Vec<String>, output: &str, attrs: Vec<Attr>) -> String;

    /// Adds an `op_type` node whose output gets a fresh name under
    /// `prefix`; returns that name.
    fn op(&mut self, op_type: &str, prefix: &str, inputs: Vec<String>, attrs: Vec<Attr>) -> String;

    /// Adds an `op_type` node with `count` outputs (`Split`), named freshly
    /// under `prefix`; returns their names in order.
    fn op_outputs(
        &mut self,
        op_type: &str,
        prefix: &str,
        inputs: Vec<String>,
        count: usize,
        attrs: Vec<Attr>,
    ) -> Vec<String>;
}

/// The node being lowered.
#[derive(Clone, Copy, Debug)]
pub struct OnnxNode<'a> {
    /// The spec's node name; its weights are `name.weight`, ...
    pub name: &'a str,
    /// The component's registered name (`core.Linear`), for messages.
    pub component: &'a str,
    /// The ONNX values of its inputs, in port order.
    pub inputs: &'a [String],
    /// The value name its output must get.
    pub output: &'a str,
}

impl OnnxNode<'_> {
    /// The first input; a node without one is an error.
    pub fn input(&self) -> Result<String> {
        self.inputs.first().cloned().ok_or_else(|| self.unsupported("it has no input"))
    }

    /// `name.param`: the name of one of the node's weights.
    pub fn weight_name(&self, param: &str) -> String {
        format!("{}.{param}", self.name)
    }

    /// The error for a configuration this lowering cannot express.
    pub fn unsupported(&self, detail: &str) -> Error {
        Error::ExportUnsupported {
            format: "onnx".into(),
            node: self.name.to_owned(),
            layer_type: self.component.to_owned(),
            detail: if detail.is_empty() { String::new() } else { format!(": {detail}") },
        }
    }
}

/// A layer's ONNX form (from [`Layer::onnx`](crate::nn::Layer::onnx)):
/// owned, so the exporter's model view can carry it.
pub trait OnnxLowering: Send + Sync + Debug {
    /// Adds the nodes computing `node.output` from `node.inputs`.
    fn lower(&self, node: &OnnxNode<'_>, graph: &mut dyn OnnxGraph) -> Result<()>;

    /// Whether the layer's inputs are int64 indices (an embedding lookup):
    /// a model input feeding it directly is then declared int64. Default `false`.
    fn takes_indices(&self) -> bool {
        false
    }
}

/// GELU in opset-17 ops (no `Gelu` before opset 20), written to `out`: the
/// exact form `0.5 x (1 + erf(x / sqrt 2))`, or the tanh form
/// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`. For any layer
/// computing GELU, built-in or plugin.
pub fn gelu_formula(g: &mut dyn OnnxGraph, name: &str, x: String, out: &str, tanh: bool) -> String {
    let inner = if tanh {
        let x2 = g.op("Mul", name, vec![x.clone(), x.clone()], Vec::new());
        let x3 = g.op("Mul", name, vec![x2, x.clone()], Vec::new());
        let c = g.scalar(name, 0.044715);
        let cx3 = g.op("Mul", name, vec![x3, c], Vec::new());
        let sum = g.op("Add", name, vec![x.clone(), cx3], Vec::new());
        let k = g.scalar(name, (2.0f32 / std::f32::consts::PI).sqrt());
        let arg = g.op("Mul", name, vec![sum, k], Vec::new());
        g.op("Tanh", name, vec![arg], Vec::new())
    } else {
        let sqrt2 = g.scalar(name, std::f32::consts::SQRT_2);
        let scaled = g.op("Div", name, vec![x.clone(), sqrt2], Vec::new());
        g.op("Erf", name, vec![scaled], Vec::new())
    };
    let one = g.scalar(name, 1.0);
    let plus = g.op("Add", name, vec![inner, one], Vec::new());
    let half = g.scalar(name, 0.5);
    let hx = g.op("Mul", name, vec![x, half], Vec::new());
    g.node("Mul", name, vec![hx, plus], out, Vec::new())
}
