//! Reading and checking a model directory for a [`Predictor`](super::Predictor):
//! every check names the file at fault.

use std::path::Path;
use std::sync::Arc;

use crate::graph::GraphModel;
use crate::model_dir::{PROCESSORS_FILE, SPEC_FILE, WEIGHTS_FILE};
use crate::nn::Scores;
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::{FittedState, ProcessorState};
use crate::spec::{Namespace, ProcessorStep, StepInput};
use crate::train::ModelBundle;
use crate::train::answer::{Answer, Field};
use crate::{Error, Result, Tensor};

/// The spec's `features` section.
pub(crate) type FeaturesSection = crate::spec::FeaturesSpec;

/// How model outputs become an [`Output`](super::Output).
#[derive(Debug)]
pub(crate) enum Head {
    /// A multiclass model's answered prediction: softmax probabilities (or
    /// the scores as they are), the argmax's class name.
    Classifier { output: String, classes: Vec<Arc<str>>, scores: Scores },
    /// A binary model's answered prediction: the positive class's
    /// probability, the class from 0.5.
    Binary { output: String, classes: [Arc<str>; 2], scores: Scores },
    /// The answered outputs' values, in answer order.
    Values { outputs: Vec<String> },
}

/// A load error naming `file`.
pub(crate) fn file_error(file: &str, message: impl Into<String>) -> Error {
    Error::PredictorLoad { file: file.to_owned(), message: message.into() }
}

/// A processors.json error about `step`.
pub(crate) fn state_error(step: &ProcessorStep, message: &str) -> Error {
    file_error(PROCESSORS_FILE, format!("step `{}`: {message}", step.name))
}

/// The saved state `step` transforms with (its `state` input, or where it
/// bound its fitted state), checked to be of `kind`.
pub(crate) fn state_of<'a>(step: &ProcessorStep, fitted: &'a FittedState, kind: &str) -> Result<&'a ProcessorState> {
    let reference = match step.inputs.get("state") {
        Some(StepInput::Ref(r)) if r.namespace == Namespace::States => r.clone(),
        _ => step.state_ref(),
    };
    let state = fitted
        .states
        .get(&reference.name)
        .ok_or_else(|| state_error(step, &format!("no saved state `{reference}`")))?;
    if !kind.is_empty() && state.kind != kind {
        return Err(state_error(step, &format!("state `{reference}` was fitted by `{}`, not `{kind}`", state.kind)));
    }
    Ok(state)
}

/// What [`read`] gives.
pub(crate) struct Read {
    pub features: FeaturesSection,
    pub model: GraphModel,
    pub pipeline: Pipeline,
    pub fitted: FittedState,
    pub head: Head,
    pub answer: Answer,
}

/// Reads `dir` and checks it: the spec parses and builds, every model
/// parameter has a weight of its shape (and every weight is a parameter),
/// every prediction-time step finds its saved state. Errors name the file
/// (under `dir`).
pub(crate) fn read(dir: &Path, manager: &PluginManager) -> Result<Read> {
    read_in(dir, manager).map_err(|e| match e {
        Error::PredictorLoad { file, message } => {
            Error::PredictorLoad { file: dir.join(file).display().to_string(), message }
        }
        other => other,
    })
}

fn read_in(dir: &Path, manager: &PluginManager) -> Result<Read> {
    // The one loaded model: its build and weight errors name their file under `dir`.
    let bundle = ModelBundle::load(dir, manager).map_err(|e| match e {
        Error::ModelDir { path, message } if path.ends_with(SPEC_FILE) => file_error(SPEC_FILE, message),
        Error::ModelDir { path, message } if path.ends_with(WEIGHTS_FILE) => file_error(WEIGHTS_FILE, message),
        other => other,
    })?;
    let ModelBundle { spec, fitted, pipeline, model, weights, target, .. } = bundle;
    let in_spec = |e: Error| file_error(SPEC_FILE, e.to_string());
    let features: FeaturesSection = spec.features.clone();
    extra_weights(&model, &weights)?;
    for step in &features.processors {
        let op = manager.get_processor(&step.op).map_err(in_spec)?.name().to_owned();
        if step.is_train_only_as(&op) {
            continue;
        }
        if needs_state(step, &op) {
            state_of(step, &fitted, "")?;
        }
    }
    let names: Vec<&str> = model.outputs().iter().map(|(n, _)| *n).collect();
    let answer = Answer::new(&spec, &names, target, None);
    let head = head(&answer, &model);
    Ok(Read { features, model, pipeline, fitted, head, answer })
}

/// Whether `step` (of processor `op`) works with a saved state: it is given
/// one, or it is a named processor (fitted at training), not a `transform.*`.
fn needs_state(step: &ProcessorStep, op: &str) -> bool {
    step.inputs.contains_key("state") || !op.starts_with("transform.")
}

/// Every tensor of the weights file is a parameter or a buffer of the model.
fn extra_weights(model: &GraphModel, weights: &[(String, Tensor)]) -> Result<()> {
    let known: Vec<String> = model.named_state().into_iter().map(|(n, _)| n).collect();
    if let Some((extra, _)) = weights.iter().find(|(n, _)| !known.contains(n)) {
        return Err(file_error(WEIGHTS_FILE, format!("`{extra}` is not a parameter of the model")));
    }
    Ok(())
}

/// The head of an answer: its classifier field when it has one (with the
/// class names, or the class ids as names), else its outputs' values.
fn head(answer: &Answer, model: &GraphModel) -> Head {
    let info = answer.info.as_ref();
    let scores = info.map_or(Scores::Values, |i| i.scores);
    let name = |id: usize| -> Arc<str> {
        Arc::from(info.and_then(|i| i.class_name(id)).map_or_else(|| id.to_string(), str::to_owned))
    };
    for field in &answer.fields {
        match field {
            Field::Classes { output, .. } => {
                let Some(index) = model.output_names().iter().position(|n| n == output) else { continue };
                let declared: Vec<_> = model.input_specs().iter().map(|i| i.shape.clone()).collect();
                let width =
                    model.output_shape_from(&declared, index).ok().flatten().and_then(|s| s.last().copied().flatten());
                let count = info.and_then(|i| i.classes.as_ref().map(Vec::len)).or(width);
                if let Some(count) = count {
                    return Head::Classifier {
                        output: output.clone(),
                        classes: (0..count).map(name).collect(),
                        scores,
                    };
                }
            }
            Field::Binary { output, .. } => {
                return Head::Binary { output: output.clone(), classes: [name(0), name(1)], scores };
            }
            _ => {}
        }
    }
    Head::Values { outputs: answer.fields.iter().map(|f| f.output().to_owned()).collect() }
}

/// The columns a row must hold for the generic path: the feature columns,
/// then every column list a prediction-time step names (a literal such as
/// `handle_unknown: ignore` is a param, not a column).
pub(crate) fn input_columns(features: &FeaturesSection) -> Vec<String> {
    let mut columns = features.feature_columns.clone();
    for step in features.processors.iter().filter(|s| !s.is_train_only()) {
        for input in step.inputs.values() {
            let named = match input {
                StepInput::Columns(c) => c.as_slice(),
                StepInput::Literal(l) if l.as_str() == Some("feature_columns") => &features.feature_columns,
                _ => &[],
            };
            for c in named {
                if !columns.contains(c) {
                    columns.push(c.clone());
                }
            }
        }
    }
    columns
}
