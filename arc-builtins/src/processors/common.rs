//! What the processors share: reading feature tensors as f64 columns,
//! config errors, and the text form of a value (for hashing and encoding).

use arc_core::data::{ColumnValues, Table};
use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};
use serde::{Deserialize, Deserializer};

/// An [`Error::InvalidConfig`] for `component`.
pub fn invalid(component: &str, message: String) -> Error {
    Error::InvalidConfig { component: component.to_owned(), message }
}

/// A feature matrix read as f64: `rows` x `width`, row-major.
pub struct Features {
    /// The input's shape, restored on the output.
    pub shape: Vec<usize>,
    /// The number of features (the last dimension; 1 for a 1-D tensor).
    pub width: usize,
    /// The values, row-major.
    pub values: Vec<f64>,
}

impl Features {
    /// Reads an f32 or i64 tensor of rank 1 (one feature) or more (the
    /// last dimension holds the features).
    pub fn read(tensor: &Tensor, op: &'static str) -> Result<Self> {
        let shape = tensor.shape().to_vec();
        if shape.is_empty() {
            return Err(Error::BadRank { op, expected: "a tensor of rank 1 or more", shape });
        }
        let width = if shape.len() == 1 { 1 } else { shape[shape.len() - 1] };
        let values = match tensor.dtype() {
            DType::F32 => tensor.to_vec()?.into_iter().map(f64::from).collect(),
            DType::I64 => tensor.to_vec_i64()?.into_iter().map(|v| v as f64).collect(),
        };
        Ok(Self { shape, width, values })
    }

    /// The number of rows (every dimension but the features').
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// Feature `j`'s values.
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.values.iter().skip(j).step_by(self.width.max(1)).copied().collect()
    }

    /// Checks that a fitted state holds one value per feature.
    pub fn check_width(&self, op: &'static str, fitted: usize) -> Result<()> {
        if fitted == self.width {
            return Ok(());
        }
        Err(Error::ShapeMismatch { op, lhs: self.shape.clone(), rhs: vec![fitted] })
    }

    /// An f32 tensor of the input's shape, feature `j` of each row mapped by `f(j, value)`.
    pub fn map(&self, f: impl Fn(usize, f64) -> f64) -> Result<Tensor> {
        let width = self.width.max(1);
        let data = self.values.iter().enumerate().map(|(i, &v)| f(i % width, v) as f32).collect();
        Tensor::from_vec(data, &self.shape)
    }
}

/// The mean and population standard deviation (divisor `n`, as
/// scikit-learn's `StandardScaler`) of `values`, in f64.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A scale of zero (a constant feature) becomes 1, so the feature is only
/// shifted: scikit-learn's `_handle_zeros_in_scale`.
pub fn nonzero_scale(scale: f64) -> f64 {
    if scale == 0.0 { 1.0 } else { scale }
}

/// A number's text: as Rust prints an `f64` (shortest round trip, `42`,
/// `0.5`, `-0` printed `0`), the form [`arc_core::data::Table::unique_labels`]
/// uses, so a numeric column's categories match its values.
pub fn number_text(value: f64) -> String {
    (value + 0.0).to_string()
}

/// Table columns as a step names them: one bare column (`x: country`) or a
/// list (`columns: [a, b]`; a named list such as `feature_columns` arrives
/// expanded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Columns {
    /// A bare column name.
    One(String),
    /// A list of column names.
    List(Vec<String>),
}

impl Columns {
    /// The names, in order.
    pub fn names(&self) -> &[String] {
        match self {
            Self::One(name) => std::slice::from_ref(name),
            Self::List(names) => names,
        }
    }
}

impl schemars::JsonSchema for Columns {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Columns".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A column name, a list of column names, or the name of a column list (`feature_columns`).",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        })
    }
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d) {
            Ok(Raw::One(name)) => Ok(Self::One(name)),
            Ok(Raw::List(names)) => Ok(Self::List(names)),
            Err(_) => Err(serde::de::Error::custom("expected a column name or a list of column names")),
        }
    }
}

/// Each row's tokens of a sequence column: a text cell split on
/// whitespace (a missing cell is an empty sequence), a number one token
/// (its text as [`number_text`] writes it; NaN, missing, is none).
pub fn row_tokens<'a>(table: &'a Table, column: &str) -> Result<Vec<Vec<std::borrow::Cow<'a, str>>>> {
    use std::borrow::Cow;
    Ok(match &table.require_column(column)?.values {
        ColumnValues::Text(cells) => {
            cells.iter().map(|c| c.as_deref().unwrap_or("").split_whitespace().map(Cow::Borrowed).collect()).collect()
        }
        ColumnValues::Numeric(cells) => {
            cells.iter().map(|&v| if v.is_nan() { Vec::new() } else { vec![Cow::Owned(number_text(v))] }).collect()
        }
    })
}
