//! `core.SGD`: stochastic gradient descent with momentum, as `torch.optim.SGD`.
//!
//! With `g` the gradient (negated when `maximize`), each step does
//!
//! ```text
//! g = g + weight_decay * p
//! b = g                                          (first step)
//! b = momentum * b + (1 - dampening) * g         (later steps)
//! g = g + momentum * b  (nesterov)   or   g = b  (momentum > 0)
//! p = p - lr * g
//! ```
//!
//! State per parameter (momentum > 0 only): `momentum_buffer`. A parameter on a GPU keeps it
//! there and is updated by the fused CUDA kernel.

use arc_core::Result;
use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::spec::Config;
use arc_core::tensor::fused::{SgdConfig as FusedSgd, sgd_update, sgd_update_tensor};
use serde::Deserialize;

use super::common::{
    Slot, StateTable, check_slot, closed_unit_interval, device_grads, invalid, non_negative, resolve_lr,
    split_by_device, unit_interval, update_params,
};

const NAME: &str = "core.SGD";

/// `core.SGD`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SgdConfig {
    /// Learning rate (default 1e-3, PyTorch 2's; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Momentum factor in `[0, 1)` (default 0).
    #[serde(default)]
    momentum: f64,
    /// Dampening of the momentum's gradient term, in `[0, 1]` (default 0).
    #[serde(default)]
    dampening: f64,
    /// L2 penalty added to the gradient (default 0).
    #[serde(default)]
    weight_decay: f64,
    /// Nesterov momentum; needs `momentum > 0` and `dampening = 0` (default false).
    #[serde(default)]
    nesterov: bool,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

/// Stochastic gradient descent (`torch.optim.SGD`); see the module docs for the update.
#[derive(Debug)]
pub struct Sgd {
    lr: f64,
    /// Whether the config gave `lr` (the trainer's `learning_rate` then does not replace it).
    lr_from_config: bool,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
    state: StateTable,
}

impl Sgd {
    /// Builds SGD from its config, rejecting values PyTorch rejects.
    pub fn from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        let c: SgdConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1e-3))?;
        unit_interval(NAME, "momentum", c.momentum)?;
        closed_unit_interval(NAME, "dampening", c.dampening)?;
        non_negative(NAME, "weight_decay", c.weight_decay)?;
        if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
            return Err(invalid(NAME, "Nesterov momentum requires a momentum and zero dampening".to_owned()));
        }
        Ok(Box::new(Sgd {
            lr,
            lr_from_config,
            momentum: c.momentum,
            dampening: c.dampening,
            weight_decay: c.weight_decay,
            nesterov: c.nesterov,
            maximize: c.maximize,
            state: StateTable::new(vec![], vec!["momentum_buffer"]),
        }))
    }
}

impl Optimizer for Sgd {
    /// A momentum buffer per element, with momentum; nothing without.
    fn state_per_parameter(&self) -> usize {
        usize::from(self.momentum != 0.0)
    }

    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()> {
        let config = FusedSgd {
            lr: self.lr as f32,
            momentum: self.momentum as f32,
            dampening: self.dampening as f32,
            weight_decay: self.weight_decay as f32,
            nesterov: self.nesterov,
        };
        let state = &mut self.state;
        let (host, device) = split_by_device(params);
        update_params(NAME, &host, self.maximize, |name, shape, p, g| {
            if config.momentum == 0.0 {
                return sgd_update(p, g, &mut [], &config, true);
            }
            // PyTorch starts the buffer as a copy of the first step's gradient.
            let first_step = !state.contains(name);
            let slot = state.slot(name, || Slot::new(shape, vec![], 1, 0.0))?;
            check_slot(name, slot, p.len())?;
            sgd_update(p, g, &mut slot.buffers[0], &config, first_step)
        })?;
        device_step(state, &device, self.maximize, &config)
    }

    per_parameter_state_accessors!();
}

/// SGD on GPU parameters: the CUDA kernel, the momentum buffer kept on the device.
fn device_step(state: &mut StateTable, params: &[(&str, &Param)], maximize: bool, config: &FusedSgd) -> Result<()> {
    for (name, param, value, grad) in device_grads(params, maximize)? {
        if config.momentum == 0.0 {
            param.set(sgd_update_tensor(&value, &grad, None, config, true)?.0)?;
            continue;
        }
        let first_step = !state.contains(name);
        let slot = state.device_slot(name, &value)?;
        let (new_value, buffer) = sgd_update_tensor(&value, &grad, slot.buffers.first(), config, first_step)?;
        slot.buffers = buffer.into_iter().collect();
        param.set(new_value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_near, build, scalar_param, step};
    use super::*;

    #[test]
    fn momentum_starts_from_the_first_gradient() -> Result<()> {
        // p = 1, g = 0.5, lr 0.1, momentum 0.9: step 1 b = 0.5, p = 0.95;
        // step 2 b = 0.9 * 0.5 + 0.5 = 0.95, p = 0.95 - 0.095 = 0.855.
        let mut opt = build(Sgd::from_config, "lr: 0.1\nmomentum: 0.9")?;
        let p = scalar_param(1.0)?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.95, 1e-7);
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 0.855, 1e-7);
        // maximize ascends: p = 1 + 0.1 * 0.5.
        let mut opt = build(Sgd::from_config, "learning_rate: 0.1\nmaximize: true")?;
        let p = scalar_param(1.0)?;
        assert_near(step(opt.as_mut(), &p, &[0.5])?[0], 1.05, 1e-7);
        Ok(())
    }

    /// The GPU path's logic (state as tensors, the tensor-level update), run on host
    /// tensors, against the host path.
    #[test]
    fn the_device_path_matches_the_host_path() -> Result<()> {
        let config = FusedSgd { lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.01, nesterov: false };
        for maximize in [false, true] {
            let (mut host, mut dev) = (StateTable::new(vec![], vec!["momentum_buffer"]), {
                StateTable::new(vec![], vec!["momentum_buffer"])
            });
            let (a, b) = (scalar_param(1.0)?, scalar_param(1.0)?);
            for g in [0.5, -0.25, 1.0] {
                for p in [&a, &b] {
                    p.zero_grad();
                    p.value().mul_scalar(g)?.sum_all()?.backward()?;
                }
                update_params(NAME, &[("p", &a)], maximize, |name, shape, p, g| {
                    let first_step = !host.contains(name);
                    let slot = host.slot(name, || Slot::new(shape, vec![], 1, 0.0))?;
                    sgd_update(p, g, &mut slot.buffers[0], &config, first_step)
                })?;
                device_step(&mut dev, &[("p", &b)], maximize, &config)?;
                assert_near(b.value().item()?, f64::from(a.value().item()?), 1e-7);
            }
            assert_eq!(host.to_state().tensors["p.momentum_buffer"].to_vec()?, {
                dev.to_state().tensors["p.momentum_buffer"].to_vec()?
            });
        }
        Ok(())
    }
}
