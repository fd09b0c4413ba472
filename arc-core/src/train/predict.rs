//! Prediction from a model directory: the saved pipeline state prepares
//! the features, the saved weights run the graph, and each row's answer is
//! written as [`answer`](super::answer) names it (the same fields as the
//! embedded Predictor's).

use std::collections::BTreeMap;

use super::answer::Answer;
use super::{ModelBundle, target_step};
use crate::data::Table;
use crate::graph::GraphModel;
use crate::model_dir::Loaded;
use crate::nn::{TargetInfo, Task};
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::ArcSpec;
use crate::tensor::no_grad;
use crate::{DType, Error, Result, Tensor};

/// Predictions for every row: named columns of text values, one value per
/// input row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// (column name, one value per row), in answer order.
    pub columns: Vec<(String, Vec<String>)>,
}

/// Options of [`predict_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PredictOptions {
    /// For per-position class scores, also write each position's `k`
    /// likeliest classes with their probabilities (`--top-k`). Default none.
    pub top_k: Option<usize>,
}

/// [`predict_with`] with the default options.
pub fn predict(loaded: &Loaded, table: &Table, manager: &PluginManager) -> Result<Prediction> {
    predict_with(loaded, table, manager, &PredictOptions::default())
}

/// Predicts `table` with a loaded model directory
/// ([`ModelBundle::predict_with`]).
pub fn predict_with(
    loaded: &Loaded,
    table: &Table,
    manager: &PluginManager,
    options: &PredictOptions,
) -> Result<Prediction> {
    ModelBundle::from_loaded(loaded, manager)?.predict_with(table, options)
}

impl ModelBundle {
    /// Predicts `table`: one value per row in each column, the columns those
    /// of the answer (see [`answer`](super::answer)): a classifier's decoded
    /// label and class probabilities, a binary model's probability and
    /// label, per-position classes as a JSON array, other outputs as numbers
    /// (or JSON arrays for rows of rank 2 and more).
    pub fn predict_with(&self, table: &Table, options: &PredictOptions) -> Result<Prediction> {
        let bindings = self.pipeline.transform(table, &self.fitted)?;
        let inputs = self.model.feed(&bindings.tensors, table)?;
        let _guard = no_grad();
        let outputs = self.model.forward(&inputs)?;
        let names: Vec<&str> = self.model.outputs().iter().map(|(n, _)| *n).collect();
        let answer = Answer::new(&self.spec, &names, self.target.clone(), options.top_k);
        let rows = table.num_rows();
        let mut data: BTreeMap<&str, super::answer::RowValues> = BTreeMap::new();
        for (name, tensor) in &outputs {
            if tensor.shape().first() != Some(&rows) {
                return Err(Error::Spec {
                    message: format!(
                        "model output `{name}` has shape {:?}, not one row per input row ({rows})",
                        tensor.shape()
                    ),
                });
            }
            let values = tensor.to_dtype(DType::F32)?.to_vec()?;
            check_finite(name, &values, rows, table)?;
            data.insert(name, (values, tensor.shape()[1..].to_vec()));
        }
        let mut columns: Vec<(String, Vec<String>)> = Vec::new();
        for r in 0..rows {
            let cells = answer.row(&|output: &str| {
                let (values, shape) = data.get(output)?;
                let stride = values.len() / rows.max(1);
                Some((values[r * stride..(r + 1) * stride].to_vec(), shape.clone()))
            });
            if columns.is_empty() {
                columns = cells.iter().map(|(n, _)| (n.clone(), Vec::with_capacity(rows))).collect();
            }
            for ((_, column), (_, cell)) in columns.iter_mut().zip(cells) {
                column.push(cell.text());
            }
        }
        Ok(Prediction { columns })
    }
}

/// A NaN or infinite value in output `name`: an [`Error::NonFiniteOutput`]
/// naming the row (in the source file). The data's cells are finite (a
/// missing value is an error before, and a number beyond f32 one at load),
/// so the model or a processor overflowed on this row.
fn check_finite(name: &str, values: &[f32], rows: usize, table: &Table) -> Result<()> {
    let Some(at) = values.iter().position(|v| !v.is_finite()) else { return Ok(()) };
    let row = at / (values.len() / rows.max(1)).max(1);
    Err(table.locate(Error::NonFiniteOutput { output: name.to_owned(), row: table.source_row(row), value: values[at] }))
}

/// How the trained loss reads its target: saved with the model, or (for a
/// model directory written before it was) worked out from the spec's loss
/// and the label encoder's state, the class count read off the model's
/// inferred output shape.
pub(crate) fn target_info(
    spec: &ArcSpec,
    fitted: &FittedState,
    pipeline: &Pipeline,
    manager: &PluginManager,
    model: &GraphModel,
) -> Result<Option<TargetInfo>> {
    if let Some(info) = &fitted.target {
        return Ok(Some(info.clone()));
    }
    let Some(trainer) = &spec.trainer else { return Ok(None) };
    let Some(pred) = trainer.loss.inputs.get("pred").or_else(|| trainer.loss.inputs.get("input")) else {
        return Ok(None);
    };
    let output = pred.strip_prefix("model.").unwrap_or(pred);
    let Some(index) = model.output_names().iter().position(|n| *n == output) else { return Ok(None) };
    let declared: Vec<_> = model.input_specs().iter().map(|i| i.shape.clone()).collect();
    let shape = model.output_shape_from(&declared, index)?.unwrap_or_default();
    let loss =
        manager.get_loss(&trainer.loss.component_type)?.create(&trainer.loss.config.clone().unwrap_or_default())?;
    let mut info = TargetInfo::new(loss.task(), loss.scores(), output);
    if info.task == Task::Multiclass {
        info.class_dim = Some(usize::from(shape.len() >= 2));
        info.ignore_index = loss.ignore_index();
    }
    // The label encoder that made the target decodes the classes.
    let target = trainer.loss.inputs.get("target").and_then(|t| target_step(&spec.features, t));
    if let Some(step) = target
        && let Some(state) = fitted.states.get(&step.state_ref().name)
        && info.task == Task::Multiclass
        && let Some(Some(count)) = shape.last().copied()
    {
        let codes = Tensor::from_vec_i64((0..count as i64).collect(), &[count])?;
        match pipeline.processor(step, fitted)?.decode(state, &codes) {
            Ok(names) => info.classes = Some(names),
            Err(Error::NoDecode { .. } | Error::IndexOutOfRange { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(info))
}
