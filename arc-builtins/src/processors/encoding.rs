//! Categorical columns: `CategoricalEncoding` (alias `OneHotEncoding`)
//! one-hot encodes feature columns, `LabelEncoding` turns a target column
//! into class indices.
//!
//! Categories and classes are the column's distinct values sorted (text by
//! byte order, numbers numerically, as scikit-learn's `OneHotEncoder` and
//! `LabelEncoder` sort them, via [`Table::unique_labels`]); a number's text
//! is Rust's shortest form (`2`, `0.5`). A missing value is an error naming
//! the column and the row.

use std::collections::HashMap;

use arc_core::data::{ColumnValues, Table};
use arc_core::lower::RowTransform;
use arc_core::process::{Processor, ProcessorInputs, ProcessorOutputs, ProcessorState, RowTransformContext};
use arc_core::spec::Config;
use arc_core::tensor::DType;
use arc_core::{DidYouMean, Error, Result, Tensor};
use serde::Deserialize;

use super::common::{Columns, invalid, number_text};

/// `CategoricalEncoding {columns, handle_unknown}` -> `output`, `state`, `n_features`.
pub const ONE_HOT: &str = "core.CategoricalEncoding";
/// `LabelEncoding {column}` -> `output`, `state`, `num_classes`.
pub const LABEL: &str = "core.LabelEncoding";

/// The text of each row of column `name`; a missing value is
/// [`Error::MissingValue`].
fn column_text(table: &Table, name: &str) -> Result<Vec<String>> {
    let missing =
        |row: usize| table.locate(Error::MissingValue { column: name.to_owned(), row: table.source_row(row) });
    match &table.require_column(name)?.values {
        ColumnValues::Numeric(v) => {
            v.iter().enumerate().map(|(i, &x)| if x.is_nan() { Err(missing(i)) } else { Ok(number_text(x)) }).collect()
        }
        ColumnValues::Text(v) => v.iter().enumerate().map(|(i, s)| s.clone().ok_or_else(|| missing(i))).collect(),
    }
}

/// Each value's position in `values`. (Numeric categories sort by value,
/// not by text, so a binary search over the text would not do.)
fn positions(values: &[String]) -> HashMap<&str, usize> {
    values.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect()
}

/// `CategoricalEncoding`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OneHotConfig {
    /// The columns to encode, in output order: a list or one bare column
    /// (required).
    columns: Columns,
    /// `error` (default, as scikit-learn): a category unseen at fit is an
    /// error naming the column and the value; `ignore`: its row of that
    /// column's block is all zeros.
    #[serde(default = "default_handle_unknown")]
    handle_unknown: String,
}

fn default_handle_unknown() -> String {
    "error".into()
}

/// One-hot encoding of categorical columns: for each column, one output
/// feature per category, 1 where the row holds it. Output `[rows, total
/// categories]` f32, the columns' blocks side by side; `n_features` is
/// the width.
#[derive(Debug)]
pub struct CategoricalEncoding {
    columns: Vec<String>,
    ignore_unknown: bool,
}

impl CategoricalEncoding {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let OneHotConfig { columns, handle_unknown } = config.parse(ONE_HOT)?;
        let ignore_unknown = match handle_unknown.as_str() {
            "ignore" => true,
            "error" => false,
            other => {
                return Err(invalid(ONE_HOT, format!("handle_unknown: expected 'ignore' or 'error', got '{other}'")));
            }
        };
        if columns.names().is_empty() {
            return Err(invalid(ONE_HOT, "columns: expected at least one column".into()));
        }
        Ok(Box::new(Self { columns: columns.names().to_vec(), ignore_unknown }))
    }
}

impl Processor for CategoricalEncoding {
    fn name(&self) -> &str {
        ONE_HOT
    }

    fn input_ports(&self) -> &[&str] {
        &["state"]
    }

    fn output_ports(&self) -> &[&str] {
        &["output", "state", "n_features"]
    }

    fn input_columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    fn fit(&self, inputs: &ProcessorInputs<'_>) -> Result<Option<ProcessorState>> {
        let table = inputs.table();
        let mut state = ProcessorState::new("one_hot");
        for name in &self.columns {
            column_text(table, name)?; // no missing values
            state = state.with_strings(format!("categories.{name}"), table.unique_labels(name)?);
        }
        Ok(Some(state.with_strings("columns", self.columns.clone())))
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let state = inputs.state("state")?;
        state.expect_kind(ONE_HOT, "one_hot")?;
        let table = inputs.table();
        let columns = state.strings(ONE_HOT, "columns")?;
        let categories =
            columns.iter().map(|c| state.strings(ONE_HOT, &format!("categories.{c}"))).collect::<Result<Vec<_>>>()?;
        let width: usize = categories.iter().map(|c| c.len()).sum();
        let rows = table.num_rows();
        let mut data = vec![0f32; rows * width];
        let mut offset = 0;
        for (name, known) in columns.iter().zip(&categories) {
            let index = positions(known);
            for (row, value) in column_text(table, name)?.iter().enumerate() {
                match index.get(value.as_str()) {
                    Some(&k) => data[row * width + offset + k] = 1.0,
                    None if self.ignore_unknown => {}
                    None => {
                        return Err(Error::UnknownCategory {
                            column: name.clone(),
                            value: value.clone(),
                            row: row + 1,
                            hint: DidYouMean::among(value, known.iter().map(String::as_str)),
                        });
                    }
                }
            }
            offset += known.len();
        }
        let output = Tensor::from_vec(data, &[rows, width])?;
        Ok(ProcessorOutputs::new().tensor("output", output).var("n_features", width as f64))
    }

    /// One-hot blocks from the saved categories, for the Predictor.
    fn row_transform(&self, context: &RowTransformContext<'_>) -> Result<Option<RowTransform>> {
        let state = context.state.ok_or_else(|| invalid(ONE_HOT, "no fitted state".into()))?;
        state.expect_kind(ONE_HOT, "one_hot")?;
        let columns = state.strings(ONE_HOT, "columns")?.to_vec();
        let blocks = columns
            .iter()
            .map(|c| Ok(super::row::Block::new(state.strings(ONE_HOT, &format!("categories.{c}"))?.to_vec())))
            .collect::<Result<Vec<_>>>()?;
        let width = blocks.iter().map(super::row::Block::len).sum();
        let kernel = Box::new(super::row::OneHotRow { blocks, ignore_unknown: self.ignore_unknown });
        Ok(Some(RowTransform { columns, inputs: Vec::new(), width, kernel }))
    }
}

/// `LabelEncoding`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LabelConfig {
    /// The target column (required).
    column: String,
}

/// Label encoding of a target column: class `i` is the `i`-th of the sorted
/// distinct values. Output `[rows]` i64 class indices (what
/// `CrossEntropyLoss` takes), and `num_classes`. An unseen label at
/// transform is an error naming it. [`decode`](Processor::decode) maps
/// indices back to the labels.
#[derive(Debug)]
pub struct LabelEncoding {
    column: String,
}

impl LabelEncoding {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let LabelConfig { column } = config.parse(LABEL)?;
        Ok(Box::new(Self { column }))
    }
}

impl Processor for LabelEncoding {
    fn name(&self) -> &str {
        LABEL
    }

    fn input_ports(&self) -> &[&str] {
        &["state"]
    }

    fn output_ports(&self) -> &[&str] {
        &["output", "state", "num_classes"]
    }

    fn input_columns(&self) -> Vec<&str> {
        vec![&self.column]
    }

    fn fit(&self, inputs: &ProcessorInputs<'_>) -> Result<Option<ProcessorState>> {
        let table = inputs.table();
        column_text(table, &self.column)?; // no missing values
        let state = ProcessorState::new("label_encoder")
            .with_strings("column", vec![self.column.clone()])
            .with_strings("classes", table.unique_labels(&self.column)?);
        Ok(Some(state))
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let state = inputs.state("state")?;
        state.expect_kind(LABEL, "label_encoder")?;
        let classes = state.strings(LABEL, "classes")?;
        let labels = column_text(inputs.table(), &self.column)?;
        let index = positions(classes);
        let codes = labels
            .iter()
            .map(|label| match index.get(label.as_str()) {
                Some(&k) => Ok(k as i64),
                None => Err(Error::UnknownLabel {
                    label: label.clone(),
                    hint: DidYouMean::among(label, classes.iter().map(String::as_str)),
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        let output = Tensor::from_vec_i64(codes, &[labels.len()])?;
        Ok(ProcessorOutputs::new().tensor("output", output).var("num_classes", classes.len() as f64))
    }

    fn decode(&self, state: &ProcessorState, codes: &Tensor) -> Result<Vec<String>> {
        state.expect_kind(LABEL, "label_encoder")?;
        let classes = state.strings(LABEL, "classes")?;
        let codes = match codes.dtype() {
            DType::I64 => codes.to_vec_i64()?,
            DType::F32 => codes.to_vec()?.into_iter().map(|c| c as i64).collect(),
        };
        codes
            .into_iter()
            .map(|c| {
                usize::try_from(c).ok().and_then(|i| classes.get(i)).cloned().ok_or(Error::IndexOutOfRange {
                    op: "decode",
                    index: c,
                    size: classes.len(),
                })
            })
            .collect()
    }
}
