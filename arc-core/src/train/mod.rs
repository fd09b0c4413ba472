//! Training a spec's model: [`train`] fits the feature pipeline on a
//! training split, builds the [`GraphModel`], runs epochs of shuffled
//! mini-batches and records each epoch's losses and metrics.
//!
//! Everything random (initialisation, the validation split, shuffling,
//! dropout) is drawn from `trainer.config.seed`, so two runs with the same
//! seed give bit-identical weights. A NaN or infinite loss stops training
//! with [`Error::NonFiniteLoss`] naming the epoch and batch.

pub mod answer;
mod clip;
mod device;
mod early_stop;
mod evaluate;
mod history;
pub mod metrics;
mod observer;
mod predict;
mod prepare;
mod target;

pub use clip::{clip_grad_norm, clip_grad_value, clip_gradients};
pub use device::resolve_device;
pub use early_stop::{EarlyStopper, Mode, Verdict, monitor_names};
pub use evaluate::{Evaluation, evaluate};
pub use history::{EpochRecord, History};
pub use metrics::Task;
pub use observer::{BatchEnd, Checkpoint, TrainObserver, TrainStart};
pub use predict::{PredictOptions, Prediction, predict, predict_with};
pub use prepare::{DataReport, validate_data};

use crate::data::Table;
use crate::graph::GraphModel;
use crate::nn::{Loss, Param};
use crate::plugin::PluginManager;
use crate::process::{FittedState, Pipeline};
use crate::spec::{ArcSpec, FeaturesSpec as Features, TrainerSpec};
use crate::tensor::{Rng, no_grad};
use crate::{Device, Error, Result, Tensor};
pub(crate) use predict::target_info;
use prepare::Run;
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
/// First the stages [`validate_data`] runs (every error of the spec
/// against the data is [`Error::InvalidSpec`], listing them with their
/// YAML lines; nothing trains). Then each batch: forward, loss (a NaN or
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
    let preparation = prepare::prepare(spec, Some(trainer), table, manager)?;
    let (model, run) = match (preparation.model, preparation.run) {
        (Some(model), Some(run)) if !preparation.issues.iter().any(|i| i.is_error()) => (model, run),
        _ => return Err(Error::InvalidSpec { issues: preparation.issues }),
    };
    let warnings = preparation.issues.iter().map(ToString::to_string).collect();
    fit(model, run, trainer, warnings, observer)
}

/// The epoch loop over a prepared run, then the trained model's finish
/// (back on the host, the best epoch's weights restored).
fn fit(
    mut model: GraphModel,
    run: Run,
    trainer: &TrainerSpec,
    warnings: Vec<String>,
    observer: &mut dyn TrainObserver,
) -> Result<Trained> {
    let cfg = &trainer.config;
    let Run { fitted, train: train_split, val: val_split, loss, mut optimizer, info, device, device_note, .. } = run;
    let (mut stopper, mut rng) = (run.stopper, run.rng);
    let pred_name = info.output.clone();
    let restore_best = cfg.early_stopping.as_ref().is_some_and(|es| es.restore_best);
    let batches = train_split.rows.div_ceil(cfg.batch_size);
    observer.on_train_start(&TrainStart {
        epochs: cfg.epochs,
        batches_per_epoch: batches,
        train_rows: train_split.rows,
        val_rows: val_split.as_ref().map_or(0, |v| v.rows),
        device,
        device_note,
        warnings,
    });
    let mut history = History { task: Some(info.task), ..History::default() };
    let mut best_weights: Option<Vec<(String, Tensor)>> = None;
    let mut order: Vec<usize> = (0..train_split.rows).collect();
    // On a GPU: the model moves once, the validation split once, each batch as it is drawn.
    let on_gpu = !device.is_cpu();
    model.to_device(device)?;
    let val_split = val_split.map(|v| v.to_device(device)).transpose()?;
    // Without a validation split the metrics read the whole training split: on a GPU it
    // is copied there once.
    let train_eval = if on_gpu && val_split.is_none() { Some(train_split.to_device(device)?) } else { None };
    for epoch in 1..=cfg.epochs {
        model.set_training(true);
        // Every parameter under its name, for one optimizer step over all of
        // them (LBFGS needs the whole set; the others keep state by name).
        let mut params: Vec<(String, &Param)> = Vec::new();
        model.visit_params(&mut |name, p| params.push((name.to_owned(), p)));
        let named: Vec<(&str, &Param)> = params.iter().map(|(n, p)| (n.as_str(), *p)).collect();
        let plain: Vec<&Param> = params.iter().map(|(_, p)| *p).collect();
        if cfg.shuffle {
            shuffle(&mut order, &mut rng);
        }
        let read_each_batch = !on_gpu || observer.wants_batch_loss();
        let mut total = 0.0f64;
        // On a GPU (unless each batch is read) the row-weighted loss sum stays on the device.
        let mut device_total: Option<Tensor> = None;
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let batch = train_split.select(chunk)?.to_device(device)?;
            named.iter().for_each(|(_, p)| p.zero_grad());
            let outputs = model.forward(&batch.inputs)?;
            let value = loss_value(loss.as_ref(), trainer, &outputs[&pred_name], &batch.target)?;
            let mut batch_loss = None;
            if read_each_batch {
                let v = value.item()?;
                if !v.is_finite() {
                    return Err(Error::NonFiniteLoss { epoch, batch: b + 1, value: v });
                }
                total += f64::from(v) * chunk.len() as f64;
                batch_loss = Some(f64::from(v));
            } else {
                let weighted = value.detach().mul_scalar(chunk.len() as f32)?;
                device_total = Some(match device_total {
                    Some(acc) => acc.add(&weighted)?,
                    None => weighted,
                });
            }
            value.backward()?;
            if let Some(clip) = &cfg.gradient_clip {
                clip_gradients(clip, &plain)?;
            }
            optimizer.step(&named)?;
            observer.on_batch_end(&BatchEnd { epoch, batch: b + 1, batches, loss: batch_loss });
        }
        if let Some(sum) = device_total {
            // The epoch's one read: the non-finite check runs per logging step here, naming
            // the epoch's last batch.
            let v = sum.item()?;
            if !v.is_finite() {
                return Err(Error::NonFiniteLoss { epoch, batch: batches, value: v / train_split.rows.max(1) as f32 });
            }
            total = f64::from(v);
        }
        model.set_training(false);
        let _guard = no_grad();
        let (val_loss, metrics) = match &val_split {
            Some(val) => {
                let outputs = model.forward(&val.inputs)?;
                let pred = &outputs[&pred_name];
                let l = loss_value(loss.as_ref(), trainer, pred, &val.target)?.item()?;
                (Some(f64::from(l)), metrics::compute(&info, pred, &val.target)?)
            }
            None => {
                let whole = train_eval.as_ref().unwrap_or(&train_split);
                let outputs = model.forward(&whole.inputs)?;
                (None, metrics::compute(&info, &outputs[&pred_name], &whole.target)?)
            }
        };
        let record = EpochRecord { epoch, train_loss: total / train_split.rows.max(1) as f64, val_loss, metrics };
        observer.on_epoch_end(&record);
        let verdict = stopper.as_mut().map(|s| s.update(&record));
        history.epochs.push(record);
        if let Some(stopper) = &stopper {
            history.best_epoch = stopper.best_epoch();
        }
        if restore_best && verdict == Some(Verdict::Improved) {
            best_weights = Some(snapshot(&model)?);
        }
        if cfg.checkpoint_every.is_some_and(|every| epoch % every == 0) {
            observer.on_checkpoint(&Checkpoint { epoch, model: &model, fitted: &fitted, history: &history })?;
        }
        if verdict == Some(Verdict::Stop) {
            history.stopped_early = Some(epoch);
            break;
        }
    }
    model.set_training(false);
    // The trained model is returned on the host: saving, exporting and predicting read it
    // there.
    model.to_device(Device::Cpu)?;
    if let Some(weights) = best_weights {
        restore(&model, &weights)?;
        history.restored_best = true;
    }
    Ok(Trained { model, fitted, history })
}

/// A deep copy of every parameter (optimizers may reuse storage), then the
/// buffers (which layers replace, never write in place), all on the host: a
/// GPU model's snapshot is copied back (restored onto the host model at the end).
fn snapshot(model: &GraphModel) -> Result<Vec<(String, Tensor)>> {
    let mut out: Vec<(String, Tensor)> = model
        .named_values()
        .into_iter()
        .map(|(n, t)| Ok((n, Tensor::from_vec(t.to_vec()?, t.shape())?)))
        .collect::<Result<_>>()?;
    for (n, t) in model.named_buffers() {
        out.push((n, t.to_device(Device::Cpu)?));
    }
    Ok(out)
}

/// Puts a snapshot back into the model's parameters and buffers.
fn restore(model: &GraphModel, state: &[(String, Tensor)]) -> Result<()> {
    model.load_state(state)
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
