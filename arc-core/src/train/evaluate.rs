//! Evaluation of a model directory on labelled data (`arc evaluate`): the
//! saved pipeline state prepares the features *and* the target (train-only
//! target steps such as `LabelEncoding` run in transform mode with their
//! saved state), the saved weights run the graph, and the spec's loss and
//! the task's metrics compare the prediction with the target.

use std::collections::BTreeMap;

use serde::Serialize;

use super::target::{ColumnTarget, TargetSource, target_source};
use super::{Features, ModelBundle, Task, metrics, pipeline, spec_error, target_step};
use crate::data::Table;
use crate::model_dir::Loaded;
use crate::plugin::PluginManager;
use crate::spec::{StepInput, TrainerSpec};
use crate::tensor::no_grad;
use crate::{Error, Result};

/// The loss and metrics of a model on a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// The spec's `model_name`.
    pub model: String,
    /// Rows evaluated.
    pub rows: usize,
    /// The task, as the trained loss reads its target.
    pub task: Task,
    /// The loss type (`CrossEntropyLoss`).
    pub loss_type: String,
    /// The loss over all rows (the loss's own reduction, `mean` by default).
    pub loss: f64,
    /// The task's metrics ([`metrics::compute`]): `accuracy` and `macro_f1`;
    /// `accuracy`, `precision`, `recall`, `f1` and `roc_auc`; or `mse`,
    /// `mae` and `r2`.
    pub metrics: BTreeMap<String, f64>,
}

/// Evaluates a loaded model directory on `table` ([`ModelBundle::evaluate`]).
pub fn evaluate(loaded: &Loaded, table: &Table, manager: &PluginManager) -> Result<Evaluation> {
    ModelBundle::from_loaded(loaded, manager)?.evaluate(table, manager)
}

impl ModelBundle {
    /// Evaluates the model on `table`, which must hold the target
    /// column(s); `manager` builds the spec's loss and the target steps. A
    /// target label that training never saw is
    /// [`Error::UnknownTargetLabel`] naming the column, the row and the
    /// label.
    pub fn evaluate(&self, table: &Table, manager: &PluginManager) -> Result<Evaluation> {
        let features: &Features = &self.spec.features;
        let trainer = self.spec.trainer.as_ref().ok_or_else(|| {
            spec_error("the model's spec has no `trainer` section, so no loss or target to evaluate against".into())
        })?;
        for column in target_columns(trainer, features) {
            table.require_column(&column)?;
        }
        let steps = pipeline(features, manager, true)?;
        let bindings = steps.transform(table, &self.fitted).map_err(|e| locate_unknown_label(e, features, table))?;
        let inputs = self.model.feed(&bindings.tensors, table)?;
        let _guard = no_grad();
        let outputs = self.model.forward(&inputs)?;
        let info = self.target.as_ref().ok_or_else(|| spec_error("the model's loss reads no model output".into()))?;
        let pred = outputs.get(&info.output).ok_or_else(|| spec_error(format!("no model output `{}`", info.output)))?;
        let target =
            match target_source(trainer, features)? {
                TargetSource::Tensor(name) => bindings.tensors.get(&name).cloned().ok_or_else(|| {
                    spec_error(format!("the loss target `tensors.{name}` is made by no processor step"))
                })?,
                TargetSource::Column(column) => ColumnTarget::saved(&column, info).encode(table, pred.shape())?,
            };
        let loss =
            manager.get_loss(&trainer.loss.component_type)?.create(&trainer.loss.config.clone().unwrap_or_default())?;
        let loss_value = f64::from(super::loss_value(loss.as_ref(), trainer, pred, &target)?.item()?);
        Ok(Evaluation {
            model: self.spec.model_name.clone(),
            rows: table.num_rows(),
            task: info.task,
            loss_type: trainer.loss.component_type.clone(),
            loss: loss_value,
            metrics: metrics::compute(info, pred, &target)?,
        })
    }
}

/// The data columns the loss target is made from: `target_columns` and the
/// columns the target step reads.
fn target_columns(trainer: &TrainerSpec, features: &Features) -> Vec<String> {
    let mut columns = features.target_columns.clone();
    if let Some(step) = trainer.loss.inputs.get("target").and_then(|t| target_step(features, t)) {
        columns.extend(step_columns(&step.inputs, features));
    }
    columns.sort();
    columns.dedup();
    columns
}

/// The column names among a step's inputs (`column: species`, `columns: [a, b]`).
fn step_columns(inputs: &BTreeMap<String, StepInput>, features: &Features) -> Vec<String> {
    inputs
        .iter()
        .flat_map(|(port, input)| match input {
            StepInput::Columns(c) => c.clone(),
            // `columns: target_columns` names the list, not a column.
            StepInput::Literal(l) if l.as_str() == Some("target_columns") => features.target_columns.clone(),
            StepInput::Literal(l) if l.as_str() == Some("feature_columns") => features.feature_columns.clone(),
            StepInput::Literal(l) if port.starts_with("column") => l.as_str().map(str::to_owned).into_iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Turns a step's [`Error::UnknownLabel`] into [`Error::UnknownTargetLabel`]
/// with the column and the first row that holds the label.
fn locate_unknown_label(error: Error, features: &Features, table: &Table) -> Error {
    let Error::ProcessorStep { step, op, source } = error else { return error };
    let Error::UnknownLabel { label, hint } = *source else {
        return Error::ProcessorStep { step, op, source };
    };
    let columns = features.processors.iter().find(|s| s.name == step).map(|s| step_columns(&s.inputs, features));
    let found = columns.unwrap_or_default().into_iter().find_map(|column| {
        let values = table.text(&column).ok()?;
        let row = values.iter().position(|v| v.as_deref() == Some(label.as_str()))?;
        Some((column, row + 1))
    });
    let source = match found {
        Some((column, row)) => Error::UnknownTargetLabel { column, row, label, hint },
        None => Error::UnknownLabel { label, hint },
    };
    Error::ProcessorStep { step, op, source: Box::new(source) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DidYouMean;
    use crate::data::Column;

    #[test]
    fn an_unknown_label_gets_its_column_and_first_row() -> Result<()> {
        let features: Features = crate::spec::Config::from_yaml(
            "processors: [{name: label, op: LabelEncoding, inputs: {column: species}, outputs: {tensors.y: output}}]",
        )?
        .parse("features")?;
        let table =
            Table::new(vec![Column::text("species", vec![Some("a".into()), Some("zz".into()), Some("zz".into())])])?;
        let step_error = |source| Error::ProcessorStep { step: "label".into(), op: "LabelEncoding".into(), source };
        let err = locate_unknown_label(
            step_error(Box::new(Error::UnknownLabel { label: "zz".into(), hint: DidYouMean::default() })),
            &features,
            &table,
        );
        assert_eq!(err.to_string(), "step `label` (`LabelEncoding`): column `species`, row 2: unknown label `zz`");
        // Other errors pass through unchanged.
        let other = locate_unknown_label(step_error(Box::new(Error::Spec { message: "x".into() })), &features, &table);
        assert_eq!(other.to_string(), "step `label` (`LabelEncoding`): spec: x");
        Ok(())
    }
}
