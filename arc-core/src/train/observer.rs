//! What the trainer tells its caller while it runs: the start (sizes and
//! device), every batch's loss, every epoch's record, and checkpoints.
//!
//! The library stays free of terminals and files: `arc train` turns these
//! events into a progress bar or plain lines, and writes checkpoints with
//! [`model_dir::save`](crate::model_dir::save).

use super::{EpochRecord, History};
use crate::graph::GraphModel;
use crate::process::FittedState;
use crate::{Device, Result};

/// The sizes of a training run, sent once before the first batch.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainStart {
    /// Epochs planned (early stopping may end sooner).
    pub epochs: usize,
    /// Mini-batches per epoch.
    pub batches_per_epoch: usize,
    /// Rows in the training split.
    pub train_rows: usize,
    /// Rows held out for validation.
    pub val_rows: usize,
    /// The device training runs on.
    pub device: Device,
    /// Why that device, when it was chosen for the user (`device: auto`).
    pub device_note: Option<String>,
    /// The spec's warnings (an earlier form of a key, a node no output
    /// reads), each with its file, line and column.
    pub warnings: Vec<String>,
    /// The processes training together (1 unless data-parallel); the
    /// batches and rows above are each one's.
    pub world_size: usize,
}

/// One mini-batch done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchEnd {
    /// The 1-based epoch.
    pub epoch: usize,
    /// The 1-based batch within the epoch.
    pub batch: usize,
    /// Mini-batches per epoch.
    pub batches: usize,
    /// The batch's loss: always on the CPU; on a GPU only when the observer's
    /// [`wants_batch_loss`](TrainObserver::wants_batch_loss) is true (reading it costs a
    /// device sync per batch), else `None`.
    pub loss: Option<f64>,
}

/// A checkpoint: the model and everything needed to save it as a model
/// directory. Sent every `trainer.config.checkpoint_every` epochs.
pub struct Checkpoint<'a> {
    /// The epoch just finished.
    pub epoch: usize,
    /// The model, in evaluation mode, with this epoch's weights.
    pub model: &'a GraphModel,
    /// The pipeline's fitted state.
    pub fitted: &'a FittedState,
    /// The history up to this epoch.
    pub history: &'a History,
    /// What `--resume` needs beyond the model: the epoch, the shuffling
    /// stream, the optimizer's state, the best epoch's weights (see
    /// [`model_dir::checkpoint`](crate::model_dir::checkpoint)).
    pub trainer_state: crate::model_dir::checkpoint::TrainerState<'a>,
}

/// Receives training events; every method has an empty default, so an
/// observer implements only what it shows. Called on the training thread,
/// in order: `on_train_start`, then per epoch each `on_batch_end`,
/// `on_epoch_end` and (on checkpoint epochs) `on_checkpoint`.
///
/// ```
/// use arc_core::train::{BatchEnd, EpochRecord, TrainObserver};
///
/// #[derive(Default)]
/// struct Counter { batches: usize, epochs: usize }
/// impl TrainObserver for Counter {
///     fn on_batch_end(&mut self, _: &BatchEnd) { self.batches += 1; }
///     fn on_epoch_end(&mut self, _: &EpochRecord) { self.epochs += 1; }
/// }
/// let mut c = Counter::default();
/// c.on_batch_end(&BatchEnd { epoch: 1, batch: 1, batches: 1, loss: Some(0.5) });
/// assert_eq!((c.batches, c.epochs), (1, 0));
/// ```
pub trait TrainObserver {
    /// Before the first batch.
    fn on_train_start(&mut self, _start: &TrainStart) {}
    /// After each optimizer step.
    fn on_batch_end(&mut self, _batch: &BatchEnd) {}
    /// Whether [`BatchEnd::loss`] should be read on a GPU (default false): training on a
    /// GPU keeps the per-batch loss on the device and reads one scalar per epoch (the
    /// logging step, where the non-finite check runs) unless an observer asks for each
    /// batch's, which then also moves the check to every batch.
    fn wants_batch_loss(&self) -> bool {
        false
    }
    /// After each epoch's validation.
    fn on_epoch_end(&mut self, _record: &EpochRecord) {}
    /// Every `checkpoint_every` epochs; an error stops training with it.
    fn on_checkpoint(&mut self, _checkpoint: &Checkpoint<'_>) -> Result<()> {
        Ok(())
    }
}

/// An `on_epoch` closure as an observer (what [`train`](super::train) takes).
pub(crate) struct EpochFn<'a>(pub(crate) &'a mut dyn FnMut(&EpochRecord));

impl TrainObserver for EpochFn<'_> {
    fn on_epoch_end(&mut self, record: &EpochRecord) {
        (self.0)(record)
    }
}

/// The observer of a rank other than 0: sees nothing.
pub(crate) struct Silent;

impl TrainObserver for Silent {}
