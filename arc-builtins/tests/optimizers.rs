//! The built-in optimizers against PyTorch 2.15 (fixtures written by
//! `scripts/reference/optimizers.py`), their config errors and their checkpoint state.
//!
//! The first-order fixtures train a tiny MLP (fc1: 4 -> 5, tanh, fc2: 5 -> 3, MSE) for 5
//! steps; the test feeds torch's gradient `G` of each step exactly, as the gradient of
//! `sum(p * G)` (d/dp sum(p * G) = G), so only the update rule is compared. LBFGS
//! re-evaluates the loss, so its closure computes, with Arc's ops, the fixture's objective
//! `f = sum_i 0.5 a_i p_i^2 + b_i p_i + c p_i^4` over the same four parameter shapes (well
//! conditioned, unlike the MLP: see the generator's docstring).
//! Tolerance: parameters, state and losses match to 1e-4 relative (1e-6 absolute near 0).
#![cfg(feature = "optimizers")]

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;

use arc_builtins::BuiltinOptimizerPlugin;
use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::plugin::{ComponentKind, OptimizerHookSpec, PluginManager};
use arc_core::spec::Config;
use arc_core::{Result, Tensor};
use serde::Deserialize;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-6;

#[derive(Debug, Deserialize)]
struct Fixture {
    case: String,
    optimizer: String,
    config: serde_json::Value,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    initial: Vec<Vec<f32>>,
    /// LBFGS's objective: `a`, `b` per parameter and the quartic coefficient `c`.
    #[serde(default)]
    a: Vec<Vec<f32>>,
    #[serde(default)]
    b: Vec<Vec<f32>>,
    #[serde(default)]
    quartic: f32,
    steps: Vec<Step>,
    #[serde(default)]
    state: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Step {
    loss: f64,
    #[serde(default)]
    grads: Vec<Vec<f32>>,
    params: Vec<Vec<f32>>,
}

const CASES: [&str; 24] = [
    "sgd",
    "sgd_momentum_dampening_wd",
    "sgd_nesterov",
    "sgd_maximize",
    "adam",
    "adam_wd_amsgrad",
    "adam_maximize",
    "adamw",
    "adamw_amsgrad",
    "rmsprop",
    "rmsprop_momentum",
    "rmsprop_centered_momentum",
    "rmsprop_centered",
    "adagrad",
    "adagrad_decay_wd",
    "adadelta",
    "adadelta_wd",
    "adamax",
    "adamax_wd",
    "asgd",
    "asgd_averaging",
    "lbfgs",
    "lbfgs_short_history",
    "lbfgs_strong_wolfe",
];

fn load(case: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/optimizers/{case}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinOptimizerPlugin, "builtin_optimizers").expect("a fresh manager takes the plugin");
    pm.refresh_registries().expect("the built-in optimizers register without clashes");
    pm
}

fn build(pm: &PluginManager, name: &str, config: &Config) -> Result<Box<dyn Optimizer>> {
    pm.get_optimizer(name)?.create(config)
}

fn assert_close(got: &[f32], want: &[f32], rtol: f64, atol: f64, what: &str) {
    support::assert_close(what, got, want, rtol, atol);
}

/// The fixture's problem: the parameters and, for LBFGS, the objective's coefficients.
struct Problem {
    names: Vec<String>,
    params: Vec<Param>,
    a: Vec<Tensor>,
    b: Vec<Tensor>,
    quartic: f32,
}

impl Problem {
    fn new(f: &Fixture) -> Result<Self> {
        let params = f
            .initial
            .iter()
            .zip(&f.shapes)
            .map(|(v, s)| Param::new(Tensor::from_vec(v.clone(), s)?))
            .collect::<Result<Vec<_>>>()?;
        let coefficients = |c: &[Vec<f32>]| -> Result<Vec<Tensor>> {
            c.iter().zip(&f.shapes).map(|(v, s)| Tensor::from_vec(v.clone(), s)).collect()
        };
        Ok(Problem {
            names: f.names.clone(),
            params,
            a: coefficients(&f.a)?,
            b: coefficients(&f.b)?,
            quartic: f.quartic,
        })
    }

    fn named(&self) -> Vec<(&str, &Param)> {
        self.names.iter().map(String::as_str).zip(&self.params).collect()
    }

    /// Sets each parameter's gradient to `grads` exactly, through `sum(p * G)`.
    fn feed(&self, grads: &[Vec<f32>]) -> Result<()> {
        let mut total: Option<Tensor> = None;
        for (p, g) in self.params.iter().zip(grads) {
            p.zero_grad();
            let term = p.value().mul(&Tensor::from_vec(g.clone(), &p.shape())?)?.sum_all()?;
            total = Some(match total {
                Some(t) => t.add(&term)?,
                None => term,
            });
        }
        total.expect("the MLP has parameters").backward()
    }

    /// LBFGS's closure: `sum_i 0.5 a_i p_i^2 + b_i p_i + c p_i^4` over all parameters,
    /// after backward.
    fn loss(&self) -> Result<Tensor> {
        let mut loss = Tensor::scalar(0.0);
        for ((param, a), b) in self.params.iter().zip(&self.a).zip(&self.b) {
            param.zero_grad();
            let p = param.value();
            let quadratic = p.square()?.mul(a)?.mul_scalar(0.5)?;
            let terms = quadratic.add(&b.mul(&p)?)?.add(&p.powf(4.0)?.mul_scalar(self.quartic)?)?;
            loss = loss.add(&terms.sum_all()?)?;
        }
        loss.backward()?;
        Ok(loss)
    }

    fn values(&self) -> Result<Vec<Vec<f32>>> {
        self.params.iter().map(|p| p.value().to_vec()).collect()
    }
}

/// Runs steps `range` of the fixture; returns the losses LBFGS reported.
fn run_steps(
    f: &Fixture,
    problem: &Problem,
    opt: &mut dyn Optimizer,
    range: std::ops::Range<usize>,
) -> Result<Vec<f64>> {
    let mut losses = Vec::new();
    for k in range {
        if f.optimizer == "LBFGS" {
            let loss = opt.step_with_closure(&problem.named(), &mut || problem.loss())?;
            losses.push(loss.item()? as f64);
        } else {
            problem.feed(&f.steps[k].grads)?;
            opt.step(&problem.named())?;
        }
    }
    Ok(losses)
}

#[test]
fn every_optimizer_matches_pytorch_over_five_steps() -> Result<()> {
    let pm = manager();
    for case in CASES {
        let f = load(case);
        let problem = Problem::new(&f)?;
        let mut opt = build(&pm, &f.optimizer, &Config::from_value(&f.config)?)?;
        for (k, step) in f.steps.iter().enumerate() {
            let losses = run_steps(&f, &problem, opt.as_mut(), k..k + 1)?;
            if let Some(&loss) = losses.first() {
                assert_close(&[loss as f32], &[step.loss as f32], RTOL, ATOL, &format!("{case} step {k} loss"));
            }
            for ((got, want), name) in problem.values()?.iter().zip(&step.params).zip(&f.names) {
                assert_close(got, want, RTOL, ATOL, &format!("{case} step {} {name}", k + 1));
            }
        }
        // The state after 5 steps, under PyTorch's state names.
        let state = opt.state();
        for (key, want) in &f.state {
            match want {
                serde_json::Value::Number(n) => {
                    let got = *state.scalars.get(key).unwrap_or_else(|| panic!("{case}: no scalar `{key}`"));
                    let want = n.as_f64().expect("a JSON number");
                    assert_close(&[got as f32], &[want as f32], RTOL, ATOL, &format!("{case} {key}"));
                }
                value => {
                    let want: Vec<f32> = serde_json::from_value(value.clone()).expect("a list of floats");
                    let got = state.tensors.get(key).unwrap_or_else(|| panic!("{case}: no tensor `{key}`")).to_vec()?;
                    assert_close(&got, &want, RTOL, ATOL, &format!("{case} {key}"));
                }
            }
        }
        let keys = state.scalars.len() + state.tensors.len();
        if f.optimizer != "LBFGS" {
            assert_eq!(keys, f.state.len(), "{case}: state entries {:?}", state.scalars.keys());
        }
        println!("{}: {} steps match", f.case, f.steps.len());
    }
    Ok(())
}

fn same_state(a: &OptimizerState, b: &OptimizerState) -> Result<bool> {
    let tensors = |s: &OptimizerState| -> Result<Vec<(String, Vec<f32>)>> {
        s.tensors.iter().map(|(k, t)| Ok((k.clone(), t.to_vec()?))).collect()
    };
    Ok(a.scalars == b.scalars && tensors(a)? == tensors(b)?)
}

#[test]
fn state_round_trips_exactly_two_plus_three_steps_equal_five() -> Result<()> {
    let pm = manager();
    for case in CASES {
        let f = load(case);
        let config = Config::from_value(&f.config)?;
        // Five uninterrupted steps.
        let straight = Problem::new(&f)?;
        let mut opt = build(&pm, &f.optimizer, &config)?;
        run_steps(&f, &straight, opt.as_mut(), 0..5)?;
        // Two steps, a checkpoint, a fresh optimizer loaded from it, three more steps.
        let resumed = Problem::new(&f)?;
        let mut first = build(&pm, &f.optimizer, &config)?;
        run_steps(&f, &resumed, first.as_mut(), 0..2)?;
        let saved = first.state();
        let mut second = build(&pm, &f.optimizer, &config)?;
        second.load_state(saved.clone())?;
        assert!(same_state(&second.state(), &saved)?, "{case}: state() after load_state");
        run_steps(&f, &resumed, second.as_mut(), 2..5)?;
        assert_eq!(resumed.values()?, straight.values()?, "{case}: parameters");
        assert!(same_state(&second.state(), &opt.state())?, "{case}: final state");
    }
    Ok(())
}

#[test]
fn load_state_rejects_foreign_state() -> Result<()> {
    let pm = manager();
    let f = load("adam");
    let problem = Problem::new(&f)?;
    let mut sgd = build(&pm, "SGD", &Config::from_yaml("lr: 0.1\nmomentum: 0.9")?)?;
    problem.feed(&f.steps[0].grads)?;
    sgd.step(&problem.named())?;
    let mut adam = build(&pm, "Adam", &Config::new())?;
    let err = adam.load_state(sgd.state()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "op `load_state`: argument `state` = `fc1.bias.momentum_buffer` (an unknown tensor) is invalid: \
         expected the state saved by the same optimizer type and config"
    );
    // A loaded buffer of the wrong size is caught at the next step, not silently used.
    let mut state = OptimizerState::default();
    state.scalars.insert("fc1.bias.step".into(), 1.0);
    state.tensors.insert("fc1.bias.exp_avg".into(), Tensor::zeros(&[2]));
    state.tensors.insert("fc1.bias.exp_avg_sq".into(), Tensor::zeros(&[2]));
    adam.load_state(state)?;
    problem.feed(&f.steps[0].grads)?;
    assert!(adam.step(&problem.named()).is_err());
    Ok(())
}

#[test]
fn lbfgs_needs_a_closure() -> Result<()> {
    let pm = manager();
    let f = load("lbfgs");
    let problem = Problem::new(&f)?;
    let mut opt = build(&pm, "LBFGS", &Config::new())?;
    problem.loss()?;
    let err = opt.step(&problem.named()).unwrap_err();
    assert!(err.to_string().contains("call `step_with_closure`"), "{err}");
    Ok(())
}

#[test]
fn defaults_follow_pytorch() -> Result<()> {
    let pm = manager();
    for (name, lr) in [
        ("SGD", 1e-3),
        ("Adam", 1e-3),
        ("AdamW", 1e-3),
        ("RMSprop", 1e-2),
        ("Adagrad", 1e-2),
        ("Adadelta", 1.0),
        ("Adamax", 2e-3),
        ("ASGD", 1e-2),
        ("LBFGS", 1.0),
    ] {
        let mut opt = build(&pm, name, &Config::new())?;
        assert_eq!(opt.learning_rate(), lr, "{name}");
        opt.set_learning_rate(0.5);
        assert_eq!(opt.learning_rate(), 0.5, "{name}");
        // The trainer's learning rate reaches an optimizer whose config gave none ...
        let mut opt = build(&pm, name, &Config::new())?;
        opt.use_trainer_learning_rate(0.25);
        assert_eq!(opt.learning_rate(), 0.25, "{name}");
        // ... and not one whose config gave its own, in either spelling.
        for key in ["lr", "learning_rate"] {
            let mut opt = build(&pm, name, &Config::new().with(key, 0.125)?)?;
            opt.use_trainer_learning_rate(0.25);
            assert_eq!(opt.learning_rate(), 0.125, "{name} {key}");
        }
    }
    Ok(())
}

#[test]
fn bad_configs_are_rejected_with_clear_messages() -> Result<()> {
    let pm = manager();
    let cases = [
        ("SGD", "lr: -0.1", "core.SGD: invalid config: `lr` = -0.1: expected a finite value >= 0"),
        (
            "SGD",
            "lr: 0.1\nlearning_rate: 0.1",
            "core.SGD: invalid config: give either `lr` or `learning_rate`, not both",
        ),
        ("SGD", "lr: 0.1\nmomentum: 1.0", "core.SGD: invalid config: `momentum` = 1: expected a value in [0, 1)"),
        ("SGD", "lr: 0.1\nmomentum: -0.5", "core.SGD: invalid config: `momentum` = -0.5: expected a value in [0, 1)"),
        (
            "SGD",
            "lr: 0.1\nnesterov: true",
            "core.SGD: invalid config: Nesterov momentum requires a momentum and zero dampening",
        ),
        (
            "SGD",
            "lr: 0.1\nweight_decay: -1",
            "core.SGD: invalid config: `weight_decay` = -1: expected a finite value >= 0",
        ),
        ("SGD", "lr: 0.1\nmomentom: 0.9", "core.SGD: unknown parameter `momentom` (did you mean `momentum`?)"),
        ("Adam", "betas: [0.9, 1.0]", "core.Adam: invalid config: `betas[1]` = 1: expected a value in [0, 1)"),
        ("Adam", "betas: [-0.1, 0.999]", "core.Adam: invalid config: `betas[0]` = -0.1: expected a value in [0, 1)"),
        ("Adam", "eps: -1e-8", "core.Adam: invalid config: `eps` = -0.00000001: expected a finite value >= 0"),
        (
            "AdamW",
            "weight_decay: -0.01",
            "core.AdamW: invalid config: `weight_decay` = -0.01: expected a finite value >= 0",
        ),
        ("Adamax", "amsgrad: true", "core.Adamax: invalid config: Adamax has no `amsgrad` option"),
        ("RMSprop", "alpha: 1.5", "core.RMSprop: invalid config: `alpha` = 1.5: expected a value in [0, 1)"),
        ("RMSprop", "momentum: 1.0", "core.RMSprop: invalid config: `momentum` = 1: expected a value in [0, 1)"),
        ("Adagrad", "lr_decay: -1", "core.Adagrad: invalid config: `lr_decay` = -1: expected a finite value >= 0"),
        (
            "Adagrad",
            "initial_accumulator_value: -0.1",
            "core.Adagrad: invalid config: `initial_accumulator_value` = -0.1: expected a finite value >= 0",
        ),
        ("Adadelta", "rho: 1.5", "core.Adadelta: invalid config: `rho` = 1.5: expected a value in [0, 1]"),
        ("ASGD", "lambd: -1", "core.ASGD: invalid config: `lambd` = -1: expected a finite value >= 0"),
        (
            "LBFGS",
            "line_search_fn: backtracking",
            "core.LBFGS: invalid config: `line_search_fn` = `backtracking`: expected `strong_wolfe` or none",
        ),
        ("LBFGS", "history_size: 0", "core.LBFGS: invalid config: `max_iter` and `history_size` must be at least 1"),
        ("LBFGS", "learning_rate: -1", "core.LBFGS: invalid config: `lr` = -1: expected a finite value >= 0"),
    ];
    for (name, yaml, message) in cases {
        let config = Config::from_yaml(yaml)?;
        let err = build(&pm, name, &config).err().unwrap_or_else(|| panic!("{name} accepted `{yaml}`"));
        assert_eq!(err.to_string(), message, "{name} `{yaml}`");
        assert!(!pm.validate_component_config(ComponentKind::Optimizer, name, &config)?, "{name} `{yaml}`");
    }
    Ok(())
}

#[test]
fn validate_answers_only_for_its_own_optimizers() -> Result<()> {
    let pm = manager();
    let good = Config::from_yaml("lr: 0.1\nmomentum: 0.9\nnesterov: true")?;
    assert!(pm.validate_component_config(ComponentKind::Optimizer, "SGD", &good)?);
    assert!(pm.validate_component_config(ComponentKind::Optimizer, "core.SGD", &good)?);
    let plugin = BuiltinOptimizerPlugin;
    assert_eq!(plugin.validate_optimizer_config("core.SGD", &good), Some(true));
    assert_eq!(plugin.validate_optimizer_config("core.Linear", &good), None);
    assert_eq!(plugin.validate_optimizer_config("other.SGD", &good), None);
    let names: Vec<String> = pm.get_optimizers().into_iter().map(|(name, _)| name).collect();
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "ASGD", "LBFGS"] {
        assert!(names.contains(&format!("core.{name}")), "{name} in {names:?}");
    }
    Ok(())
}

#[test]
fn parameters_without_gradients_are_skipped() -> Result<()> {
    let pm = manager();
    let w = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2])?)?;
    let mut opt = build(&pm, "Adam", &Config::new())?;
    opt.step(&[("w", &w)])?;
    assert_eq!(w.value().to_vec()?, [1.0, 2.0]);
    assert!(opt.state().tensors.is_empty(), "no state for a parameter never stepped");
    Ok(())
}
