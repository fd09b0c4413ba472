//! `arc train SPEC --data FILE [--out DIR] [--epochs N] [--seed S]`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use arc::spec::{ArcSpec, Config};

use super::args::TrainArgs;

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let spec_path = args.spec.display().to_string();
    let text =
        std::fs::read_to_string(&args.spec).map_err(|e| super::UserError(format!("cannot read `{spec_path}`: {e}")))?;
    let spec = ArcSpec::from_yaml(&text, &spec_path)?;
    let mut trainer = spec.trainer()?.clone();
    if let Some(epochs) = args.epochs {
        trainer.config.epochs = epochs;
    }
    if let Some(seed) = args.seed {
        trainer.config.seed = seed;
    }
    let data = args.data.display().to_string();
    let source = pm.get_data_source("csv")?.create(&Config::new())?;
    let table = source.load(&data)?;
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("models").join(&spec.model_name));

    let mut out = io::stdout().lock();
    writeln!(
        out,
        "training `{}` on {} rows of {data} ({} epochs, batch {}, validation {:.0}%, seed {})",
        spec.model_name,
        table.num_rows(),
        trainer.config.epochs,
        trainer.config.batch_size,
        trainer.config.validation_split * 100.0,
        trainer.config.seed
    )?;
    let started = Instant::now();
    let epochs = trainer.config.epochs;
    let mut write_error = None;
    let trained = arc::train::train(&spec, &trainer, &table, pm, &mut |record| {
        if let Err(e) = writeln!(out, "{}", record.summary(epochs)).and_then(|()| out.flush()) {
            write_error.get_or_insert(e);
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    arc::model_dir::save(&out_dir, &text, &trained.model.named_values(), &trained.fitted, &trained.history)
        .with_context(|| format!("saving the model to `{}`", out_dir.display()))?;
    if let Some(last) = trained.history.last() {
        let metrics: Vec<String> = last.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let split = if last.val_loss.is_some() { "validation" } else { "training" };
        writeln!(out, "final ({split}): {}", metrics.join("  "))?;
    }
    writeln!(out, "model written to {} in {:.2}s", out_dir.display(), started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}
