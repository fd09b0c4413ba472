//! Early stopping: watch one value per epoch, stop after `patience` epochs
//! without an improvement larger than `min_delta` (Keras's `EarlyStopping`
//! rule: with patience `p`, training stops at epoch `best + p`).

use super::{EpochRecord, Task};
use crate::Result;
use crate::spec::EarlyStopping;
pub use crate::spec::{Mode, monitor_names};

/// What an epoch's record means for training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The monitored value improved: this is the best epoch so far.
    Improved,
    /// No improvement; training goes on.
    Wait,
    /// `patience` epochs without improvement: stop.
    Stop,
}

/// The early-stopping state over the epochs.
#[derive(Debug)]
pub struct EarlyStopper {
    monitor: String,
    mode: Mode,
    min_delta: f64,
    patience: usize,
    best: Option<f64>,
    best_epoch: Option<usize>,
    wait: usize,
}

impl EarlyStopper {
    /// Checks `config` for `task` ([`EarlyStopping::check`]).
    pub fn new(config: &EarlyStopping, task: Task, has_validation: bool) -> Result<Self> {
        let mode = config.check(task, has_validation)?;
        Ok(Self {
            monitor: config.monitor.clone(),
            mode,
            min_delta: config.min_delta,
            patience: config.patience,
            best: None,
            best_epoch: None,
            wait: 0,
        })
    }

    /// The monitored value of a record (NaN when the record lacks it).
    pub fn value(&self, record: &EpochRecord) -> f64 {
        match self.monitor.as_str() {
            "val_loss" => record.val_loss.unwrap_or(f64::NAN),
            "train_loss" => record.train_loss,
            metric => record.metrics.get(metric).copied().unwrap_or(f64::NAN),
        }
    }

    /// Takes one epoch's record: an improvement is a value below
    /// `best - min_delta` (above `best + min_delta` in max mode); the first
    /// epoch always improves. A NaN never does.
    pub fn update(&mut self, record: &EpochRecord) -> Verdict {
        let value = self.value(record);
        let improved = match (self.best, self.mode) {
            _ if value.is_nan() => false,
            (None, _) => true,
            (Some(best), Mode::Min) => value < best - self.min_delta,
            (Some(best), Mode::Max) => value > best + self.min_delta,
        };
        if improved {
            self.best = Some(value);
            self.best_epoch = Some(record.epoch);
            self.wait = 0;
            return Verdict::Improved;
        }
        self.wait += 1;
        if self.wait >= self.patience { Verdict::Stop } else { Verdict::Wait }
    }

    /// The epoch with the best value so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(epoch: usize, val_loss: f64, accuracy: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0,
            val_loss: Some(val_loss),
            metrics: BTreeMap::from([("accuracy".to_owned(), accuracy)]),
        }
    }

    #[test]
    fn stops_patience_epochs_after_the_last_improvement_beyond_min_delta() -> Result<()> {
        let config = EarlyStopping { patience: 2, min_delta: 0.05, ..EarlyStopping::default() };
        let mut s = EarlyStopper::new(&config, Task::Multiclass, true)?;
        // 1.0 best; 0.96 is not below 1.0 - 0.05; 0.9 is; then 0.88, 0.87 are not below 0.85.
        let verdicts: Vec<Verdict> =
            [1.0, 0.96, 0.9, 0.88, 0.87].iter().enumerate().map(|(i, &v)| s.update(&record(i + 1, v, 0.0))).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Improved, Wait, Improved, Wait, Stop]);
        assert_eq!(s.best_epoch(), Some(3));
        Ok(())
    }

    #[test]
    fn a_metric_monitor_maximises() -> Result<()> {
        let config = EarlyStopping { patience: 1, monitor: "accuracy".into(), ..EarlyStopping::default() };
        let mut s = EarlyStopper::new(&config, Task::Multiclass, true)?;
        assert_eq!(s.update(&record(1, 9.0, 0.5)), Verdict::Improved);
        assert_eq!(s.update(&record(2, 1.0, 0.6)), Verdict::Improved, "val_loss is not what is watched");
        assert_eq!(s.update(&record(3, 0.1, 0.6)), Verdict::Stop, "equal is no improvement");
        Ok(())
    }

    #[test]
    fn unknown_monitor_names_it_with_did_you_mean() {
        let config = EarlyStopping { monitor: "accuracyy".into(), ..EarlyStopping::default() };
        let err = EarlyStopper::new(&config, Task::Multiclass, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "trainer.config.early_stopping.monitor: unknown value `accuracyy` (did you mean `accuracy`?); \
             expected one of val_loss, train_loss, accuracy, macro_f1"
        );
        let regression = EarlyStopper::new(&config, Task::Regression, true).unwrap_err();
        assert!(regression.to_string().ends_with("expected one of val_loss, train_loss, mse, mae, r2"));
    }

    #[test]
    fn val_loss_without_a_validation_split_is_an_error() {
        let err = EarlyStopper::new(&EarlyStopping::default(), Task::Regression, false).unwrap_err();
        assert!(err.to_string().contains("validation_split is 0"), "{err}");
    }
}
