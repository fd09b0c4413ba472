//! What a predictor takes (a [`Row`] of [`Value`]s) and gives ([`Output`]).

use std::sync::Arc;

use crate::{DidYouMean, Error, Result};

pub use crate::lower::Value;

/// One record to predict.
///
/// ```
/// use arc_core::predictor::{Row, Value};
///
/// let named = [("sepal_length", Value::Number(5.1)), ("species_hint", Value::Text("setosa"))];
/// let row = Row::from(&named[..]);
/// assert!(matches!(row, Row::Named(cells) if cells.len() == 2));
/// let features = [5.1f32, 3.5, 1.4, 0.2];
/// assert!(matches!(Row::from(&features[..]), Row::Features(f) if f.len() == 4));
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Row<'a> {
    /// Cells by column name (any order; extra columns are ignored).
    Named(&'a [(&'a str, Value<'a>)]),
    /// One number per input column, in
    /// [`Predictor::input_columns`](super::Predictor::input_columns) order.
    Features(&'a [f32]),
}

impl<'a> From<&'a [(&'a str, Value<'a>)]> for Row<'a> {
    fn from(cells: &'a [(&'a str, Value<'a>)]) -> Self {
        Self::Named(cells)
    }
}

impl<'a> From<&'a [f32]> for Row<'a> {
    fn from(features: &'a [f32]) -> Self {
        Self::Features(features)
    }
}

/// A row's cells, looked up by input column (index and name).
pub(crate) trait RowSource {
    fn value(&self, index: usize, name: &str) -> Result<Value<'_>>;
}

/// A [`Row`] over the predictor's input columns.
pub(crate) struct Cells<'r, 'a> {
    pub row: &'r Row<'a>,
    pub columns: &'r [String],
}

impl RowSource for Cells<'_, '_> {
    fn value(&self, index: usize, name: &str) -> Result<Value<'_>> {
        match self.row {
            Row::Named(cells) => {
                cells.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(|| Error::MissingColumn {
                    column: name.to_owned(),
                    hint: DidYouMean::among(name, cells.iter().map(|(n, _)| *n)),
                })
            }
            Row::Features(values) => match values.get(index) {
                Some(v) => Ok(Value::Number(f64::from(*v))),
                None => Err(Error::MissingColumn { column: name.to_owned(), hint: DidYouMean::default() }),
            },
        }
    }
}

impl Cells<'_, '_> {
    /// Checks a feature slice's length against the input columns.
    pub(crate) fn check(&self) -> Result<()> {
        match self.row {
            Row::Features(values) if values.len() != self.columns.len() => Err(Error::PredictorInput {
                message: format!("{} feature values given, the input columns are {:?}", values.len(), self.columns),
            }),
            _ => Ok(()),
        }
    }
}

/// One prediction.
///
/// A multiclass model (the loss's `pred` output among those answered)
/// gives `label` and `class_index` (the argmax) and, in `values`, the class
/// probabilities (softmax of logits, in
/// [`Predictor::classes`](super::Predictor::classes) order). A binary model
/// gives the label and class of its positive class's probability (the
/// second class from 0.5) and, in `values`, that probability. Any other
/// model gives `label: None` and the answered outputs' raw values in
/// `values` (`predictor.returns`' outputs, or every output, in the spec's
/// order, concatenated).
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The decoded class (a classifier), shared with the predictor.
    pub label: Option<Arc<str>>,
    /// The class index (a classifier).
    pub class_index: Option<usize>,
    /// The probabilities (a classifier) or the output values.
    pub values: Vec<f32>,
}
