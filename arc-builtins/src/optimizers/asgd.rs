//! `core.ASGD`: averaged stochastic gradient descent, as `torch.optim.ASGD`
//! (Polyak and Juditsky, 1992).
//!
//! With `g` the gradient (negated when `maximize`) plus `weight_decay * p`, `t` the step
//! from 1, `eta` starting at `lr` and `mu` at 1:
//!
//! ```text
//! p   = p * (1 - lambd * eta) - eta * g
//! ax  = ax + mu * (p - ax)              (ax = p while mu == 1)
//! eta = lr / (1 + lambd * lr * t)^alpha
//! mu  = 1 / max(1, t - t0)
//! ```
//!
//! State per parameter: `step`, `eta`, `mu` (scalars, kept at f32 precision as PyTorch's
//! one-element tensors) and `ax`, the running average of the parameter.

use arc_core::Result;
use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::spec::Config;
use serde::Deserialize;

use super::common::{Slot, StateTable, check_slot, non_negative, resolve_lr, update_params};

const NAME: &str = "core.ASGD";

/// `core.ASGD`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AsgdConfig {
    /// Learning rate (default 1e-2; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Decay term (default 1e-4).
    #[serde(default = "default_lambd")]
    lambd: f64,
    /// Power of the `eta` schedule (default 0.75).
    #[serde(default = "default_alpha")]
    alpha: f64,
    /// The step at which averaging starts (default 1e6).
    #[serde(default = "default_t0")]
    t0: f64,
    /// L2 penalty (default 0).
    #[serde(default)]
    weight_decay: f64,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

fn default_lambd() -> f64 {
    1e-4
}
fn default_alpha() -> f64 {
    0.75
}
fn default_t0() -> f64 {
    1e6
}

/// Averaged SGD (`torch.optim.ASGD`); see the module docs for the update.
#[derive(Debug)]
pub struct Asgd {
    lr: f64,
    /// Whether the config gave `lr` (the trainer's `learning_rate` then does not replace it).
    lr_from_config: bool,
    lambd: f64,
    alpha: f64,
    t0: f64,
    weight_decay: f64,
    maximize: bool,
    state: StateTable,
}

impl Asgd {
    /// Builds ASGD from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        let c: AsgdConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1e-2))?;
        non_negative(NAME, "lambd", c.lambd)?;
        non_negative(NAME, "alpha", c.alpha)?;
        non_negative(NAME, "t0", c.t0)?;
        non_negative(NAME, "weight_decay", c.weight_decay)?;
        Ok(Box::new(Asgd {
            lr,
            lr_from_config,
            lambd: c.lambd,
            alpha: c.alpha,
            t0: c.t0,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
            state: StateTable::new(vec!["step", "eta", "mu"], vec!["ax"]),
        }))
    }
}

/// Rounds to f32, as PyTorch stores `eta` and `mu` in one-element f32 tensors.
fn f32_precision(x: f64) -> f64 {
    x as f32 as f64
}

impl Optimizer for Asgd {
    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()> {
        let (lr, lambd, alpha, t0) = (self.lr, self.lambd, self.alpha, self.t0);
        let wd = self.weight_decay as f32;
        let state = &mut self.state;
        update_params(NAME, params, self.maximize, |name, shape, p, g| {
            let slot = state.slot(name, || Slot::new(shape, vec![0.0, f32_precision(lr), 1.0], 1, 0.0))?;
            check_slot(name, slot, p.len())?;
            slot.scalars[0] += 1.0;
            let (step, eta, mu) = (slot.scalars[0], slot.scalars[1], slot.scalars[2]);
            let decay = (1.0 - lambd * eta) as f32;
            let eta32 = eta as f32;
            for (p, &g) in p.iter_mut().zip(g) {
                let g = g + wd * *p;
                *p *= decay;
                *p -= eta32 * g;
            }
            let ax = &mut slot.buffers[0];
            if mu != 1.0 {
                let mu = mu as f32;
                ax.iter_mut().zip(p.iter()).for_each(|(a, &p)| *a += (p - *a) * mu);
            } else {
                ax.copy_from_slice(p);
            }
            slot.scalars[1] = f32_precision(lr / (1.0 + lambd * lr * step).powf(alpha));
            slot.scalars[2] = f32_precision(1.0 / (step - t0).max(1.0));
            Ok(())
        })
    }

    per_parameter_state_accessors!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_near, build, scalar_param, step};
    use super::*;

    #[test]
    fn averages_track_the_parameter_until_t0() -> Result<()> {
        // p = 1 * (1 - 1e-4 * 0.1) - 0.1 * 0.5 = 0.94999; ax = p while mu = 1;
        // eta = 0.1 / (1 + 1e-4 * 0.1 * 1)^0.75.
        let mut opt = build(Asgd::from_config, "lr: 0.1")?;
        let p = scalar_param(1.0)?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.94999, 1e-6);
        let state = opt.state();
        assert_eq!(state.tensors["p.ax"].to_vec()?, p.value().to_vec()?);
        assert_near(state.scalars["p.eta"] as f32, 0.1 / (1.0f64 + 1e-5).powf(0.75), 1e-8);
        assert_eq!(state.scalars["p.mu"], 1.0);
        Ok(())
    }
}
