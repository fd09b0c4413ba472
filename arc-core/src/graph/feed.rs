//! What feeds a model's inputs: the pipeline's tensor of the input's name
//! (or of its `source:`), else the table column of that name, fitted to the
//! declared shape and element type.

use std::collections::BTreeMap;

use super::{GraphModel, ModelInput};
use crate::data::{ColumnValues, Table};
use crate::{DType, Error, Result, Tensor};

impl GraphModel {
    /// The model's inputs for a run of the pipeline that bound `tensors` on
    /// `table`, by input name.
    ///
    /// Each input reads `tensors.<source>` (`source` is the input's name
    /// unless `source:` says otherwise); an input whose `source:` is not
    /// written and that no step makes reads the table column of its name:
    /// numbers as float32, or as int64 when the input says `dtype: int64`
    /// (whole numbers only). The tensor is then fitted to the declared
    /// shape: a `[N, 1]` tensor for a `[null]` input is squeezed, a `[N]`
    /// one for a `[null, 1]` input unsqueezed; any other mismatch of rank,
    /// size or dtype is [`Error::ModelInput`] naming the input, as are a
    /// missing tensor and a text column.
    pub fn feed(&self, tensors: &BTreeMap<String, Tensor>, table: &Table) -> Result<BTreeMap<String, Tensor>> {
        self.input_specs().iter().map(|input| Ok((input.name.clone(), feed_one(input, tensors, table)?))).collect()
    }
}

fn feed_one(input: &ModelInput, tensors: &BTreeMap<String, Tensor>, table: &Table) -> Result<Tensor> {
    let fail = |message: String| Error::ModelInput { input: input.name.clone(), message };
    let tensor = match tensors.get(&input.source) {
        Some(t) => t.clone(),
        None if !input.explicit_source && table.column(&input.name).is_some() => column_tensor(input, table)?,
        None if input.explicit_source => {
            return Err(fail(format!("reads `tensors.{}`, which no processor step makes", input.source)));
        }
        None => {
            return Err(fail(format!(
                "no processor step makes `tensors.{0}` and the data has no column `{0}`",
                input.source
            )));
        }
    };
    let tensor = fit_shape(&input.shape, tensor);
    let shape = tensor.shape();
    let want = &input.shape;
    let fits = want.is_empty()
        || (want.len() == shape.len() && want.iter().zip(shape).all(|(w, g)| w.is_none_or(|w| w == *g)));
    if !fits {
        return Err(fail(format!("declared shape {}, but the data gives {shape:?}", super::model::show_shape(want))));
    }
    match input.dtype {
        Some(dtype) if dtype != tensor.dtype() => Err(fail(format!(
            "declared {}, but `tensors.{}` holds {}",
            dtype_name(dtype),
            input.source,
            dtype_name(tensor.dtype())
        ))),
        _ => Ok(tensor),
    }
}

/// A table column as the input's tensor: `[rows]`, float32 or int64.
fn column_tensor(input: &ModelInput, table: &Table) -> Result<Tensor> {
    let name = input.name.as_str();
    let fail = |message: String| Error::ModelInput { input: name.to_owned(), message };
    let values = match &table.require_column(name)?.values {
        ColumnValues::Numeric(v) => v,
        ColumnValues::Text(_) => {
            return Err(fail(format!(
                "column `{name}` holds text: a processor step must turn it into numbers (e.g. \
                 `transform.hash_bucket` into ids)"
            )));
        }
    };
    if let Some(row) = values.iter().position(|x| x.is_nan()) {
        return Err(table.locate(Error::MissingValue { column: name.to_owned(), row: table.source_row(row) }));
    }
    match input.dtype {
        Some(DType::I64) => {
            let ids = values
                .iter()
                .enumerate()
                .map(|(row, &x)| {
                    if x.fract() == 0.0 && x.abs() < 9.0e15 {
                        Ok(x as i64)
                    } else {
                        Err(fail(format!(
                            "declared int64, but column `{name}` holds {x} at row {}",
                            table.source_row(row)
                        )))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::from_vec_i64(ids, &[values.len()])
        }
        _ => Tensor::from_vec(values.iter().map(|&x| x as f32).collect(), &[values.len()]),
    }
}

/// `[N, 1]` for a `[null]` input squeezed, `[N]` for `[null, 1]` unsqueezed;
/// anything else as it is.
fn fit_shape(want: &[Option<usize>], tensor: Tensor) -> Tensor {
    let shape = tensor.shape().to_vec();
    let reshaped = match (want, shape.as_slice()) {
        ([_], &[n, 1]) => tensor.reshape(&[n]),
        ([_, Some(1)], &[n]) => tensor.reshape(&[n, 1]),
        _ => return tensor,
    };
    reshaped.unwrap_or(tensor)
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float32",
        DType::I64 => "int64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Column;

    fn input(shape: Vec<Option<usize>>, dtype: Option<DType>) -> ModelInput {
        ModelInput { name: "age".into(), source: "age".into(), explicit_source: false, shape, dtype }
    }

    #[test]
    fn columns_feed_inputs_of_their_name_in_the_declared_shape() -> Result<()> {
        let table = Table::new(vec![Column::numeric("age", vec![30.0, 41.0])])?;
        let none = BTreeMap::new();
        let one_d = feed_one(&input(vec![None], None), &none, &table)?;
        assert_eq!((one_d.shape(), one_d.to_vec()?), (&[2][..], vec![30.0, 41.0]));
        let two_d = feed_one(&input(vec![None, Some(1)], None), &none, &table)?;
        assert_eq!(two_d.shape(), [2, 1]);
        let ids = feed_one(&input(vec![None], Some(DType::I64)), &none, &table)?;
        assert_eq!(ids.to_vec_i64()?, [30, 41]);
        // A [N, 1] pipeline tensor for a [null] input is squeezed.
        let tensors = BTreeMap::from([("age".to_owned(), Tensor::from_vec(vec![1.0, 2.0], &[2, 1])?)]);
        assert_eq!(feed_one(&input(vec![None], None), &tensors, &table)?.shape(), [2]);
        let err = feed_one(&input(vec![None, Some(3)], None), &none, &table).unwrap_err();
        assert_eq!(err.to_string(), "model input `age`: declared shape [null, 3], but the data gives [2]");
        Ok(())
    }

    #[test]
    fn text_fractions_and_absent_sources_are_errors_naming_the_input() -> Result<()> {
        let table =
            Table::new(vec![Column::numeric("age", vec![30.5]), Column::text("country", vec![Some("fr".into())])])?;
        let none = BTreeMap::new();
        let err = feed_one(&input(vec![None], Some(DType::I64)), &none, &table).unwrap_err();
        assert_eq!(err.to_string(), "model input `age`: declared int64, but column `age` holds 30.5 at row 1");
        let country = ModelInput { name: "country".into(), source: "country".into(), ..input(vec![], None) };
        assert!(feed_one(&country, &none, &table).unwrap_err().to_string().contains("holds text"));
        let ids = ModelInput { name: "ids".into(), source: "ids".into(), ..input(vec![], None) };
        assert_eq!(
            feed_one(&ids, &none, &table).unwrap_err().to_string(),
            "model input `ids`: no processor step makes `tensors.ids` and the data has no column `ids`"
        );
        Ok(())
    }
}
