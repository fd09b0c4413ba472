//! `arc predict MODEL_DIR --data SOURCE [--out FILE|sqlite://DB?table=T]`:
//! writes the predictions as CSV (standard output or a file) or to an
//! SQLite table.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use arc::plugin::open_table;

use super::args::PredictArgs;

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    // The model directory, loaded once (spec, fitted pipeline, built model with its weights).
    let model = arc::train::ModelBundle::load(&args.model_dir, pm)?;
    let table = open_table(&args.data.display().to_string(), pm)?;
    let options = arc::train::PredictOptions { top_k: args.top_k.map(|k| k as usize) };
    let prediction = model.predict_with(&table, &options)?;
    let out = args.out.as_ref().map(|p| p.display().to_string());
    if let Some(location) = out.as_deref().filter(|o| o.contains("://")) {
        return write_table(location, &prediction.columns);
    }
    let mut text = String::new();
    let header: Vec<&str> = prediction.columns.iter().map(|(n, _)| n.as_str()).collect();
    text.push_str(&header.join(","));
    text.push('\n');
    for row in 0..table.num_rows() {
        let cells: Vec<String> =
            prediction.columns.iter().map(|(_, v)| csv_cell(v.get(row).map_or("", String::as_str))).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    match &args.out {
        Some(path) => {
            write_file(path, &text).map_err(|e| super::UserError(format!("cannot write `{}`: {e}", path.display())))?
        }
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to a temporary file beside `path`, then renames it into
/// place: `path` is never left half-written.
fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| io::Error::other("not a file path"))?;
    let temp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes the predictions to a database table (`sqlite://DB?table=T`), in
/// one transaction.
fn write_table(location: &str, columns: &[(String, Vec<String>)]) -> anyhow::Result<ExitCode> {
    #[cfg(feature = "sqlite")]
    if location.get(..9).is_some_and(|s| s.eq_ignore_ascii_case("sqlite://")) {
        let rows = arc_builtins::write_predictions(location, columns)?;
        eprintln!("wrote {rows} predictions to {location}");
        return Ok(ExitCode::SUCCESS);
    }
    let _ = columns;
    let supported = if cfg!(feature = "sqlite") { "" } else { " (this build lacks the `sqlite` feature)" };
    Err(super::UserError(format!(
        "cannot write predictions to `{location}`: `--out` takes a CSV file path or `sqlite://DB?table=NAME`{supported}"
    ))
    .into())
}

/// Quotes a cell holding a comma, a quote or a newline.
fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}
