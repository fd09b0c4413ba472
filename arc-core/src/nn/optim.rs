//! The optimizer trait and its checkpointable state.

use std::collections::BTreeMap;

use super::Param;
use crate::{Result, Tensor};

/// An optimizer's state for a checkpoint: scalars (step counts) and tensors
/// (moments), each under a name that starts with the parameter's name
/// (`encoder.weight.exp_avg`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Scalar state by name.
    pub scalars: BTreeMap<String, f64>,
    /// Tensor state by name.
    pub tensors: BTreeMap<String, Tensor>,
}

/// An optimizer, registered by `OptimizerHookSpec::register_optimizers`.
///
/// Parameters are passed at each step with their names; state is kept by
/// name, so a checkpoint's state matches the model's parameters.
pub trait Optimizer: Send + Sync {
    /// Updates every parameter from its gradient (a parameter without one is
    /// skipped, as PyTorch skips `grad is None`).
    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()>;

    /// For optimizers that re-evaluate the loss (LBFGS): `closure` zeroes
    /// the gradients, computes the loss, runs backward and returns the loss.
    /// The default evaluates it once and steps. Returns the first loss.
    fn step_with_closure(
        &mut self,
        params: &[(&str, &Param)],
        closure: &mut dyn FnMut() -> Result<Tensor>,
    ) -> Result<Tensor> {
        let loss = closure()?;
        self.step(params)?;
        Ok(loss)
    }

    /// The learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (schedulers).
    fn set_learning_rate(&mut self, lr: f64);

    /// Takes `trainer.config.learning_rate`, the rate a spec gives for
    /// optimizers whose own config sets none: an optimizer whose config
    /// gave a learning rate keeps it (the optimizer's own value wins). The
    /// default ignores it, so an optimizer without a learning rate is not
    /// broken by one.
    fn use_trainer_learning_rate(&mut self, lr: f64) {
        let _ = lr;
    }

    /// How many values of state it keeps per parameter element (SGD with
    /// momentum 1, Adam 2), for the memory budget's estimate before the run.
    /// The default, 2, is Adam's.
    fn state_per_parameter(&self) -> usize {
        2
    }

    /// The state, for a checkpoint.
    fn state(&self) -> OptimizerState;

    /// Restores the state of a checkpoint.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}
