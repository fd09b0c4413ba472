//! The loss's target, resolved once for a run: a pipeline tensor
//! (`tensors.Z`), the output of the train-only step that reads the target
//! column (a label encoder), or the target column read straight from the
//! table, encoded as the loss's task needs.
//!
//! Read straight from the table (`target: target_columns.Y` with no step
//! reading `Y`), a column becomes:
//!
//! - under a regression loss, its numbers as float32;
//! - under a classification loss (binary or multiclass), class ids when it
//!   holds text or whole numbers: the classes are its distinct values
//!   sorted (text by byte order, numbers by value), the first id 0, so for
//!   a two-class text target under a BCE loss the second class is the
//!   positive one (a 0/1 column keeps 0 and 1). A binary target is float32
//!   (BCE's), a multiclass one int64. A binary column of fractions in
//!   `[0, 1]` stays as it is (soft labels).
//!
//! A float32 target takes the shape of the loss's prediction (`[N]` or
//! `[N, 1]`). The classes are read from every row of the data given to
//! training, so a class seen only in held-out rows is still one.

use std::collections::HashMap;

use super::{Features, spec_error};
use crate::data::{ColumnValues, Table};
use crate::nn::Task;
use crate::spec::{ProcessorStep, StepInput, TrainerSpec};
use crate::{Error, Result, Tensor};

/// Where the loss's target comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TargetSource {
    /// A pipeline tensor, `tensors.<name>` (written so, or the output of
    /// the train-only step that reads the target column).
    Tensor(String),
    /// The target column, read straight from the table.
    Column(String),
}

/// The target the loss's `target` names.
pub(crate) fn target_source(trainer: &TrainerSpec, features: &Features) -> Result<TargetSource> {
    let target =
        trainer.loss.inputs.get("target").ok_or_else(|| spec_error("trainer.loss.inputs has no `target`".into()))?;
    if let Some(name) = target.strip_prefix("tensors.") {
        return Ok(TargetSource::Tensor(name.to_owned()));
    }
    let Some(column) = target.strip_prefix("target_columns.") else {
        return Err(spec_error(format!(
            "trainer.loss.inputs.target `{target}`: expected `tensors.X` or `target_columns.X`"
        )));
    };
    Ok(match target_step(features, target).and_then(|s| s.outputs.get("output")) {
        Some(r) => TargetSource::Tensor(r.name.clone()),
        None => TargetSource::Column(column.to_owned()),
    })
}

/// The step that makes the loss target: the one whose `output` is
/// `tensors.Z`, or the train-only step that reads target column `Y` alone
/// and has an `output` (a label encoder). A prediction-time step that
/// reads the column (hashing the target's sequence into inputs, say) does
/// not make the target.
pub(crate) fn target_step<'a>(features: &'a Features, target: &str) -> Option<&'a ProcessorStep> {
    let column = target.strip_prefix("target_columns.").unwrap_or(target);
    let tensor = target.strip_prefix("tensors.");
    let reads = |s: &ProcessorStep| {
        s.inputs.values().any(|i| match i {
            StepInput::Columns(c) => c.len() == 1 && c[0] == column,
            StepInput::Literal(l) => l.as_str() == Some(column),
            StepInput::Ref(_) => false,
        })
    };
    features.processors.iter().find(|s| match tensor {
        Some(t) => s.outputs.get("output").is_some_and(|r| r.name == t),
        None => s.is_train_only() && reads(s) && s.outputs.contains_key("output"),
    })
}

/// How a target column read from the table becomes a tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ColumnTarget {
    /// Class ids over `classes`, float32 (`binary`) or int64.
    Classes { column: String, classes: Vec<String>, binary: bool },
    /// The numbers, float32.
    Values { column: String },
}

impl ColumnTarget {
    /// The encoding of target `column` of `table` (every row given to
    /// training) for a loss of `task` named `loss`; see the module docs.
    pub(crate) fn plan(table: &Table, column: &str, task: Task, loss: &str) -> Result<Self> {
        let values = &table.require_column(column)?.values;
        if let Some(row) = (0..values.len()).find(|&r| values.is_missing(r)) {
            return Err(table.locate(Error::MissingValue { column: column.to_owned(), row: table.source_row(row) }));
        }
        let fail = |message: String| spec_error(format!("target column `{column}`: {message}"));
        let classes = || table.unique_labels(column);
        Ok(match (task, values) {
            (Task::Regression, ColumnValues::Numeric(_)) => Self::Values { column: column.to_owned() },
            (Task::Regression, ColumnValues::Text(_)) => {
                return Err(fail(format!("`{loss}` trains a regression, which needs numbers; the column holds text")));
            }
            (Task::Binary, ColumnValues::Numeric(v)) if v.iter().all(|&x| x == 0.0 || x == 1.0) => {
                Self::Classes { column: column.to_owned(), classes: vec!["0".into(), "1".into()], binary: true }
            }
            (Task::Binary, ColumnValues::Numeric(v)) if v.iter().any(|x| x.fract() != 0.0) => {
                if let Some(x) = v.iter().find(|x| !(0.0..=1.0).contains(*x)) {
                    return Err(fail(format!(
                        "`{loss}` takes targets in [0, 1] (or two classes); the column holds {x}"
                    )));
                }
                Self::Values { column: column.to_owned() }
            }
            (Task::Binary, _) => {
                let classes = classes()?;
                if classes.len() > 2 {
                    return Err(fail(format!(
                        "`{loss}` trains a binary classifier, but the column holds {} classes ({})",
                        classes.len(),
                        classes.join(", ")
                    )));
                }
                Self::Classes { column: column.to_owned(), classes, binary: true }
            }
            (_, ColumnValues::Numeric(v)) if v.iter().any(|x| x.fract() != 0.0) => {
                let x = v.iter().find(|x| x.fract() != 0.0).copied().unwrap_or_default();
                return Err(fail(format!("`{loss}` needs class labels; the column holds the fraction {x}")));
            }
            _ => Self::Classes { column: column.to_owned(), classes: classes()?, binary: false },
        })
    }

    /// The encoding training used for target `column`, from what it saved:
    /// its classes, or the column's numbers.
    pub(crate) fn saved(column: &str, info: &crate::nn::TargetInfo) -> Self {
        match &info.classes {
            Some(classes) if info.task.is_classification() => {
                Self::Classes { column: column.to_owned(), classes: classes.clone(), binary: info.task == Task::Binary }
            }
            _ => Self::Values { column: column.to_owned() },
        }
    }

    /// The class names, when the target is classes.
    pub(crate) fn classes(&self) -> Option<&[String]> {
        match self {
            Self::Classes { classes, .. } => Some(classes),
            Self::Values { .. } => None,
        }
    }

    /// The target of `table`'s rows; a float32 target shaped as `pred_shape`
    /// (`[N]` or `[N, 1]`).
    pub(crate) fn encode(&self, table: &Table, pred_shape: &[usize]) -> Result<Tensor> {
        let (column, float) = match self {
            Self::Classes { column, binary, .. } => (column, *binary),
            Self::Values { column } => (column, true),
        };
        let rows = table.num_rows();
        let shape = match (float, pred_shape) {
            (false, _) | (true, [_]) => vec![rows],
            (true, [_, 1]) => vec![rows, 1],
            (true, other) => {
                return Err(spec_error(format!(
                    "target column `{column}` holds one value a row, but the loss's prediction has shape {other:?}"
                )));
            }
        };
        let values: Vec<f64> = match self {
            Self::Values { column } => table.numeric(column)?.to_vec(),
            Self::Classes { column, classes, .. } => {
                let index: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                let text = |row: usize| -> Option<String> {
                    match &table.column(column)?.values {
                        ColumnValues::Numeric(v) => Some((v[row] + 0.0).to_string()),
                        ColumnValues::Text(v) => v[row].clone(),
                    }
                };
                (0..rows)
                    .map(|row| {
                        let label = text(row).unwrap_or_default();
                        index.get(label.as_str()).map(|&i| i as f64).ok_or_else(|| Error::UnknownTargetLabel {
                            column: column.clone(),
                            row: table.source_row(row),
                            hint: crate::DidYouMean::among(&label, classes.iter().map(String::as_str)),
                            label,
                        })
                    })
                    .collect::<Result<_>>()?
            }
        };
        if float {
            Tensor::from_vec(values.iter().map(|&x| x as f32).collect(), &shape)
        } else {
            Tensor::from_vec_i64(values.iter().map(|&x| x as i64).collect(), &shape)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Column;

    fn text(values: &[&str]) -> Column {
        Column::text("y", values.iter().map(|v| Some((*v).to_owned())).collect())
    }

    #[test]
    fn columns_become_classes_or_values_by_task() -> Result<()> {
        let table = Table::new(vec![text(&["yes", "no", "yes"])])?;
        let binary = ColumnTarget::plan(&table, "y", Task::Binary, "BCELoss")?;
        assert_eq!(binary.classes(), Some(&["no".to_owned(), "yes".to_owned()][..]));
        // The second sorted class is the positive one.
        assert_eq!(binary.encode(&table, &[3, 1])?.to_vec()?, [1.0, 0.0, 1.0]);
        assert_eq!(binary.encode(&table, &[3, 1])?.shape(), [3, 1]);
        let multi = ColumnTarget::plan(&table, "y", Task::Multiclass, "CrossEntropyLoss")?;
        assert_eq!(multi.encode(&table, &[3, 2])?.to_vec_i64()?, [1, 0, 1]);
        let err = ColumnTarget::plan(&table, "y", Task::Regression, "MSELoss").unwrap_err();
        assert!(err.to_string().contains("`MSELoss` trains a regression, which needs numbers"), "{err}");
        // Whole numbers sort by value: 2 < 10.
        let numbers = Table::new(vec![Column::numeric("y", vec![10.0, 2.0, 10.0])])?;
        let multi = ColumnTarget::plan(&numbers, "y", Task::Multiclass, "CrossEntropyLoss")?;
        assert_eq!(multi.classes(), Some(&["2".to_owned(), "10".to_owned()][..]));
        assert_eq!(multi.encode(&numbers, &[3, 2])?.to_vec_i64()?, [1, 0, 1]);
        let values = ColumnTarget::plan(&numbers, "y", Task::Regression, "MSELoss")?;
        assert_eq!(values.encode(&numbers, &[3])?.to_vec()?, [10.0, 2.0, 10.0]);
        Ok(())
    }

    #[test]
    fn binary_columns_keep_zero_and_one_and_reject_a_third_class() -> Result<()> {
        // All ones: still class 1, not the first sorted class.
        let ones = Table::new(vec![Column::numeric("y", vec![1.0, 1.0])])?;
        let plan = ColumnTarget::plan(&ones, "y", Task::Binary, "BCELoss")?;
        assert_eq!(plan.encode(&ones, &[2])?.to_vec()?, [1.0, 1.0]);
        let three = Table::new(vec![text(&["a", "b", "c"])])?;
        let err = ColumnTarget::plan(&three, "y", Task::Binary, "BCELoss").unwrap_err();
        assert!(err.to_string().contains("holds 3 classes (a, b, c)"), "{err}");
        let soft = Table::new(vec![Column::numeric("y", vec![0.25, 1.0])])?;
        assert_eq!(
            ColumnTarget::plan(&soft, "y", Task::Binary, "BCELoss")?.encode(&soft, &[2])?.to_vec()?,
            [0.25, 1.0]
        );
        let missing = Table::new(vec![Column::numeric("y", vec![1.0, f64::NAN])])?;
        let err = ColumnTarget::plan(&missing, "y", Task::Binary, "BCELoss").unwrap_err();
        assert_eq!(err.to_string(), "column `y`: row 2 has a missing value");
        Ok(())
    }
}
