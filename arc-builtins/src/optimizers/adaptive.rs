//! Per-coordinate adaptive rates: `core.RMSprop`, `core.Adagrad` and `core.Adadelta`, as
//! `torch.optim.*`. In each, `g` is the gradient (negated when `maximize`) plus the L2 term
//! `weight_decay * p`, and `t` counts steps from 1.
//!
//! ```text
//! RMSprop:  s = alpha * s + (1 - alpha) * g^2
//!           a = g_avg + (1 - alpha) * (g - g_avg);  den = sqrt(s - a^2) + eps   (centered)
//!           den = sqrt(s) + eps                                                 (otherwise)
//!           b = momentum * b + g / den;  p = p - lr * b       (momentum > 0)
//!           p = p - lr * g / den                              (otherwise)
//! Adagrad:  clr = lr / (1 + (t - 1) * lr_decay);  S = S + g^2;  p = p - clr * g / (sqrt(S) + eps)
//! Adadelta: s = rho * s + (1 - rho) * g^2
//!           d = sqrt(acc + eps) / sqrt(s + eps) * g;  acc = rho * acc + (1 - rho) * d^2
//!           p = p - lr * d
//! ```
//!
//! State per parameter: RMSprop `step`, `square_avg` (+ `momentum_buffer`, `grad_avg`);
//! Adagrad `step`, `sum`; Adadelta `step`, `square_avg`, `acc_delta`.

use arc_core::Result;
use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::spec::Config;
use serde::Deserialize;

use super::common::{
    Slot, StateTable, check_slot, closed_unit_interval, non_negative, resolve_lr, unit_interval, update_params,
};

/// `core.RMSprop`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RmspropConfig {
    /// Learning rate (default 1e-2; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Smoothing constant of the squared-gradient average, in `[0, 1)` (default 0.99).
    #[serde(default = "default_alpha")]
    alpha: f64,
    /// Added to the denominator (default 1e-8).
    #[serde(default = "default_eps_8")]
    eps: f64,
    /// L2 penalty (default 0).
    #[serde(default)]
    weight_decay: f64,
    /// Momentum factor in `[0, 1)` (default 0).
    #[serde(default)]
    momentum: f64,
    /// Normalise by the gradient's estimated variance instead (default false).
    #[serde(default)]
    centered: bool,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

/// `core.Adagrad`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdagradConfig {
    /// Learning rate (default 1e-2; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Learning-rate decay per step (default 0).
    #[serde(default)]
    lr_decay: f64,
    /// L2 penalty (default 0).
    #[serde(default)]
    weight_decay: f64,
    /// Starting value of the squared-gradient sum (default 0).
    #[serde(default)]
    initial_accumulator_value: f64,
    /// Added to the denominator (default 1e-10).
    #[serde(default = "default_eps_10")]
    eps: f64,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

/// `core.Adadelta`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdadeltaConfig {
    /// Scale of the delta (default 1.0; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Decay of the running averages, in `[0, 1]` (default 0.9).
    #[serde(default = "default_rho")]
    rho: f64,
    /// Added inside the square roots (default 1e-6).
    #[serde(default = "default_eps_6")]
    eps: f64,
    /// L2 penalty (default 0).
    #[serde(default)]
    weight_decay: f64,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

fn default_alpha() -> f64 {
    0.99
}
fn default_rho() -> f64 {
    0.9
}
fn default_eps_6() -> f64 {
    1e-6
}
fn default_eps_8() -> f64 {
    1e-8
}
fn default_eps_10() -> f64 {
    1e-10
}

/// The rule and its hyper-parameters.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Rmsprop { alpha: f64, eps: f64, momentum: f64, centered: bool },
    Adagrad { lr_decay: f64, initial_accumulator_value: f64, eps: f64 },
    Adadelta { rho: f64, eps: f64 },
}

/// RMSprop, Adagrad or Adadelta (`torch.optim.*`); see the module docs for the updates.
#[derive(Debug)]
pub struct Adaptive {
    rule: Rule,
    lr: f64,
    /// Whether the config gave `lr` (the trainer's `learning_rate` then does not replace it).
    lr_from_config: bool,
    weight_decay: f64,
    maximize: bool,
    state: StateTable,
}

impl Adaptive {
    /// Builds `core.RMSprop` (lr 1e-2, alpha 0.99, eps 1e-8).
    pub fn rmsprop_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        const NAME: &str = "core.RMSprop";
        let c: RmspropConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1e-2))?;
        unit_interval(NAME, "alpha", c.alpha)?;
        non_negative(NAME, "eps", c.eps)?;
        non_negative(NAME, "weight_decay", c.weight_decay)?;
        unit_interval(NAME, "momentum", c.momentum)?;
        let mut buffers = vec!["square_avg"];
        if c.momentum > 0.0 {
            buffers.push("momentum_buffer");
        }
        if c.centered {
            buffers.push("grad_avg");
        }
        Ok(Box::new(Adaptive {
            rule: Rule::Rmsprop { alpha: c.alpha, eps: c.eps, momentum: c.momentum, centered: c.centered },
            lr,
            lr_from_config,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
            state: StateTable::new(vec!["step"], buffers),
        }))
    }

    /// Builds `core.Adagrad` (lr 1e-2, eps 1e-10).
    pub fn adagrad_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        const NAME: &str = "core.Adagrad";
        let c: AdagradConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1e-2))?;
        non_negative(NAME, "lr_decay", c.lr_decay)?;
        non_negative(NAME, "weight_decay", c.weight_decay)?;
        non_negative(NAME, "initial_accumulator_value", c.initial_accumulator_value)?;
        non_negative(NAME, "eps", c.eps)?;
        Ok(Box::new(Adaptive {
            rule: Rule::Adagrad {
                lr_decay: c.lr_decay,
                initial_accumulator_value: c.initial_accumulator_value,
                eps: c.eps,
            },
            lr,
            lr_from_config,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
            state: StateTable::new(vec!["step"], vec!["sum"]),
        }))
    }

    /// Builds `core.Adadelta` (lr 1.0, rho 0.9, eps 1e-6).
    pub fn adadelta_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        const NAME: &str = "core.Adadelta";
        let c: AdadeltaConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1.0))?;
        closed_unit_interval(NAME, "rho", c.rho)?;
        non_negative(NAME, "eps", c.eps)?;
        non_negative(NAME, "weight_decay", c.weight_decay)?;
        Ok(Box::new(Adaptive {
            rule: Rule::Adadelta { rho: c.rho, eps: c.eps },
            lr,
            lr_from_config,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
            state: StateTable::new(vec!["step"], vec!["square_avg", "acc_delta"]),
        }))
    }

    /// One parameter's update; `g` already holds the sign of `maximize`.
    fn update(&self, p: &mut [f32], g: &[f32], slot: &mut Slot) {
        let (lr, wd) = (self.lr as f32, self.weight_decay as f32);
        let step = slot.scalars[0];
        match self.rule {
            Rule::Rmsprop { alpha, eps, momentum, centered } => {
                let (alpha, eps, mom) = (alpha as f32, eps as f32, momentum as f32);
                let (square_avg, rest) = slot.buffers.split_first_mut().expect("RMSprop keeps `square_avg`");
                let (mut buf, mut grad_avg) = match rest {
                    [b, a] => (Some(b), Some(a)),
                    [x] if momentum > 0.0 => (Some(x), None),
                    [a] => (None, Some(a)),
                    _ => (None, None),
                };
                debug_assert_eq!(grad_avg.is_some(), centered);
                for i in 0..p.len() {
                    let g = g[i] + wd * p[i];
                    let s = &mut square_avg[i];
                    *s = *s * alpha + (1.0 - alpha) * g * g;
                    let mut den = match grad_avg.as_deref_mut() {
                        Some(a) => {
                            a[i] += (1.0 - alpha) * (g - a[i]);
                            (*s - a[i] * a[i]).sqrt()
                        }
                        None => s.sqrt(),
                    };
                    den += eps;
                    match buf.as_deref_mut() {
                        Some(b) => {
                            b[i] = b[i] * mom + g / den;
                            p[i] -= lr * b[i];
                        }
                        None => p[i] -= lr * (g / den),
                    }
                }
            }
            Rule::Adagrad { lr_decay, eps, .. } => {
                let clr = (self.lr / (1.0 + (step - 1.0) * lr_decay)) as f32;
                let eps = eps as f32;
                let sum = &mut slot.buffers[0];
                for i in 0..p.len() {
                    let g = g[i] + wd * p[i];
                    sum[i] += g * g;
                    p[i] -= clr * (g / (sum[i].sqrt() + eps));
                }
            }
            Rule::Adadelta { rho, eps } => {
                let (rho, eps) = (rho as f32, eps as f32);
                let [square_avg, acc_delta] = &mut slot.buffers[..] else { unreachable!("Adadelta keeps two buffers") };
                for i in 0..p.len() {
                    let g = g[i] + wd * p[i];
                    square_avg[i] = square_avg[i] * rho + (1.0 - rho) * g * g;
                    let std = (square_avg[i] + eps).sqrt();
                    let delta = (acc_delta[i] + eps).sqrt() / std * g;
                    acc_delta[i] = acc_delta[i] * rho + (1.0 - rho) * delta * delta;
                    p[i] -= lr * delta;
                }
            }
        }
    }
}

impl Adaptive {
    /// The registered name, for errors.
    fn name(&self) -> &'static str {
        match self.rule {
            Rule::Rmsprop { .. } => "core.RMSprop",
            Rule::Adagrad { .. } => "core.Adagrad",
            Rule::Adadelta { .. } => "core.Adadelta",
        }
    }
}

impl Optimizer for Adaptive {
    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()> {
        let mut state = std::mem::replace(&mut self.state, StateTable::new(vec![], vec![]));
        let this = &*self;
        let (buffers, fill) = match this.rule {
            Rule::Rmsprop { momentum, centered, .. } => (1 + usize::from(momentum > 0.0) + usize::from(centered), 0.0),
            Rule::Adagrad { initial_accumulator_value, .. } => (1, initial_accumulator_value as f32),
            Rule::Adadelta { .. } => (2, 0.0),
        };
        let result = update_params(this.name(), params, this.maximize, |name, shape, p, g| {
            let slot = state.slot(name, || Slot::new(shape, vec![0.0], buffers, fill))?;
            check_slot(name, slot, p.len())?;
            slot.scalars[0] += 1.0;
            this.update(p, g, slot);
            Ok(())
        });
        self.state = state;
        result
    }

    per_parameter_state_accessors!();
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_near, build, scalar_param, step};
    use super::*;

    #[test]
    fn first_steps_worked_by_hand() -> Result<()> {
        let p = scalar_param(1.0)?;
        // Adagrad: S = g^2, p -= lr * g / |g| = 1 - 0.1.
        let mut opt = build(Adaptive::adagrad_from_config, "lr: 0.1")?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.9, 1e-6);
        // RMSprop: s = 0.01 * 0.25, sqrt(s) = 0.05, p -= 0.01 * 0.5 / 0.05 = 0.1.
        let p = scalar_param(1.0)?;
        let mut opt = build(Adaptive::rmsprop_from_config, "{}")?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.9, 1e-6);
        // Adadelta: s = 0.1 * 0.25 = 0.025, delta = sqrt(1e-6) / sqrt(0.025 + 1e-6) * 0.5.
        let p = scalar_param(1.0)?;
        let mut opt = build(Adaptive::adadelta_from_config, "{}")?;
        let delta = 1e-3 / (0.025f64 + 1e-6).sqrt() * 0.5;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 1.0 - delta, 1e-7);
        Ok(())
    }
}
