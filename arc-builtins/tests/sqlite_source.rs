//! The `core.sqlite` data source and prediction write-back, through a `PluginManager`
//! holding `BuiltinDataSourcePlugin` and `arc_core::plugin::open_table`: databases built
//! here with rusqlite from the example CSV files load to the same tables as the CSV
//! source gives (value for value), NULLs are missing values as CSV's empty cells are,
//! every error names the database, and a failed write leaves the database as it was.

#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};

use arc_builtins::write_predictions;
use arc_core::plugin::ComponentKind;
use arc_core::plugin::open_table;
use arc_core::spec::Config;
use arc_core::{Error, Result};
use rusqlite::Connection;

#[path = "support/db.rs"]
mod db;

use db::{assert_same, example, manager, message};

fn temp_dir(test: &str) -> PathBuf {
    db::temp_dir("sqlite", test)
}

fn location(db: &Path, params: &str) -> String {
    db::location("sqlite", db, params)
}

/// Table `name` in `db` holding a CSV file's cells, parsed independently of Arc: a
/// column whose cells all parse as `i64` is INTEGER, else all `f64` REAL, else TEXT.
fn csv_to_sqlite(csv_path: &str, db: &Path, name: &str) {
    let text = std::fs::read_to_string(csv_path).expect("the example file");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let types: Vec<&str> = (0..header.len())
        .map(|j| {
            if rows.iter().all(|r| r[j].parse::<i64>().is_ok()) {
                "INTEGER"
            } else if rows.iter().all(|r| r[j].parse::<f64>().is_ok()) {
                "REAL"
            } else {
                "TEXT"
            }
        })
        .collect();
    let mut conn = Connection::open(db).expect("a new database");
    let tx = conn.transaction().expect("a transaction");
    let columns: Vec<String> = header.iter().zip(&types).map(|(n, t)| format!("\"{n}\" {t}")).collect();
    tx.execute_batch(&format!("CREATE TABLE \"{name}\" ({})", columns.join(", "))).expect("create");
    {
        let marks = vec!["?"; header.len()].join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO \"{name}\" VALUES ({marks})")).expect("insert");
        for row in &rows {
            let values = row.iter().zip(&types).map(|(cell, ty)| match *ty {
                "INTEGER" => rusqlite::types::Value::Integer(cell.parse().expect("checked")),
                "REAL" => rusqlite::types::Value::Real(cell.parse().expect("checked")),
                _ => rusqlite::types::Value::Text(cell.to_string()),
            });
            insert.execute(rusqlite::params_from_iter(values)).expect("a row");
        }
    }
    tx.commit().expect("commit");
}

// ---- reading ---------------------------------------------------------------------------

#[test]
fn sqlite_registers_beside_csv() -> Result<()> {
    let pm = manager();
    assert_eq!(pm.get_data_source("sqlite")?.name(), "core.sqlite");
    let sqlite = pm.get_data_source("sqlite")?.create(&Config::new())?;
    assert!(sqlite.accepts("sqlite://a.db?table=t") && sqlite.accepts("SQLITE:///abs/a.db?query=SELECT 1"));
    assert!(!sqlite.accepts("a.db") && !sqlite.accepts("duckdb://a.duckdb?table=t"));
    let err = pm.get_data_source("sqlite")?.create(&Config::from_yaml("{path: x}")?).err();
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("core.sqlite: unknown parameter `path`"));
    let valid =
        |yaml: &str| pm.validate_component_config(ComponentKind::DataSource, "sqlite", &Config::from_yaml(yaml)?);
    assert!(valid("{}")? && !valid("{path: x}")?);
    Ok(())
}

#[test]
fn iris_and_digits_tables_load_as_their_csv_files_do() -> Result<()> {
    let dir = temp_dir("examples");
    let db = dir.join("examples.db");
    csv_to_sqlite(&example("iris.csv"), &db, "iris");
    csv_to_sqlite(&example("digits.csv"), &db, "digits");
    let pm = manager();
    for name in ["iris", "digits"] {
        let from_csv = open_table(&example(&format!("{name}.csv")), &pm)?;
        let from_db = open_table(&location(&db, &format!("table={name}")), &pm)?;
        assert_same(&from_db, &from_csv);
    }
    let iris = open_table(&location(&db, "table=IRIS"), &pm)?;
    assert_eq!((iris.num_rows(), iris.num_columns()), (150, 5));
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn a_query_selects_rows_and_columns() -> Result<()> {
    let dir = temp_dir("query");
    let db = dir.join("iris.db");
    csv_to_sqlite(&example("iris.csv"), &db, "iris");
    let pm = manager();
    let csv = open_table(&example("iris.csv"), &pm)?;
    // `%25` is a `%` in the LIKE pattern; spaces and `=` pass as they are.
    let query = "query=SELECT petal_length, species FROM iris WHERE species LIKE 'vir%25' AND petal_width >= 2";
    let got = open_table(&location(&db, query), &pm)?;
    let species = csv.text("species")?;
    let width = csv.numeric("petal_width")?;
    let rows: Vec<usize> =
        (0..csv.num_rows()).filter(|&i| species[i].as_deref() == Some("virginica") && width[i] >= 2.0).collect();
    assert_eq!(rows.len(), 29); // counted with Python's csv module
    let want = csv.select_rows(&rows)?;
    assert_eq!(got.column_names(), ["petal_length", "species"]);
    assert_eq!(got.numeric("petal_length")?, want.numeric("petal_length")?);
    assert_eq!(got.text("species")?, want.text("species")?);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn nulls_are_missing_and_types_are_inferred_as_in_csv() -> Result<()> {
    let dir = temp_dir("nulls");
    let db = dir.join("nulls.db");
    let conn = Connection::open(&db).expect("a new database");
    // `mixed` is untyped: SQLite keeps each value's own type.
    conn.execute_batch(
        "CREATE TABLE t (i INTEGER, r REAL, s TEXT, mixed, numerals TEXT);
         INSERT INTO t VALUES (1, 0.5, 'a', 7, ' 2.5 ');
         INSERT INTO t VALUES (NULL, NULL, NULL, 'seven', NULL);
         INSERT INTO t VALUES (-3, 1.5e30, '  NA ', NULL, '4');
         INSERT INTO t VALUES (4, -0.125, '', 2.25, 'null');",
    )
    .expect("fixture");
    drop(conn);
    // The same cells as a CSV file: NULL is the empty cell.
    let csv = dir.join("nulls.csv");
    let r = 1.5e30_f64.to_string();
    std::fs::write(
        &csv,
        format!("i,r,s,mixed,numerals\n1,0.5,a,7,2.5\n,,,seven,\n-3,{r},NA,,4\n4,-0.125,,2.25,null\n"),
    )
    .expect("a temp csv");
    let pm = manager();
    let from_db = open_table(&location(&db, "table=t"), &pm)?;
    assert_same(&from_db, &open_table(csv.to_str().expect("UTF-8"), &pm)?);
    // And the values, spelled out.
    let i = from_db.numeric("i")?;
    assert_eq!((i[0], i[2], i[3]), (1.0, -3.0, 4.0));
    assert!(i[1].is_nan());
    let r = from_db.numeric("r")?;
    assert_eq!((r[0], r[2], r[3]), (0.5, 1.5e30, -0.125));
    assert!(r[1].is_nan());
    let text = |v: &[Option<&str>]| v.iter().map(|s| s.map(str::to_owned)).collect::<Vec<_>>();
    assert_eq!(from_db.text("s")?, text(&[Some("a"), None, None, None]));
    assert_eq!(from_db.text("mixed")?, text(&[Some("7"), Some("seven"), None, Some("2.25")]));
    let numerals = from_db.numeric("numerals")?;
    assert_eq!((numerals[0], numerals[2]), (2.5, 4.0));
    assert!(numerals[1].is_nan() && numerals[3].is_nan());
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

// ---- errors ----------------------------------------------------------------------------

#[test]
fn a_missing_database_is_an_error_and_is_not_created() {
    let dir = temp_dir("missing");
    let db = dir.join("nope.db");
    let err = open_table(&location(&db, "table=iris"), &manager()).expect_err("no such file");
    assert!(matches!(err, Error::DataFile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: cannot read the file: No such file or directory (os error 2)", db.display())
    );
    assert!(!db.exists(), "reading never creates a database");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn missing_tables_bad_queries_and_bad_files_are_errors_naming_them() {
    let dir = temp_dir("errors");
    let db = dir.join("iris.db");
    csv_to_sqlite(&example("iris.csv"), &db, "iris");
    Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE empty (x REAL); CREATE TABLE blobs (b BLOB); INSERT INTO blobs VALUES (x'00ff');",
            )
        })
        .expect("fixture");
    let pm = manager();
    let path = db.display().to_string();
    assert_eq!(
        message(open_table(&location(&db, "table=irsi"), &pm)),
        format!("{path}: no table `irsi` (did you mean `iris`?)")
    );
    assert!(matches!(open_table(&location(&db, "table=wine"), &pm), Err(Error::NoSuchTable { .. })));
    assert_eq!(
        message(open_table(&location(&db, "query=SELEC * FROM iris"), &pm)),
        format!("{path}: query `SELEC * FROM iris` failed: near \"SELEC\": syntax error (at byte 0 of the query)")
    );
    assert_eq!(
        message(open_table(&location(&db, "query=SELECT petal FROM iris"), &pm)),
        format!("{path}: query `SELECT petal FROM iris` failed: no such column: petal (at byte 7 of the query)")
    );
    assert_eq!(message(open_table(&location(&db, "table=empty"), &pm)), format!("{path}: table `empty` has no rows"));
    assert_eq!(
        message(open_table(&location(&db, "table=blobs"), &pm)),
        format!("{path}: column `b`, row 1 holds a BLOB; only numbers and text are read")
    );
    // A file that is not a database.
    let not_db = dir.join("iris.txt");
    std::fs::copy(example("iris.csv"), &not_db).expect("a copy");
    assert_eq!(
        message(open_table(&location(&not_db, "table=iris"), &pm)),
        format!("{}: not a readable SQLite database: file is not a database", not_db.display())
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn open_table_reads_plain_paths_as_csv_and_names_unknown_schemes() -> Result<()> {
    let pm = manager();
    // No `.csv` extension and no scheme: the CSV default still reads it.
    let dir = temp_dir("dispatch");
    let txt = dir.join("iris.txt");
    std::fs::copy(example("iris.csv"), &txt).expect("a copy");
    assert_same(&open_table(txt.to_str().expect("UTF-8"), &pm)?, &open_table(&example("iris.csv"), &pm)?);
    let err = open_table("postgres://host/db?table=iris", &pm).expect_err("no such source");
    assert!(matches!(&err, Error::UnknownDataScheme { scheme, .. } if scheme == "postgres"));
    let known = if cfg!(feature = "duckdb") { "`csv://`, `sqlite://`, `duckdb://`" } else { "`csv://`, `sqlite://`" };
    assert_eq!(
        err.to_string(),
        format!(
            "`postgres://host/db?table=iris`: no data source reads `postgres://` locations \
             (known: {known}; a path without a scheme is read as CSV)"
        )
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

// ---- write-back ------------------------------------------------------------------------

fn prediction() -> Vec<(String, Vec<String>)> {
    let column = |name: &str, values: &[&str]| (name.to_owned(), values.iter().map(|v| v.to_string()).collect());
    vec![
        column("species", &["setosa", "virginica", "virginica"]),
        column("p_setosa", &["0.9", "0.05", "0.25"]),
        column("p_virginica", &["0.1", "0.95", "0.75"]),
    ]
}

/// (species, p_setosa, p_virginica, typeof(species), typeof(p_setosa)) per row, in rowid order.
type Row = (String, f64, f64, String, String);

fn rows(db: &Path, table: &str) -> Vec<Row> {
    let conn = Connection::open(db).expect("the database");
    let mut statement = conn
        .prepare(&format!(
            "SELECT species, p_setosa, p_virginica, typeof(species), typeof(p_setosa) FROM \"{table}\" ORDER BY rowid"
        ))
        .expect("the table");
    statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

#[test]
fn predictions_are_written_as_typed_columns_and_read_back() -> Result<()> {
    let dir = temp_dir("write");
    let db = dir.join("out.db");
    assert_eq!(write_predictions(&location(&db, "table=predictions"), &prediction())?, 3);
    let row = |s: &str, a: f64, b: f64| (s.to_owned(), a, b, "text".to_owned(), "real".to_owned());
    assert_eq!(
        rows(&db, "predictions"),
        [row("setosa", 0.9, 0.1), row("virginica", 0.05, 0.95), row("virginica", 0.25, 0.75)]
    );
    let back = open_table(&location(&db, "table=predictions"), &manager())?;
    assert_eq!(back.numeric("p_virginica")?, [0.1, 0.95, 0.75]);
    assert_eq!(back.unique_labels("species")?, ["setosa", "virginica"]);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn an_existing_table_is_kept_unless_replace_is_asked() -> Result<()> {
    let dir = temp_dir("exists");
    let db = dir.join("out.db");
    write_predictions(&location(&db, "table=predictions"), &prediction())?;
    let mut second = prediction();
    second.iter_mut().for_each(|(_, v)| v.truncate(1));
    let err = write_predictions(&location(&db, "table=Predictions"), &second).expect_err("exists");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: table `Predictions` already exists; add `&if_exists=replace` to the location to replace it",
            db.display()
        )
    );
    assert_eq!(rows(&db, "predictions").len(), 3, "untouched");
    assert_eq!(write_predictions(&location(&db, "table=predictions&if_exists=replace"), &second)?, 1);
    assert_eq!(rows(&db, "predictions"), [("setosa".to_owned(), 0.9, 0.1, "text".to_owned(), "real".to_owned())]);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

/// A reader holding the database open in a transaction makes the writer's commit fail
/// (`database is locked`) after it dropped the old table, created the new one and
/// inserted every row: the rollback leaves the old table whole and no new table.
#[test]
fn a_failed_write_leaves_no_partial_table() -> Result<()> {
    let dir = temp_dir("atomic");
    let db = dir.join("out.db");
    write_predictions(&location(&db, "table=old"), &prediction())?;
    let reader = Connection::open(&db).expect("a reader");
    reader.execute_batch("BEGIN; SELECT count(*) FROM old;").expect("a shared lock");
    // rusqlite's default busy timeout is 5 s; the test waits it out once per write.
    let err = write_predictions(&location(&db, "table=old&if_exists=replace"), &prediction()[..1]).expect_err("locked");
    assert_eq!(
        err.to_string(),
        format!("{}: writing table `old` failed, nothing was written: database is locked", db.display())
    );
    reader.execute_batch("COMMIT").expect("release");
    assert_eq!(rows(&db, "old").len(), 3, "the old table is whole");
    let tables: Vec<String> = reader
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    assert_eq!(tables, ["old"]);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn write_locations_are_checked_before_touching_the_database() {
    let dir = temp_dir("write-errors");
    let db = dir.join("out.db");
    let err = |params: &str| write_predictions(&location(&db, params), &prediction()).expect_err("bad").to_string();
    assert!(err("query=SELECT 1").ends_with("predictions are written to a table (`?table=NAME`), not a query"));
    assert!(err("table=p&if_exists=append").ends_with("`if_exists=append`: expected `fail` or `replace`"));
    assert!(!db.exists(), "no database is created for a bad location");
    let missing_dir = dir.join("no/such/dir/out.db");
    let err = write_predictions(&location(&missing_dir, "table=p"), &prediction()).expect_err("no directory");
    assert!(err.to_string().starts_with(&format!("{}: cannot open or create the database: ", missing_dir.display())));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn a_real_beyond_f32_is_an_error_naming_the_database_row_and_column() {
    let dir = temp_dir("beyond-f32");
    let db = dir.join("big.db");
    let conn = Connection::open(&db).expect("a new database");
    conn.execute_batch("CREATE TABLE t (x REAL); INSERT INTO t VALUES (1.0); INSERT INTO t VALUES (1e300);")
        .expect("fixture");
    drop(conn);
    let err = open_table(&location(&db, "table=t"), &manager()).expect_err("1e300 is beyond f32");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: column `x`: row 2 holds 1e300, beyond the f32 range the model computes in (±3.4e38)",
            db.display()
        )
    );
}
