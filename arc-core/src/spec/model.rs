//! The typed `model` section (also the shape of a `modules:` entry).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Config;

/// The spec's `model` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The model's inputs, by name, in declaration order. Default none.
    #[serde(default, with = "ordered")]
    pub inputs: Vec<(String, InputSpec)>,
    /// The nodes, in declaration order. Default none.
    #[serde(default)]
    pub graph: Vec<NodeSpec>,
    /// The model's outputs: `{name: ref}`, or a list of refs (each named
    /// after its node). Default: the last node, named after it.
    #[serde(default)]
    pub outputs: Option<OutputsSpec>,
    /// The spec's `modules:` sub-graphs, which nodes use as
    /// `type: module.<name>`; filled by [`ArcSpec::from_yaml`](super::ArcSpec::from_yaml)
    /// (not a key of the `model` section). Default none.
    #[serde(skip)]
    pub modules: BTreeMap<String, ModelSpec>,
}

/// A model input: its shape (`[null, 4]`, entries may be `vars.X`), or a
/// mapping `{dtype, shape, source}` where `dtype` (`float32` or `int64`)
/// is the element type the input must have and `source` (default
/// `tensors.<input name>`) names the pipeline tensor it reads.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum InputSpec {
    /// A bare shape.
    Shape(Vec<serde_yaml::Value>),
    /// A shape and a source.
    Full {
        /// The shape; `null` for unknown sizes. Default: unchecked.
        #[serde(default)]
        shape: Option<Vec<serde_yaml::Value>>,
        /// The pipeline tensor (`tensors.X`). Default `tensors.<input name>`.
        #[serde(default)]
        source: Option<String>,
        /// The element type. Default: unchecked.
        #[serde(default)]
        dtype: Option<InputDType>,
    },
}

/// A model input's element type, as the Python tool writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum InputDType {
    /// 32-bit floats (`float32`, also `float` or `f32`).
    #[serde(rename = "float32", alias = "float", alias = "f32")]
    Float32,
    /// 64-bit integers, e.g. token ids (`int64`, also `long` or `i64`).
    #[serde(rename = "int64", alias = "long", alias = "i64")]
    Int64,
}

impl InputDType {
    /// The tensor dtype it names.
    pub fn dtype(self) -> crate::DType {
        match self {
            Self::Float32 => crate::DType::F32,
            Self::Int64 => crate::DType::I64,
        }
    }
}

/// One graph node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name, unique; its parameters are `name.weight` etc.
    pub name: String,
    /// The layer type (`Linear`, `core.Linear`, `torch.nn.Linear`).
    #[serde(rename = "type")]
    pub layer_type: String,
    /// The layer's params; `vars.X` values are substituted. Default none.
    #[serde(default)]
    pub params: Option<Config>,
    /// The inputs: one ref, a list (bound to the layer's ports in order),
    /// or `{port: ref}`. Default: the previous node's output (the model's
    /// only input for the first node).
    #[serde(default)]
    pub inputs: Option<NodeInputs>,
}

/// A node's `inputs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum NodeInputs {
    /// One ref.
    One(String),
    /// Refs bound to the layer's ports in order.
    List(Vec<String>),
    /// Refs by port.
    Ports(BTreeMap<String, String>),
}

/// The model's `outputs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OutputsSpec {
    /// `{name: ref}`.
    Named(BTreeMap<String, String>),
    /// A list of refs, each named after its node.
    List(Vec<String>),
}

impl ModelSpec {
    /// Parses the `model` section.
    pub fn from_config(config: &Config) -> crate::Result<Self> {
        config.parse("model")
    }
}

/// Deserializes a mapping into a list of pairs in document order.
mod ordered {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(d: D) -> Result<Vec<(String, V)>, D::Error> {
        struct Pairs<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
            type Value = Vec<(String, V)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of input names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_any(Pairs(std::marker::PhantomData))
    }
}
