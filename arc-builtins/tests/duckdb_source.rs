//! The `core.duckdb` data source (feature `duckdb`: build with `DUCKDB_LIB_DIR` and run
//! with `LD_LIBRARY_PATH` pointing at the library `.ci/fetch-libduckdb.sh` fetches):
//! tables built by DuckDB's own CSV reader from the example files load to the tables the
//! CSV source gives, value for value; NULLs are missing values; errors name the database.

#![cfg(feature = "duckdb")]

use std::path::{Path, PathBuf};

use arc_core::plugin::open_table;
use arc_core::{Error, Result};
use duckdb::Connection;

#[path = "support/db.rs"]
mod db;

use db::{assert_same, example, manager, message};

fn temp_dir(test: &str) -> PathBuf {
    db::temp_dir("duckdb", test)
}

fn location(db: &Path, params: &str) -> String {
    db::location("duckdb", db, params)
}

/// Runs `sql` on a read-write connection to `db` (creating it).
fn setup(db: &Path, sql: &str) {
    Connection::open(db).and_then(|c| c.execute_batch(sql)).expect("fixture");
}

#[test]
fn duckdb_registers_and_accepts_its_scheme() -> Result<()> {
    let pm = manager();
    assert_eq!(pm.get_data_source("duckdb")?.name(), "core.duckdb");
    let source = pm.get_data_source("duckdb")?.create(&arc_core::spec::Config::new())?;
    assert!(source.accepts("duckdb://a.duckdb?table=t") && source.accepts("DuckDB:///x.db?query=SELECT 1"));
    assert!(!source.accepts("sqlite://a.db?table=t") && !source.accepts("a.duckdb"));
    Ok(())
}

#[test]
fn example_tables_read_by_duckdb_load_as_the_csv_files_do() -> Result<()> {
    let dir = temp_dir("examples");
    let db = dir.join("examples.duckdb");
    setup(
        &db,
        &format!(
            "CREATE TABLE iris AS SELECT * FROM read_csv('{}');
             CREATE TABLE digits AS SELECT * FROM read_csv('{}');",
            example("iris.csv"),
            example("digits.csv")
        ),
    );
    let pm = manager();
    for name in ["iris", "digits"] {
        let from_csv = open_table(&example(&format!("{name}.csv")), &pm)?;
        assert_same(&open_table(&location(&db, &format!("table={name}")), &pm)?, &from_csv);
    }
    let query = "query=SELECT petal_length, species FROM iris WHERE species LIKE 'vir%25' AND petal_width >= 2";
    let got = open_table(&location(&db, query), &pm)?;
    assert_eq!(got.num_rows(), 29); // counted with Python's csv module
    assert_eq!(got.unique_labels("species")?, ["virginica"]);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn nulls_are_missing_and_number_types_are_numbers() -> Result<()> {
    let dir = temp_dir("nulls");
    let db = dir.join("nulls.duckdb");
    setup(
        &db,
        "CREATE TABLE t (i INTEGER, u UBIGINT, f FLOAT, d DECIMAL(5, 2), s VARCHAR, b BOOLEAN, x VARCHAR);
         INSERT INTO t VALUES (1, 10, 0.1, 1.25, 'a', true, ' 2.5 '), (NULL, NULL, NULL, NULL, NULL, NULL, 'NA'),
                              (-3, 30, 2.5, -0.5, 'NA', false, '4');",
    );
    let table = open_table(&location(&db, "table=t"), &manager())?;
    let nan_or = |v: &[f64]| v.iter().map(|x| if x.is_nan() { None } else { Some(*x) }).collect::<Vec<_>>();
    assert_eq!(nan_or(table.numeric("i")?), [Some(1.0), None, Some(-3.0)]);
    assert_eq!(nan_or(table.numeric("u")?), [Some(10.0), None, Some(30.0)]);
    // A FLOAT reads as its shortest decimal text, as a CSV export writes it: 0.1, not 0.10000000149.
    assert_eq!(nan_or(table.numeric("f")?), [Some(0.1), None, Some(2.5)]);
    assert_eq!(nan_or(table.numeric("d")?), [Some(1.25), None, Some(-0.5)]);
    assert_eq!(nan_or(table.numeric("x")?), [Some(2.5), None, Some(4.0)]);
    assert_eq!(table.text("s")?, [Some("a".to_owned()), None, None]);
    assert_eq!(table.text("b")?, [Some("true".to_owned()), None, Some("false".to_owned())]);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

#[test]
fn missing_files_tables_and_bad_queries_are_errors_naming_them() {
    let dir = temp_dir("errors");
    let pm = manager();
    let missing = dir.join("nope.duckdb");
    let err = open_table(&location(&missing, "table=t"), &pm).expect_err("no such file");
    assert!(matches!(err, Error::DataFile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: cannot read the file: No such file or directory (os error 2)", missing.display())
    );
    assert!(!missing.exists(), "reading never creates a database");
    let db = dir.join("t.duckdb");
    setup(
        &db,
        "CREATE TABLE iris (x DOUBLE); INSERT INTO iris VALUES (1); CREATE TABLE dates (d DATE); INSERT INTO dates VALUES (DATE '2024-01-02');",
    );
    let path = db.display().to_string();
    assert_eq!(
        message(open_table(&location(&db, "table=irsi"), &pm)),
        format!("{path}: no table `irsi` (did you mean `iris`?)")
    );
    let err = message(open_table(&location(&db, "query=SELEC x FROM iris"), &pm));
    assert!(
        err.starts_with(&format!("{path}: query `SELEC x FROM iris` failed: ")) && err.contains("syntax error"),
        "{err}"
    );
    assert_eq!(
        message(open_table(&location(&db, "table=dates"), &pm)),
        format!("{path}: column `d`, row 1 holds a Date32 value; only numbers and text are read (CAST it in a query)")
    );
    assert_eq!(
        message(open_table(&location(&db, "query=SELECT x FROM iris WHERE x > 5"), &pm)),
        format!("{path}: query `SELECT x FROM iris WHERE x > 5` has no rows")
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

/// A LIST column is a sequence cell: its items joined by spaces, as a CSV sequence column
/// holds them, so `inspect.sequence_stats` and `transform.hash_and_pad` read it as they
/// read text (an empty list is a missing value, an empty sequence).
#[test]
fn lists_are_sequences() -> Result<()> {
    let dir = temp_dir("lists");
    let db = dir.join("lists.duckdb");
    setup(
        &db,
        "CREATE TABLE s (id INTEGER, events INTEGER[], tags VARCHAR[]);
         INSERT INTO s VALUES (1, [12, 7, 33], ['a', 'b']), (2, [], ['c']), (3, [5, NULL, 6, 8, 9], []);",
    );
    let pm = manager();
    let table = open_table(&location(&db, "table=s"), &pm)?;
    assert_eq!(table.text("events")?, [Some("12 7 33".to_owned()), None, Some("5 6 8 9".to_owned())]);
    assert_eq!(table.text("tags")?, [Some("a b".to_owned()), Some("c".to_owned()), None]);
    pm.register_plugin(arc_builtins::BuiltinProcessorPlugin, "builtin_processors")?;
    pm.refresh_registries()?;
    let config = arc_core::spec::Config::from_yaml("sequence: events")?;
    let stats = pm.get_processor("inspect.sequence_stats")?.create(&config)?;
    let out = stats.transform(&arc_core::process::ProcessorInputs::new("inspect.sequence_stats", &table))?;
    // Lengths 3, 0, 4: the longest 4, the mean 7/3, the nearest-rank median 3.
    assert_eq!((out.get_var("max_length"), out.get_var("p50_length")), (Some(4.0), Some(3.0)));
    assert_eq!(out.get_var("mean_length"), Some(7.0 / 3.0));
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}
