//! A `features.processors` step as written in the spec, and the refs that
//! name values in the three namespaces.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// The three namespaces values bind into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// `tensors.X`: tensors.
    Tensors,
    /// `vars.X`: scalars.
    Vars,
    /// `states.X`: fitted states.
    States,
}

impl Namespace {
    /// The prefix as written: `tensors`, `vars`, `states`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tensors => "tensors",
            Self::Vars => "vars",
            Self::States => "states",
        }
    }
}

/// A ref to a value: `tensors.X`, `vars.X` or `states.X`.
///
/// ```
/// use arc_core::process::{Namespace, Ref};
///
/// let r = Ref::parse("vars.n_features").unwrap();
/// assert_eq!((r.namespace, r.name.as_str()), (Namespace::Vars, "n_features"));
/// assert_eq!(r.to_string(), "vars.n_features");
/// assert!(Ref::parse("features.x").is_none() && Ref::parse("tensors.").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    /// The namespace.
    pub namespace: Namespace,
    /// The name inside it (may itself hold dots).
    pub name: String,
}

impl Ref {
    /// A ref in `namespace`.
    pub fn new(namespace: Namespace, name: impl Into<String>) -> Self {
        Self { namespace, name: name.into() }
    }

    /// Parses `tensors.X` / `vars.X` / `states.X`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, name) = text.split_once('.')?;
        let namespace = match prefix {
            "tensors" => Namespace::Tensors,
            "vars" => Namespace::Vars,
            "states" => Namespace::States,
            _ => return None,
        };
        (!name.is_empty()).then(|| Self::new(namespace, name))
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace.as_str(), self.name)
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ref::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a ref `tensors.X`, `vars.X` or `states.X`, got `{text}`"))
        })
    }
}

/// What a step's input port is bound to.
#[derive(Clone, Debug, PartialEq)]
pub enum StepInput {
    /// A namespace ref (`tensors.x`, `vars.n`, `states.scaler`).
    Ref(Ref),
    /// A list of column names (`[sepal_length, sepal_width]`).
    Columns(Vec<String>),
    /// Any other literal param (a number, a string, a list of numbers...).
    Literal(Literal),
}

/// A literal param value, as written in the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal(pub(crate) serde_yaml::Value);

impl Literal {
    /// The literal as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }

    /// The literal as a list of numbers, if it is one (`[0, 1]`).
    pub fn as_numbers(&self) -> Option<Vec<f64>> {
        self.0.as_sequence()?.iter().map(serde_yaml::Value::as_f64).collect()
    }
}

impl<'de> Deserialize<'de> for StepInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        if let Some(r) = value.as_str().and_then(Ref::parse) {
            return Ok(Self::Ref(r));
        }
        if let Some(items) = value.as_sequence()
            && !items.is_empty()
            && let Some(names) = items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
        {
            return Ok(Self::Columns(names));
        }
        Ok(Self::Literal(Literal(value)))
    }
}

/// One step of `features.processors`.
///
/// ```
/// use arc_core::process::{ProcessorStep, StepInput};
/// use arc_core::spec::Config;
///
/// let yaml = "name: assemble\nop: transform.assemble_vector\ninputs: {columns: [a, b]}\noutputs: {output: tensors.x}";
/// let step: ProcessorStep = Config::from_yaml(yaml)?.parse("features.processors")?;
/// assert_eq!(step.inputs["columns"], StepInput::Columns(vec!["a".into(), "b".into()]));
/// assert_eq!(step.outputs["output"].to_string(), "tensors.x");
/// assert!(!step.train_only);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorStep {
    /// The step's name, unique in the pipeline; named in errors.
    pub name: String,
    /// The processor: a registered processor name (`transform.assemble_vector`,
    /// `StandardNormalization`).
    pub op: String,
    /// Run at training only (default `false`); `inspect.*` and `fit.*` ops
    /// always are.
    #[serde(default)]
    pub train_only: bool,
    /// Input ports: refs, column lists or literal params.
    #[serde(default)]
    pub inputs: BTreeMap<String, StepInput>,
    /// Output ports, each bound to a namespace ref.
    #[serde(default)]
    pub outputs: BTreeMap<String, Ref>,
}

impl ProcessorStep {
    /// Whether the step runs at training only: `train_only: true`, or an op
    /// named `inspect.*` or `fit.*`.
    pub fn is_train_only(&self) -> bool {
        self.train_only || self.op.starts_with("inspect.") || self.op.starts_with("fit.")
    }

    /// Where the step's fitted state is bound: its `state` output, or
    /// `states.<step name>`.
    pub fn state_ref(&self) -> Ref {
        self.outputs.get("state").cloned().unwrap_or_else(|| Ref::new(Namespace::States, self.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Config;

    fn step(yaml: &str) -> ProcessorStep {
        Config::from_yaml(yaml).and_then(|c| c.parse("features.processors")).expect("the test's step parses")
    }

    #[test]
    fn inputs_are_refs_column_lists_or_literals() {
        let s = step("name: s\nop: x.y\ninputs: {a: tensors.t, b: [c1, c2], c: 3, d: ignore, e: [0, 1], f: []}");
        assert_eq!(s.inputs["a"], StepInput::Ref(Ref::new(Namespace::Tensors, "t")));
        assert_eq!(s.inputs["b"], StepInput::Columns(vec!["c1".into(), "c2".into()]));
        assert!(matches!(&s.inputs["c"], StepInput::Literal(l) if l.0.as_u64() == Some(3)));
        assert!(matches!(&s.inputs["d"], StepInput::Literal(l) if l.as_str() == Some("ignore")));
        // A list of numbers and an empty list are literals, not column lists.
        assert!(matches!(&s.inputs["e"], StepInput::Literal(_)));
        assert!(matches!(&s.inputs["f"], StepInput::Literal(_)));
    }

    #[test]
    fn outputs_must_be_refs() {
        let err = Config::from_yaml("name: s\nop: x.y\noutputs: {output: features.x}")
            .and_then(|c| c.parse::<ProcessorStep>("features.processors"))
            .unwrap_err();
        assert!(
            err.to_string().contains("expected a ref `tensors.X`, `vars.X` or `states.X`, got `features.x`"),
            "{err}"
        );
        let err = Config::from_yaml("name: s\nop: x.y\ntrian_only: true")
            .and_then(|c| c.parse::<ProcessorStep>("p"))
            .unwrap_err();
        assert_eq!(err.to_string(), "p: unknown parameter `trian_only` (did you mean `train_only`?)");
    }

    #[test]
    fn train_only_and_the_state_ref_follow_the_op_and_the_outputs() {
        assert!(step("name: s\nop: fit.standard_scaler").is_train_only());
        assert!(step("name: s\nop: inspect.feature_stats").is_train_only());
        assert!(step("name: s\nop: LabelEncoding\ntrain_only: true").is_train_only());
        assert!(!step("name: s\nop: transform.standard_scaler").is_train_only());
        assert_eq!(step("name: s\nop: A").state_ref().to_string(), "states.s");
        assert_eq!(step("name: s\nop: A\noutputs: {state: states.z}").state_ref().to_string(), "states.z");
    }
}
