//! The compiled feature plan: the prediction-time steps of
//! `features.processors` as row transforms over fixed arena slots, with the
//! saved states read once at load.
//!
//! Compiled ops (by the resolved processor name): `transform.assemble_vector`,
//! `StandardNormalization` / `transform.standard_scaler`,
//! `MinMaxNormalization`, `RobustNormalization` and `CategoricalEncoding`;
//! train-only steps (`inspect.*`, `fit.*`, `train_only: true`) are skipped as
//! [`Pipeline::transform`](crate::pipeline::Pipeline::transform) skips them.
//! Any other op makes [`compile`] answer `None` (the generic path).
//! Each transform computes as its processor does (f64 maths on the f32
//! value, rounded to f32), so both paths give the same numbers.

use std::collections::{BTreeMap, HashMap};

use super::plan::Slot;
use super::row::{RowSource, Value};
use crate::process::{FittedState, ProcessorState};
use crate::spec::{Namespace, ProcessorStep, StepInput};
use crate::{DidYouMean, Error, Result};

/// One row transform.
#[derive(Debug)]
enum Transform {
    /// Input columns (by index in the plan's column list) into a slot.
    Assemble { columns: Vec<usize>, output: Slot },
    /// `y = (x - center) / scale * mul + add`, per feature, in f64.
    Affine { center: Vec<f64>, scale: Vec<f64>, mul: f64, add: f64, input: Slot, output: Slot },
    /// One-hot blocks, one per column.
    OneHot { blocks: Vec<Block>, ignore_unknown: bool, output: Slot },
}

/// One column's categories.
#[derive(Debug)]
struct Block {
    column: usize,
    categories: Vec<String>,
    by_text: HashMap<String, usize>,
    /// Categories that read as numbers, for numeric values.
    by_number: Vec<(f64, usize)>,
}

/// The feature steps as row transforms.
#[derive(Debug)]
pub(crate) struct FeaturePlan {
    /// The input columns, in the order they are first read.
    pub columns: Vec<String>,
    transforms: Vec<Transform>,
    /// `tensors.X` slots.
    pub tensors: BTreeMap<String, Slot>,
    /// The arena size the plan needs (it starts at 0).
    pub arena_end: usize,
}

/// What compiling needs of a step beyond the step itself.
pub(crate) struct StepInfo<'a> {
    pub step: &'a ProcessorStep,
    /// The registry's full name of the op.
    pub op: &'a str,
    /// The column lists a step may name (`feature_columns`).
    pub column_lists: &'a BTreeMap<String, Vec<String>>,
}

/// Compiles the prediction-time steps; `None` when an op has no row form.
/// A state a step needs and `fitted` lacks is an error.
pub(crate) fn compile(steps: &[StepInfo<'_>], fitted: &FittedState) -> Result<Option<FeaturePlan>> {
    let mut plan = FeaturePlan { columns: Vec::new(), transforms: Vec::new(), tensors: BTreeMap::new(), arena_end: 0 };
    for info in steps {
        let step = info.step;
        if step.is_train_only() || info.op.starts_with("inspect.") || info.op.starts_with("fit.") {
            continue;
        }
        let Some(output) = step.outputs.get("output").filter(|r| r.namespace == Namespace::Tensors) else {
            return Ok(None);
        };
        let transform = match info.op {
            "transform.assemble_vector" => {
                let Some(columns) = columns_of(step, "columns", info.column_lists) else { return Ok(None) };
                let columns: Vec<usize> = columns.iter().map(|c| plan.column(c)).collect();
                let output = plan.alloc(columns.len());
                Transform::Assemble { columns, output }
            }
            "core.StandardNormalization" | "transform.standard_scaler" => {
                let Some(input) = input_slot(&plan, step) else { return Ok(None) };
                let state = super::load::state_of(step, fitted, "standard_scaler")?;
                let (center, scale) = numbers2(state, info.op, "mean", "scale", input.len)?;
                let output = plan.alloc(input.len);
                Transform::Affine { center, scale, mul: 1.0, add: 0.0, input, output }
            }
            "core.RobustNormalization" => {
                let Some(input) = input_slot(&plan, step) else { return Ok(None) };
                let state = super::load::state_of(step, fitted, "robust_scaler")?;
                let (center, scale) = numbers2(state, info.op, "center", "scale", input.len)?;
                let output = plan.alloc(input.len);
                Transform::Affine { center, scale, mul: 1.0, add: 0.0, input, output }
            }
            "core.MinMaxNormalization" => {
                let Some(input) = input_slot(&plan, step) else { return Ok(None) };
                let state = super::load::state_of(step, fitted, "minmax_scaler")?;
                let (lo, hi) = numbers2(state, info.op, "data_min", "data_max", input.len)?;
                let [min, max] = match step.inputs.get("feature_range") {
                    None => [0.0, 1.0],
                    Some(StepInput::Literal(l)) => match l.as_numbers().as_deref() {
                        Some(&[min, max]) => [min, max],
                        _ => return Ok(None),
                    },
                    Some(_) => return Ok(None),
                };
                // (x - lo) / nonzero(hi - lo) * (max - min) + min, as the processor computes it.
                let scale = lo.iter().zip(&hi).map(|(l, h)| if h - l == 0.0 { 1.0 } else { h - l }).collect();
                let output = plan.alloc(input.len);
                Transform::Affine { center: lo, scale, mul: max - min, add: min, input, output }
            }
            "core.CategoricalEncoding" => {
                let ignore_unknown = match step.inputs.get("handle_unknown") {
                    None => false,
                    Some(StepInput::Literal(l)) if l.as_str() == Some("ignore") => true,
                    Some(StepInput::Literal(l)) if l.as_str() == Some("error") => false,
                    Some(_) => return Ok(None),
                };
                let state = super::load::state_of(step, fitted, "one_hot")?;
                let bad = |key: &str| super::load::state_error(step, &format!("the state has no `{key}`"));
                let columns = state.strings.get("columns").ok_or_else(|| bad("columns"))?;
                let mut blocks = Vec::with_capacity(columns.len());
                for name in columns {
                    let key = format!("categories.{name}");
                    let categories = state.strings.get(&key).ok_or_else(|| bad(&key))?.clone();
                    let by_text = categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
                    let by_number = categories
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.parse::<f64>().ok().map(|v| (v, i)))
                        .collect();
                    blocks.push(Block { column: plan.column(name), categories, by_text, by_number });
                }
                let output = plan.alloc(blocks.iter().map(|b| b.categories.len()).sum());
                Transform::OneHot { blocks, ignore_unknown, output }
            }
            _ => return Ok(None),
        };
        let slot = match &transform {
            Transform::Assemble { output, .. }
            | Transform::Affine { output, .. }
            | Transform::OneHot { output, .. } => *output,
        };
        plan.tensors.insert(output.name.clone(), slot);
        plan.transforms.push(transform);
    }
    Ok(Some(plan))
}

/// The column list bound to `port`: a list, or a named list.
fn columns_of(step: &ProcessorStep, port: &str, lists: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    match step.inputs.get(port)? {
        StepInput::Columns(c) => Some(c.clone()),
        StepInput::Literal(l) => {
            l.as_str().map(|name| lists.get(name).cloned().unwrap_or_else(|| vec![name.to_owned()]))
        }
        StepInput::Ref(_) => None,
    }
}

/// The slot of the step's `x` input.
fn input_slot(plan: &FeaturePlan, step: &ProcessorStep) -> Option<Slot> {
    match step.inputs.get("x")? {
        StepInput::Ref(r) if r.namespace == Namespace::Tensors => plan.tensors.get(&r.name).copied(),
        _ => None,
    }
}

/// Two per-feature number vectors of `width` values.
fn numbers2(state: &ProcessorState, op: &str, a: &str, b: &str, width: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (x, y) = (state.numbers(op, a)?, state.numbers(op, b)?);
    if x.len() != width || y.len() != width {
        return Err(Error::InvalidState { component: op.to_owned(), key: format!("{a}/{b} (not {width} values)") });
    }
    Ok((x.to_vec(), y.to_vec()))
}

impl FeaturePlan {
    fn column(&mut self, name: &str) -> usize {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.columns.push(name.to_owned());
                self.columns.len() - 1
            }
        }
    }

    fn alloc(&mut self, len: usize) -> Slot {
        let slot = Slot { offset: self.arena_end, len };
        self.arena_end += len;
        slot
    }

    /// A row every transform accepts, for the load-time cross-check: each
    /// one-hot column its first category, every other column 0.
    pub(crate) fn probe_row(&self) -> Vec<Value<'_>> {
        let mut row = vec![Value::Number(0.0); self.columns.len()];
        for transform in &self.transforms {
            if let Transform::OneHot { blocks, .. } = transform {
                for block in blocks {
                    if let Some(first) = block.categories.first() {
                        row[block.column] = match first.parse::<f64>() {
                            Ok(v) => Value::Number(v),
                            Err(_) => Value::Text(first),
                        };
                    }
                }
            }
        }
        row
    }

    /// Runs the transforms on one row into `arena`. A bad value is an
    /// error naming its column.
    pub(crate) fn run(&self, row: &dyn RowSource, arena: &mut [f32]) -> Result<()> {
        for transform in &self.transforms {
            match transform {
                Transform::Assemble { columns, output } => {
                    for (k, &c) in columns.iter().enumerate() {
                        let name = &self.columns[c];
                        arena[output.offset + k] = match row.value(c, name)? {
                            Value::Number(v) if v.is_nan() => return Err(missing(name)),
                            Value::Number(v) => v as f32,
                            Value::Missing => return Err(missing(name)),
                            Value::Text(t) => {
                                return Err(Error::NonNumericColumn {
                                    column: name.clone(),
                                    row: 1,
                                    value: t.to_owned(),
                                });
                            }
                        };
                    }
                }
                Transform::Affine { center, scale, mul, add, input, output } => {
                    for j in 0..input.len {
                        let x = f64::from(arena[input.offset + j]);
                        arena[output.offset + j] = ((x - center[j]) / scale[j] * mul + add) as f32;
                    }
                }
                Transform::OneHot { blocks, ignore_unknown, output } => {
                    arena[output.offset..output.offset + output.len].fill(0.0);
                    let mut at = output.offset;
                    for block in blocks {
                        let name = &self.columns[block.column];
                        let found = match row.value(block.column, name)? {
                            Value::Number(v) if v.is_nan() => return Err(missing(name)),
                            Value::Number(v) => block.by_number.iter().find(|(c, _)| *c == v).map(|(_, i)| *i),
                            Value::Text(t) => block.by_text.get(t).copied(),
                            Value::Missing => return Err(missing(name)),
                        };
                        match found {
                            Some(k) => arena[at + k] = 1.0,
                            None if *ignore_unknown => {}
                            None => {
                                let value = match row.value(block.column, name)? {
                                    Value::Number(v) => (v + 0.0).to_string(),
                                    Value::Text(t) => t.to_owned(),
                                    Value::Missing => String::new(),
                                };
                                return Err(Error::UnknownCategory {
                                    column: name.clone(),
                                    hint: DidYouMean::among(&value, block.categories.iter().map(String::as_str)),
                                    value,
                                    row: 1,
                                });
                            }
                        }
                        at += block.categories.len();
                    }
                }
            }
        }
        Ok(())
    }
}

fn missing(column: &str) -> Error {
    Error::MissingValue { column: column.to_owned(), row: 1 }
}
