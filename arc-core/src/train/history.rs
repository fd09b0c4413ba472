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
    pub task: Option<super::Task>,
    /// The records.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}
