//! The built-in processors' row transforms
//! ([`Processor::row_transform`](arc_core::process::Processor::row_transform))
//! for the Predictor's compiled plan: each computes as its processor's
//! `transform` does (f64 maths on the f32 value, rounded to f32), so both
//! paths give the same numbers.

use std::collections::HashMap;

use arc_core::lower::{RowColumns, RowInputs, RowTransformKernel, Value};
use arc_core::{DidYouMean, Error, Result};

fn missing(column: &str) -> Error {
    Error::MissingValue { column: column.to_owned(), row: 1 }
}

/// Numeric columns side by side (`transform.assemble_vector`).
#[derive(Debug)]
pub(super) struct AssembleRow;

impl RowTransformKernel for AssembleRow {
    fn run(&self, columns: &dyn RowColumns, _: RowInputs<'_>, output: &mut [f32]) -> Result<()> {
        for (k, y) in output.iter_mut().enumerate() {
            *y = match columns.value(k)? {
                Value::Number(v) if v.is_nan() => return Err(missing(columns.name(k))),
                Value::Number(v) => v as f32,
                Value::Missing => return Err(missing(columns.name(k))),
                Value::Text(t) => {
                    return Err(Error::NonNumericColumn {
                        column: columns.name(k).to_owned(),
                        row: 1,
                        value: t.to_owned(),
                    });
                }
            };
        }
        Ok(())
    }
}

/// `y = (x - center) / scale * mul + add`, per feature, in f64 (the scalers).
#[derive(Debug)]
pub(super) struct AffineRow {
    pub center: Vec<f64>,
    pub scale: Vec<f64>,
    pub mul: f64,
    pub add: f64,
}

impl RowTransformKernel for AffineRow {
    fn run(&self, _: &dyn RowColumns, inputs: RowInputs<'_>, output: &mut [f32]) -> Result<()> {
        for (j, (y, &x)) in output.iter_mut().zip(inputs.first()).enumerate() {
            *y = ((f64::from(x) - self.center[j]) / self.scale[j] * self.mul + self.add) as f32;
        }
        Ok(())
    }
}

/// One column's categories.
#[derive(Debug)]
pub(super) struct Block {
    categories: Vec<String>,
    by_text: HashMap<String, usize>,
    /// Categories that read as numbers, for numeric values.
    by_number: Vec<(f64, usize)>,
}

impl Block {
    pub(super) fn new(categories: Vec<String>) -> Self {
        let by_text = categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        let by_number =
            categories.iter().enumerate().filter_map(|(i, c)| c.parse::<f64>().ok().map(|v| (v, i))).collect();
        Self { categories, by_text, by_number }
    }

    pub(super) fn len(&self) -> usize {
        self.categories.len()
    }
}

/// One-hot blocks, one per column (`CategoricalEncoding`).
#[derive(Debug)]
pub(super) struct OneHotRow {
    pub blocks: Vec<Block>,
    pub ignore_unknown: bool,
}

impl RowTransformKernel for OneHotRow {
    fn run(&self, columns: &dyn RowColumns, _: RowInputs<'_>, output: &mut [f32]) -> Result<()> {
        output.fill(0.0);
        let mut at = 0;
        for (k, block) in self.blocks.iter().enumerate() {
            let name = columns.name(k);
            let found = match columns.value(k)? {
                Value::Number(v) if v.is_nan() => return Err(missing(name)),
                Value::Number(v) => block.by_number.iter().find(|(c, _)| *c == v).map(|(_, i)| *i),
                Value::Text(t) => block.by_text.get(t).copied(),
                Value::Missing => return Err(missing(name)),
            };
            match found {
                Some(i) => output[at + i] = 1.0,
                None if self.ignore_unknown => {}
                None => {
                    let value = match columns.value(k)? {
                        Value::Number(v) => (v + 0.0).to_string(),
                        Value::Text(t) => t.to_owned(),
                        Value::Missing => String::new(),
                    };
                    return Err(Error::UnknownCategory {
                        column: name.to_owned(),
                        hint: DidYouMean::among(&value, block.categories.iter().map(String::as_str)),
                        value,
                        row: 1,
                    });
                }
            }
            at += block.len();
        }
        Ok(())
    }

    /// Each column's first category.
    fn probe(&self, k: usize) -> Option<Value<'_>> {
        let first = self.blocks.get(k)?.categories.first()?;
        Some(match first.parse::<f64>() {
            Ok(v) => Value::Number(v),
            Err(_) => Value::Text(first),
        })
    }
}
