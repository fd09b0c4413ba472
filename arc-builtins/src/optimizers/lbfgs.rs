//! `core.LBFGS`: limited-memory BFGS, as `torch.optim.LBFGS` (after minFunc).
//!
//! One `step_with_closure` runs up to `max_iter` iterations over the parameters flattened in
//! the order given. Each iteration turns the gradient into a direction with the two-loop
//! recursion over the last `history_size` pairs `(s, y)` (Nocedal and Wright, alg. 7.4),
//! then moves by `t` along it: a fixed `t = lr` (the first iteration of all uses
//! `min(1, 1 / |g|_1) * lr`), or the step a strong-Wolfe line search finds
//! (`line_search_fn: strong_wolfe`, see [`super::line_search`]). It stops early on a
//! small gradient (`tolerance_grad`), a small change (`tolerance_change`) or `max_eval`
//! closure evaluations. `step` without a closure is an error.
//!
//! The state is global, not per parameter (checkpoint names without a parameter prefix):
//! scalars `func_evals`, `n_iter`, `t`, `H_diag`, `prev_loss`; tensors `d`,
//! `prev_flat_grad`, `ro`, and `old_dirs.<i>`, `old_stps.<i>` for each history pair.

use std::collections::VecDeque;

use arc_core::nn::{Optimizer, OptimizerState, Param};
use arc_core::spec::Config;
use arc_core::{Error, Result, Tensor};
use serde::Deserialize;

use super::common::{invalid, non_negative, resolve_lr};
use super::line_search::{LineSearch, strong_wolfe};

const NAME: &str = "core.LBFGS";

/// `core.LBFGS`'s config (PyTorch's names and defaults).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LbfgsConfig {
    /// Learning rate (default 1; alias `learning_rate`).
    lr: Option<f64>,
    /// Alias of `lr`.
    learning_rate: Option<f64>,
    /// Iterations per step (default 20).
    #[serde(default = "default_max_iter")]
    max_iter: u64,
    /// Closure evaluations per step (default `max_iter * 5 / 4`).
    max_eval: Option<u64>,
    /// Stop when the gradient's largest magnitude is at most this (default 1e-7).
    #[serde(default = "default_tolerance_grad")]
    tolerance_grad: f64,
    /// Stop when the step or the loss changes by less than this (default 1e-9).
    #[serde(default = "default_tolerance_change")]
    tolerance_change: f64,
    /// Pairs of the history (default 100).
    #[serde(default = "default_history_size")]
    history_size: usize,
    /// `strong_wolfe`, or none for a fixed step (default none).
    line_search_fn: Option<String>,
    /// Ascend the objective instead (default false).
    #[serde(default)]
    maximize: bool,
}

fn default_max_iter() -> u64 {
    20
}
fn default_tolerance_grad() -> f64 {
    1e-7
}
fn default_tolerance_change() -> f64 {
    1e-9
}
fn default_history_size() -> usize {
    100
}

/// The directions and curvature pairs carried between steps.
#[derive(Clone, Debug)]
struct History {
    d: Vec<f32>,
    t: f32,
    old_dirs: VecDeque<Vec<f32>>,
    old_stps: VecDeque<Vec<f32>>,
    ro: VecDeque<f32>,
    h_diag: f32,
    prev_flat_grad: Vec<f32>,
    prev_loss: f64,
}

/// Limited-memory BFGS (`torch.optim.LBFGS`); see the module docs.
#[derive(Debug)]
pub struct Lbfgs {
    lr: f64,
    /// Whether the config gave `lr` (the trainer's `learning_rate` then does not replace it).
    lr_from_config: bool,
    max_iter: u64,
    max_eval: u64,
    tolerance_grad: f64,
    tolerance_change: f64,
    history_size: usize,
    line_search: bool,
    maximize: bool,
    func_evals: u64,
    n_iter: u64,
    history: Option<History>,
}

impl Lbfgs {
    /// Builds LBFGS from its config.
    pub fn from_config(config: &Config) -> Result<Box<dyn Optimizer>> {
        let c: LbfgsConfig = config.parse(NAME)?;
        let (lr, lr_from_config) = resolve_lr(NAME, c.lr, c.learning_rate, Some(1.0))?;
        non_negative(NAME, "tolerance_grad", c.tolerance_grad)?;
        non_negative(NAME, "tolerance_change", c.tolerance_change)?;
        if c.max_iter == 0 || c.history_size == 0 {
            return Err(invalid(NAME, "`max_iter` and `history_size` must be at least 1".to_owned()));
        }
        let line_search = match c.line_search_fn.as_deref() {
            None => false,
            Some("strong_wolfe") => true,
            Some(other) => {
                return Err(invalid(NAME, format!("`line_search_fn` = `{other}`: expected `strong_wolfe` or none")));
            }
        };
        Ok(Box::new(Lbfgs {
            lr,
            lr_from_config,
            max_iter: c.max_iter,
            max_eval: c.max_eval.unwrap_or(c.max_iter * 5 / 4),
            tolerance_grad: c.tolerance_grad,
            tolerance_change: c.tolerance_change,
            history_size: c.history_size,
            line_search,
            maximize: c.maximize,
            func_evals: 0,
            n_iter: 0,
            history: None,
        }))
    }
}

/// `sum a_i b_i`, accumulated in f64 and rounded to f32 (PyTorch's f32 `dot`).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() as f32
}

/// `max |a_i|`.
pub(crate) fn abs_max(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// The parameters' gradients, flattened in order (zeros where a parameter has none);
/// negated with `maximize`.
pub(crate) fn flat_grad(params: &[(&str, &Param)], maximize: bool) -> Result<Vec<f32>> {
    let mut flat = Vec::new();
    for (_, param) in params {
        match param.grad() {
            Some(g) => flat.extend(g.to_vec()?),
            None => flat.extend(std::iter::repeat_n(0.0, param.shape().iter().product())),
        }
    }
    if maximize {
        flat.iter_mut().for_each(|x| *x = -*x);
    }
    Ok(flat)
}

/// `p += t * d` over the flattened parameters (each stays on its device: LBFGS keeps its
/// history on the host and copies a GPU parameter through it at each evaluation).
pub(crate) fn add_to_params(params: &[(&str, &Param)], t: f32, d: &[f32]) -> Result<()> {
    let mut offset = 0;
    for (_, param) in params {
        let value = param.value();
        let mut data = value.to_vec()?;
        let Some(slice) = d.get(offset..offset + data.len()) else {
            return Err(Error::ShapeMismatch { op: "LBFGS step", lhs: vec![d.len()], rhs: vec![offset + data.len()] });
        };
        data.iter_mut().zip(slice).for_each(|(p, &x)| *p += t * x);
        offset += data.len();
        param.set(Tensor::from_vec(data, value.shape())?.to_device(value.device())?)?;
    }
    Ok(())
}

/// Runs the closure; returns the loss as f64 (negated with `maximize`) and the first loss.
pub(crate) fn evaluate(closure: &mut dyn FnMut() -> Result<Tensor>, maximize: bool) -> Result<(Tensor, f64)> {
    let loss = closure()?;
    let value = loss.item()? as f64;
    Ok((loss, if maximize { -value } else { value }))
}

impl Optimizer for Lbfgs {
    fn step(&mut self, _params: &[(&str, &Param)]) -> Result<()> {
        Err(Error::InvalidArgument {
            op: "LBFGS step",
            name: "closure",
            value: "none".to_owned(),
            expected: "a closure that re-evaluates the loss: call `step_with_closure`",
        })
    }

    /// PyTorch's `LBFGS.step(closure)`, line for line.
    fn step_with_closure(
        &mut self,
        params: &[(&str, &Param)],
        closure: &mut dyn FnMut() -> Result<Tensor>,
    ) -> Result<Tensor> {
        let (orig_loss, mut loss) = evaluate(closure, self.maximize)?;
        if params.is_empty() {
            return Ok(orig_loss);
        }
        let lr = self.lr as f32;
        let mut current_evals = 1;
        self.func_evals += 1;
        let mut flat = flat_grad(params, self.maximize)?;
        if abs_max(&flat) as f64 <= self.tolerance_grad {
            return Ok(orig_loss);
        }
        let mut h = self.history.take().unwrap_or_else(|| History {
            d: Vec::new(),
            t: 0.0,
            old_dirs: VecDeque::new(),
            old_stps: VecDeque::new(),
            ro: VecDeque::new(),
            h_diag: 1.0,
            prev_flat_grad: Vec::new(),
            prev_loss: 0.0,
        });
        let result = (|| -> Result<()> {
            let mut n_iter = 0;
            while n_iter < self.max_iter {
                n_iter += 1;
                self.n_iter += 1;
                // The descent direction.
                if self.n_iter == 1 {
                    h.d = flat.iter().map(|g| -g).collect();
                    h.old_dirs.clear();
                    h.old_stps.clear();
                    h.ro.clear();
                    h.h_diag = 1.0;
                } else {
                    if h.prev_flat_grad.len() != flat.len() || h.d.len() != flat.len() {
                        return Err(Error::ShapeMismatch {
                            op: "LBFGS step",
                            lhs: vec![h.prev_flat_grad.len()],
                            rhs: vec![flat.len()],
                        });
                    }
                    let y: Vec<f32> = flat.iter().zip(&h.prev_flat_grad).map(|(a, b)| a - b).collect();
                    let s: Vec<f32> = h.d.iter().map(|d| d * h.t).collect();
                    let ys = dot(&y, &s);
                    if ys > 1e-10 {
                        if h.old_dirs.len() == self.history_size {
                            h.old_dirs.pop_front();
                            h.old_stps.pop_front();
                            h.ro.pop_front();
                        }
                        h.h_diag = ys / dot(&y, &y);
                        h.old_dirs.push_back(y);
                        h.old_stps.push_back(s);
                        h.ro.push_back(1.0 / ys);
                    }
                    // Two-loop recursion: q = -g, then r = H q.
                    let num_old = h.old_dirs.len();
                    let mut al = vec![0.0f32; num_old];
                    let mut q: Vec<f32> = flat.iter().map(|g| -g).collect();
                    for i in (0..num_old).rev() {
                        al[i] = dot(&h.old_stps[i], &q) * h.ro[i];
                        q.iter_mut().zip(&h.old_dirs[i]).for_each(|(q, &y)| *q += -al[i] * y);
                    }
                    let mut r: Vec<f32> = q.iter().map(|q| q * h.h_diag).collect();
                    for (i, al_i) in al.iter().enumerate() {
                        let be_i = dot(&h.old_dirs[i], &r) * h.ro[i];
                        let alpha = al_i - be_i;
                        r.iter_mut().zip(&h.old_stps[i]).for_each(|(r, &s)| *r += alpha * s);
                    }
                    h.d = r;
                }
                h.prev_flat_grad.clone_from(&flat);
                h.prev_loss = loss;

                // The step length.
                h.t = if self.n_iter == 1 {
                    let inv = 1.0 / flat.iter().map(|g| g.abs()).sum::<f32>();
                    if inv < 1.0 { inv * lr } else { lr }
                } else {
                    lr
                };
                let gtd = dot(&flat, &h.d);
                if gtd as f64 > -self.tolerance_change {
                    break;
                }

                let ls_func_evals;
                let opt_cond;
                if self.line_search {
                    let search = LineSearch {
                        maximize: self.maximize,
                        tolerance_change: 1e-9,
                        max_ls: self.max_eval.saturating_sub(current_evals),
                    };
                    let found = strong_wolfe(params, closure, &search, h.t, &h.d, loss, &flat, gtd)?;
                    (loss, flat, h.t, ls_func_evals) = (found.loss, found.grad, found.t, found.evals);
                    add_to_params(params, h.t, &h.d)?;
                    opt_cond = abs_max(&flat) as f64 <= self.tolerance_grad;
                } else {
                    add_to_params(params, h.t, &h.d)?;
                    if n_iter != self.max_iter {
                        // Re-evaluated except on the last iteration, as PyTorch does.
                        loss = evaluate(closure, self.maximize)?.1;
                        flat = flat_grad(params, self.maximize)?;
                        opt_cond = abs_max(&flat) as f64 <= self.tolerance_grad;
                        ls_func_evals = 1;
                    } else {
                        opt_cond = false;
                        ls_func_evals = 0;
                    }
                }
                current_evals += ls_func_evals;
                self.func_evals += ls_func_evals;

                if n_iter == self.max_iter || current_evals >= self.max_eval || opt_cond {
                    break;
                }
                if (abs_max(&h.d) * h.t.abs()) as f64 <= self.tolerance_change {
                    break;
                }
                if (loss - h.prev_loss).abs() < self.tolerance_change {
                    break;
                }
            }
            Ok(())
        })();
        self.history = Some(h);
        result.map(|()| orig_loss)
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn use_trainer_learning_rate(&mut self, lr: f64) {
        if !self.lr_from_config {
            self.lr = lr;
        }
    }

    fn state(&self) -> OptimizerState {
        let mut state = OptimizerState::default();
        state.scalars.insert("func_evals".into(), self.func_evals as f64);
        state.scalars.insert("n_iter".into(), self.n_iter as f64);
        let Some(h) = &self.history else { return state };
        let vector = |v: &[f32]| Tensor::from_vec(v.to_vec(), &[v.len()]).expect("a vector holds its length");
        state.scalars.insert("t".into(), h.t as f64);
        state.scalars.insert("H_diag".into(), h.h_diag as f64);
        state.scalars.insert("prev_loss".into(), h.prev_loss);
        state.tensors.insert("d".into(), vector(&h.d));
        state.tensors.insert("prev_flat_grad".into(), vector(&h.prev_flat_grad));
        state.tensors.insert("ro".into(), vector(&h.ro.iter().copied().collect::<Vec<_>>()));
        for (i, (y, s)) in h.old_dirs.iter().zip(&h.old_stps).enumerate() {
            state.tensors.insert(format!("old_dirs.{i}"), vector(y));
            state.tensors.insert(format!("old_stps.{i}"), vector(s));
        }
        state
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        let bad = |key: &str| Error::InvalidArgument {
            op: "load_state",
            name: "state",
            value: format!("`{key}` (missing or malformed)"),
            expected: "the state saved by an LBFGS optimizer",
        };
        let scalar = |key: &str| state.scalars.get(key).copied().ok_or_else(|| bad(key));
        let tensor = |key: &str| state.tensors.get(key).ok_or_else(|| bad(key))?.to_vec();
        let (func_evals, n_iter) = (scalar("func_evals")? as u64, scalar("n_iter")? as u64);
        let history = if state.tensors.contains_key("d") {
            let ro: VecDeque<f32> = tensor("ro")?.into();
            let mut old_dirs = VecDeque::new();
            let mut old_stps = VecDeque::new();
            for i in 0..ro.len() {
                old_dirs.push_back(tensor(&format!("old_dirs.{i}"))?);
                old_stps.push_back(tensor(&format!("old_stps.{i}"))?);
            }
            Some(History {
                d: tensor("d")?,
                t: scalar("t")? as f32,
                old_dirs,
                old_stps,
                ro,
                h_diag: scalar("H_diag")? as f32,
                prev_flat_grad: tensor("prev_flat_grad")?,
                prev_loss: scalar("prev_loss")?,
            })
        } else {
            None
        };
        (self.func_evals, self.n_iter, self.history) = (func_evals, n_iter, history);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_near, build, scalar_param};
    use super::*;

    #[test]
    fn minimises_a_quadratic() -> Result<()> {
        // f(p) = 0.5 * (p - 3)^2 from p = 0: the first move is t = min(1, 1/|g|) = 1/3 along
        // d = -g = 3, to p = 1; the secant pair then gives the exact curvature, and p = 3.
        for yaml in ["{}", "line_search_fn: strong_wolfe"] {
            let mut opt = build(Lbfgs::from_config, yaml)?;
            let p = scalar_param(0.0)?;
            let mut closure = || -> Result<Tensor> {
                p.zero_grad();
                let loss = p.value().sub_scalar(3.0)?.square()?.mul_scalar(0.5)?.sum_all()?;
                loss.backward()?;
                Ok(loss)
            };
            let first = opt.step_with_closure(&[("p", &p)], &mut closure)?;
            assert_near(first.item()?, 4.5, 1e-6);
            assert_near(p.value().to_vec()?[0], 3.0, 1e-5);
        }
        Ok(())
    }
}
