//! Builds the SQLite database the README's `sqlite://` examples read:
//! `examples/data/iris.csv` as the table `iris`, plus a `split` column
//! (`test` for every fifth row, `train` for the others).
//!
//! ```sh
//! cargo run --example make_iris_db                 # writes target/iris.db
//! cargo run --example make_iris_db -- other.db     # or another path
//! ```
//!
//! An existing `iris` table in that database is replaced; nothing else in it
//! is touched. `tests/readme.rs` builds the database with [`build`] and runs
//! the README's commands against it.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The CSV the table is made from.
pub fn iris_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv")
}

/// Writes `csv` (a header row; a column whose every cell parses as a number
/// is REAL, any other TEXT) into the database `db` as the table `iris` with
/// a `split` column, in one transaction. Returns the number of rows.
pub fn build(csv: &Path, db: &Path) -> Result<usize, Box<dyn Error>> {
    let mut reader = csv::Reader::from_path(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    if header.iter().any(|name| name.eq_ignore_ascii_case("split")) {
        return Err(format!("{}: already has a `split` column", csv.display()).into());
    }
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| rows.iter().all(|r| r.get(i).is_some_and(|c| c.trim().parse::<f64>().is_ok())))
        .collect();
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let columns: Vec<String> = header
        .iter()
        .zip(&numeric)
        .map(|(name, &num)| format!("{} {}", quote(name), if num { "REAL" } else { "TEXT" }))
        .chain(["split TEXT".to_owned()])
        .collect();

    let mut conn = rusqlite::Connection::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let tx = conn.transaction()?;
    tx.execute("DROP TABLE IF EXISTS iris", [])?;
    tx.execute(&format!("CREATE TABLE iris ({})", columns.join(", ")), [])?;
    {
        let placeholders = vec!["?"; header.len() + 1].join(", ");
        let mut insert = tx.prepare(&format!("INSERT INTO iris VALUES ({placeholders})"))?;
        for (i, row) in rows.iter().enumerate() {
            let mut values: Vec<rusqlite::types::Value> = row
                .iter()
                .zip(&numeric)
                .map(|(cell, &num)| match cell.trim().parse::<f64>() {
                    Ok(x) if num => rusqlite::types::Value::Real(x),
                    _ => rusqlite::types::Value::Text(cell.trim().to_owned()),
                })
                .collect();
            values.push(rusqlite::types::Value::Text(if i % 5 == 4 { "test" } else { "train" }.to_owned()));
            insert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()?;
    Ok(rows.len())
}

/// What `main` prints after [`build`] wrote `rows` rows to `db`.
pub fn summary(rows: usize, db: &Path) -> String {
    format!("wrote {rows} rows of examples/data/iris.csv to {} (table `iris`, with a `split` column)", db.display())
}

#[allow(dead_code)] // tests/readme.rs includes this file for `build` alone
fn main() -> ExitCode {
    let db = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/iris.db"));
    match build(&iris_csv(), &db) {
        Ok(rows) => {
            println!("{}", summary(rows, &db));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
