//! `arc predict MODEL_DIR --data FILE [--out FILE]`: writes CSV predictions.

use std::io::{self, Write};
use std::process::ExitCode;

use arc::spec::Config;

use super::args::PredictArgs;

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let loaded = arc::model_dir::load(&args.model_dir)?;
    let table = pm.get_data_source("csv")?.create(&Config::new())?.load(&args.data.display().to_string())?;
    let prediction = arc::train::predict(&loaded, &table, pm)?;
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
        Some(path) => std::fs::write(path, text)
            .map_err(|e| super::UserError(format!("cannot write `{}`: {e}", path.display())))?,
        None => io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Quotes a cell holding a comma, a quote or a newline.
fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}
