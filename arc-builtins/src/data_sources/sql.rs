//! What the SQL data sources (`core.sqlite`, `core.duckdb`) share: their
//! locations, `SCHEME://PATH?table=NAME` or `SCHEME://PATH?query=SQL`, and
//! turning result cells into columns by the CSV source's rules.
//!
//! # Locations
//! - `PATH` is relative to the working directory (`sqlite://data/iris.db`)
//!   or absolute (`sqlite:///srv/iris.db`).
//! - Parameters follow the first `?`, separated by `&`, each `name=value`
//!   split at its first `=`. `%XX` escapes are decoded in the path and the
//!   values (`%26` for a `&` in a query, `%25` for `%`); `+` stays a plus.
//! - Reading takes exactly one of `table` and `query`; writing takes `table`
//!   and optionally `if_exists` (`fail`, the default, or `replace`).
//!
//! # Cells
//! Each cell becomes the text a CSV file would hold: an integer or a real
//! prints as Rust prints it (`3`, `2.5`), text is trimmed, and NULL becomes
//! the empty cell. The columns are then inferred as the CSV source infers
//! them ([`ColumnValues::infer`]): numeric when every present cell is a
//! number, else text, with NULL, the empty text and the other default
//! [missing markers](arc_core::data::cell::MISSING_MARKERS) missing.

use arc_core::data::{Column, ColumnValues, Table};
use arc_core::{DidYouMean, Error, Result};
use percent_encoding::percent_decode_str;

/// The parameters a location may name.
const PARAMS: &[&str] = &["table", "query", "if_exists"];

/// A parsed `SCHEME://PATH?PARAMS` location.
#[derive(Debug, PartialEq)]
pub(crate) struct DbLocation {
    /// The database file, decoded.
    pub(crate) path: String,
    /// `table=`, decoded.
    pub(crate) table: Option<String>,
    /// `query=`, decoded.
    pub(crate) query: Option<String>,
    /// `if_exists=`, decoded.
    pub(crate) if_exists: Option<String>,
}

/// What a read selects.
#[derive(Debug, PartialEq)]
pub(crate) enum Select {
    /// Every row and column of a table or view.
    Table(String),
    /// The rows of a query.
    Query(String),
}

/// What a write does when its table exists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum IfExists {
    /// Stop with [`Error::TableExists`] (the default).
    Fail,
    /// Drop the table and write a new one, in the same transaction.
    Replace,
}

/// `location` without its `scheme` prefix (e.g. `sqlite://`, any case).
pub(crate) fn strip_scheme<'a>(location: &'a str, scheme: &str) -> Option<&'a str> {
    location.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|_| &location[scheme.len()..])
}

/// What a read of `location` (which starts with `scheme`) opens: the database path, which
/// must exist (a missing file is an error naming it, never a new empty database), and what
/// it selects.
pub(crate) fn read_target(location: &str, scheme: &str) -> Result<(String, Select)> {
    let loc = DbLocation::parse(location, scheme)?;
    let select = loc.select(location)?;
    std::fs::metadata(&loc.path).map_err(|source| Error::DataFile { path: loc.path.clone(), source })?;
    Ok((loc.path, select))
}

/// An [`Error::Database`] naming the file: `what` failed, with the engine's `error`.
pub(crate) fn database_error(path: &str, what: &str, error: &dyn std::fmt::Display) -> Error {
    Error::Database { path: path.to_owned(), message: format!("{what}: {error}") }
}

impl DbLocation {
    /// Parses `location`, which starts with `scheme` (`sqlite://`).
    pub(crate) fn parse(location: &str, scheme: &str) -> Result<Self> {
        let bad = |message: String| Error::DataLocation { location: location.to_owned(), message };
        let rest = strip_scheme(location, scheme)
            .ok_or_else(|| bad(format!("expected a location starting with `{scheme}`")))?;
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let path = decode(path).map_err(&bad)?;
        if path.is_empty() {
            return Err(bad(format!("no database path after `{scheme}`")));
        }
        let mut parsed = Self { path, table: None, query: None, if_exists: None };
        for param in params.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let slot = match name {
                "table" => &mut parsed.table,
                "query" => &mut parsed.query,
                "if_exists" => &mut parsed.if_exists,
                _ => {
                    let hint = DidYouMean::among(name, PARAMS.iter().copied());
                    return Err(bad(format!(
                        "unknown parameter `{name}`{hint}; expected `table`, `query` or `if_exists`"
                    )));
                }
            };
            if slot.is_some() {
                return Err(bad(format!("parameter `{name}` is given twice")));
            }
            let value = decode(value).map_err(&bad)?;
            if value.trim().is_empty() {
                return Err(bad(format!("parameter `{name}` is empty")));
            }
            *slot = Some(value);
        }
        Ok(parsed)
    }

    /// What a read of `location` (this, parsed) selects: exactly one of
    /// `table` and `query`, and no `if_exists`.
    pub(crate) fn select(&self, location: &str) -> Result<Select> {
        let bad = |message: &str| Error::DataLocation { location: location.to_owned(), message: message.to_owned() };
        if self.if_exists.is_some() {
            return Err(bad("`if_exists` applies to writing predictions, not to reading"));
        }
        match (&self.table, &self.query) {
            (Some(table), None) => Ok(Select::Table(table.clone())),
            (None, Some(query)) => Ok(Select::Query(query.clone())),
            (None, None) => Err(bad("name a table (`?table=NAME`) or a query (`?query=SELECT ...`)")),
            (Some(_), Some(_)) => Err(bad("give either `table` or `query`, not both")),
        }
    }

    /// The table a write of `location` (this, parsed) fills and what to do
    /// if it exists: `table` is required, `query` is refused.
    pub(crate) fn write_target(&self, location: &str) -> Result<(String, IfExists)> {
        let bad = |message: String| Error::DataLocation { location: location.to_owned(), message };
        if self.query.is_some() {
            return Err(bad("predictions are written to a table (`?table=NAME`), not a query".to_owned()));
        }
        let table = self.table.clone().ok_or_else(|| bad("name the table to write (`?table=NAME`)".to_owned()))?;
        let if_exists = match self.if_exists.as_deref() {
            None | Some("fail") => IfExists::Fail,
            Some("replace") => IfExists::Replace,
            Some(other) => return Err(bad(format!("`if_exists={other}`: expected `fail` or `replace`"))),
        };
        Ok((table, if_exists))
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn decode(text: &str) -> std::result::Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("`{text}` is not UTF-8 once its `%XX` escapes are decoded"))
}

/// `name` as an SQL identifier: in double quotes, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The query that reads every row of `select`.
pub(crate) fn query_text(select: &Select) -> String {
    match select {
        Select::Table(table) => format!("SELECT * FROM {}", quote_ident(table)),
        Select::Query(query) => query.clone(),
    }
}

/// Checks that `table` is among `existing` (compared ignoring ASCII case,
/// as SQL does), else [`Error::NoSuchTable`] with close names.
pub(crate) fn check_table(path: &str, table: &str, existing: &[String]) -> Result<()> {
    if existing.iter().any(|t| t.eq_ignore_ascii_case(table)) {
        return Ok(());
    }
    let hint = DidYouMean::among(table, existing.iter().map(String::as_str));
    Err(Error::NoSuchTable { path: path.to_owned(), table: table.to_owned(), hint })
}

/// The text a CSV file would hold for an integer cell.
pub(crate) fn integer_cell(value: i64) -> String {
    value.to_string()
}

/// The text a CSV file would hold for a real cell: Rust's shortest
/// round-trip form, so the number reads back bit for bit.
pub(crate) fn real_cell(value: f64) -> String {
    value.to_string()
}

/// The table of `names` and their cells (column-major, NULL as `""`),
/// inferred as CSV columns are; [`Error::Database`] if there are no rows.
pub(crate) fn build_table(path: &str, select: &Select, names: Vec<String>, cells: Vec<Vec<String>>) -> Result<Table> {
    if cells.first().is_none_or(Vec::is_empty) {
        let what = match select {
            Select::Table(table) => format!("table `{table}`"),
            Select::Query(query) => format!("query `{query}`"),
        };
        return Err(Error::Database { path: path.to_owned(), message: format!("{what} has no rows") });
    }
    let columns = names
        .into_iter()
        .zip(&cells)
        .map(|(name, cells)| Column { name, values: ColumnValues::infer(cells.iter().map(String::as_str)) })
        .collect();
    Table::new(columns).map_err(|e| Error::InDataFile { path: path.to_owned(), error: Box::new(e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(location: &str) -> Result<DbLocation> {
        DbLocation::parse(location, "sqlite://")
    }

    #[test]
    fn paths_and_params_are_split_and_decoded() -> Result<()> {
        let loc = parse("sqlite://data/my%20db.db?table=iris")?;
        assert_eq!((loc.path.as_str(), loc.table.as_deref(), loc.query), ("data/my db.db", Some("iris"), None));
        let loc = parse("SQLite:///abs/x.db?query=SELECT a+b, c FROM t WHERE s = 'x%26y' AND k=1")?;
        assert_eq!(loc.path, "/abs/x.db");
        assert_eq!(loc.query.as_deref(), Some("SELECT a+b, c FROM t WHERE s = 'x&y' AND k=1"));
        let loc = parse("sqlite://p.db?table=out&if_exists=replace")?;
        assert_eq!(loc.write_target("l")?, ("out".to_owned(), IfExists::Replace));
        assert_eq!(parse("sqlite://p.db?table=t")?.write_target("l")?.1, IfExists::Fail);
        assert_eq!(parse("sqlite://p.db?table=t")?.select("l")?, Select::Table("t".into()));
        Ok(())
    }

    #[test]
    fn malformed_locations_are_errors_naming_the_location() {
        let err = |location: &str| match parse(location).and_then(|l| l.select(location)) {
            Ok(s) => panic!("{location} parsed as {s:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(err("sqlite://?table=t"), "`sqlite://?table=t`: no database path after `sqlite://`");
        assert_eq!(
            err("sqlite://a.db"),
            "`sqlite://a.db`: name a table (`?table=NAME`) or a query (`?query=SELECT ...`)"
        );
        assert_eq!(
            err("sqlite://a.db?table=t&query=x"),
            "`sqlite://a.db?table=t&query=x`: give either `table` or `query`, not both"
        );
        assert_eq!(
            err("sqlite://a.db?tabel=t"),
            "`sqlite://a.db?tabel=t`: unknown parameter `tabel` (did you mean `table`?); expected `table`, `query` or `if_exists`"
        );
        assert_eq!(
            err("sqlite://a.db?table=t&table=u"),
            "`sqlite://a.db?table=t&table=u`: parameter `table` is given twice"
        );
        assert_eq!(err("sqlite://a.db?table="), "`sqlite://a.db?table=`: parameter `table` is empty");
        assert_eq!(
            err("sqlite://a.db?table=%ff"),
            "`sqlite://a.db?table=%ff`: `%ff` is not UTF-8 once its `%XX` escapes are decoded"
        );
        assert_eq!(
            err("sqlite://a.db?table=t&if_exists=replace"),
            "`sqlite://a.db?table=t&if_exists=replace`: `if_exists` applies to writing predictions, not to reading"
        );
        let write = |location: &str| parse(location).and_then(|l| l.write_target(location)).unwrap_err().to_string();
        assert_eq!(
            write("sqlite://a.db?query=x"),
            "`sqlite://a.db?query=x`: predictions are written to a table (`?table=NAME`), not a query"
        );
        assert_eq!(
            write("sqlite://a.db?table=t&if_exists=append"),
            "`sqlite://a.db?table=t&if_exists=append`: `if_exists=append`: expected `fail` or `replace`"
        );
    }

    #[test]
    fn identifiers_are_quoted_and_tables_matched_ignoring_case() {
        assert_eq!(quote_ident("my \"t\""), "\"my \"\"t\"\"\"");
        let existing = ["iris".to_owned(), "wine".to_owned()];
        assert!(check_table("a.db", "IRIS", &existing).is_ok());
        assert_eq!(
            check_table("a.db", "irs", &existing).unwrap_err().to_string(),
            "a.db: no table `irs` (did you mean `iris`?)"
        );
    }

    #[test]
    fn cells_infer_like_csv_and_null_is_missing() -> Result<()> {
        let select = Select::Table("t".into());
        let cells =
            vec![vec![integer_cell(1), String::new(), real_cell(2.5)], vec![integer_cell(3), "x".into(), "NA".into()]];
        let table = build_table("a.db", &select, vec!["n".into(), "mixed".into()], cells)?;
        let n = table.numeric("n")?;
        assert_eq!((n[0], n[2]), (1.0, 2.5));
        assert!(n[1].is_nan());
        assert_eq!(table.text("mixed")?, [Some("3".to_owned()), Some("x".to_owned()), None]);
        let err = build_table("a.db", &select, vec!["n".into()], vec![vec![]]).unwrap_err();
        assert_eq!(err.to_string(), "a.db: table `t` has no rows");
        Ok(())
    }
}
