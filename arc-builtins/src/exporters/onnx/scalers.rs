//! The fitted scaler in front of a model input, as ONNX ops.
//!
//! When the pipeline tensor a model input reads was made by a standard,
//! robust or min-max scaler (its state kind `standard_scaler`,
//! `robust_scaler` or `minmax_scaler`) from the output of
//! `transform.assemble_vector`, the ONNX input takes the raw feature columns
//! and the scaling runs in the graph with the fitted constants, as the
//! processors compute it: `(x - center) / scale`, or
//! `(x - data_min) / (data_max - data_min) * (max - min) + min` (a zero
//! range or scale counts as 1). Any other pipeline is left out: the input
//! then takes the pipeline tensor itself.

use std::collections::BTreeMap;

use arc_core::Result;
use arc_core::export::{ExportInput, ExportModel};
use arc_core::spec::FeaturesSpec;
use arc_core::spec::StepInput;

use super::{Builder, export_error};

/// `features`, as text: only what is needed here.
#[derive(Debug, Default)]
struct Features {
    feature_columns: Vec<String>,
    processors: Vec<Step>,
}

#[derive(Debug)]
struct Step {
    name: String,
    op: String,
    inputs: BTreeMap<String, Value>,
    outputs: BTreeMap<String, String>,
}

#[derive(Debug)]
enum Value {
    Text(String),
    Texts(Vec<String>),
    Numbers(Vec<f64>),
    Other,
}

impl Features {
    fn of(spec: &FeaturesSpec) -> Self {
        let value = |input: &StepInput| match input {
            StepInput::Ref(r) => Value::Text(r.to_string()),
            StepInput::Columns(c) => Value::Texts(c.clone()),
            StepInput::Literal(l) => match (l.as_str(), l.as_numbers()) {
                (Some(s), _) => Value::Text(s.to_owned()),
                (None, Some(n)) => Value::Numbers(n),
                (None, None) => Value::Other,
            },
        };
        let processors = spec
            .processors
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                op: s.op.clone(),
                inputs: s.inputs.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
                outputs: s.outputs.iter().map(|(k, r)| (k.clone(), r.to_string())).collect(),
            })
            .collect();
        Self { feature_columns: spec.feature_columns.clone(), processors }
    }
}

fn nonzero(v: f64) -> f64 {
    if v == 0.0 { 1.0 } else { v }
}

/// A model input fed raw columns and scaled in the graph.
pub(crate) struct Scaled {
    /// The scaled value's name.
    pub value: String,
    /// The raw columns, in order.
    pub columns: Vec<String>,
    /// The input's doc string.
    pub doc: String,
}

/// Adds the scaling ops for `input` if its pipeline tensor comes from a
/// scaler over assembled columns, or returns `None`.
pub(crate) fn prepend(b: &mut Builder<'_>, model: &ExportModel, input: &ExportInput) -> Result<Option<Scaled>> {
    let features = Features::of(&model.spec.features);
    let produces = |s: &Step, tensor: &str| s.outputs.values().any(|r| r.strip_prefix("tensors.") == Some(tensor));
    let Some(step) = features.processors.iter().find(|s| produces(s, &input.source)) else { return Ok(None) };
    let state_name = match step.inputs.get("state") {
        Some(Value::Text(r)) => r.strip_prefix("states.").map(str::to_owned),
        _ => None,
    }
    .or_else(|| step.outputs.get("state").and_then(|r| r.strip_prefix("states.")).map(str::to_owned))
    .unwrap_or_else(|| step.name.clone());
    let Some(state) = model.fitted.states.get(&state_name) else { return Ok(None) };
    // The scaler's input must be the assembled raw columns.
    let Some(Value::Text(x)) = step.inputs.get("x") else { return Ok(None) };
    let Some(raw) = x.strip_prefix("tensors.") else { return Ok(None) };
    let Some(assemble) = features.processors.iter().find(|s| produces(s, raw)) else { return Ok(None) };
    if !assemble.op.ends_with("assemble_vector") {
        return Ok(None);
    }
    let columns = match assemble.inputs.get("columns") {
        Some(Value::Texts(c)) => c.clone(),
        Some(Value::Text(t)) if t == "feature_columns" => features.feature_columns.clone(),
        _ => return Ok(None),
    };
    let numbers =
        |key: &str| {
            state.numbers.get(key).cloned().ok_or_else(|| {
                export_error(format!("scaler state `states.{state_name}` ({}) has no `{key}`", state.kind))
            })
        };
    let prefix = format!("processors.{}", step.name);
    let width = columns.len();
    let constant = |b: &mut Builder<'_>, what: &str, v: Vec<f64>| -> Result<String> {
        if v.len() != width {
            return Err(export_error(format!("`{prefix}.{what}` has {} values for {width} columns", v.len())));
        }
        let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
        Ok(b.init_f32(&format!("{prefix}.{what}"), &[width], &v))
    };
    let x = input.name.clone();
    let scaled = match state.kind.as_str() {
        "standard_scaler" | "robust_scaler" => {
            let center_key = if state.kind == "standard_scaler" { "mean" } else { "center" };
            let center = constant(b, center_key, numbers(center_key)?)?;
            let scale = constant(b, "scale", numbers("scale")?.into_iter().map(nonzero).collect())?;
            let centered = b.op("Sub", &prefix, vec![x, center], Vec::new());
            b.op("Div", &prefix, vec![centered, scale], Vec::new())
        }
        "minmax_scaler" => {
            let (lo, hi) = (numbers("data_min")?, numbers("data_max")?);
            let (min, max) = match step.inputs.get("feature_range") {
                Some(Value::Numbers(r)) if r.len() == 2 => (r[0], r[1]),
                _ => (0.0, 1.0),
            };
            let range = hi.iter().zip(&lo).map(|(h, l)| nonzero(h - l)).collect();
            let lo = constant(b, "data_min", lo)?;
            let range = constant(b, "data_range", range)?;
            let centered = b.op("Sub", &prefix, vec![x, lo], Vec::new());
            let unit = b.op("Div", &prefix, vec![centered, range], Vec::new());
            let span = b.scalar(&prefix, (max - min) as f32);
            let stretched = b.op("Mul", &prefix, vec![unit, span], Vec::new());
            let offset = b.scalar(&prefix, min as f32);
            b.op("Add", &prefix, vec![stretched, offset], Vec::new())
        }
        _ => return Ok(None),
    };
    let doc = format!(
        "raw feature columns [{}] as float32, in this order; scaled in the graph by processor `{}` (state `states.{state_name}`)",
        columns.join(", "),
        step.name
    );
    Ok(Some(Scaled { value: scaled, columns, doc }))
}
