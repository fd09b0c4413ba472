//! Training a spec's model: [`train`] fits the feature pipeline on a
//! training split, builds the [`GraphModel`], runs epochs of shuffled
//! mini-batches and records each epoch's losses and metrics.
//!
//! Everything random (initialisation, the validation split, shuffling,
//! dropout) is drawn from `trainer.config.seed`, so two runs with the same
//! seed give bit-identical weights. A NaN or infinite loss stops training
//! with [`Error::NonFiniteLoss`] naming the epoch and batch.

mod clip;
mod device;
mod early_stop;
mod evaluate;
mod history;
pub mod metrics;
mod observer;
mod predict;

use std::collections::BTreeMap;

pub use clip::{clip_grad_norm, clip_grad_value, clip_gradients};
pub use device::resolve_device;
pub use early_stop::{EarlyStopper, Mode, Verdict, monitor_names};
pub use evaluate::{Evaluation, evaluate};
pub use history::{EpochRecord, History};
pub use metrics::Task;
pub use observer::{BatchEnd, Checkpoint, TrainObserver, TrainStart};
pub use predict::{Prediction, predict};

use crate::data::Table;
use crate::graph::GraphModel;
use crate::nn::{Loss, Optimizer, Param, init};
use crate::plugin::PluginManager;
use crate::process::{FittedState, Pipeline, ProcessorStep, StepInput};
use crate::spec::{ArcSpec, Config, FeaturesSpec as Features, TrainerSpec};
use crate::tensor::{Rng, no_grad};
use crate::{DType, Device, Error, Result, Tensor};

/// A trained model: the graph with its weights, the pipeline's fitted
/// state and the history.
pub struct Trained {
    /// The model, in evaluation mode.
    pub model: GraphModel,
    /// The processors' vars and states.
    pub fitted: FittedState,
    /// Per-epoch records.
    pub history: History,
}

/// The prepared tensors of one split: model inputs by name and the target.
struct Split {
    inputs: BTreeMap<String, Tensor>,
    target: Tensor,
    rows: usize,
}

impl Split {
    /// The split on `device` (the same tensors when already there).
    fn to_device(&self, device: Device) -> Result<Split> {
        let inputs = self.inputs.iter().map(|(k, t)| Ok((k.clone(), t.to_device(device)?))).collect::<Result<_>>()?;
        Ok(Split { inputs, target: self.target.to_device(device)?, rows: self.rows })
    }

    fn select(&self, rows: &[usize]) -> Result<Split> {
        let index = Tensor::from_vec_i64(rows.iter().map(|&r| r as i64).collect(), &[rows.len()])?;
        let inputs =
            self.inputs.iter().map(|(k, t)| Ok((k.clone(), t.index_select(0, &index)?))).collect::<Result<_>>()?;
        Ok(Split { inputs, target: self.target.index_select(0, &index)?, rows: rows.len() })
    }
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
/// Each batch: forward, loss (a NaN or infinite one stops training with
/// [`Error::NonFiniteLoss`]), backward, `gradient_clip`, optimizer step.
/// Each epoch: validation loss and metrics, then `early_stopping`, which
/// may end training (recorded in [`History::stopped_early`]) and restore
/// the best epoch's weights.
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
    let cfg = &trainer.config;
    if !(0.0..1.0).contains(&cfg.validation_split) {
        return Err(spec_error(format!(
            "trainer.config.validation_split must be in [0, 1), got {}",
            cfg.validation_split
        )));
    }
    if cfg.batch_size == 0 {
        return Err(spec_error("trainer.config.batch_size must be at least 1".into()));
    }
    // Static checks (pre_validation / post_validation hooks), then the data's columns; errors stop here, located.
    crate::validate::validate(spec, manager)?.into_result()?;
    crate::validate::Report { issues: crate::validate::check_columns(spec, table) }.into_result()?;
    let features = spec.features.clone();

    // The split, drawn from the seed.
    let mut rng = Rng::new(cfg.seed);
    let mut rows: Vec<usize> = (0..table.num_rows()).collect();
    shuffle(&mut rows, &mut rng);
    let n_val = (table.num_rows() as f64 * cfg.validation_split).round() as usize;
    let (val_rows, train_rows) = rows.split_at(n_val);
    let (mut val_rows, mut train_rows) = (val_rows.to_vec(), train_rows.to_vec());
    val_rows.sort_unstable();
    train_rows.sort_unstable();
    if train_rows.is_empty() {
        return Err(spec_error(format!("no training rows: the data has {} rows", table.num_rows())));
    }
    let train_table = table.select_rows(&train_rows)?;
    let pipeline = pipeline(&features, manager, false)?;
    let bindings = pipeline.fit(&train_table)?;
    let fitted = bindings.fitted();

    init::manual_seed(cfg.seed);
    let mut model = GraphModel::build_spec(spec, &fitted.vars, manager)?;
    let target_name = target_tensor(trainer, &features)?;
    let pred_name = pred_output(trainer, &model)?;
    let gather = |tensors: &BTreeMap<String, Tensor>| -> Result<Split> {
        let mut inputs = BTreeMap::new();
        for (name, source, _) in model.inputs() {
            let t = tensors.get(source).ok_or_else(|| {
                spec_error(format!("model input `{name}` reads `tensors.{source}`, which no processor step makes"))
            })?;
            inputs.insert(name.to_owned(), t.clone());
        }
        let target = tensors.get(&target_name).ok_or_else(|| {
            spec_error(format!("the loss target `tensors.{target_name}` is made by no processor step"))
        })?;
        Ok(Split { inputs, rows: target.shape().first().copied().unwrap_or(0), target: target.clone() })
    };
    let train_split = gather(&bindings.tensors)?;
    let val_split = if val_rows.is_empty() {
        None
    } else {
        let val_table = table.select_rows(&val_rows)?;
        Some(gather(&pipeline_for_validation(&features, manager)?.transform(&val_table, &fitted)?.tensors)?)
    };
    let task = if train_split.target.dtype() == DType::I64 { Task::Classification } else { Task::Regression };
    if task == Task::Classification {
        // In evaluation mode: the check draws no dropout randomness.
        model.set_training(false);
        check_class_count(&model, &train_split, val_split.as_ref(), &pred_name)?;
    }

    let loss =
        manager.get_loss(&trainer.loss.component_type)?.create(&trainer.loss.config.clone().unwrap_or_default())?;
    let mut optimizer = optimizer(trainer, manager)?;
    let (device, device_note) = resolve_device(cfg.device)?;
    if cfg.checkpoint_every == Some(0) {
        return Err(spec_error("trainer.config.checkpoint_every must be at least 1".into()));
    }
    let mut stopper =
        cfg.early_stopping.as_ref().map(|es| EarlyStopper::new(es, task, val_split.is_some())).transpose()?;
    let restore_best = cfg.early_stopping.as_ref().is_some_and(|es| es.restore_best);
    let batches = train_split.rows.div_ceil(cfg.batch_size);
    observer.on_train_start(&TrainStart {
        epochs: cfg.epochs,
        batches_per_epoch: batches,
        train_rows: train_split.rows,
        val_rows: val_split.as_ref().map_or(0, |v| v.rows),
        device,
        device_note,
    });
    let mut history = History { task: Some(task), ..History::default() };
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
                (Some(f64::from(l)), metrics::compute(task, pred, &val.target)?)
            }
            None => {
                let whole = train_eval.as_ref().unwrap_or(&train_split);
                let outputs = model.forward(&whole.inputs)?;
                (None, metrics::compute(task, &outputs[&pred_name], &whole.target)?)
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

/// A classifier's output must have a column per class the targets hold:
/// checked on one row before training, so that a model too narrow for the
/// data is a spec error, not an index error inside the loss.
fn check_class_count(model: &GraphModel, train: &Split, val: Option<&Split>, pred: &str) -> Result<()> {
    let mut labels = train.target.to_vec_i64()?;
    if let Some(val) = val {
        labels.extend(val.target.to_vec_i64()?);
    }
    let Some(&top) = labels.iter().max() else { return Ok(()) };
    if train.rows == 0 || train.target.shape().len() != 1 {
        return Ok(());
    }
    let first = train.select(&[0])?;
    let _guard = no_grad();
    let outputs = model.forward(&first.inputs)?;
    let width = outputs.get(pred).and_then(|t| t.shape().last().copied()).unwrap_or(0);
    if top >= 0 && top as usize >= width {
        return Err(spec_error(format!(
            "the target has {} classes but model output `{pred}` gives {width} values a row: \
             set the last layer's output size to {} (e.g. `vars.num_classes` from the label encoder)",
            top + 1,
            top + 1
        )));
    }
    Ok(())
}

pub(crate) fn spec_error(message: String) -> Error {
    Error::Spec { message }
}

/// Fisher–Yates from `rng`.
fn shuffle(items: &mut [usize], rng: &mut Rng) {
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

/// The pipeline that prepares the validation split from the training
/// split's fitted state: every step transforms, target steps included
/// (`inspect.*` / `fit.*` ops still do not run).
fn pipeline_for_validation(features: &Features, manager: &PluginManager) -> Result<Pipeline> {
    pipeline(features, manager, true)
}

/// The tensor the loss's `target` names: `tensors.Z`, or
/// `target_columns.Y` (the output of the step that reads column `Y`).
fn target_tensor(trainer: &TrainerSpec, features: &Features) -> Result<String> {
    let target =
        trainer.loss.inputs.get("target").ok_or_else(|| spec_error("trainer.loss.inputs has no `target`".into()))?;
    if let Some(name) = target.strip_prefix("tensors.") {
        return Ok(name.to_owned());
    }
    let Some(column) = target.strip_prefix("target_columns.") else {
        return Err(spec_error(format!(
            "trainer.loss.inputs.target `{target}`: expected `tensors.X` or `target_columns.X`"
        )));
    };
    target_step(features, column)
        .and_then(|s| s.outputs.get("output").map(|r| r.name.clone()))
        .ok_or_else(|| spec_error(format!("no processor step reads target column `{column}` into a tensor")))
}

/// The step that makes the loss target: the one whose `output` is
/// `tensors.Z`, or the one that reads target column `Y`.
pub(crate) fn target_step<'a>(features: &'a Features, target: &str) -> Option<&'a ProcessorStep> {
    let column = target.strip_prefix("target_columns.").unwrap_or(target);
    let tensor = target.strip_prefix("tensors.");
    let reads = |s: &ProcessorStep| {
        s.inputs.values().any(|i| match i {
            StepInput::Columns(c) => c.len() == 1 && c[0] == column,
            StepInput::Literal(l) => l.as_str() == Some(column),
            StepInput::Ref(_) => false,
        })
    };
    features.processors.iter().find(|s| match tensor {
        Some(t) => s.outputs.get("output").is_some_and(|r| r.name == t),
        None => reads(s) && s.outputs.contains_key("output"),
    })
}

/// The model output the loss's `pred` names (`model.X` or `X`).
fn pred_output(trainer: &TrainerSpec, model: &GraphModel) -> Result<String> {
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

fn loss_value(loss: &dyn Loss, trainer: &TrainerSpec, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
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

fn optimizer(trainer: &TrainerSpec, manager: &PluginManager) -> Result<Box<dyn Optimizer>> {
    let mut config = trainer.optimizer.config.clone().unwrap_or_default();
    if let Some(lr) = trainer.config.learning_rate
        && !config.contains_key("lr")
    {
        config = config.with("lr", lr)?;
    }
    manager.get_optimizer(&trainer.optimizer.component_type)?.create(&Config::clone(&config))
}
