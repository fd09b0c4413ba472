//! A `features.processors` step as written in the spec, and the refs that
//! name values in the three namespaces.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

pub use crate::types::Namespace;

/// A ref to a value: `tensors.X`, `vars.X` or `states.X`.
///
/// ```
/// use arc_core::spec::{Namespace, Ref};
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

/// A literal param value, as written in the spec: a number, a word, a
/// list... The processor's config reads it (see
/// [`Pipeline`](crate::pipeline::Pipeline)).
#[derive(Clone, Debug, PartialEq)]
pub struct Literal(pub(crate) serde_yaml::Value);

impl Literal {
    /// The literal as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }

    /// The literal as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        self.0.as_f64()
    }

    /// The literal as a list of numbers, if it is one (`[0, 1]`).
    pub fn as_numbers(&self) -> Option<Vec<f64>> {
        self.0.as_sequence()?.iter().map(serde_yaml::Value::as_f64).collect()
    }
}

impl serde::Serialize for Literal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
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
/// `outputs` maps global names to the operator's output ports, as the
/// original schema writes them (`{tensors.raw: output}`); the namespaced
/// side tells it from Arc's earlier reversed form (`{output: tensors.raw}`),
/// which is still read: the keys written so are listed in
/// [`reversed_outputs`](Self::reversed_outputs), and validation warns at
/// each.
///
/// ```
/// use arc_core::spec::{Config, ProcessorStep, StepInput};
///
/// let yaml = "name: assemble\nop: transform.assemble_vector\ninputs: {columns: [a, b]}\noutputs: {tensors.x: output}";
/// let step: ProcessorStep = Config::from_yaml(yaml)?.parse("features.processors")?;
/// assert_eq!(step.inputs["columns"], StepInput::Columns(vec!["a".into(), "b".into()]));
/// assert_eq!(step.outputs["output"].to_string(), "tensors.x");
/// assert!(!step.train_only && step.reversed_outputs.is_empty());
/// // The reversed form binds the same way, and is noted.
/// let old: ProcessorStep = Config::from_yaml(&yaml.replace("tensors.x: output", "output: tensors.x"))?.parse("p")?;
/// assert_eq!((old.outputs, old.reversed_outputs), (step.outputs, vec!["output".to_owned()]));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, from = "RawStep")]
pub struct ProcessorStep {
    /// The step's name, unique in the pipeline; named in errors.
    pub name: String,
    /// The processor: a registered processor name (`transform.assemble_vector`,
    /// `StandardNormalization`).
    pub op: String,
    /// Run at training only (default `false`); `inspect.*` and `fit.*` ops
    /// always are.
    pub train_only: bool,
    /// Input ports: refs, column lists or literal params (a word such as
    /// `left`, a number, or a bare table column `country`).
    pub inputs: BTreeMap<String, StepInput>,
    /// The operator's output ports, each bound to a global name.
    pub outputs: BTreeMap<String, Ref>,
    /// The `outputs` keys written in the reversed form (`{output: tensors.x}`):
    /// ports, in document order.
    pub reversed_outputs: Vec<String>,
}

/// A step as written, before its outputs are oriented.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    op: String,
    #[serde(default)]
    train_only: bool,
    #[serde(default)]
    inputs: BTreeMap<String, StepInput>,
    #[serde(default)]
    outputs: StepOutputs,
}

impl From<RawStep> for ProcessorStep {
    fn from(raw: RawStep) -> Self {
        let RawStep { name, op, train_only, inputs, outputs } = raw;
        Self { name, op, train_only, inputs, outputs: outputs.ports, reversed_outputs: outputs.reversed }
    }
}

/// A step's `outputs`, oriented: port → global name.
#[derive(Default)]
struct StepOutputs {
    ports: BTreeMap<String, Ref>,
    reversed: Vec<String>,
}

impl<'de> Deserialize<'de> for StepOutputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let pairs: Vec<(String, String)> = super::model::ordered::deserialize(d)?;
        let mut out = StepOutputs::default();
        for (key, value) in pairs {
            let (port, global, reversed) = match (Ref::parse(&key), Ref::parse(&value)) {
                (Some(global), None) => (value, global, false),
                (None, Some(global)) => (key, global, true),
                (Some(_), Some(_)) => {
                    return Err(D::Error::custom(format!(
                        "`{key}: {value}` names two globals; write `global: port`, e.g. `{key}: output`"
                    )));
                }
                (None, None) => {
                    return Err(D::Error::custom(format!(
                        "`{key}: {value}`: write `global: port`, the global a namespaced name \
                         (`tensors.X`, `vars.X` or `states.X`), e.g. `tensors.{key}: {value}`"
                    )));
                }
            };
            if let Some(first) = out.ports.get(&port) {
                return Err(D::Error::custom(format!(
                    "output port `{port}` is bound twice (to `{first}` and `{global}`); bind it once"
                )));
            }
            if reversed {
                out.reversed.push(port.clone());
            }
            out.ports.insert(port, global);
        }
        Ok(out)
    }
}

impl ProcessorStep {
    /// Whether the step runs at training only: `train_only: true`, or an op
    /// named `inspect.*` or `fit.*`.
    pub fn is_train_only(&self) -> bool {
        self.train_only || self.op.starts_with("inspect.") || self.op.starts_with("fit.")
    }

    /// Whether a prediction run skips the step, its op resolved to the
    /// registered name `op` (an alias may hide an `inspect.*` / `fit.*` op).
    pub fn is_train_only_as(&self, op: &str) -> bool {
        self.is_train_only() || op.starts_with("inspect.") || op.starts_with("fit.")
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

    fn step_error(yaml: &str) -> String {
        Config::from_yaml(yaml)
            .and_then(|c| c.parse::<ProcessorStep>("p"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn inputs_are_refs_column_lists_or_literals() {
        let s = step("name: s\nop: x.y\ninputs: {a: tensors.t, b: [c1, c2], c: 3, d: ignore, e: [0, 1], f: []}");
        assert_eq!(s.inputs["a"], StepInput::Ref(Ref::new(Namespace::Tensors, "t")));
        assert_eq!(s.inputs["b"], StepInput::Columns(vec!["c1".into(), "c2".into()]));
        assert!(matches!(&s.inputs["c"], StepInput::Literal(l) if l.as_f64() == Some(3.0)));
        assert!(matches!(&s.inputs["d"], StepInput::Literal(l) if l.as_str() == Some("ignore")));
        // A list of numbers and an empty list are literals, not column lists.
        assert!(matches!(&s.inputs["e"], StepInput::Literal(l) if l.as_numbers() == Some(vec![0.0, 1.0])));
        assert!(matches!(&s.inputs["f"], StepInput::Literal(_)));
    }

    #[test]
    fn outputs_bind_globals_to_ports_in_either_orientation() {
        let canonical = step("name: s\nop: x.y\noutputs: {tensors.a: output, vars.n: n_features, states.z: state}");
        assert_eq!(canonical.outputs["output"].to_string(), "tensors.a");
        assert_eq!(canonical.outputs["n_features"].to_string(), "vars.n");
        assert_eq!(canonical.state_ref().to_string(), "states.z");
        assert!(canonical.reversed_outputs.is_empty());
        let mixed = step("name: s\nop: x.y\noutputs: {n_features: vars.n, tensors.a: output}");
        assert_eq!(
            mixed.outputs,
            BTreeMap::from([
                ("n_features".to_owned(), Ref::new(Namespace::Vars, "n")),
                ("output".to_owned(), Ref::new(Namespace::Tensors, "a")),
            ])
        );
        assert_eq!(mixed.reversed_outputs, ["n_features"]);
    }

    #[test]
    fn outputs_need_exactly_one_namespaced_side() {
        assert!(step_error("name: s\nop: x.y\noutputs: {output: features.x}").contains(
            "`output: features.x`: write `global: port`, the global a namespaced name (`tensors.X`, `vars.X` or \
             `states.X`), e.g. `tensors.output: features.x`"
        ));
        assert!(
            step_error("name: s\nop: x.y\noutputs: {tensors.a: tensors.b}")
                .contains("`tensors.a: tensors.b` names two globals; write `global: port`, e.g. `tensors.a: output`")
        );
        assert!(
            step_error("name: s\nop: x.y\noutputs: {tensors.a: output, tensors.b: output}")
                .contains("output port `output` is bound twice (to `tensors.a` and `tensors.b`); bind it once")
        );
        assert_eq!(
            step_error("name: s\nop: x.y\ntrian_only: true"),
            "p: unknown parameter `trian_only` (did you mean `train_only`?)"
        );
    }

    #[test]
    fn train_only_and_the_state_ref_follow_the_op_and_the_outputs() {
        assert!(step("name: s\nop: fit.standard_scaler").is_train_only());
        assert!(step("name: s\nop: inspect.feature_stats").is_train_only());
        assert!(step("name: s\nop: LabelEncoding\ntrain_only: true").is_train_only());
        assert!(!step("name: s\nop: transform.standard_scaler").is_train_only());
        assert_eq!(step("name: s\nop: A").state_ref().to_string(), "states.s");
        assert_eq!(step("name: s\nop: A\noutputs: {states.z: state}").state_ref().to_string(), "states.z");
    }
}
