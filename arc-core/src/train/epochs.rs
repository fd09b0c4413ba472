//! The training stages after [`prepare`](super::prepare): the epoch loop
//! (each epoch's batches, then its measurement, early stopping and
//! checkpoint) and the finish (the model back on the host, the best epoch's
//! weights restored).

use super::observer::{BatchEnd, Checkpoint, TrainObserver, TrainStart};
use super::parallel::{DataParallel, broadcast_weights};
use super::prepare::{Run, Split};
use super::{EarlyStopper, EpochRecord, History, Trained, Verdict, clip_gradients, loss_value, metrics, shuffle};
use crate::distributed::{GradientBuckets, shard};
use crate::graph::GraphModel;
use crate::model_dir::checkpoint::{Resume, TrainerState};
use crate::nn::{Loss, Optimizer, Param, TargetInfo};
use crate::process::FittedState;
use crate::spec::TrainerSpec;
use crate::tensor::{Rng, no_grad, on_pool};
use crate::{Device, Error, Result, Tensor};

/// A prepared run in progress: the model, its data on the device, and what
/// the loop keeps from epoch to epoch.
pub(crate) struct Epochs<'a> {
    trainer: &'a TrainerSpec,
    model: GraphModel,
    fitted: FittedState,
    train: Split,
    val: Option<Split>,
    /// The training split on the device, for the metrics of a run without a
    /// validation split on a GPU.
    train_eval: Option<Split>,
    loss: Box<dyn Loss>,
    optimizer: Box<dyn Optimizer>,
    info: TargetInfo,
    device: Device,
    stopper: Option<EarlyStopper>,
    rng: Rng,
    order: Vec<usize>,
    history: History,
    best_weights: Option<Vec<(String, Tensor)>>,
    parallel: DataParallel<'a>,
    buckets: GradientBuckets,
    /// The first epoch to run: 1, or the one after a resumed checkpoint's.
    first_epoch: usize,
    /// For the crash tests (`ARC_TEST_ABORT_AFTER_BATCH`): end the process after this many batches.
    abort_after_batch: Option<usize>,
    batches_done: usize,
}

impl<'a> Epochs<'a> {
    /// Starts the run: tells `observer` its sizes, and moves the model and
    /// the validation split to the device once (each training batch moves
    /// as it is drawn).
    pub(crate) fn start(
        model: GraphModel,
        run: Run,
        trainer: &'a TrainerSpec,
        warnings: Vec<String>,
        observer: &mut dyn TrainObserver,
        parallel: &DataParallel<'a>,
        resume: Option<Resume>,
    ) -> Result<Self> {
        let config = &trainer.config;
        if resume.is_some() && parallel.world() > 1 {
            return Err(Error::Spec {
                message: "resuming a data-parallel run is not supported; resume it as one process".into(),
            });
        }
        let world = parallel.world();
        let rows = shard_len(run.train.rows, world, parallel.drop_last);
        // One GPU per process: this rank's.
        let device = match (run.device, parallel.local_device) {
            (Device::Cuda(_), Some(ordinal)) => Device::Cuda(ordinal),
            (device, _) => device,
        };
        observer.on_train_start(&TrainStart {
            epochs: config.epochs,
            batches_per_epoch: rows.div_ceil(config.batch_size),
            train_rows: rows,
            val_rows: run.val.as_ref().map_or(0, |v| v.rows),
            device,
            device_note: run.device_note.clone(),
            warnings,
            world_size: world,
        });
        // Every rank starts from rank 0's weights.
        broadcast_weights(parallel.collective, &model)?;
        let mut run = run;
        let mut history = History { task: Some(run.info.task), ..History::default() };
        let mut best_weights = None;
        let mut first_epoch = 1;
        let mut order = None;
        if let Some(resume) = resume {
            if resume.fitted.vars != run.fitted.vars || resume.fitted.states != run.fitted.states {
                return Err(Error::ModelDir {
                    path: resume.dir.display().to_string(),
                    message:
                        "the pipeline fitted on this data differs from the checkpoint's: resume on the data the run \
                              started with"
                            .into(),
                });
            }
            model.load_state(&resume.weights)?;
            run.optimizer.load_state(resume.optimizer)?;
            run.rng = resume.rng;
            if resume.order.len() != run.train.rows {
                return Err(Error::ModelDir {
                    path: resume.dir.display().to_string(),
                    message: format!(
                        "the checkpoint trained on {} rows, this data gives {}: resume on the data the run started with",
                        resume.order.len(),
                        run.train.rows
                    ),
                });
            }
            order = Some(resume.order);
            // Early stopping's state is a function of the records: replayed.
            if let Some(stopper) = &mut run.stopper {
                resume.history.epochs.iter().for_each(|r| {
                    stopper.update(r);
                });
            }
            history = resume.history;
            best_weights = resume.best_weights;
            first_epoch = resume.epoch + 1;
        }
        model.to_device(device)?;
        let val = run.val.map(|v| v.to_device(device)).transpose()?;
        // Without a validation split the metrics read the whole training split: on a GPU it
        // is copied there once.
        let train_eval = if !device.is_cpu() && val.is_none() { Some(run.train.to_device(device)?) } else { None };
        let abort_after_batch = std::env::var("ARC_TEST_ABORT_AFTER_BATCH").ok().and_then(|n| n.parse().ok());
        Ok(Self {
            trainer,
            order: order.unwrap_or_else(|| (0..run.train.rows).collect()),
            history,
            model,
            fitted: run.fitted,
            train: run.train,
            val,
            train_eval,
            loss: run.loss,
            optimizer: run.optimizer,
            info: run.info,
            device,
            stopper: run.stopper,
            rng: run.rng,
            best_weights,
            parallel: *parallel,
            buckets: GradientBuckets::new(parallel.bucket_bytes),
            first_epoch,
            abort_after_batch,
            batches_done: 0,
        })
    }

    /// Runs every epoch (or until early stopping says stop).
    pub(crate) fn run(mut self, observer: &mut dyn TrainObserver) -> Result<Self> {
        for epoch in self.first_epoch..=self.trainer.config.epochs {
            let train_loss = self.train_epoch(epoch, observer)?;
            let (val_loss, metrics) = self.measure()?;
            let record = EpochRecord { epoch, train_loss, val_loss, metrics };
            observer.on_epoch_end(&record);
            if self.after_epoch(record, observer)? == Some(Verdict::Stop) {
                self.history.stopped_early = Some(epoch);
                break;
            }
        }
        Ok(self)
    }

    /// One epoch's batches: forward, loss (a NaN or infinite one stops
    /// training), backward, gradient clipping, optimizer step. Returns the
    /// mean training loss, weighted by batch size.
    fn train_epoch(&mut self, epoch: usize, observer: &mut dyn TrainObserver) -> Result<f64> {
        let config = &self.trainer.config;
        self.model.set_training(true);
        // Every parameter under its name, for one optimizer step over all of
        // them (LBFGS needs the whole set; the others keep state by name).
        let mut params: Vec<(String, &Param)> = Vec::new();
        self.model.visit_params(&mut |name, p| params.push((name.to_owned(), p)));
        let named: Vec<(&str, &Param)> = params.iter().map(|(n, p)| (n.as_str(), *p)).collect();
        let plain: Vec<&Param> = params.iter().map(|(_, p)| *p).collect();
        if config.shuffle {
            shuffle(&mut self.order, &mut self.rng);
        }
        let world = self.parallel.world();
        // Every rank drew the same shuffle; each trains on its shard of it.
        let sharded;
        let order: &[usize] = if world == 1 {
            &self.order
        } else {
            sharded = shard(&self.order, self.parallel.collective.rank(), world, self.parallel.drop_last);
            &sharded
        };
        let batches = order.len().div_ceil(config.batch_size);
        // Several ranks: each batch's loss rides in the gradients' all-reduce, read on the host.
        let read_each_batch = self.device.is_cpu() || observer.wants_batch_loss() || world > 1;
        let mut total = 0.0f64;
        // On a GPU (unless each batch is read) the row-weighted loss sum stays on the device.
        let mut device_total: Option<Tensor> = None;
        for (b, chunk) in order.chunks(config.batch_size).enumerate() {
            let batch = self.train.select(chunk)?.to_device(self.device)?;
            named.iter().for_each(|(_, p)| p.zero_grad());
            if world == 1 && self.device.is_cpu() {
                // The whole batch on rayon's pool: one hand-off to it instead of one per
                // parallel op (`tensor::on_pool`). The same steps as below, in the same order.
                let (model, loss, info, optimizer) = (&self.model, self.loss.as_ref(), &self.info, &mut self.optimizer);
                let v = on_pool(|| -> Result<f32> {
                    let outputs = model.forward(&batch.inputs)?;
                    let value = loss_value(loss, self.trainer, &outputs[&info.output], &batch.target)?;
                    let v = value.item()?;
                    if v.is_finite() {
                        value.backward()?;
                        if let Some(clip) = &config.gradient_clip {
                            clip_gradients(clip, &plain)?;
                        }
                        optimizer.step(&named)?;
                    }
                    Ok(v)
                })?;
                if !v.is_finite() {
                    return Err(Error::NonFiniteLoss { epoch, batch: b + 1, value: v });
                }
                total += f64::from(v) * chunk.len() as f64;
                observer.on_batch_end(&BatchEnd { epoch, batch: b + 1, batches, loss: Some(f64::from(v)) });
                count_batch(&mut self.batches_done, self.abort_after_batch);
                continue;
            }
            let outputs = self.model.forward(&batch.inputs)?;
            let value = loss_value(self.loss.as_ref(), self.trainer, &outputs[&self.info.output], &batch.target)?;
            let mut batch_loss = None;
            if world > 1 {
                value.backward()?;
                // The gradients averaged, this batch's loss (row-weighted) summed over the ranks.
                let mut sum = [value.item()? * chunk.len() as f32];
                self.buckets.average(self.parallel.collective, &plain, &mut sum)?;
                let rows = (chunk.len() * world) as f32;
                if !sum[0].is_finite() {
                    return Err(Error::NonFiniteLoss { epoch, batch: b + 1, value: sum[0] / rows });
                }
                total += f64::from(sum[0]);
                batch_loss = Some(f64::from(sum[0] / rows));
            } else {
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
            }
            if let Some(clip) = &config.gradient_clip {
                clip_gradients(clip, &plain)?;
            }
            self.optimizer.step(&named)?;
            observer.on_batch_end(&BatchEnd { epoch, batch: b + 1, batches, loss: batch_loss });
            count_batch(&mut self.batches_done, self.abort_after_batch);
        }
        let rows = (order.len() * world).max(1);
        if let Some(sum) = device_total {
            // The epoch's one read: the non-finite check runs per logging step here, naming
            // the epoch's last batch.
            let v = sum.item()?;
            if !v.is_finite() {
                return Err(Error::NonFiniteLoss { epoch, batch: batches, value: v / rows as f32 });
            }
            total = f64::from(v);
        }
        Ok(total / rows as f64)
    }

    /// The validation loss and the task's metrics (on the training split
    /// without a validation split), in evaluation mode.
    fn measure(&mut self) -> Result<(Option<f64>, std::collections::BTreeMap<String, f64>)> {
        self.model.set_training(false);
        // On the CPU, one process: the pass on rayon's pool, as the batches run (`on_pool`).
        let (val_loss, mut metrics) = if self.parallel.world() == 1 && self.device.is_cpu() {
            let this = &*self;
            on_pool(|| this.measure_here())?
        } else {
            self.measure_here()?
        };
        if self.parallel.world() == 1 {
            return Ok((val_loss, metrics));
        }
        // Every rank measured the whole split with the same weights; rank 0's numbers, exact
        // (each f64 as two f32 bit patterns), are everyone's, so that no rounding difference
        // lets early stopping decide differently on one rank.
        let mut words: Vec<f32> = val_loss
            .into_iter()
            .chain(metrics.values().copied())
            .flat_map(|v| {
                let bits = v.to_bits();
                [f32::from_bits(bits as u32), f32::from_bits((bits >> 32) as u32)]
            })
            .collect();
        self.parallel.collective.broadcast(&mut words, 0)?;
        let mut values =
            words.chunks(2).map(|w| f64::from_bits(u64::from(w[0].to_bits()) | (u64::from(w[1].to_bits()) << 32)));
        let val_loss = val_loss.and_then(|_| values.next());
        metrics.values_mut().zip(values).for_each(|(m, v)| *m = v);
        Ok((val_loss, metrics))
    }

    /// [`measure`](Self::measure) on this rank.
    fn measure_here(&self) -> Result<(Option<f64>, std::collections::BTreeMap<String, f64>)> {
        let _guard = no_grad();
        let output = &self.info.output;
        Ok(match &self.val {
            Some(val) => {
                let outputs = self.model.forward(&val.inputs)?;
                let pred = &outputs[output];
                let l = loss_value(self.loss.as_ref(), self.trainer, pred, &val.target)?.item()?;
                (Some(f64::from(l)), metrics::compute(&self.info, pred, &val.target)?)
            }
            None => {
                let whole = self.train_eval.as_ref().unwrap_or(&self.train);
                let outputs = self.model.forward(&whole.inputs)?;
                (None, metrics::compute(&self.info, &outputs[output], &whole.target)?)
            }
        })
    }

    /// Records the epoch: early stopping's verdict (a snapshot of the best
    /// weights when they are to be restored) and the checkpoint.
    fn after_epoch(&mut self, record: EpochRecord, observer: &mut dyn TrainObserver) -> Result<Option<Verdict>> {
        let config = &self.trainer.config;
        let epoch = record.epoch;
        let verdict = self.stopper.as_mut().map(|s| s.update(&record));
        self.history.epochs.push(record);
        if let Some(stopper) = &self.stopper {
            self.history.best_epoch = stopper.best_epoch();
        }
        let restore_best = config.early_stopping.as_ref().is_some_and(|es| es.restore_best);
        if restore_best && verdict == Some(Verdict::Improved) {
            self.best_weights = Some(snapshot(&self.model)?);
        }
        if config.checkpoint_every.is_some_and(|every| epoch.is_multiple_of(every)) {
            let optimizer = self.optimizer.state();
            let trainer_state = TrainerState {
                epoch,
                rng: &self.rng,
                order: &self.order,
                optimizer: &optimizer,
                best_weights: self.best_weights.as_deref(),
            };
            let checkpoint =
                Checkpoint { epoch, model: &self.model, fitted: &self.fitted, history: &self.history, trainer_state };
            observer.on_checkpoint(&checkpoint)?;
        }
        Ok(verdict)
    }

    /// The trained model, in evaluation mode, back on the host (saving,
    /// exporting and predicting read it there), with the best epoch's
    /// weights when early stopping restores them.
    pub(crate) fn finish(mut self) -> Result<Trained> {
        self.model.set_training(false);
        self.model.to_device(Device::Cpu)?;
        if let Some(weights) = self.best_weights.take() {
            self.model.load_state(&weights)?;
            self.history.restored_best = true;
        }
        Ok(Trained { model: self.model, fitted: self.fitted, history: self.history })
    }
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

/// The rows each rank trains on per epoch: [`shard`]'s length.
fn shard_len(rows: usize, world: usize, drop_last: bool) -> usize {
    if world == 1 {
        rows
    } else if drop_last {
        rows / world
    } else {
        rows.div_ceil(world)
    }
}

/// Counts a finished batch (and aborts there when the crash tests ask: their deterministic
/// SIGKILL).
fn count_batch(batches_done: &mut usize, abort_after_batch: Option<usize>) {
    *batches_done += 1;
    if abort_after_batch == Some(*batches_done) {
        std::process::abort();
    }
}
