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
/// is the element type the input must have and `source` (default: the
/// pipeline tensor `tensors.<input name>`, else the table column of that
/// name) names the pipeline tensor it reads.
///
/// ```
/// use arc_core::spec::{Config, InputSpec, ShapeEntry};
///
/// let input: InputSpec = Config::from_yaml("{dtype: int64, shape: [null, vars.max_len]}")?.parse("model.inputs.ids")?;
/// assert_eq!(input.shape(), Some(&[ShapeEntry::Any, ShapeEntry::Var("max_len".into())][..]));
/// let err = Config::from_yaml("[null, four]")?.parse::<InputSpec>("model.inputs.x").unwrap_err();
/// assert!(err.to_string().contains("shape entry `four` is not a size, null or `vars.X`"), "{err}");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum InputSpec {
    /// A bare shape.
    Shape(Vec<ShapeEntry>),
    /// A shape, a source and a dtype, each optional.
    Full {
        /// The shape; `None`: unchecked.
        shape: Option<Vec<ShapeEntry>>,
        /// The pipeline tensor (`tensors.X`). Default `tensors.<input name>`.
        source: Option<String>,
        /// The element type. Default: unchecked (a table column reads as float32).
        dtype: Option<InputDType>,
    },
}

impl InputSpec {
    /// The declared shape, if any.
    pub fn shape(&self) -> Option<&[ShapeEntry]> {
        match self {
            Self::Shape(s) | Self::Full { shape: Some(s), .. } => Some(s),
            Self::Full { shape: None, .. } => None,
        }
    }

    /// The pipeline tensor named by `source:` (without `tensors.`), if given.
    pub fn source(&self) -> Option<&str> {
        match self {
            Self::Full { source: Some(s), .. } => Some(s.strip_prefix("tensors.").unwrap_or(s)),
            _ => None,
        }
    }

    /// The declared element type, if any.
    pub fn dtype(&self) -> Option<InputDType> {
        match self {
            Self::Full { dtype, .. } => *dtype,
            Self::Shape(_) => None,
        }
    }
}

/// One entry of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeEntry {
    /// `null`: the batch, or a size known only from data.
    Any,
    /// A fixed size.
    Size(usize),
    /// `vars.X`: a size a processor step finds (the name without `vars.`).
    Var(String),
}

impl ShapeEntry {
    /// The size, with `vars` giving `vars.X`: `Ok(None)` for `null`; an
    /// `Err` with the text of a var that is missing or not a whole number.
    pub fn resolve(&self, vars: &BTreeMap<String, f64>) -> std::result::Result<Option<usize>, String> {
        match self {
            Self::Any => Ok(None),
            Self::Size(n) => Ok(Some(*n)),
            Self::Var(name) => match vars.get(name) {
                Some(&v) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => Ok(Some(v as usize)),
                _ => Err(format!("vars.{name}")),
            },
        }
    }
}

impl std::fmt::Display for ShapeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("null"),
            Self::Size(n) => write!(f, "{n}"),
            Self::Var(name) => write!(f, "vars.{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for ShapeEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_yaml::Value;
        let value = Value::deserialize(d)?;
        let entry = match &value {
            Value::Null => Some(Self::Any),
            Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()).map(Self::Size),
            Value::String(s) => s.strip_prefix("vars.").filter(|n| !n.is_empty()).map(|n| Self::Var(n.to_owned())),
            _ => None,
        };
        entry.ok_or_else(|| {
            let text = serde_yaml::to_string(&value).map(|t| t.trim().to_owned()).unwrap_or_default();
            serde::de::Error::custom(format!("shape entry `{text}` is not a size, null or `vars.X`"))
        })
    }
}

impl<'de> Deserialize<'de> for InputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// The mapping form.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(default)]
            shape: Option<Vec<ShapeEntry>>,
            #[serde(default)]
            source: Option<String>,
            #[serde(default)]
            dtype: Option<InputDType>,
        }
        let value = serde_yaml::Value::deserialize(d)?;
        match value {
            serde_yaml::Value::Sequence(_) => serde_yaml::from_value(value).map(Self::Shape).map_err(D::Error::custom),
            serde_yaml::Value::Mapping(_) => serde_yaml::from_value::<Full>(value)
                .map(|f| Self::Full { shape: f.shape, source: f.source, dtype: f.dtype })
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "expected a shape (`[null, 4]`, entries a size, null or `vars.X`) or a mapping \
                 `{dtype: float32 | int64, shape: [...], source: tensors.X}`",
            )),
        }
    }
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
#[derive(Clone, Debug, PartialEq)]
pub enum NodeInputs {
    /// One ref.
    One(String),
    /// Refs bound to the layer's ports in order.
    List(Vec<String>),
    /// Refs by port, in the order the YAML writes them.
    Ports(Vec<(String, String)>),
}

impl<'de> Deserialize<'de> for NodeInputs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_yaml::Value::deserialize(d)?;
        let form = "expected a ref (`fc1`), a list of refs, or a mapping `{port: ref}`";
        match value {
            serde_yaml::Value::String(r) => Ok(Self::One(r)),
            serde_yaml::Value::Sequence(_) => {
                serde_yaml::from_value(value).map(Self::List).map_err(|_| D::Error::custom(form))
            }
            serde_yaml::Value::Mapping(_) => {
                ordered::deserialize(value).map(Self::Ports).map_err(|_| D::Error::custom(form))
            }
            _ => Err(D::Error::custom(form)),
        }
    }
}

/// The model's `outputs`.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputsSpec {
    /// `{name: ref}`, in the order the YAML writes them.
    Named(Vec<(String, String)>),
    /// A list of refs, each named after its node.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for OutputsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_yaml::Value::deserialize(d)?;
        let form = "expected a mapping `{name: ref}` or a list of refs";
        match value {
            serde_yaml::Value::Sequence(_) => {
                serde_yaml::from_value(value).map(Self::List).map_err(|_| D::Error::custom(form))
            }
            serde_yaml::Value::Mapping(_) => {
                ordered::deserialize(value).map(Self::Named).map_err(|_| D::Error::custom(form))
            }
            _ => Err(D::Error::custom(form)),
        }
    }
}

impl ModelSpec {
    /// Parses the `model` section.
    pub fn from_config(config: &Config) -> crate::Result<Self> {
        config.parse("model")
    }
}

/// Deserializes a mapping into a list of pairs in document order.
pub(super) mod ordered {
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
