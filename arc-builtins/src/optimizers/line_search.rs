//! The strong-Wolfe line search of `core.LBFGS` (`line_search_fn: strong_wolfe`), ported
//! from PyTorch's `_strong_wolfe` / `_cubic_interpolate` (themselves from torch7's
//! `lswolfe.lua` and `polyinterp.lua`; Nocedal and Wright, alg. 3.5 and 3.6).
//!
//! It looks for a step `t` along `d` with sufficient decrease
//! `f(x + t d) <= f(x) + c1 t g'd` and small curvature `|g(x + t d)'d| <= -c2 g'd`
//! (`c1 = 1e-4`, `c2 = 0.9`): first bracketing an interval that contains such a step, then
//! zooming in by cubic interpolation. The parameters are restored to `x` after each trial.

use arc_core::nn::Param;
use arc_core::{Result, Tensor};

use super::lbfgs::{abs_max, add_to_params, dot, evaluate, flat_grad};

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// Options of one search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineSearch {
    /// Negate the loss and the gradient.
    pub maximize: bool,
    /// Stop zooming when the bracket times `max |d|` is below this.
    pub tolerance_change: f64,
    /// Closure evaluations allowed.
    pub max_ls: u64,
}

/// What the search found: the step, the loss and gradient there, and the evaluations used.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub t: f32,
    pub loss: f64,
    pub grad: Vec<f32>,
    pub evals: u64,
}

/// The minimiser of the cubic through `(x1, f1, g1)` and `(x2, f2, g2)`, clamped to `bounds`
/// (default: the interval between the points); the midpoint when the cubic has none.
fn cubic_interpolate(x1: f64, f1: f64, g1: f64, x2: f64, f2: f64, g2: f64, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        min_pos.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// Evaluates the closure at `x + t d` and restores `x`.
fn directional_evaluate(
    params: &[(&str, &Param)],
    closure: &mut dyn FnMut() -> Result<Tensor>,
    x: &[Tensor],
    t: f64,
    d: &[f32],
    maximize: bool,
) -> Result<(f64, Vec<f32>)> {
    add_to_params(params, t as f32, d)?;
    let loss = evaluate(closure, maximize)?.1;
    let grad = flat_grad(params, maximize)?;
    for ((_, param), value) in params.iter().zip(x) {
        param.set(value.clone())?;
    }
    Ok((loss, grad))
}

/// PyTorch's `_strong_wolfe` from step `t` along `d`, at loss `f`, gradient `g` and
/// directional derivative `gtd`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn strong_wolfe(
    params: &[(&str, &Param)],
    closure: &mut dyn FnMut() -> Result<Tensor>,
    search: &LineSearch,
    t: f32,
    d: &[f32],
    f: f64,
    g: &[f32],
    gtd: f32,
) -> Result<Found> {
    let x: Vec<Tensor> = params.iter().map(|(_, p)| p.value()).collect();
    let mut eval = |t: f64| directional_evaluate(params, closure, &x, t, d, search.maximize);
    let d_norm = abs_max(d) as f64;
    let gtd = gtd as f64;
    let mut t = t as f64;
    let (mut f_new, mut g_new) = eval(t)?;
    let mut evals = 1;
    let mut gtd_new = dot(&g_new, d) as f64;

    // Bracketing.
    let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f, g.to_vec(), gtd);
    let mut done = false;
    let mut ls_iter = 0;
    let mut bracket: Vec<f64> = Vec::new();
    let mut bracket_f: Vec<f64> = Vec::new();
    let mut bracket_g: Vec<Vec<f32>> = Vec::new();
    let mut bracket_gtd: Vec<f64> = vec![0.0, 0.0];
    while ls_iter < search.max_ls {
        let wolfe = gtd_new.abs() <= -C2 * gtd;
        let armijo_fails = f_new > f + C1 * t * gtd || (ls_iter > 1 && f_new >= f_prev);
        if wolfe && !armijo_fails {
            bracket = vec![t];
            bracket_f = vec![f_new];
            bracket_g = vec![g_new.clone()];
            done = true;
            break;
        }
        if armijo_fails || gtd_new >= 0.0 {
            bracket = vec![t_prev, t];
            bracket_f = vec![f_prev, f_new];
            bracket_g = vec![g_prev.clone(), g_new.clone()];
            bracket_gtd = vec![gtd_prev, gtd_new];
            break;
        }
        let (min_step, max_step) = (t + 0.01 * (t - t_prev), t * 10.0);
        let tmp = t;
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, Some((min_step, max_step)));
        t_prev = tmp;
        f_prev = f_new;
        g_prev = g_new;
        gtd_prev = gtd_new;
        (f_new, g_new) = eval(t)?;
        evals += 1;
        gtd_new = dot(&g_new, d) as f64;
        ls_iter += 1;
    }
    if ls_iter == search.max_ls {
        bracket = vec![0.0, t];
        bracket_f = vec![f, f_new];
        bracket_g = vec![g.to_vec(), g_new];
    }

    // Zoom.
    let mut insuf_progress = false;
    let order = |bf: &[f64]| if bf[0] <= bf[bf.len() - 1] { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket_f);
    while !done && ls_iter < search.max_ls {
        if (bracket[1] - bracket[0]).abs() * d_norm < search.tolerance_change {
            break;
        }
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1], None);
        let (b_max, b_min) = (bracket[0].max(bracket[1]), bracket[0].min(bracket[1]));
        let eps = 0.1 * (b_max - b_min);
        if (b_max - t).min(t - b_min) < eps {
            // Close to a boundary: move away from it after a second such step, or at once
            // when on it.
            if insuf_progress || t >= b_max || t <= b_min {
                t = if (t - b_max).abs() < (t - b_min).abs() { b_max - eps } else { b_min + eps };
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        (f_new, g_new) = eval(t)?;
        evals += 1;
        gtd_new = dot(&g_new, d) as f64;
        ls_iter += 1;
        if f_new > f + C1 * t * gtd || f_new >= bracket_f[low] {
            // Armijo fails or no lower than the lowest point: shrink from the high side.
            bracket[high] = t;
            bracket_f[high] = f_new;
            bracket_g[high] = g_new;
            bracket_gtd[high] = gtd_new;
            (low, high) = order(&bracket_f);
        } else {
            if gtd_new.abs() <= -C2 * gtd {
                done = true;
            } else if gtd_new * (bracket[high] - bracket[low]) >= 0.0 {
                // The old high becomes the new low.
                bracket[high] = bracket[low];
                bracket_f[high] = bracket_f[low];
                bracket_g[high] = bracket_g[low].clone();
                bracket_gtd[high] = bracket_gtd[low];
            }
            bracket[low] = t;
            bracket_f[low] = f_new;
            bracket_g[low] = g_new;
            bracket_gtd[low] = gtd_new;
        }
    }
    // A one-point bracket (Wolfe met while bracketing) has its point at index 0.
    let low = low.min(bracket.len() - 1);
    Ok(Found { t: bracket[low] as f32, loss: bracket_f[low], grad: bracket_g[low].clone(), evals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_interpolation_finds_the_minimum_of_a_parabola() {
        // f(x) = (x - 1)^2: f(0) = 1, f'(0) = -2; f(3) = 4, f'(3) = 4. The cubic through
        // these points is the parabola itself, whose minimum is at 1.
        let x = cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, None);
        assert!((x - 1.0).abs() < 1e-12, "{x}");
        // Clamped to the bounds.
        assert_eq!(cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0, Some((2.0, 2.5))), 2.0);
    }
}
