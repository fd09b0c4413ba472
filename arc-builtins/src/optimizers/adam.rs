//! The Adam family: `core.Adam`, `core.AdamW` and `core.Adamax`, as `torch.optim.*`.
//!
//! Adam / AdamW, with `g` the gradient (negated when `maximize`) and `t` the step from 1:
//!
//! ```text
//! p = p * (1 - lr * weight_decay)          (AdamW: decoupled decay)
//! g = g + weight_decay * p                 (Adam: L2 term)
//! m = b1 * m + (1 - b1) * g
//! v = b2 * v + (1 - b2) * g^2
//! v_max = max(v_max, v)                    (amsgrad; used instead of v below)
//! p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```
//!
//! Adamax replaces `v` by an infinity norm: `u = max(b2 * u, |g| + eps)`, then
//! `p = p - lr / (1 - b1^t) * m / u` (with the L2 term `g += weight_decay * p`).
//!
//! State per parameter: `step`, `exp_avg`, `exp_avg_sq` (+ `max_exp_avg_sq` with amsgrad);
//! Adamax: `step`, `exp_avg`, `exp_inf`.
//!
//! Adam and AdamW update a parameter on a GPU with the fused CUDA kernel, keeping `exp_avg`
//! and `exp_avg_sq` there; AMSGrad and Adamax run on the host only (a GPU parameter is an
//! error naming the optimizer).

use arc_core::Result;
use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::spec::Config;
use arc_core::tensor::fused::{AdamConfig, adam_update, adam_update_tensor};
use serde::Deserialize;

use super::common::{
    Slot, StateTable, check_slot, device_grads, host_only, non_negative, resolve_lr, split_by_device, unit_interval,
    update_params,
};

/// The config of `core.Adam` and `core.AdamW` (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdamFamilyConfig {
    /// Learning rate (default 1e-3; Adamax 2e-3; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Decay rates of the first and second moments, each in `[0, 1)` (default `[0.9, 0.999]`).
    #[serde(default = "default_betas")]
    betas: (f64, f64),
    /// Added to the denominator (default 1e-8).
    #[serde(default = "default_eps")]
    eps: f64,
    /// Weight decay (default 0; AdamW 1e-2, decoupled).
    weight_decay: Option<f64>,
    /// Use the running maximum of `v` (AMSGrad; default false; not for Adamax).
    #[serde(default)]
    amsgrad: bool,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}

fn default_eps() -> f64 {
    1e-8
}

/// Which member of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Adam,
    AdamW,
    Adamax,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Adam => "core.Adam",
            Variant::AdamW => "core.AdamW",
            Variant::Adamax => "core.Adamax",
        }
    }
}

/// Adam, AdamW or Adamax (`torch.optim.Adam`, `AdamW`, `Adamax`); see the module docs.
#[derive(Debug)]
pub struct Adam {
    variant: Variant,
    lr: f64,
    /// Whether the config gave `lr` (the trainer's `learning_rate` then does not replace it).
    lr_from_config: bool,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    state: StateTable,
}

impl Adam {
    /// Builds `core.Adam` (lr 1e-3, L2 weight decay 0).
    pub fn adam_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        Self::build(Variant::Adam, config).map(|o| Box::new(o) as Box<dyn Optimizer>)
    }

    /// Builds `core.AdamW` (lr 1e-3, decoupled weight decay 1e-2).
    pub fn adamw_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        Self::build(Variant::AdamW, config).map(|o| Box::new(o) as Box<dyn Optimizer>)
    }

    /// Builds `core.Adamax` (lr 2e-3, L2 weight decay 0).
    pub fn adamax_from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        Self::build(Variant::Adamax, config).map(|o| Box::new(o) as Box<dyn Optimizer>)
    }

    fn build(variant: Variant, config: &Config) -> Result<Self> {
        let name = variant.name();
        let c: AdamFamilyConfig = config.parse(name)?;
        let (lr, lr_from_config) =
            resolve_lr(name, c.lr, c.learning_rate, Some(if variant == Variant::Adamax { 2e-3 } else { 1e-3 }))?;
        unit_interval(name, "betas[0]", c.betas.0)?;
        unit_interval(name, "betas[1]", c.betas.1)?;
        non_negative(name, "eps", c.eps)?;
        let weight_decay = c.weight_decay.unwrap_or(if variant == Variant::AdamW { 1e-2 } else { 0.0 });
        non_negative(name, "weight_decay", weight_decay)?;
        if c.amsgrad && variant == Variant::Adamax {
            return Err(super::common::invalid(name, "Adamax has no `amsgrad` option".to_owned()));
        }
        let buffers = match variant {
            Variant::Adamax => vec!["exp_avg", "exp_inf"],
            _ if c.amsgrad => vec!["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
            _ => vec!["exp_avg", "exp_avg_sq"],
        };
        Ok(Adam {
            variant,
            lr,
            lr_from_config,
            beta1: c.betas.0,
            beta2: c.betas.1,
            eps: c.eps,
            weight_decay,
            amsgrad: c.amsgrad,
            maximize: c.maximize,
            state: StateTable::new(vec!["step"], buffers),
        })
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()> {
        // The state is taken out for the step so the update rules can borrow `self`.
        let mut state = std::mem::replace(&mut self.state, StateTable::new(vec![], vec![]));
        let this = &*self;
        let n_buffers = if this.amsgrad { 3 } else { 2 };
        let (host, device) = split_by_device(params);
        let result = update_params(this.variant.name(), &host, this.maximize, |name, shape, p, g| {
            let slot = state.slot(name, || Slot::new(shape, vec![0.0], n_buffers, 0.0))?;
            check_slot(name, slot, p.len())?;
            slot.scalars[0] += 1.0;
            let step = slot.scalars[0];
            match (this.variant, this.amsgrad) {
                (Variant::Adamax, _) => this.adamax(p, g, slot, step),
                (_, true) => this.amsgrad(p, g, slot, step),
                (variant, false) => {
                    let config = AdamConfig {
                        lr: this.lr as f32,
                        beta1: this.beta1 as f32,
                        beta2: this.beta2 as f32,
                        eps: this.eps as f32,
                        weight_decay: this.weight_decay as f32,
                        decoupled_weight_decay: variant == Variant::AdamW,
                    };
                    let [m, v] = &mut slot.buffers[..] else { unreachable!("Adam keeps two buffers") };
                    adam_update(p, g, m, v, step as u64, &config)
                }
            }
        })
        .and_then(|()| this.device_step(&mut state, &device));
        self.state = state;
        result
    }

    per_parameter_state_accessors!();
}

impl Adam {
    /// The fused Adam / AdamW config.
    fn fused_config(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            eps: self.eps as f32,
            weight_decay: self.weight_decay as f32,
            decoupled_weight_decay: self.variant == Variant::AdamW,
        }
    }

    /// Adam / AdamW on GPU parameters: the CUDA kernel, with the moments kept on the device.
    fn device_step(&self, state: &mut StateTable, params: &[(&str, &Param)]) -> Result<()> {
        let config = self.fused_config();
        for (name, param, value, grad) in device_grads(params, self.maximize)? {
            if self.variant == Variant::Adamax || self.amsgrad {
                return Err(host_only(self.variant.name(), name, value.device()));
            }
            let slot = state.device_slot(name, &value)?;
            let [m, v] = &slot.buffers[..] else {
                return Err(host_only(self.variant.name(), name, value.device()));
            };
            let step = slot.scalars[0] + 1.0;
            let (new_value, m, v) = adam_update_tensor(&value, &grad, m, v, step as u64, &config)?;
            slot.scalars[0] = step;
            slot.buffers = vec![m, v];
            param.set(new_value)?;
        }
        Ok(())
    }

    /// Adam / AdamW with AMSGrad, element by element in PyTorch's order.
    fn amsgrad(&self, p: &mut [f32], g: &[f32], slot: &mut Slot, step: f64) -> Result<()> {
        let (b1, b2) = (self.beta1, self.beta2);
        let step_size = (self.lr / (1.0 - b1.powf(step))) as f32;
        let bc2_sqrt = ((1.0 - b2.powf(step)).sqrt()) as f32;
        let decoupled = self.variant == Variant::AdamW;
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        let (wd, eps) = (self.weight_decay as f32, self.eps as f32);
        let (b1, b2) = (b1 as f32, b2 as f32);
        let [m, v, v_max] = &mut slot.buffers[..] else { unreachable!("AMSGrad keeps three buffers") };
        for i in 0..p.len() {
            let mut g = g[i];
            if decoupled {
                p[i] *= decay;
            } else {
                g += wd * p[i];
            }
            m[i] += (1.0 - b1) * (g - m[i]);
            v[i] = v[i] * b2 + (1.0 - b2) * g * g;
            v_max[i] = v_max[i].max(v[i]);
            let denom = v_max[i].sqrt() / bc2_sqrt + eps;
            p[i] -= step_size * m[i] / denom;
        }
        Ok(())
    }

    /// Adamax, element by element in PyTorch's order.
    fn adamax(&self, p: &mut [f32], g: &[f32], slot: &mut Slot, step: f64) -> Result<()> {
        let clr = (self.lr / (1.0 - self.beta1.powf(step))) as f32;
        let (b1, b2, wd, eps) = (self.beta1 as f32, self.beta2 as f32, self.weight_decay as f32, self.eps as f32);
        let [m, u] = &mut slot.buffers[..] else { unreachable!("Adamax keeps two buffers") };
        for i in 0..p.len() {
            let g = g[i] + wd * p[i];
            m[i] += (1.0 - b1) * (g - m[i]);
            u[i] = (u[i] * b2).max(g.abs() + eps);
            p[i] -= clr * (m[i] / u[i]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_near, build, scalar_param, step};
    use super::*;

    #[test]
    fn the_first_step_moves_by_lr() -> Result<()> {
        // Step 1: m / (1 - b1) = g and sqrt(v / (1 - b2)) = |g|, so p -= lr * g / (|g| + eps):
        // p = 1 - 0.1 = 0.9 (to eps / |g| = 2e-8 relative). AMSGrad's max(v) = v on step 1.
        // Adamax: u = |g| + eps and m / (1 - b1) = g, the same move.
        for (factory, yaml) in [
            (Adam::adam_from_config as super::super::Constructor, "lr: 0.1"),
            (Adam::adam_from_config, "lr: 0.1\namsgrad: true"),
            (Adam::adamax_from_config, "lr: 0.1"),
        ] {
            let mut opt = build(factory, yaml)?;
            let p = scalar_param(1.0)?;
            assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.9, 1e-6);
        }
        // AdamW decays first: p = 1 * (1 - 0.1 * 0.1) - 0.1 = 0.89.
        let mut opt = build(Adam::adamw_from_config, "lr: 0.1\nweight_decay: 0.1")?;
        let p = scalar_param(1.0)?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.89, 1e-6);
        Ok(())
    }

    /// The GPU path's logic (moments as tensors, the tensor-level update), run on host
    /// tensors, against the host path; AMSGrad and Adamax refuse it.
    #[test]
    fn the_device_path_matches_the_host_path() -> Result<()> {
        for (variant, yaml) in [(Variant::Adam, "lr: 0.1\nweight_decay: 0.1"), (Variant::AdamW, "maximize: true")] {
            let config = Config::from_yaml(yaml)?;
            let (mut host, dev) = (Adam::build(variant, &config)?, Adam::build(variant, &config)?);
            let mut dev_state = StateTable::new(vec!["step"], vec!["exp_avg", "exp_avg_sq"]);
            let (a, b) = (scalar_param(1.0)?, scalar_param(1.0)?);
            for g in [0.5, -0.25, 1.0] {
                for p in [&a, &b] {
                    p.zero_grad();
                    p.value().mul_scalar(g)?.sum_all()?.backward()?;
                }
                host.step(&[("p", &a)])?;
                dev.device_step(&mut dev_state, &[("p", &b)])?;
                assert_near(b.value().item()?, f64::from(a.value().item()?), 1e-6);
            }
            assert_eq!(host.state().scalars, dev_state.to_state().scalars);
        }
        let amsgrad = Adam::build(Variant::Adam, &Config::from_yaml("amsgrad: true")?)?;
        let p = scalar_param(1.0)?;
        p.value().sum_all()?.backward()?;
        let mut state = StateTable::new(vec!["step"], vec![]);
        let err = amsgrad.device_step(&mut state, &[("p", &p)]).unwrap_err();
        assert!(err.to_string().contains("core.Adam"), "{err}");
        Ok(())
    }
}
