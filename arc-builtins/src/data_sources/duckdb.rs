//! `core.duckdb`: DuckDB tables and queries, read with the `duckdb` crate.
//!
//! The feature `duckdb` links a provided `libduckdb` (`DUCKDB_LIB_DIR` to
//! build, `LD_LIBRARY_PATH` to run; `.ci/fetch-libduckdb.sh` fetches one);
//! `duckdb-bundled` compiles DuckDB from source instead.
//!
//! # Locations
//! `duckdb://PATH?table=NAME` or `duckdb://PATH?query=SELECT ...`; see the
//! shared [location rules](super::sql).
//!
//! # Reading
//! The file is opened read-only and never created. Integers (any width),
//! floats, doubles and decimals are numbers, booleans and VARCHAR are text
//! (`true`/`false`, as a CSV export spells them), NULL is a missing value,
//! and each column's type is inferred as a CSV column's
//! ([cells](super::sql)). A `LIST` (or fixed-size `ARRAY`) of numbers or
//! text is a sequence cell: its items' text joined by spaces, the form a
//! CSV sequence column holds (`[12, 7, 33]` reads as `12 7 33`, an empty
//! list as a missing value), which `inspect.sequence_stats` and
//! `transform.hash_and_pad` split back into tokens. Other types (dates,
//! timestamps, blobs, structs, nested lists, ...) are an error naming the
//! column: `CAST` them in a query.
//!
//! # Errors
//! As `core.sqlite`'s: each names the database file; a missing path is
//! [`Error::DataFile`], a missing table [`Error::NoSuchTable`] with close
//! names, a failing query [`Error::SqlQuery`] naming it.

use arc_core::data::{DataSource, Table};
use arc_core::spec::Config;
use arc_core::{Error, Result};
use duckdb::types::{Value, ValueRef};
use duckdb::{AccessMode, Connection};
use serde::Deserialize;

use super::sql::{self, Select, database_error};

/// The registered name.
pub(crate) const NAME: &str = "core.duckdb";

/// The locations this source reads start with this (any case).
const SCHEME: &str = "duckdb://";

/// `core.duckdb`'s parameters: none (the location says everything).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DuckDbConfig {}

/// Reads DuckDB tables and queries into a [`Table`]; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct DuckDbSource;

impl DuckDbSource {
    /// Builds the source from its (empty) `core.duckdb` params.
    pub(crate) fn from_config(config: &Config) -> Result<Box<dyn DataSource>> {
        let _: DuckDbConfig = config.parse(NAME)?;
        Ok(Box::new(Self))
    }
}

impl DataSource for DuckDbSource {
    fn accepts(&self, location: &str) -> bool {
        sql::strip_scheme(location, SCHEME).is_some()
    }

    fn load(&self, location: &str) -> Result<Table> {
        let (path, select) = sql::read_target(location, SCHEME)?;
        let path = path.as_str();
        let config = duckdb::Config::default()
            .access_mode(AccessMode::ReadOnly)
            .map_err(|e| database_error(path, "cannot configure DuckDB", &e))?;
        let conn = Connection::open_with_flags(path, config)
            .map_err(|e| database_error(path, "cannot open the database", &e))?;
        if let Select::Table(table) = &select {
            sql::check_table(path, table, &table_names(&conn, path)?)?;
        }
        let query = sql::query_text(&select);
        let query_error =
            |e: duckdb::Error| Error::SqlQuery { path: path.to_owned(), query: query.clone(), message: e.to_string() };
        let mut statement = conn.prepare(&query).map_err(query_error)?;
        let mut rows = statement.query([]).map_err(query_error)?;
        let names = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        let mut row_number = 0;
        while let Some(row) = rows.next().map_err(query_error)? {
            row_number += 1;
            for (j, column) in cells.iter_mut().enumerate() {
                let value = row.get_ref(j).map_err(query_error)?;
                let text = cell_text(value).ok_or_else(|| Error::Database {
                    path: path.to_owned(),
                    message: format!(
                        "column `{}`, row {row_number} holds a {} value; only numbers and text are read \
                         (CAST it in a query)",
                        names[j],
                        value.data_type()
                    ),
                })?;
                column.push(text);
            }
        }
        sql::build_table(path, &select, names, cells)
    }
}

/// The text a CSV file would hold for a cell (NULL: empty), or `None` for
/// a type that is neither a number nor text.
fn cell_text(value: ValueRef<'_>) -> Option<String> {
    Some(match value {
        ValueRef::Null => String::new(),
        ValueRef::Boolean(b) => b.to_string(),
        ValueRef::TinyInt(i) => sql::integer_cell(i.into()),
        ValueRef::SmallInt(i) => sql::integer_cell(i.into()),
        ValueRef::Int(i) => sql::integer_cell(i.into()),
        ValueRef::BigInt(i) => sql::integer_cell(i),
        ValueRef::UTinyInt(i) => sql::integer_cell(i.into()),
        ValueRef::USmallInt(i) => sql::integer_cell(i.into()),
        ValueRef::UInt(i) => sql::integer_cell(i.into()),
        ValueRef::UBigInt(i) => i.to_string(),
        ValueRef::HugeInt(i) => i.to_string(),
        ValueRef::UHugeInt(i) => i.to_string(),
        // The shortest text that reads back as this f32, as a CSV export holds it.
        ValueRef::Float(x) => x.to_string(),
        ValueRef::Double(x) => sql::real_cell(x),
        ValueRef::Decimal(d) => d.to_string(),
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).trim().to_owned(),
        ValueRef::List(..) | ValueRef::Array(..) => match Value::from(value) {
            Value::List(items) | Value::Array(items) => {
                let tokens = items.iter().map(item_text).collect::<Option<Vec<_>>>()?;
                tokens.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// The text of one item of a LIST cell: a number or a text token (NULL
/// items are left out; anything else cannot be a token).
fn item_text(item: &Value) -> Option<String> {
    Some(match item {
        Value::Null => String::new(),
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(i) => i.to_string(),
        Value::SmallInt(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::HugeInt(i) => i.to_string(),
        Value::UTinyInt(i) => i.to_string(),
        Value::USmallInt(i) => i.to_string(),
        Value::UInt(i) => i.to_string(),
        Value::UBigInt(i) => i.to_string(),
        Value::UHugeInt(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Double(x) => sql::real_cell(*x),
        Value::Text(t) => t.trim().to_owned(),
        _ => return None,
    })
}

/// The tables and views of the database, by name.
fn table_names(conn: &Connection, path: &str) -> Result<Vec<String>> {
    let read = || -> duckdb::Result<Vec<String>> {
        let mut statement = conn.prepare("SELECT DISTINCT table_name FROM information_schema.tables ORDER BY 1")?;
        statement.query_map([], |row| row.get(0))?.collect()
    };
    read().map_err(|e| database_error(path, "cannot list the tables", &e))
}
