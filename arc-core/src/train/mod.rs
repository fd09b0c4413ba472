//! Training a spec's model: [`train`] fits the feature pipeline on a
//! training split, builds the [`GraphModel`], runs epochs of shuffled
//! mini-batches and records each epoch's losses and metrics.
//!
//! Everything random (initialisation, the validation split, shuffling,
//! dropout) is drawn from `trainer.config.seed`, so two runs with the same
//! seed give bit-identical weights. A NaN or infinite loss stops training
//! with [`Error::NonFiniteLoss`] naming the epoch and batch.

pub mod answer;
mod bundle;
mod clip;
mod device;
mod early_stop;
mod epochs;
mod evaluate;
pub mod metrics;
mod observer;
mod parallel;
mod predict;
mod prepare;
mod target;

pub use crate::model_dir::{EpochRecord, History};
pub use bundle::ModelBundle;
pub use clip::{clip_grad_norm, clip_grad_value, clip_gradients};
pub use device::resolve_device;
pub use early_stop::{EarlyStopper, Mode, Verdict, monitor_names};
pub use evaluate::{Evaluation, evaluate};
pub use metrics::Task;
pub use observer::{BatchEnd, Checkpoint, TrainObserver, TrainStart};
pub use parallel::DataParallel;
pub use predict::{PredictOptions, Prediction, predict, predict_with};
pub use prepare::{DataReport, validate_data};

use crate::data::Table;
use crate::graph::GraphModel;
use crate::nn::Loss;
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::{ArcSpec, FeaturesSpec as Features, TrainerSpec};
use crate::tensor::Rng;
use crate::{Error, Result, Tensor};
pub(crate) use predict::target_info;
pub(crate) use target::target_step;

/// A trained model: the graph with its weights, the pipeline's fitted
/// state and the history.
pub struct Trained {
    /// The model, in evaluation mode.
    pub model: GraphModel,
    /// The processors' vars and states, and the target's reading.
    pub fitted: FittedState,
    /// Per-epoch records.
    pub history: History,
}

/// Trains the spec in the file `spec_path` on the data at `data` (a CSV
/// path, `sqlite://…` or `duckdb://…`, read by the data source that
/// claims it) with the spec's own trainer settings, and writes the model
/// directory `out` as `arc train` does (to a temporary directory renamed
/// into place). Returns what was trained.
///
/// ```no_run
/// let pm = arc_core::get_plugin_manager();
/// let spec = std::path::Path::new("examples/specs/iris.yaml");
/// let trained = arc_core::train::train_to_dir(spec, "examples/data/iris.csv", "target/iris-model".as_ref(), pm)?;
/// println!("{:?}", trained.history.final_record().map(|r| &r.metrics));
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn train_to_dir(
    spec_path: &std::path::Path,
    data: &str,
    out: &std::path::Path,
    manager: &PluginManager,
) -> Result<Trained> {
    let shown = spec_path.display().to_string();
    let text = std::fs::read_to_string(spec_path)
        .map_err(|e| Error::Spec { message: format!("cannot read `{shown}`: {e}") })?;
    let spec = ArcSpec::from_yaml(&text, &shown)?;
    let trainer = spec.trainer()?.clone();
    crate::model_dir::check_replaceable(out)?;
    let table = crate::plugin::open_table(data, manager)?;
    let trained = train(&spec, &trainer, &table, manager, &mut |_| {})?;
    crate::model_dir::save(out, &text, &trained.model.named_state(), &trained.fitted, &trained.history)?;
    Ok(trained)
}

/// Trains `spec`'s model on `table` with the `trainer` settings (the
/// spec's own, possibly overridden by the caller); `on_epoch` sees each
/// record as it is made. [`train_with`] takes a full [`TrainObserver`]
/// (per-batch progress, checkpoints).
pub fn train(
    spec: &ArcSpec,
    trainer: &TrainerSpec,
    table: &Table,
    manager: &PluginManager,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<Trained> {
    train_with(spec, trainer, table, manager, &mut observer::EpochFn(on_epoch))
}

/// [`train`] reporting to `observer`: the start, every batch, every epoch
/// and every `checkpoint_every`-th epoch's checkpoint.
///
/// Training runs in named stages. First `prepare`, the stages
/// [`validate_data`] runs (the static checks and the columns; the seeded
/// split and the pipeline fitted on the training rows; the model built and
/// its shapes; its inputs, target and one forward pass; the optimizer, the
/// device, early stopping): every error of the spec against the data is
/// [`Error::InvalidSpec`], listing them with their YAML lines, and nothing
/// trains. Then the epoch loop, then the finish. Each batch: forward, loss (a NaN or
/// infinite one stops training with [`Error::NonFiniteLoss`]), backward,
/// `gradient_clip`, optimizer step. Each epoch: validation loss and
/// metrics (the loss's task's), then `early_stopping`, which may end
/// training (recorded in [`History::stopped_early`]) and restore the best
/// epoch's weights.
///
/// On a GPU (`trainer.config.device`, see [`resolve_device`]) the model's
/// parameters and buffers move there once, the validation split once and
/// each training batch as it is drawn. The per-batch loss stays on the
/// device, summed there: one scalar is read per epoch (the logging step),
/// where the non-finite check then runs (naming the epoch's last batch),
/// unless the observer asks for every batch's loss
/// ([`TrainObserver::wants_batch_loss`]). Checkpoints see the model on the
/// device (saving copies to the host); the best-epoch snapshot is taken on
/// the host, and the trained model is returned on the host.
pub fn train_with(
    spec: &ArcSpec,
    trainer: &TrainerSpec,
    table: &Table,
    manager: &PluginManager,
    observer: &mut dyn TrainObserver,
) -> Result<Trained> {
    train_parallel(spec, trainer, table, manager, observer, &DataParallel::single())
}

/// [`train_with`] as one rank of a data-parallel run (PyTorch DDP's
/// semantics; see [`crate::distributed`]). Every rank calls it with the
/// same spec, settings and table. The pipeline is fitted on the whole
/// training split by every rank and rank 0's fitted state and initial
/// weights are broadcast; each epoch's seeded shuffle is sharded
/// ([`shard`](crate::distributed::shard)), so `batch_size` is per rank;
/// after each backward pass the gradients are averaged in buckets of
/// `bucket_bytes`, with the batch loss in the same call (a non-finite loss
/// on any rank stops every rank at the same batch); the epoch's training
/// loss is summed over the ranks and the validation numbers (each rank
/// measures the whole validation split) averaged, so early stopping decides
/// alike everywhere. Only rank 0 reports to `observer`; the others train
/// silently. Every rank returns the same trained model; the caller writes
/// it from rank 0 only.
///
/// On an error, call [`Collective::abort`](crate::distributed::Collective::abort)
/// so that the other ranks do not wait for this one forever.
pub fn train_parallel(
    spec: &ArcSpec,
    trainer: &TrainerSpec,
    table: &Table,
    manager: &PluginManager,
    observer: &mut dyn TrainObserver,
    parallel: &DataParallel<'_>,
) -> Result<Trained> {
    train_resumed(spec, trainer, table, manager, observer, parallel, None)
}

/// [`train_parallel`], continuing from a checkpoint when `resume` is given
/// (`arc train --resume DIR`, [`model_dir::checkpoint::load`](crate::model_dir::checkpoint::load)):
/// the stages run as usual (the pipeline fitted on the same data must equal
/// the checkpoint's, else an error), then the weights, the optimizer's
/// state, the shuffling stream, the history, early stopping's state
/// (replayed from the history) and the best epoch's weights are the
/// checkpoint's, and training goes on from the epoch after it. The run
/// ends with the weights an uninterrupted run ends with (bit for bit, on
/// the CPU, with the same thread count), but for the streams of layers
/// that draw randomness themselves (`Dropout`), which start afresh.
pub fn train_resumed(
    spec: &ArcSpec,
    trainer: &TrainerSpec,
    table: &Table,
    manager: &PluginManager,
    observer: &mut dyn TrainObserver,
    parallel: &DataParallel<'_>,
    resume: Option<crate::model_dir::checkpoint::Resume>,
) -> Result<Trained> {
    let preparation = prepare::prepare(spec, Some(trainer), table, manager, parallel.collective)?;
    let (model, run) = match (preparation.model, preparation.run) {
        (Some(model), Some(run)) if !preparation.issues.iter().any(|i| i.is_error()) => (model, run),
        _ => return Err(Error::InvalidSpec { issues: preparation.issues }),
    };
    let warnings = preparation.issues.iter().map(ToString::to_string).collect();
    let mut silent = observer::Silent;
    let observer: &mut dyn TrainObserver = if parallel.collective.is_root() { observer } else { &mut silent };
    epochs::Epochs::start(model, run, trainer, warnings, observer, parallel, resume)?.run(observer)?.finish()
}

pub(crate) fn spec_error(message: String) -> Error {
    Error::Spec { message }
}

/// Fisher–Yates from `rng`.
pub(crate) fn shuffle(items: &mut [usize], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The pipeline of the features section.
pub(crate) fn pipeline(features: &Features, manager: &PluginManager, keep_targets: bool) -> Result<Pipeline> {
    let steps = features
        .processors
        .iter()
        .cloned()
        .map(|mut s| {
            if keep_targets {
                s.train_only = false;
            }
            s
        })
        .collect();
    Ok(Pipeline::new(steps, manager)?.with_feature_lists(features))
}

/// The model output the loss's `pred` names (`model.X` or `X`).
pub(crate) fn pred_output(trainer: &TrainerSpec, model: &GraphModel) -> Result<String> {
    let pred = trainer
        .loss
        .inputs
        .get("pred")
        .or_else(|| trainer.loss.inputs.get("input"))
        .ok_or_else(|| spec_error("trainer.loss.inputs has no `pred`".into()))?;
    let name = pred.strip_prefix("model.").unwrap_or(pred);
    let names = model.output_names();
    if names.contains(&name) {
        return Ok(name.to_owned());
    }
    Err(Error::DanglingRef {
        node: "trainer.loss".into(),
        reference: pred.clone(),
        hint: crate::DidYouMean::among(name, names),
    })
}

pub(crate) fn loss_value(loss: &dyn Loss, trainer: &TrainerSpec, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let ports = loss.input_names();
    let inputs: Vec<&Tensor> = ports
        .iter()
        .map(|p| match *p {
            "target" => Ok(target),
            "input" | "pred" => Ok(pred),
            other => Err(spec_error(format!(
                "loss `{}` needs input `{other}`; only `pred` and `target` are supported",
                trainer.loss.component_type
            ))),
        })
        .collect::<Result<_>>()?;
    loss.forward(&inputs)
}
