//! `arc evaluate MODEL_DIR --data FILE [--json]`: the model's loss and
//! metrics on labelled data, as a table or JSON.

use std::io::{self, Write};
use std::process::ExitCode;

use super::args::EvaluateArgs;

pub fn run(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let model = arc::train::ModelBundle::load(&args.model_dir, pm)?;
    let data = args.data.display().to_string();
    let table = arc::plugin::open_table(&data, pm)?;
    let evaluation = model.evaluate(&table, pm)?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &evaluation)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "`{}` on {} rows of {data}", evaluation.model, evaluation.rows)?;
    let loss = format!("loss ({})", evaluation.loss_type);
    let width = evaluation.metrics.keys().map(String::len).chain([loss.len()]).max().unwrap_or(0);
    writeln!(out, "{loss:<width$}  {:.6}", evaluation.loss)?;
    for (name, value) in &evaluation.metrics {
        writeln!(out, "{name:<width$}  {value:.6}")?;
    }
    Ok(ExitCode::SUCCESS)
}
