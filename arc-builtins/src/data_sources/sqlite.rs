//! `core.sqlite`: SQLite tables and queries, read with `rusqlite` (SQLite
//! compiled in, no system library), and prediction write-back.
//!
//! # Locations
//! `sqlite://PATH?table=NAME` (every row of a table or view) or
//! `sqlite://PATH?query=SELECT ...` (the rows of a query); see the shared
//! [location rules](super::sql).
//!
//! # Reading
//! The file is opened read-only and never created. INTEGER and REAL cells
//! are numbers, TEXT is text, NULL is a missing value, and each column's
//! type is inferred as a CSV column's ([cells](super::sql)): a column of
//! numbers with some NULLs is numeric with `NaN`s, a column mixing numbers
//! and words is text. A BLOB cell is an error.
//!
//! # Errors
//! Each names the database file: a path that does not exist
//! ([`Error::DataFile`]), a file that is not a database ([`Error::Database`]),
//! a table that does not exist ([`Error::NoSuchTable`], with close names), a
//! query that fails ([`Error::SqlQuery`], naming it), no rows, a BLOB cell.

use arc_core::data::{DataSource, Table, cell};
use arc_core::spec::Config;
use arc_core::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::Deserialize;

use super::sql::{self, DbLocation, IfExists, Select, database_error};

/// The registered name.
pub(crate) const NAME: &str = "core.sqlite";

/// The locations this source reads start with this (any case).
const SCHEME: &str = "sqlite://";

/// `core.sqlite`'s parameters: none (the location says everything).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SqliteConfig {}

/// Reads SQLite tables and queries into a [`Table`]; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct SqliteSource;

impl SqliteSource {
    /// Builds the source from its (empty) `core.sqlite` params.
    pub(crate) fn from_config(config: &Config) -> Result<Box<dyn DataSource>> {
        let _: SqliteConfig = config.parse(NAME)?;
        Ok(Box::new(Self))
    }
}

impl DataSource for SqliteSource {
    fn accepts(&self, location: &str) -> bool {
        sql::strip_scheme(location, SCHEME).is_some()
    }

    fn load(&self, location: &str) -> Result<Table> {
        let (path, select) = sql::read_target(location, SCHEME)?;
        let path = path.as_str();
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| database_error(path, "cannot open the database", &e))?;
        let tables = table_names(&conn, path)?;
        if let Select::Table(table) = &select {
            sql::check_table(path, table, &tables)?;
        }
        let query = sql::query_text(&select);
        let query_error = |e: rusqlite::Error| Error::SqlQuery {
            path: path.to_owned(),
            query: query.clone(),
            message: engine_message(&e),
        };
        let mut statement = conn.prepare(&query).map_err(query_error)?;
        let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        let mut rows = statement.query([]).map_err(query_error)?;
        let mut row_number = 0;
        while let Some(row) = rows.next().map_err(query_error)? {
            row_number += 1;
            for (j, column) in cells.iter_mut().enumerate() {
                let text = match row.get_ref(j).map_err(query_error)? {
                    ValueRef::Null => String::new(),
                    ValueRef::Integer(i) => sql::integer_cell(i),
                    ValueRef::Real(x) => sql::real_cell(x),
                    ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                        .map_err(|_| cell_error(path, &names[j], row_number, "holds text that is not UTF-8"))?
                        .trim()
                        .to_owned(),
                    ValueRef::Blob(_) => {
                        return Err(cell_error(
                            path,
                            &names[j],
                            row_number,
                            "holds a BLOB; only numbers and text are read",
                        ));
                    }
                };
                column.push(text);
            }
        }
        sql::build_table(path, &select, names, cells)
    }
}

/// The tables and views of the main database, by name; reading them is
/// also the check that the file is an SQLite database.
fn table_names(conn: &Connection, path: &str) -> Result<Vec<String>> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let mut statement =
            conn.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")?;
        statement.query_map([], |row| row.get(0))?.collect()
    };
    read().map_err(|e| database_error(path, "not a readable SQLite database", &e))
}

/// The engine's message; a syntax error says where in the query (the
/// query itself is in the error already).
fn engine_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqlInputError { msg, offset, .. } => format!("{msg} (at byte {offset} of the query)"),
        other => other.to_string(),
    }
}

fn cell_error(path: &str, column: &str, row: usize, what: &str) -> Error {
    Error::Database { path: path.to_owned(), message: format!("column `{column}`, row {row} {what}") }
}

/// Writes prediction columns (as [`arc_core::train::Prediction`] holds
/// them: a name and one text value per row) to the table a
/// `sqlite://PATH?table=NAME[&if_exists=fail|replace]` location names, in
/// one transaction: on any failure the database is left as it was, with no
/// partial table. Returns the number of rows written.
///
/// - The database file is created if it does not exist (its directory must).
/// - An existing table of that name is an [`Error::TableExists`] unless the
///   location says `if_exists=replace`: then it is dropped and rewritten in
///   the same transaction.
/// - A column is `TEXT` when it holds class labels (every value `v` has a
///   `p_v` probability column, as a classifier's prediction has), `REAL`
///   when every value is a number, else `TEXT`. An empty value is NULL.
///
/// ```
/// use arc_builtins::write_predictions;
///
/// let dir = std::env::temp_dir().join(format!("arc-write-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let location = format!("sqlite://{}/out.db?table=predictions", dir.display());
/// let columns = vec![
///     ("species".to_owned(), vec!["setosa".to_owned(), "virginica".to_owned()]),
///     ("p_setosa".to_owned(), vec!["0.9".to_owned(), "0.2".to_owned()]),
///     ("p_virginica".to_owned(), vec!["0.1".to_owned(), "0.8".to_owned()]),
/// ];
/// assert_eq!(write_predictions(&location, &columns)?, 2);
/// let err = write_predictions(&location, &columns).unwrap_err();
/// assert!(err.to_string().ends_with(
///     "table `predictions` already exists; add `&if_exists=replace` to the location to replace it"
/// ));
/// assert_eq!(write_predictions(&format!("{location}&if_exists=replace"), &columns)?, 2);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn write_predictions(location: &str, columns: &[(String, Vec<String>)]) -> Result<usize> {
    let loc = DbLocation::parse(location, SCHEME)?;
    let (table, if_exists) = loc.write_target(location)?;
    let path = loc.path.as_str();
    let rows = check_columns(columns)?;
    let types: Vec<&str> = (0..columns.len()).map(|j| column_type(columns, j)).collect();
    let mut conn =
        Connection::open(path).map_err(|e| database_error(path, "cannot open or create the database", &e))?;
    let failed = |e: rusqlite::Error| Error::Database {
        path: path.to_owned(),
        message: format!("writing table `{table}` failed, nothing was written: {e}"),
    };
    // Dropping `tx` without a commit rolls every statement back.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    let existing = table_names(&tx, path)?;
    if sql::check_table(path, &table, &existing).is_ok() {
        if if_exists == IfExists::Fail {
            return Err(Error::TableExists { path: path.to_owned(), table });
        }
        tx.execute_batch(&format!("DROP TABLE {}", sql::quote_ident(&table))).map_err(failed)?;
    }
    let definitions: Vec<String> =
        columns.iter().zip(&types).map(|((name, _), ty)| format!("{} {ty}", sql::quote_ident(name))).collect();
    tx.execute_batch(&format!("CREATE TABLE {} ({})", sql::quote_ident(&table), definitions.join(", ")))
        .map_err(failed)?;
    {
        let placeholders = vec!["?"; columns.len()].join(", ");
        let mut insert =
            tx.prepare(&format!("INSERT INTO {} VALUES ({placeholders})", sql::quote_ident(&table))).map_err(failed)?;
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(columns.len());
        for row in 0..rows {
            values.clear();
            values.extend(columns.iter().zip(&types).map(|((_, v), &ty)| sql_value(&v[row], ty)));
            insert.execute(rusqlite::params_from_iter(values.iter())).map_err(failed)?;
        }
    }
    tx.commit().map_err(failed)?;
    Ok(rows)
}

/// The row count of `columns`: at least one column, unique names, equal lengths.
fn check_columns(columns: &[(String, Vec<String>)]) -> Result<usize> {
    let (_, first) = columns.first().ok_or_else(|| Error::Spec { message: "no prediction columns to write".into() })?;
    for (j, (name, values)) in columns.iter().enumerate() {
        if columns[..j].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(Error::DuplicateColumn { column: name.clone() });
        }
        if values.len() != first.len() {
            return Err(Error::ColumnLength { column: name.clone(), expected: first.len(), got: values.len() });
        }
    }
    Ok(first.len())
}

/// The SQL type of column `j`; see [`write_predictions`].
fn column_type(columns: &[(String, Vec<String>)], j: usize) -> &'static str {
    let values = &columns[j].1;
    let present = || values.iter().filter(|v| !v.is_empty());
    let has_probability = |v: &str| columns.iter().any(|(n, _)| n.strip_prefix("p_") == Some(v));
    let labels = present().next().is_some() && present().all(|v| has_probability(v));
    if !labels && present().all(|v| cell::parse_number(v).is_some()) { "REAL" } else { "TEXT" }
}

/// The value bound for one cell of a column of SQL type `ty`.
fn sql_value(value: &str, ty: &str) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match (value.is_empty(), ty) {
        (true, _) => Value::Null,
        (false, "REAL") => cell::parse_number(value).map_or(Value::Null, Value::Real),
        (false, _) => Value::Text(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(spec: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        spec.iter().map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn labels_are_text_numbers_real() {
        let c = columns(&[
            ("class", &["0", "1"]),
            ("p_0", &["0.25", "0.5"]),
            ("p_1", &["0.75", "0.5"]),
            ("score", &["1.5", ""]),
            ("name", &["a", "2"]),
        ]);
        let types: Vec<&str> = (0..c.len()).map(|j| column_type(&c, j)).collect();
        assert_eq!(types, ["TEXT", "REAL", "REAL", "REAL", "TEXT"]);
        assert_eq!(sql_value("", "REAL"), rusqlite::types::Value::Null);
        assert_eq!(sql_value("1e-3", "REAL"), rusqlite::types::Value::Real(0.001));
        assert_eq!(sql_value("2", "TEXT"), rusqlite::types::Value::Text("2".into()));
    }

    #[test]
    fn ragged_or_repeated_columns_are_refused_before_writing() {
        let err = check_columns(&columns(&[("a", &["1"]), ("b", &["1", "2"])])).unwrap_err();
        assert_eq!(err.to_string(), "column `b` has 2 rows, but the table has 1");
        let err = check_columns(&columns(&[("a", &["1"]), ("A", &["2"])])).unwrap_err();
        assert_eq!(err.to_string(), "duplicate column `A`");
        assert_eq!(check_columns(&[]).unwrap_err().to_string(), "spec: no prediction columns to write");
    }
}
