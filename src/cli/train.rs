//! `arc train SPEC --data FILE [--out DIR] [--epochs N] [--seed S] [--device D]`.
//!
//! On a terminal, an indicatif bar counts epochs × batches with the live
//! batch loss, and each finished epoch is printed above it; otherwise (a
//! pipe, a file, CI) one plain line per epoch. Checkpoints
//! (`trainer.config.checkpoint_every`) go to `<out>/checkpoints/epoch-NNNN/`.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use arc::spec::ArcSpec;
use arc::train::{BatchEnd, Checkpoint, EpochRecord, TrainObserver, TrainStart};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::TrainArgs;

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
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
    if let Some(mb) = args.memory_budget_mb {
        trainer.config.memory_budget_mb = Some(mb);
    }
    if let Some(device) = args.device {
        // The flag's device is checked here, so that its error names the flag, not the spec.
        device.resolve().map_err(|e| {
            let reason = match e {
                arc::Error::DeviceUnavailable { reason, .. } => format!("`{device}` is not available: {reason}"),
                other => other.to_string(),
            };
            super::UserError(format!("--device {device}: {reason}"))
        })?;
        trainer.config.device = device;
    }
    // The world a launcher started (mpirun, srun, torchrun-style variables), before anything is
    // read or written: a build that cannot join it stops here, not after N racing runs.
    let gpu = trainer.config.device.resolve().is_ok_and(|(d, _)| !d.is_cpu());
    let world = arc::distributed::launch(gpu)?;
    let collective = world.collective.as_ref();
    let data = args.data.display().to_string();
    let out_dir = args
        .out
        .clone()
        .or_else(|| args.resume.clone())
        .unwrap_or_else(|| PathBuf::from("models").join(&spec.model_name));
    // Before training: a path Arc did not write is refused (unless --force; a file always).
    arc::model_dir::check_out_dir(&out_dir, args.force)?;
    let resume = args.resume.as_deref().map(|dir| resume_point(dir, &text)).transpose()?;
    // An earlier run's checkpoints are never replaced by a new run's without --force.
    if resume.is_none()
        && !args.force
        && trainer.config.checkpoint_every.is_some()
        && let Some(last) = arc::model_dir::checkpoint::latest(&out_dir)
    {
        return Err(super::UserError(format!(
            "`{}` holds an earlier run's checkpoints (the last: `{}`); they are kept: pass --resume {} to continue \
             that run, --force to replace them with this run's, or choose another --out",
            out_dir.join(arc::model_dir::CHECKPOINTS_DIR).display(),
            last.display(),
            out_dir.display()
        ))
        .into());
    }
    let parallel = arc::train::DataParallel {
        collective,
        bucket_bytes: (args.bucket_mb * 1024.0 * 1024.0) as usize,
        drop_last: args.drop_last,
        local_device: world.local_device,
    };
    let job = Job { spec: &spec, text: &text, trainer: &trainer, data: &data, out_dir: &out_dir, force: args.force };
    let result = train_here(&job, &parallel, resume);
    if let Err(e) = &result
        && collective.world_size() > 1
    {
        // Said before the whole run is ended, so that this rank's reason is printed.
        super::print_error(&format!("error: rank {} of {}", collective.rank(), collective.world_size()), e);
        collective.abort(1);
    }
    result
}

/// What `arc train` was asked to do, settled.
struct Job<'a> {
    spec: &'a ArcSpec,
    text: &'a str,
    trainer: &'a arc::spec::TrainerSpec,
    data: &'a str,
    out_dir: &'a Path,
    force: bool,
}

/// Everything after the world is joined; every rank runs it, rank 0 prints and writes.
fn train_here(
    job: &Job<'_>,
    parallel: &arc::train::DataParallel<'_>,
    resume: Option<arc::model_dir::checkpoint::Resume>,
) -> anyhow::Result<ExitCode> {
    let Job { spec, text, trainer, data, out_dir, force } = *job;
    let pm = arc::get_plugin_manager();
    let collective = parallel.collective;
    let root = collective.is_root();
    let table = arc::plugin::open_table(data, pm)?;
    let world_note = match collective.world_size() {
        1 => String::new(),
        n => format!(", {n} processes ({}), batch {} each", collective.backend(), trainer.config.batch_size),
    };
    if root {
        writeln!(
            io::stdout(),
            "training `{}` on {} rows of {data} ({} epochs, batch {}, validation {:.0}%, seed {}, device {}{world_note})",
            spec.model_name,
            table.num_rows(),
            trainer.config.epochs,
            trainer.config.batch_size * collective.world_size(),
            trainer.config.validation_split * 100.0,
            trainer.config.seed,
            trainer.config.device,
        )?;
    }
    if root {
        // What killed runs left behind (temporary directories of processes that are gone).
        for stale in arc::model_dir::clean_stale(out_dir) {
            writeln!(io::stdout(), "removed {}, left by a run that was killed", stale.display())?;
        }
        if let Some(r) = &resume {
            writeln!(io::stdout(), "resuming from {} (after epoch {})", r.dir.display(), r.epoch)?;
        }
    }
    let started = Instant::now();
    // Under a launcher, stdout is the launcher's pipe (or its pty): plain lines, no bar.
    let bar = io::stdout().is_terminal() && collective.world_size() == 1;
    let mut progress = Progress::new(bar, trainer.config.epochs, out_dir, text);
    // A resumed run keeps the checkpoints it continues; a new one run with --force replaces an
    // earlier run's once it has one of its own (without --force, it was refused above).
    progress.replaces_old_checkpoints = resume.is_none() && force;
    let trained = arc::train::train_resumed(spec, trainer, &table, pm, &mut progress, parallel, resume);
    let trained = progress.finish(trained)?;
    if !root {
        // Rank 0 writes the model; the others are done.
        return Ok(ExitCode::SUCCESS);
    }
    let options = arc::model_dir::SaveOptions { force, ..Default::default() };
    arc::model_dir::save_with(out_dir, text, &trained.model.named_state(), &trained.fitted, &trained.history, &options)
        .with_context(|| format!("saving the model to `{}`", out_dir.display()))?;
    let mut out = io::stdout().lock();
    if let Some(stop) = trained.history.stopped_early {
        let best = trained.history.best_epoch.map(|b| format!(", best epoch {b}")).unwrap_or_default();
        let restored = if trained.history.restored_best { " (its weights restored)" } else { "" };
        writeln!(out, "early stopping at epoch {stop}{best}{restored}")?;
    }
    if let Some(last) = trained.history.final_record() {
        let metrics: Vec<String> = last.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let split = if last.val_loss.is_some() { "validation" } else { "training" };
        writeln!(out, "final ({split}): {}", metrics.join("  "))?;
    }
    writeln!(out, "model written to {} in {:.2}s", out_dir.display(), started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}

/// Shows training as it runs and writes checkpoints.
struct Progress<'a> {
    /// The bar, on a terminal.
    bar: Option<ProgressBar>,
    is_terminal: bool,
    epochs: usize,
    out_dir: &'a Path,
    spec_text: &'a str,
    /// The last epoch's validation numbers, shown beside the live loss.
    last_epoch: String,
    /// The first failed write to stdout (reported after training).
    write_error: Option<io::Error>,
    /// Whether this run's first checkpoint removes an earlier run's.
    replaces_old_checkpoints: bool,
}

impl<'a> Progress<'a> {
    fn new(is_terminal: bool, epochs: usize, out_dir: &'a Path, spec_text: &'a str) -> Self {
        Self {
            bar: None,
            is_terminal,
            epochs,
            out_dir,
            spec_text,
            last_epoch: String::new(),
            write_error: None,
            replaces_old_checkpoints: false,
        }
    }

    /// A line above the bar, or on stdout.
    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let mut out = io::stdout().lock();
                if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
                    self.write_error.get_or_insert(e);
                }
            }
        }
    }

    /// Clears the bar and surfaces a write error.
    fn finish<T>(mut self, result: arc::Result<T>) -> anyhow::Result<T> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let value = result?;
        match self.write_error {
            Some(e) => Err(e.into()),
            None => Ok(value),
        }
    }
}

impl TrainObserver for Progress<'_> {
    fn on_train_start(&mut self, start: &TrainStart) {
        for warning in &start.warnings {
            eprintln!("{warning}");
        }
        if let Some(note) = &start.device_note {
            self.line(note);
        }
        if self.is_terminal {
            let bar = ProgressBar::with_draw_target(
                Some((start.epochs * start.batches_per_epoch) as u64),
                ProgressDrawTarget::stdout(),
            );
            // The template is a constant; a bad one would be a bug caught by any run on a terminal.
            if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} ({eta})") {
                bar.set_style(style.progress_chars("=> "));
            }
            self.bar = Some(bar);
        }
    }

    fn on_batch_end(&mut self, batch: &BatchEnd) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(format!("epoch {}/{}", batch.epoch, self.epochs));
            let loss = batch.loss.map_or_else(|| "-".to_owned(), |l| format!("{l:.4}"));
            bar.set_message(format!("loss {loss}{}", self.last_epoch));
            bar.inc(1);
        }
    }

    /// The bar shows each batch's loss: read it on a GPU only when there is a bar.
    fn wants_batch_loss(&self) -> bool {
        self.bar.is_some()
    }

    fn on_epoch_end(&mut self, record: &EpochRecord) {
        let summary = record.summary(self.epochs);
        self.line(&summary);
        let mut last = record.val_loss.map(|v| format!(" | val_loss {v:.4}")).unwrap_or_else(|| " |".into());
        for (k, v) in &record.metrics {
            last.push_str(&format!(" {k} {v:.4}"));
        }
        self.last_epoch = last;
    }

    fn on_checkpoint(&mut self, checkpoint: &Checkpoint<'_>) -> arc::Result<()> {
        let dir = arc::model_dir::checkpoint_dir(self.out_dir, checkpoint.epoch);
        let options = arc::model_dir::SaveOptions { force: false, extra: checkpoint.trainer_state.files()? };
        arc::model_dir::save_with(
            &dir,
            self.spec_text,
            &checkpoint.model.named_state(),
            checkpoint.fitted,
            checkpoint.history,
            &options,
        )?;
        if std::mem::take(&mut self.replaces_old_checkpoints) {
            // This run has a checkpoint now: an earlier run's would mix with its own.
            remove_other_checkpoints(&dir)?;
        }
        if !self.is_terminal {
            self.line(&format!("checkpoint written to {}", dir.display()));
        }
        Ok(())
    }
}

/// Removes the checkpoints beside `kept` (an earlier run's, under --force), those that hold
/// only Arc's files ([`arc::model_dir::written_by_arc`]).
fn remove_other_checkpoints(kept: &Path) -> arc::Result<()> {
    let Some(folder) = kept.parent() else { return Ok(()) };
    let Ok(entries) = std::fs::read_dir(folder) else { return Ok(()) };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let checkpoint = entry.file_name().to_string_lossy().starts_with("epoch-");
        if path != kept && checkpoint && arc::model_dir::written_by_arc(&path) {
            std::fs::remove_dir_all(&path).map_err(|e| arc::Error::ModelDir {
                path: path.display().to_string(),
                message: format!("cannot remove an earlier run's checkpoint: {e}"),
            })?;
        }
    }
    Ok(())
}

/// The last complete checkpoint under `dir`, read, for `--resume`; its spec must be `text`.
fn resume_point(dir: &Path, text: &str) -> anyhow::Result<arc::model_dir::checkpoint::Resume> {
    let Some(latest) = arc::model_dir::checkpoint::latest(dir) else {
        return Err(super::UserError(format!(
            "--resume {}: no complete checkpoint in `{}` (train with `checkpoint_every` to write them)",
            dir.display(),
            dir.join(arc::model_dir::CHECKPOINTS_DIR).display()
        ))
        .into());
    };
    let resume = arc::model_dir::checkpoint::load(&latest)?;
    if resume.spec_text != text {
        return Err(super::UserError(format!(
            "--resume {}: the checkpoint was trained from another spec (its `{}` differs from the one given)",
            dir.display(),
            latest.join(arc::model_dir::SPEC_FILE).display()
        ))
        .into());
    }
    Ok(resume)
}
