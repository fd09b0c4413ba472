//! The runner of `features.processors`: [`Pipeline::fit`] at training,
//! [`Pipeline::transform`] at prediction, over the [`Processor`]
//! components the plugin registry resolves (see the
//! [`process`](crate::process) docs for the semantics).

use std::collections::BTreeMap;

use crate::data::Table;
use crate::export::ExportStep;
use crate::plugin::{Component, PluginManager};
use crate::process::{FittedState, InputValue, OutputValue, Processor, ProcessorInputs, ProcessorState};
use crate::spec::{Config, FeaturesSpec};
use crate::spec::{Namespace, ProcessorStep, Ref, StepInput};
use crate::{DidYouMean, Error, Result, Tensor};

/// The values a run bound, by namespace.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// `tensors.X`.
    pub tensors: BTreeMap<String, Tensor>,
    /// `vars.X`.
    pub vars: BTreeMap<String, f64>,
    /// `states.X`.
    pub states: BTreeMap<String, ProcessorState>,
}

impl Bindings {
    /// The vars and states to save.
    pub fn fitted(&self) -> FittedState {
        FittedState { vars: self.vars.clone(), states: self.states.clone(), target: None }
    }

    /// The tensor `tensors.name`, if bound.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    fn names(&self, namespace: Namespace) -> Vec<String> {
        let prefixed = |k: &String| format!("{}.{k}", namespace.as_str());
        match namespace {
            Namespace::Tensors => self.tensors.keys().map(prefixed).collect(),
            Namespace::Vars => self.vars.keys().map(prefixed).collect(),
            Namespace::States => self.states.keys().map(prefixed).collect(),
        }
    }
}

/// Whether a run fits (training) or only transforms (prediction).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fit,
    Transform,
}

/// The `features.processors` steps, with their ops resolved.
///
/// See the [module docs](super) for the semantics. Built with
/// [`new`](Self::new) from the steps and a plugin manager; errors from a
/// step are wrapped in [`Error::ProcessorStep`], naming the step and its op.
pub struct Pipeline {
    steps: Vec<(ProcessorStep, Component<dyn Processor>)>,
    column_lists: BTreeMap<String, Vec<String>>,
}

/// A step that runs at prediction, from [`Pipeline::prediction_steps`].
pub struct PredictionStep<'a> {
    /// The step as the spec writes it.
    pub step: &'a ProcessorStep,
    /// Its processor, built with the step's params.
    pub processor: Box<dyn Processor>,
    /// The saved state it transforms with, if there is one.
    pub state: Option<&'a ProcessorState>,
}

impl Pipeline {
    /// Resolves every step's op in `manager`'s processor registry: an
    /// unknown op is an error naming the step (with did-you-mean). Step
    /// names must be unique ([`Error::DuplicateStep`]).
    pub fn new(steps: Vec<ProcessorStep>, manager: &PluginManager) -> Result<Self> {
        let mut resolved = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            if steps[..i].iter().any(|s| s.name == step.name) {
                return Err(Error::DuplicateStep { step: step.name.clone() });
            }
            let component = manager.get_processor(&step.op).map_err(|e| wrap(step, e))?;
            resolved.push((step.clone(), component));
        }
        Ok(Self { steps: resolved, column_lists: BTreeMap::new() })
    }

    /// The pipeline of a `features` section given as a config (other keys
    /// are errors); see [`from_spec`](Self::from_spec).
    pub fn from_features(features: &Config, manager: &PluginManager) -> Result<Self> {
        Self::from_spec(&features.parse::<FeaturesSpec>("features")?, manager)
    }

    /// The pipeline of a spec's `features` section: its `processors` (the
    /// steps) with `feature_columns` and `target_columns` as the column
    /// lists steps may name (`columns: feature_columns`).
    pub fn from_spec(features: &FeaturesSpec, manager: &PluginManager) -> Result<Self> {
        Ok(Self::new(features.processors.clone(), manager)?.with_feature_lists(features))
    }

    /// Names the section's `feature_columns` and `target_columns` lists
    /// (see [`with_column_list`](Self::with_column_list)).
    pub fn with_feature_lists(self, features: &FeaturesSpec) -> Self {
        self.with_column_list("feature_columns", features.feature_columns.clone())
            .with_column_list("target_columns", features.target_columns.clone())
    }

    /// `step`'s processor built with its params as a run gives them
    /// (column lists expanded, `vars.X` from `fitted`): for decoding with
    /// a saved state outside a run.
    pub fn processor(&self, step: &ProcessorStep, fitted: &FittedState) -> Result<Box<dyn Processor>> {
        let vars = Bindings { tensors: BTreeMap::new(), vars: fitted.vars.clone(), states: BTreeMap::new() };
        let Some((_, component)) = self.steps.iter().find(|(s, _)| s.name == step.name) else {
            return Err(Error::Spec { message: format!("no processor step `{}`", step.name) });
        };
        component.create(&self.config(step, &vars)?).map_err(|e| wrap(step, e))
    }

    /// The steps [`transform`](Self::transform) runs, each with its
    /// processor built (params as a run gives them, `vars.X` from `fitted`)
    /// and the saved state it transforms with: its `state` input, or where
    /// it bound its fitted state. For the Predictor's compiled plan and the
    /// exporters.
    pub fn prediction_steps<'a>(&'a self, fitted: &'a FittedState) -> Result<Vec<PredictionStep<'a>>> {
        let vars = Bindings { tensors: BTreeMap::new(), vars: fitted.vars.clone(), states: BTreeMap::new() };
        let mut steps = Vec::new();
        for (step, component) in &self.steps {
            if step.is_train_only_as(component.name()) {
                continue;
            }
            let processor = component.create(&self.config(step, &vars)?).map_err(|e| wrap(step, e))?;
            if processor.is_train_only() {
                continue;
            }
            let reference = match step.inputs.get("state") {
                Some(StepInput::Ref(r)) if r.namespace == Namespace::States => r.clone(),
                _ => step.state_ref(),
            };
            let state = fitted.states.get(&reference.name);
            steps.push(PredictionStep { step, processor, state });
        }
        Ok(steps)
    }

    /// The [`prediction_steps`](Self::prediction_steps) as an exporter
    /// sees them: tensor inputs, output, state and the processor's ONNX form.
    pub fn export_steps(&self, fitted: &FittedState) -> Result<Vec<ExportStep>> {
        let tensor = |r: &Ref| (r.namespace == Namespace::Tensors).then(|| r.name.clone());
        let steps = self.prediction_steps(fitted)?;
        Ok(steps
            .into_iter()
            .map(|s| ExportStep {
                name: s.step.name.clone(),
                component: s.processor.name().to_owned(),
                tensor_inputs: s
                    .step
                    .inputs
                    .iter()
                    .filter_map(|(port, input)| match input {
                        StepInput::Ref(r) => tensor(r).map(|t| (port.clone(), t)),
                        _ => None,
                    })
                    .collect(),
                output: s.step.outputs.get("output").and_then(tensor),
                state: s.state.cloned(),
                onnx: s.processor.onnx(),
            })
            .collect())
    }

    /// Names a column list, so that a step input written as the bare
    /// string `name` (e.g. `columns: feature_columns`) means these columns.
    pub fn with_column_list(mut self, name: impl Into<String>, columns: Vec<String>) -> Self {
        self.column_lists.insert(name.into(), columns);
        self
    }

    /// The steps, in order.
    pub fn steps(&self) -> impl Iterator<Item = &ProcessorStep> {
        self.steps.iter().map(|(s, _)| s)
    }

    /// Runs every step on the training `table`: fits states, transforms,
    /// and returns everything bound ([`Bindings::fitted`] is what to save).
    pub fn fit(&self, table: &Table) -> Result<Bindings> {
        self.run(table, Bindings::default(), Mode::Fit)
    }

    /// Runs the steps that are not train-only on `table`, starting from the
    /// saved vars and states.
    pub fn transform(&self, table: &Table, fitted: &FittedState) -> Result<Bindings> {
        let start = Bindings { tensors: BTreeMap::new(), vars: fitted.vars.clone(), states: fitted.states.clone() };
        self.run(table, start, Mode::Transform)
    }

    fn run(&self, table: &Table, mut bindings: Bindings, mode: Mode) -> Result<Bindings> {
        for (step, component) in &self.steps {
            self.run_step(step, component, table, &mut bindings, mode).map_err(|e| wrap(step, e))?;
        }
        Ok(bindings)
    }

    fn run_step(
        &self,
        step: &ProcessorStep,
        component: &Component<dyn Processor>,
        table: &Table,
        bindings: &mut Bindings,
        mode: Mode,
    ) -> Result<()> {
        if mode == Mode::Transform && step.is_train_only_as(component.name()) {
            return Ok(());
        }
        let config = self.config(step, bindings)?;
        let written = step.inputs.iter().filter_map(|(port, input)| match input {
            StepInput::Ref(r) if r.namespace == Namespace::Vars => Some((port, r)),
            _ => None,
        });
        let processor = component.create(&config).map_err(|e| {
            // A fractional var where the op takes a whole number: name both.
            let vars = &bindings.vars;
            written
                .filter_map(|(port, r)| Some((port, r, *vars.get(&r.name)?)))
                .find(|(_, _, value)| {
                    value.fract() != 0.0 && e.to_string().contains(&format!("floating point `{value}`"))
                })
                .map_or(e, |(port, r, value)| Error::FractionalVar {
                    component: component.name().to_owned(),
                    param: port.clone(),
                    var: r.name.clone(),
                    value,
                })
        })?;
        if mode == Mode::Transform && processor.is_train_only() {
            return Ok(());
        }
        for column in processor.input_columns() {
            if table.column(column).is_none() {
                let hint = DidYouMean::among(column, table.column_names());
                return Err(table.locate(Error::MissingColumn { column: column.to_owned(), hint }));
            }
        }
        let mut inputs = ProcessorInputs::new(processor.name(), table);
        for (port, input) in &step.inputs {
            let StepInput::Ref(r) = input else { continue };
            let value = match r.namespace {
                Namespace::Vars => continue,
                Namespace::Tensors => bindings.tensors.get(&r.name).cloned().map(InputValue::Tensor),
                Namespace::States => bindings.states.get(&r.name).cloned().map(InputValue::State),
            };
            let value = value.ok_or_else(|| undefined(step, r, bindings))?;
            check_port(processor.name(), "input", port, processor.input_ports())?;
            inputs.insert(port.clone(), value);
        }
        let state_ref = step.state_ref();
        if mode == Mode::Fit && !inputs.contains("state") {
            // A step given a state (`state: states.X`) reuses it instead of fitting.
            if let Some(state) = processor.fit(&inputs)? {
                bindings.states.insert(state_ref.name.clone(), state.clone());
                inputs.insert("state", InputValue::State(state));
            }
        } else if !inputs.contains("state")
            && let Some(state) = bindings.states.get(&state_ref.name)
        {
            inputs.insert("state", InputValue::State(state.clone()));
        }
        let mut outputs = processor.transform(&inputs)?;
        for (port, target) in &step.outputs {
            check_port(processor.name(), "output", port, processor.output_ports())?;
            if port == "state" && inputs.contains("state") {
                // The fitted state, bound above (or given, or loaded at prediction).
                continue;
            }
            let value = outputs.take(processor.name(), port)?;
            bind(step, port, target, value, bindings)?;
        }
        Ok(())
    }

    /// The step's params: every input that is not a `tensors.X` /
    /// `states.X` ref, with `vars.X` refs replaced by their values and
    /// named column lists expanded.
    fn config(&self, step: &ProcessorStep, bindings: &Bindings) -> Result<Config> {
        let mut config = Config::new();
        for (port, input) in &step.inputs {
            config = match input {
                StepInput::Ref(r) if r.namespace == Namespace::Vars => {
                    let value = *bindings.vars.get(&r.name).ok_or_else(|| undefined(step, r, bindings))?;
                    // An integral var (`n_features`) must read as an integer param.
                    if value.fract() == 0.0 && value.abs() < 9.0e15 {
                        config.with(port, value as i64)?
                    } else {
                        config.with(port, value)?
                    }
                }
                StepInput::Ref(_) => continue,
                StepInput::Columns(columns) => config.with(port, columns)?,
                StepInput::Literal(literal) => match literal.as_str().and_then(|s| self.column_lists.get(s)) {
                    Some(columns) => config.with(port, columns)?,
                    None => config.with(port, literal)?,
                },
            };
        }
        Ok(config)
    }
}

/// `error` with the step's context, unless it names the step already.
fn wrap(step: &ProcessorStep, error: Error) -> Error {
    if matches!(error, Error::UndefinedRef { .. } | Error::OutputNamespace { .. }) {
        return error;
    }
    Error::ProcessorStep { step: step.name.clone(), op: step.op.clone(), source: Box::new(error) }
}

fn undefined(step: &ProcessorStep, r: &Ref, bindings: &Bindings) -> Error {
    let names = bindings.names(r.namespace);
    let reference = r.to_string();
    let hint = DidYouMean::among(&reference, names.iter().map(String::as_str));
    Error::UndefinedRef { step: step.name.clone(), reference, hint }
}

fn check_port(component: &str, direction: &'static str, port: &str, ports: &[&str]) -> Result<()> {
    if ports.contains(&port) {
        return Ok(());
    }
    Err(Error::UnknownPort {
        component: component.to_owned(),
        direction,
        port: port.to_owned(),
        hint: DidYouMean::among(port, ports.iter().copied()),
    })
}

fn bind(step: &ProcessorStep, port: &str, target: &Ref, value: OutputValue, bindings: &mut Bindings) -> Result<()> {
    if value.namespace() != target.namespace {
        return Err(Error::OutputNamespace {
            step: step.name.clone(),
            port: port.to_owned(),
            reference: target.to_string(),
            expected: value.namespace().as_str(),
        });
    }
    let name = target.name.clone();
    match value {
        OutputValue::Tensor(t) => bindings.tensors.insert(name, t).map(drop),
        OutputValue::Var(v) => bindings.vars.insert(name, v).map(drop),
        OutputValue::State(s) => bindings.states.insert(name, s).map(drop),
    };
    Ok(())
}
