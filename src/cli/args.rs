//! The command line's flags (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Declare, train and serve neural networks from YAML; every component is a plugin.
#[derive(Debug, Parser)]
#[command(name = "arc", version, about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every plugin with its metadata and the components it registers.
    Plugins(PluginsArgs),
    /// Train a spec's model on a data set and write a model directory.
    Train(TrainArgs),
    /// Check a spec (and, with --data, build its model) without training.
    Validate(ValidateArgs),
    /// Predict with a model directory that `arc train` wrote.
    Predict(PredictArgs),
    /// Compute a model directory's loss and metrics on labelled data.
    Evaluate(EvaluateArgs),
    /// Export a model directory to another format (`safetensors`, `onnx`).
    Export(ExportArgs),
    /// Print the JSON Schema of a spec, with every linked component's params (for editors).
    Schema(SchemaArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The YAML spec.
    pub spec: PathBuf,
    /// The training data: a CSV path or a `sqlite://DB?table=T` (`duckdb://`) location.
    #[arg(long)]
    pub data: PathBuf,
    /// The model directory to write (default `models/<model_name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overrides `trainer.config.epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Overrides `trainer.config.seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Overrides `trainer.config.device`: cpu, cuda or auto.
    #[arg(long)]
    pub device: Option<arc::spec::DeviceChoice>,
    /// Data-parallel runs: MiB of gradients per all-reduce call (PyTorch DDP's `bucket_cap_mb`).
    #[arg(long, default_value_t = 25.0, value_parser = positive_mib)]
    pub bucket_mb: f64,
    /// Data-parallel runs: drop each epoch's rows that do not divide evenly among the processes
    /// (default: pad with the epoch's first rows, as PyTorch's `DistributedSampler`).
    #[arg(long)]
    pub drop_last: bool,
    /// The memory the run may take, in MiB (overrides `trainer.config.memory_budget_mb`; default
    /// 80% of the available memory).
    #[arg(long, value_name = "MIB", value_parser = positive_mib)]
    pub memory_budget_mb: Option<f64>,
    /// Replace `--out` whole even when it holds files Arc did not write (never a regular file).
    #[arg(long)]
    pub force: bool,
    /// Continue the run whose model directory is DIR from its last complete checkpoint
    /// (optimizer state included); `--out` defaults to DIR.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

/// A bucket size in MiB: positive and finite.
fn positive_mib(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1024.0 * 1024.0 => Ok(v),
        _ => Err(format!("`{text}` is not a size in MiB above 0")),
    }
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The YAML spec.
    pub spec: PathBuf,
    /// Data (a CSV path or a `sqlite://` location) to fit the pipeline on, so that vars and shapes are checked.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The model directory.
    pub model_dir: PathBuf,
    /// The rows to predict (a CSV path or a `sqlite://` location); the target column may be absent.
    #[arg(long)]
    pub data: PathBuf,
    /// The CSV file to write (default: standard output), or `sqlite://DB?table=T` to write a table.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For per-position class scores, also write each position's K likeliest classes with
    /// their probabilities (a column `<output>_topK`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub top_k: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// The model directory.
    pub model_dir: PathBuf,
    /// Labelled rows (a CSV path or a `sqlite://` location) holding the feature and target columns.
    #[arg(long)]
    pub data: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The model directory.
    pub model_dir: PathBuf,
    /// The export format: a registered exporter (`safetensors`, `onnx`).
    #[arg(long)]
    pub format: String,
    /// The file to write (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// The exporter's config as a YAML mapping, e.g. `--config '{opset: 18}'`.
    #[arg(long)]
    pub config: Option<String>,
}
