//! The training history: one record per epoch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One epoch's losses and metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The 1-based epoch.
    pub epoch: usize,
    /// The mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// The validation loss (absent without a validation split).
    pub val_loss: Option<f64>,
    /// Metrics on the validation split (on the training set without one).
    pub metrics: BTreeMap<String, f64>,
}

impl EpochRecord {
    /// A one-line summary: `epoch 3/100  loss 0.4123  val_loss 0.3981  accuracy 0.9000 ...`.
    pub fn summary(&self, epochs: usize) -> String {
        let mut line = format!("epoch {:>3}/{epochs}  loss {:.4}", self.epoch, self.train_loss);
        if let Some(v) = self.val_loss {
            line.push_str(&format!("  val_loss {v:.4}"));
        }
        for (k, v) in &self.metrics {
            line.push_str(&format!("  {k} {v:.4}"));
        }
        line
    }
}

/// Every epoch's record, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `classification` or `regression`.
    pub task: Option<crate::nn::Task>,
    /// The records.
    pub epochs: Vec<EpochRecord>,
    /// The epoch at which early stopping ended training (none when every
    /// planned epoch ran).
    #[serde(default)]
    pub stopped_early: Option<usize>,
    /// The epoch whose monitored value was best (with early stopping).
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Whether the model holds the weights of [`best_epoch`](Self::best_epoch)
    /// rather than the last epoch's (`early_stopping.restore_best`).
    #[serde(default)]
    pub restored_best: bool,
}

impl History {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The record that describes the trained model's weights: the best
    /// epoch's when they were restored, the last one's otherwise.
    ///
    /// ```
    /// use arc_core::model_dir::{EpochRecord, History};
    ///
    /// let record = |epoch| EpochRecord { epoch, train_loss: 1.0, val_loss: None, metrics: Default::default() };
    /// let mut h = History { epochs: vec![record(1), record(2), record(3)], ..History::default() };
    /// assert_eq!(h.final_record().map(|r| r.epoch), Some(3));
    /// h.best_epoch = Some(1);
    /// h.restored_best = true;
    /// assert_eq!(h.final_record().map(|r| r.epoch), Some(1));
    /// ```
    pub fn final_record(&self) -> Option<&EpochRecord> {
        match self.best_epoch {
            Some(best) if self.restored_best => self.epochs.iter().find(|r| r.epoch == best),
            _ => self.last(),
        }
    }
}
