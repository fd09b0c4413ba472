//! The values that flow between processor steps: fitted states, a
//! processor's inputs and its outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::Table;
use crate::{DidYouMean, Error, Result, Tensor};

/// A processor's fitted state: named number vectors and string lists,
/// tagged with the kind of op that fitted it. It serializes with serde
/// (to JSON in a model directory) and loads back unchanged.
///
/// ```
/// use arc_core::process::ProcessorState;
///
/// let state = ProcessorState::new("standard_scaler")
///     .with_numbers("mean", vec![1.5, -2.0])
///     .with_strings("columns", vec!["a".into(), "b".into()]);
/// assert_eq!(state.numbers("standard_scaler", "mean")?, [1.5, -2.0]);
/// let err = state.numbers("standard_scaler", "scale").unwrap_err();
/// assert_eq!(err.to_string(), "standard_scaler: the fitted state has no `scale`");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorState {
    /// The kind of op that fitted it (`standard_scaler`, `one_hot`, ...):
    /// a transform checks it before reading the state.
    pub kind: String,
    /// Named number vectors (means, scales, minima).
    #[serde(default)]
    pub numbers: BTreeMap<String, Vec<f64>>,
    /// Named string lists (column names, categories, classes).
    #[serde(default)]
    pub strings: BTreeMap<String, Vec<String>>,
}

impl ProcessorState {
    /// An empty state of `kind`.
    pub fn new(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), ..Self::default() }
    }

    /// Adds a number vector.
    pub fn with_numbers(mut self, key: impl Into<String>, values: Vec<f64>) -> Self {
        self.numbers.insert(key.into(), values);
        self
    }

    /// Adds a string list.
    pub fn with_strings(mut self, key: impl Into<String>, values: Vec<String>) -> Self {
        self.strings.insert(key.into(), values);
        self
    }

    /// The number vector `key`, or [`Error::InvalidState`] naming `component`.
    pub fn numbers(&self, component: &str, key: &str) -> Result<&[f64]> {
        self.numbers.get(key).map(Vec::as_slice).ok_or_else(|| invalid_state(component, key))
    }

    /// The string list `key`, or [`Error::InvalidState`] naming `component`.
    pub fn strings(&self, component: &str, key: &str) -> Result<&[String]> {
        self.strings.get(key).map(Vec::as_slice).ok_or_else(|| invalid_state(component, key))
    }

    /// Checks that the state was fitted by an op of `kind`
    /// ([`Error::StateKind`] otherwise).
    pub fn expect_kind(&self, component: &str, kind: &str) -> Result<()> {
        if self.kind == kind {
            return Ok(());
        }
        Err(Error::StateKind { component: component.to_owned(), expected: kind.to_owned(), got: self.kind.clone() })
    }
}

fn invalid_state(component: &str, key: &str) -> Error {
    Error::InvalidState { component: component.to_owned(), key: key.to_owned() }
}

/// A value bound to one input port.
#[derive(Clone, Debug)]
pub enum InputValue {
    /// From `tensors.X`.
    Tensor(Tensor),
    /// From `states.X` (or a named processor's own fitted state).
    State(ProcessorState),
}

impl InputValue {
    fn kind(&self) -> &'static str {
        match self {
            Self::Tensor(_) => "a tensor",
            Self::State(_) => "a state",
        }
    }
}

/// What a processor reads: the table and its input ports.
#[derive(Clone, Debug)]
pub struct ProcessorInputs<'a> {
    component: String,
    table: &'a Table,
    values: BTreeMap<String, InputValue>,
}

impl<'a> ProcessorInputs<'a> {
    /// No ports yet, over `table`; `component` (the op's name) is named in
    /// errors.
    pub fn new(component: impl Into<String>, table: &'a Table) -> Self {
        Self { component: component.into(), table, values: BTreeMap::new() }
    }

    /// Binds `port` to a tensor.
    pub fn with_tensor(mut self, port: impl Into<String>, tensor: Tensor) -> Self {
        self.values.insert(port.into(), InputValue::Tensor(tensor));
        self
    }

    /// Binds `port` to a state.
    pub fn with_state(mut self, port: impl Into<String>, state: ProcessorState) -> Self {
        self.values.insert(port.into(), InputValue::State(state));
        self
    }

    /// Binds `port` to a value.
    pub fn insert(&mut self, port: impl Into<String>, value: InputValue) {
        self.values.insert(port.into(), value);
    }

    /// The table the pipeline runs on.
    pub fn table(&self) -> &'a Table {
        self.table
    }

    /// The op's name, as given to [`new`](Self::new).
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Whether `port` is bound.
    pub fn contains(&self, port: &str) -> bool {
        self.values.contains_key(port)
    }

    /// The value at `port`, or [`Error::MissingInput`].
    pub fn get(&self, port: &str) -> Result<&InputValue> {
        self.values
            .get(port)
            .ok_or_else(|| Error::MissingInput { component: self.component.clone(), port: port.to_owned() })
    }

    /// The tensor at `port`; [`Error::MissingInput`] or [`Error::InputKind`].
    pub fn tensor(&self, port: &str) -> Result<&Tensor> {
        match self.get(port)? {
            InputValue::Tensor(t) => Ok(t),
            other => Err(self.kind_error(port, "a tensor", other)),
        }
    }

    /// The state at `port`; [`Error::MissingInput`] or [`Error::InputKind`].
    pub fn state(&self, port: &str) -> Result<&ProcessorState> {
        match self.get(port)? {
            InputValue::State(s) => Ok(s),
            other => Err(self.kind_error(port, "a state", other)),
        }
    }

    fn kind_error(&self, port: &str, expected: &'static str, got: &InputValue) -> Error {
        Error::InputKind { component: self.component.clone(), port: port.to_owned(), expected, got: got.kind() }
    }
}

/// A value on one output port.
#[derive(Clone, Debug)]
pub enum OutputValue {
    /// Bound to `tensors.X`.
    Tensor(Tensor),
    /// Bound to `vars.X`.
    Var(f64),
    /// Bound to `states.X`.
    State(ProcessorState),
}

impl OutputValue {
    /// The namespace the value binds into.
    pub fn namespace(&self) -> crate::types::Namespace {
        match self {
            Self::Tensor(_) => crate::types::Namespace::Tensors,
            Self::Var(_) => crate::types::Namespace::Vars,
            Self::State(_) => crate::types::Namespace::States,
        }
    }
}

/// What a processor's `transform` returns: values by output port.
#[derive(Clone, Debug, Default)]
pub struct ProcessorOutputs {
    values: BTreeMap<String, OutputValue>,
}

impl ProcessorOutputs {
    /// No outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor output.
    pub fn tensor(mut self, port: impl Into<String>, tensor: Tensor) -> Self {
        self.values.insert(port.into(), OutputValue::Tensor(tensor));
        self
    }

    /// Adds a scalar output.
    pub fn var(mut self, port: impl Into<String>, value: f64) -> Self {
        self.values.insert(port.into(), OutputValue::Var(value));
        self
    }

    /// Adds a state output.
    pub fn state(mut self, port: impl Into<String>, state: ProcessorState) -> Self {
        self.values.insert(port.into(), OutputValue::State(state));
        self
    }

    /// The tensor on `port`, if any.
    pub fn get_tensor(&self, port: &str) -> Option<&Tensor> {
        match self.values.get(port)? {
            OutputValue::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The scalar on `port`, if any.
    pub fn get_var(&self, port: &str) -> Option<f64> {
        match self.values.get(port)? {
            OutputValue::Var(v) => Some(*v),
            _ => None,
        }
    }

    /// Takes the value on `port` out, or [`Error::UnknownPort`] with
    /// did-you-mean among the ports produced.
    pub fn take(&mut self, component: &str, port: &str) -> Result<OutputValue> {
        self.values.remove(port).ok_or_else(|| Error::UnknownPort {
            component: component.to_owned(),
            direction: "output",
            port: port.to_owned(),
            hint: DidYouMean::among(port, self.values.keys().map(String::as_str)),
        })
    }

    /// The output ports produced, sorted.
    pub fn ports(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_report_missing_ports_and_wrong_kinds() {
        let table = Table::default();
        let inputs = ProcessorInputs::new("core.Op", &table).with_state("state", ProcessorState::new("k"));
        assert_eq!(inputs.tensor("x").unwrap_err().to_string(), "core.Op: missing input `x`");
        assert_eq!(
            inputs.tensor("state").unwrap_err().to_string(),
            "core.Op: input `state` must be a tensor, got a state"
        );
        assert_eq!(inputs.state("state").unwrap().kind, "k");
    }

    #[test]
    fn states_check_their_kind_and_outputs_suggest_ports() {
        let state = ProcessorState::new("one_hot");
        assert_eq!(
            state.expect_kind("core.X", "label_encoder").unwrap_err().to_string(),
            "core.X: expected a state fitted by `label_encoder`, got one fitted by `one_hot`"
        );
        let mut outputs = ProcessorOutputs::new().var("n_features", 3.0);
        assert_eq!(
            outputs.take("core.X", "n_feature").unwrap_err().to_string(),
            "core.X: no output port `n_feature` (did you mean `n_features`?)"
        );
        assert!(matches!(outputs.take("core.X", "n_features"), Ok(OutputValue::Var(v)) if v == 3.0));
    }
}
