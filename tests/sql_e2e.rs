//! SQLite end to end: iris trained from `sqlite://...?table=iris` gives the history and
//! weights that the CSV file gives, and `arc predict` reads rows from a database and
//! writes its predictions back to one, the same values as its CSV output.

#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arc::Result;
use arc::data::Table;
use arc::plugin::open_table;
use arc::spec::ArcSpec;
use arc::train::{Trained, train};
use rusqlite::Connection;

const SPEC: &str = "examples/specs/iris.yaml";
const DATA: &str = "examples/data/iris.csv";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-sql-e2e-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// `db` with table `iris`: iris.csv's rows, the measurements as REAL, the species as TEXT.
fn iris_db(db: &Path) {
    let text = std::fs::read_to_string(root().join(DATA)).expect("iris.csv");
    let mut conn = Connection::open(db).expect("a new database");
    let tx = conn.transaction().expect("a transaction");
    tx.execute_batch(
        "CREATE TABLE iris (sepal_length REAL, sepal_width REAL, petal_length REAL, petal_width REAL, species TEXT)",
    )
    .expect("create");
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let number = |j: usize| cells[j].parse::<f64>().expect("a measurement");
        tx.execute(
            "INSERT INTO iris VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![number(0), number(1), number(2), number(3), cells[4]],
        )
        .expect("a row");
    }
    tx.commit().expect("commit");
}

fn train_from(location: &str) -> Result<Trained> {
    let text = std::fs::read_to_string(root().join(SPEC)).expect("the iris spec");
    let spec = ArcSpec::from_yaml(&text.replace("epochs: 100", "epochs: 20"), SPEC)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let table: Table = open_table(location, arc::get_plugin_manager())?;
    train(&spec, &trainer, &table, arc::get_plugin_manager(), &mut |_| {})
}

fn weight_bits(trained: &Trained) -> Result<Vec<(String, Vec<u32>)>> {
    trained
        .model
        .named_values()
        .into_iter()
        .map(|(n, v)| Ok((n, v.to_vec()?.iter().map(|x| x.to_bits()).collect())))
        .collect()
}

#[test]
fn iris_from_sqlite_trains_exactly_as_from_csv() -> Result<()> {
    let dir = temp_dir("train");
    let db = dir.join("iris.db");
    iris_db(&db);
    let from_csv = train_from(&root().join(DATA).display().to_string())?;
    let from_db = train_from(&format!("sqlite://{}?table=iris", db.display()))?;
    assert_eq!(from_db.history.epochs.len(), 20);
    assert_eq!(from_db.history, from_csv.history);
    assert_eq!(weight_bits(&from_db)?, weight_bits(&from_csv)?);
    std::fs::remove_dir_all(dir).expect("cleanup");
    Ok(())
}

fn arc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arc")).current_dir(root()).args(args).output().expect("arc runs")
}

fn check(run: &Output) -> String {
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

#[test]
fn arc_predict_reads_from_and_writes_back_to_sqlite() {
    let dir = temp_dir("predict");
    let (db, model) = (dir.join("iris.db"), dir.join("model"));
    iris_db(&db);
    let model_arg = model.to_str().expect("UTF-8");
    check(&arc(&["train", SPEC, "--data", DATA, "--out", model_arg, "--epochs", "5"]));
    let csv = check(&arc(&["predict", model_arg, "--data", DATA]));
    // `--out FILE` writes the same CSV, through a temporary file renamed into place.
    let csv_out = dir.join("predictions.csv");
    check(&arc(&["predict", model_arg, "--data", DATA, "--out", csv_out.to_str().expect("UTF-8")]));
    assert_eq!(std::fs::read_to_string(&csv_out).expect("the CSV"), csv);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the temp dir")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["iris.db", "model", "predictions.csv"]);
    let data = format!("sqlite://{}?table=iris", db.display());
    let out = format!("sqlite://{}?table=predictions", db.display());
    let run = arc(&["predict", model_arg, "--data", &data, "--out", &out]);
    check(&run);
    assert_eq!(String::from_utf8_lossy(&run.stderr), format!("wrote 150 predictions to {out}\n"));
    // The table holds the CSV output's values: labels as text, probabilities as reals.
    let conn = Connection::open(&db).expect("the database");
    let mut statement = conn.prepare("SELECT * FROM predictions ORDER BY rowid").expect("the table");
    let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let rows: Vec<Vec<rusqlite::types::Value>> = statement
        .query_map([], |r| (0..4).map(|j| r.get(j)).collect())
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let mut lines = csv.lines();
    assert_eq!(Some(names.join(",").as_str()), lines.next());
    assert_eq!(names, ["species", "p_setosa", "p_versicolor", "p_virginica"]);
    assert_eq!(rows.len(), 150);
    for (row, line) in rows.iter().zip(lines) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(row[0], rusqlite::types::Value::Text(cells[0].to_owned()));
        for j in 1..4 {
            assert_eq!(row[j], rusqlite::types::Value::Real(cells[j].parse().expect("a probability")), "{line}");
        }
    }
    // A second write to the same table is refused (exit 1), and the table is kept.
    let again = arc(&["predict", model_arg, "--data", &data, "--out", &out]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("table `predictions` already exists; add `&if_exists=replace`"), "{stderr}");
    let count: i64 = conn.query_row("SELECT count(*) FROM predictions", [], |r| r.get(0)).expect("count");
    assert_eq!(count, 150);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn arc_predict_reports_missing_databases_and_tables() {
    let dir = temp_dir("errors");
    let (db, model) = (dir.join("iris.db"), dir.join("model"));
    iris_db(&db);
    let model_arg = model.to_str().expect("UTF-8");
    check(&arc(&["train", SPEC, "--data", DATA, "--out", model_arg, "--epochs", "1"]));
    let missing = dir.join("nope.db");
    let cases = [
        (
            format!("sqlite://{}?table=iris", missing.display()),
            format!("error: {}: cannot read the file: No such file or directory (os error 2)\n", missing.display()),
        ),
        (
            format!("sqlite://{}?table=irsi", db.display()),
            format!("error: {}: no table `irsi` (did you mean `iris`?)\n", db.display()),
        ),
    ];
    for (data, message) in cases {
        let run = arc(&["predict", model_arg, "--data", &data]);
        assert_eq!(run.status.code(), Some(1));
        // The first line; the CLI lists the causes below it.
        assert_eq!(String::from_utf8_lossy(&run.stderr).lines().next(), message.lines().next());
    }
    assert!(!missing.exists());
    let run = arc(&["predict", model_arg, "--data", DATA, "--out", "duckdb://out.duckdb?table=p"]);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "error: cannot write predictions to `duckdb://out.duckdb?table=p`: `--out` takes a CSV file path or \
         `sqlite://DB?table=NAME`\n"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
