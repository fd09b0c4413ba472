//! The hashing trick: `transform.hash_bucket` maps values to bucket ids,
//! `transform.hash_and_pad` maps a text column's tokens to padded id lists.
//!
//! The hash is FNV-1a, 64 bits (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`), of the UTF-8 bytes of a value's text, and the bucket is
//! `hash mod num_buckets`. It depends on nothing but the bytes, so it is
//! the same on every run and platform (unlike Rust's `DefaultHasher`, which
//! is seeded per process). A value's text: text as it is; a number as Rust
//! prints it (shortest round trip: `42`, `0.5`), so the integer 42 and the
//! string `"42"` share a bucket; an f32 tensor element in f32's shortest form.

use arc_core::data::ColumnValues;
use arc_core::process::{Processor, ProcessorInputs, ProcessorOutputs};
use arc_core::spec::Config;
use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{Columns, invalid, number_text, row_tokens};

/// `transform.hash_bucket {x, num_buckets}` -> `output`.
pub const HASH_BUCKET: &str = "transform.hash_bucket";
/// `transform.hash_and_pad {x, num_buckets, max_length, fill_value}` -> `output`.
pub const HASH_AND_PAD: &str = "transform.hash_and_pad";

/// FNV-1a 64 of `bytes`.
///
/// Reference values (from the FNV authors' test suite): `""` ->
/// `0xcbf29ce484222325`, `"a"` -> `0xaf63dc4c8601ec8c`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The bucket of `text`: `fnv1a64(text) mod num_buckets`.
pub fn bucket(text: &str, num_buckets: u64) -> i64 {
    // num_buckets fits in i64 (checked at construction), so the remainder does.
    (fnv1a64(text.as_bytes()) % num_buckets) as i64
}

fn check_buckets(component: &str, num_buckets: u64) -> Result<()> {
    if num_buckets == 0 || num_buckets > i64::MAX as u64 {
        return Err(invalid(component, format!("num_buckets: expected a positive integer, got {num_buckets}")));
    }
    Ok(())
}

/// `transform.hash_bucket`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HashBucketConfig {
    /// Table columns to hash: one bare column or a list; absent when `x`
    /// is a `tensors.X` ref.
    #[serde(default)]
    x: Option<Columns>,
    /// The number of buckets, > 0 (required).
    num_buckets: u64,
}

/// `transform.hash_bucket`: each value to its bucket. `x` is one bare
/// column (output `[rows]` i64), a column list (output `[rows, columns]`
/// i64) or a tensor (output of its shape, i64). A missing table value is an
/// error naming the column and the row.
#[derive(Debug)]
pub struct HashBucket {
    columns: Option<Columns>,
    num_buckets: u64,
}

impl HashBucket {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let HashBucketConfig { x, num_buckets } = config.parse(HASH_BUCKET)?;
        check_buckets(HASH_BUCKET, num_buckets)?;
        Ok(Box::new(Self { columns: x, num_buckets }))
    }
}

impl Processor for HashBucket {
    fn name(&self) -> &str {
        HASH_BUCKET
    }

    fn input_ports(&self) -> &[&str] {
        &["x"]
    }

    fn output_ports(&self) -> &[&str] {
        &["output"]
    }

    fn input_columns(&self) -> Vec<&str> {
        self.columns.iter().flat_map(Columns::names).map(String::as_str).collect()
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let n = self.num_buckets;
        let output = if inputs.contains("x") {
            let x = inputs.tensor("x")?;
            let ids = match x.dtype() {
                DType::I64 => x.to_vec_i64()?.iter().map(|v| bucket(&v.to_string(), n)).collect(),
                DType::F32 => x.to_vec()?.iter().map(|v| bucket(&(v + 0.0).to_string(), n)).collect(),
            };
            Tensor::from_vec_i64(ids, x.shape())?
        } else {
            let Some(columns) = &self.columns else {
                return Err(Error::MissingInput { component: HASH_BUCKET.into(), port: "x".into() });
            };
            let table = inputs.table();
            let (rows, k) = (table.num_rows(), columns.names().len());
            let mut ids = vec![0i64; rows * k];
            for (j, name) in columns.names().iter().enumerate() {
                let column = &table.require_column(name)?.values;
                for row in 0..rows {
                    let text = match column {
                        ColumnValues::Numeric(v) if !v[row].is_nan() => number_text(v[row]),
                        ColumnValues::Text(v) if v[row].is_some() => v[row].clone().unwrap_or_default(),
                        _ => {
                            let row = table.source_row(row);
                            return Err(table.locate(Error::MissingValue { column: name.clone(), row }));
                        }
                    };
                    ids[row * k + j] = bucket(&text, n);
                }
            }
            match columns {
                Columns::One(_) => Tensor::from_vec_i64(ids, &[rows])?,
                Columns::List(_) => Tensor::from_vec_i64(ids, &[rows, k])?,
            }
        };
        Ok(ProcessorOutputs::new().tensor("output", output))
    }
}

/// `transform.hash_and_pad`'s params.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HashAndPadConfig {
    /// The sequence column: a bare column, or a one-column list (required).
    x: Columns,
    /// The number of buckets, > 0 (required).
    num_buckets: u64,
    /// The length every row is padded or truncated to, > 0 (required).
    max_length: usize,
    /// The id that pads short rows. Default 0 (which bucket 0 shares:
    /// pick e.g. -1 or `num_buckets` to tell them apart).
    #[serde(default)]
    fill_value: i64,
}

/// `transform.hash_and_pad`: splits each row's text on whitespace
/// (`str::split_whitespace`; a DuckDB LIST arrives so joined), hashes each
/// token to its bucket, keeps the first `max_length` and pads with
/// `fill_value`. Output `[rows, max_length]` i64. A missing text is an
/// empty token list; a number is one token.
#[derive(Debug)]
pub struct HashAndPad {
    column: String,
    num_buckets: u64,
    max_length: usize,
    fill_value: i64,
}

impl HashAndPad {
    /// Builds it from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Processor>> {
        let HashAndPadConfig { x, num_buckets, max_length, fill_value } = config.parse(HASH_AND_PAD)?;
        check_buckets(HASH_AND_PAD, num_buckets)?;
        let [column] = <[String; 1]>::try_from(x.names().to_vec())
            .map_err(|x| invalid(HASH_AND_PAD, format!("x: expected one text column, got {}", x.len())))?;
        if max_length == 0 {
            return Err(invalid(HASH_AND_PAD, "max_length: expected a positive integer, got 0".into()));
        }
        Ok(Box::new(Self { column, num_buckets, max_length, fill_value }))
    }
}

impl Processor for HashAndPad {
    fn name(&self) -> &str {
        HASH_AND_PAD
    }

    fn input_ports(&self) -> &[&str] {
        &[]
    }

    fn output_ports(&self) -> &[&str] {
        &["output"]
    }

    fn input_columns(&self) -> Vec<&str> {
        vec![&self.column]
    }

    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let rows = row_tokens(inputs.table(), &self.column)?;
        let mut ids = vec![self.fill_value; rows.len() * self.max_length];
        for (row, tokens) in rows.iter().enumerate() {
            for (slot, token) in ids[row * self.max_length..].iter_mut().zip(tokens.iter().take(self.max_length)) {
                *slot = bucket(token, self.num_buckets);
            }
        }
        Ok(ProcessorOutputs::new().tensor("output", Tensor::from_vec_i64(ids, &[rows.len(), self.max_length])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the FNV reference test suite (Landon Curt Noll's `test_fnv.c`).
    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(bucket("foobar", 1000), (0x8594_4171_f739_67e8u64 % 1000) as i64);
    }

    #[test]
    fn configs_are_checked() {
        let err = HashAndPad::from_config(&Config::from_yaml("{x: [a, b], num_buckets: 5, max_length: 2}").unwrap());
        assert_eq!(
            err.err().map(|e| e.to_string()).unwrap_or_default(),
            "transform.hash_and_pad: invalid config: x: expected one text column, got 2"
        );
        let err = HashBucket::from_config(&Config::from_yaml("num_buckets: 0").unwrap()).err().expect("an error");
        assert_eq!(
            err.to_string(),
            "transform.hash_bucket: invalid config: num_buckets: expected a positive integer, got 0"
        );
    }
}
