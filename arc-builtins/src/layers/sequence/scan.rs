//! Fused recurrences: the time loop of one LSTM or GRU layer direction as
//! one [`CustomOp`] with a hand-written backward (backpropagation through
//! time), instead of ~15 recorded ops per step.
//!
//! Both ops take the input projection of every step at once,
//! `xp = x W_ih^T + b [T, N, G*H]` (computed outside by `linear`, whose
//! autograd gives `dx`, `dW_ih`, `db`), and the recurrent weight
//! `W_hh [G*H, H]` (and the GRU's `b_hh`); they return the hidden states
//! `[T, N, H]`. Per step the recurrent product `h W_hh^T` is one gemm into a
//! reused buffer and the gates one vectorised pass over `[N, G*H]`
//! (`cells.rs`). The forward keeps the gate activations (and the LSTM's cell
//! states) for the backward, which walks the steps back with one gemm each
//! (`dh_{t-1} += dgates_t W_hh`) and ends with one large product,
//! `dW_hh = sum_t dgates_t^T h_{t-1}`.

use std::sync::Mutex;

use arc_core::tensor::CustomOp;
use arc_core::tensor::gemm::{Threads, gemm, view};
use arc_core::tensor::ndarray::{ArrayViewMut2, ArrayViewMut3, Axis, ShapeBuilder};
use arc_core::{DType, Error, Result, Tensor};
use rayon::prelude::*;

use super::cells;

/// Which cell a [`Scan`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cell {
    /// LSTM, gates `i, f, g, o` (biases folded into `xp`). Inputs `[xp, W_hh]`.
    Lstm,
    /// GRU, gates `r, z, n`. Inputs `[xp, W_hh]` or `[xp, W_hh, b_hh]`
    /// (`b_hh` stays inside the recurrence: `n` reads `r * (W_hn h + b_hn)`).
    Gru,
}

/// What the forward keeps for the backward.
#[derive(Debug, Default)]
struct Saved {
    /// Per step and row: LSTM `i, f, g, o` after activation, `[T, N, 4H]`;
    /// GRU `r, z, n, W_hn h + b_hn`, `[T, N, 4H]`.
    gates: Vec<f32>,
    /// LSTM cell states `c_t`, `[T, N, H]`.
    cells: Vec<f32>,
}

impl Drop for Saved {
    /// The buffers go back to [`SPARE`] for the next forward of the same size.
    fn drop(&mut self) {
        spare_give(std::mem::take(&mut self.gates));
        spare_give(std::mem::take(&mut self.cells));
    }
}

/// Saved-activation buffers of finished scans, for the next forward of the same size: a
/// training step would otherwise zero-fill fresh ones every time (the 64 x 20 x 128 LSTM
/// step's gates and cell states are 3.3 MB) only for the forward to overwrite every element.
/// At most [`SPARE_MAX`] buffers and [`SPARE_MAX_FLOATS`] floats are kept, the most
/// recently given.
static SPARE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// How many buffers [`SPARE`] keeps.
const SPARE_MAX: usize = 8;

/// A buffer of `len` floats: the most recent spare of that length (stale values, every one
/// of which the forward overwrites), else a zeroed one.
fn spare_take(len: usize) -> Vec<f32> {
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    match spare.iter().rposition(|v| v.len() == len) {
        Some(i) => spare.remove(i),
        None => {
            drop(spare);
            vec![0.0; len]
        }
    }
}

/// The most floats [`SPARE`] holds in all (256 MiB): past it the oldest buffers go, so a
/// program done with a large recurrent model does not keep its activations' memory.
const SPARE_MAX_FLOATS: usize = 64 << 20;

/// Keeps `buffer` for [`spare_take`] (an empty one, or one over [`SPARE_MAX_FLOATS`], is
/// dropped); a full [`SPARE`] drops its oldest, so buffers of sizes no longer used do not stay.
fn spare_give(buffer: Vec<f32>) {
    if buffer.is_empty() || buffer.len() > SPARE_MAX_FLOATS {
        return;
    }
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    spare.push(buffer);
    while spare.len() > SPARE_MAX || spare.iter().map(Vec::len).sum::<usize>() > SPARE_MAX_FLOATS {
        spare.remove(0);
    }
}

/// One layer direction's time loop (see the module docs). Built per call:
/// it holds that call's saved activations.
#[derive(Debug)]
pub(super) struct Scan {
    cell: Cell,
    hidden: usize,
    reverse: bool,
    saved: Mutex<Saved>,
}

/// The elements of a contiguous tensor; an error for an i64 one.
fn slice(t: &Tensor) -> Result<&[f32]> {
    t.as_f32_slice().ok_or(Error::DTypeMismatch { op: "core.recurrent_scan", expected: DType::F32, got: t.dtype() })
}

impl Scan {
    /// A scan of `cell` over `hidden` features, from the last step when `reverse`.
    pub(super) fn new(cell: Cell, hidden: usize, reverse: bool) -> Self {
        Self { cell, hidden, reverse, saved: Mutex::new(Saved::default()) }
    }

    fn gates(&self) -> usize {
        match self.cell {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The steps in processing order.
    fn order(&self, steps: usize) -> impl Iterator<Item = usize> + use<> {
        let reverse = self.reverse;
        (0..steps).map(move |s| if reverse { steps - 1 - s } else { s })
    }

    /// Checks `xp [T, N, G*H]`, `W_hh [G*H, H]`, `b_hh [G*H]`; returns `(T, N)`.
    fn check(&self, inputs: &[&Tensor]) -> Result<(usize, usize)> {
        let (g, h) = (self.gates(), self.hidden);
        let bad =
            |t: &Tensor, expected| Error::BadRank { op: "core.recurrent_scan", expected, shape: t.shape().to_vec() };
        let (xp, w) = match inputs {
            [xp, w] | [xp, w, _] => (*xp, *w),
            _ => {
                return Err(Error::InvalidArgument {
                    op: "core.recurrent_scan",
                    name: "inputs",
                    value: inputs.len().to_string(),
                    expected: "xp, W_hh and for a GRU optionally b_hh",
                });
            }
        };
        if xp.rank() != 3 || xp.shape()[2] != g * h {
            return Err(bad(xp, "xp [T, N, gates * hidden]"));
        }
        if w.shape() != [g * h, h] {
            return Err(bad(w, "W_hh [gates * hidden, hidden]"));
        }
        if let [_, _, b] = inputs
            && (self.cell == Cell::Lstm || b.shape() != [g * h])
        {
            return Err(bad(b, "b_hh [gates * hidden] (GRU only)"));
        }
        Ok((xp.shape()[0], xp.shape()[1]))
    }
}

impl Scan {
    /// Runs the scan on `inputs`: the fused host op on the CPU; on a GPU the same recurrence
    /// in tensor ops there ([`Scan::composed`]), so the time loop never leaves the device.
    pub(super) fn run(self, inputs: &[&Tensor]) -> Result<Tensor> {
        if inputs.iter().all(|t| t.device().is_cpu()) {
            return Tensor::apply_custom(std::sync::Arc::new(self), inputs);
        }
        self.composed(inputs)
    }

    /// The recurrence in tensor ops, step by step on the inputs' device, with autograd
    /// through every step: `h_0 = c_0 = 0`; LSTM `i, f, g, o = σ, σ, tanh, σ (xp_t + h W_hh^T)`,
    /// `c = f c + i g`, `h = o tanh(c)`; GRU with `rec = h W_hh^T (+ b_hh)`:
    /// `r, z = σ(xp_t + rec)`, `n = tanh(xp_n + r rec_n)`, `h = n + z (h - n)`.
    pub(super) fn composed(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let (steps, n) = self.check(inputs)?;
        let (hs, g) = (self.hidden, self.gates());
        let (xp, w_t) = (inputs[0], inputs[1].t()?);
        let b_hh = inputs.get(2);
        let zeros = || Tensor::zeros(&[n, hs]).to_device(xp.device());
        let (mut h, mut c) = (zeros()?, zeros()?);
        let mut outs: Vec<Option<Tensor>> = vec![None; steps];
        for t in self.order(steps) {
            let x_t = xp.narrow(0, t, 1)?.reshape(&[n, g * hs])?;
            let mut rec = h.matmul(&w_t)?;
            let gate = |m: &Tensor, k: usize| m.narrow(1, k * hs, hs);
            match self.cell {
                Cell::Lstm => {
                    let a = x_t.add(&rec)?;
                    let (i, f) = (gate(&a, 0)?.sigmoid()?, gate(&a, 1)?.sigmoid()?);
                    let (gg, o) = (gate(&a, 2)?.tanh()?, gate(&a, 3)?.sigmoid()?);
                    c = f.mul(&c)?.add(&i.mul(&gg)?)?;
                    h = o.mul(&c.tanh()?)?;
                }
                Cell::Gru => {
                    if let Some(b) = b_hh {
                        rec = rec.add(b)?;
                    }
                    let r = gate(&x_t, 0)?.add(&gate(&rec, 0)?)?.sigmoid()?;
                    let z = gate(&x_t, 1)?.add(&gate(&rec, 1)?)?.sigmoid()?;
                    let cand = gate(&x_t, 2)?.add(&r.mul(&gate(&rec, 2)?)?)?.tanh()?;
                    h = cand.add(&z.mul(&h.sub(&cand)?)?)?;
                }
            }
            outs[t] = Some(h.unsqueeze(0)?);
        }
        let outs: Vec<Tensor> = outs.into_iter().flatten().collect();
        if outs.is_empty() {
            return Tensor::zeros(&[0, n, hs]).to_device(xp.device());
        }
        Tensor::concat(&outs.iter().collect::<Vec<_>>(), 0)
    }
}

/// A strided matrix operand: data, row stride, column stride.
type Strided<'a> = (&'a [f32], usize, usize);

/// `dst [m, n] (+)= a [m, k] @ b [k, n]` over strided views, straight into
/// the scan's own buffers (no tensor, no allocation per step), through
/// [`arc_core::tensor::gemm`] on rayon's threads above 64^3 multiply-adds.
///
/// gemm splits the work over threads along `m`: the per-step products are
/// asked for transposed (`m` = the gates, `n` = the batch) so that both
/// threads get a share, and written through `dst`'s strides in the layout
/// the cells read.
fn matmul_into(
    (dst, d_rs, d_cs): (&mut [f32], usize, usize),
    a: Strided<'_>,
    b: Strided<'_>,
    [m, n, k]: [usize; 3],
    add: bool,
    threads: Threads,
) -> Result<()> {
    let dst = ArrayViewMut2::from_shape((m, n).strides((d_rs, d_cs)), dst).map_err(|_| Error::ShapeMismatch {
        op: "scan (gemm)",
        lhs: vec![m, n, d_rs, d_cs],
        rhs: vec![],
    })?;
    gemm(dst, view(a.0, 0, (m, k), (a.1, a.2))?, view(b.0, 0, (k, n), (b.1, b.2))?, add, threads)
}

/// The batch rows split into one contiguous block per thread: `(first row, rows)`. Rows
/// recur independently, so each block runs the whole time loop on its own thread with no
/// hand-off per step.
fn row_blocks(n: usize) -> Vec<(usize, usize)> {
    let per = n.div_ceil(rayon::current_num_threads().clamp(1, n.max(1))).max(1);
    (0..n).step_by(per).map(|r| (r, per.min(n - r))).collect()
}

/// Disjoint `[T, rows, width]` blocks of a `[T, N, width]` buffer, one per [`row_blocks`].
fn split_rows<'a>(
    data: &'a mut [f32],
    steps: usize,
    n: usize,
    width: usize,
    blocks: &[(usize, usize)],
) -> Result<Vec<ArrayViewMut3<'a, f32>>> {
    let mut rest = ArrayViewMut3::from_shape((steps, n, width), data).map_err(|_| Error::ShapeMismatch {
        op: "core.recurrent_scan",
        lhs: vec![steps, n, width],
        rhs: vec![],
    })?;
    let mut out = Vec::with_capacity(blocks.len());
    for &(_, rows) in blocks {
        let (block, after) = rest.split_at(Axis(1), rows);
        out.push(block);
        rest = after;
    }
    Ok(out)
}

/// Step `t` of a `[T, rows, width]` block, as the contiguous slice it is.
fn step_mut<'a>(block: &'a mut ArrayViewMut3<'_, f32>, t: usize) -> Result<&'a mut [f32]> {
    block.index_axis_mut(Axis(0), t).into_slice().ok_or(Error::NoBackward { op: "core.recurrent_scan (layout)".into() })
}

impl CustomOp for Scan {
    fn name(&self) -> &str {
        match self.cell {
            Cell::Lstm => "core.lstm_scan",
            Cell::Gru => "core.gru_scan",
        }
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let (steps, n) = self.check(inputs)?;
        let (hs, g) = (self.hidden, self.gates());
        let xp = inputs[0].contiguous()?;
        let xp = slice(&xp)?;
        let w_hh = inputs[1].contiguous()?;
        let w = slice(&w_hh)?;
        let b_hh = inputs.get(2).map(|b| b.contiguous()).transpose()?;
        let b_hh = b_hh.as_ref().map(slice).transpose()?;
        let (row, gh, ah) = (n * hs, n * g * hs, n * 4 * hs);
        let mut out = vec![0.0f32; steps * row];
        // Every element of both is written below (every step, every row block), so stale
        // spare buffers serve as well as zeroed ones.
        let mut saved = Saved { gates: spare_take(steps * ah), cells: Vec::new() };
        if self.cell == Cell::Lstm {
            saved.cells = spare_take(steps * row);
        }
        let blocks = row_blocks(n);
        let outs = split_rows(&mut out, steps, n, hs, &blocks)?;
        let gates = split_rows(&mut saved.gates, steps, n, 4 * hs, &blocks)?;
        let mut cells: Vec<Option<ArrayViewMut3<'_, f32>>> = match self.cell {
            Cell::Lstm => split_rows(&mut saved.cells, steps, n, hs, &blocks)?.into_iter().map(Some).collect(),
            Cell::Gru => blocks.iter().map(|_| None).collect(),
        };
        let work: Vec<_> = blocks.iter().zip(outs).zip(gates).zip(cells.drain(..)).collect();
        work.into_par_iter().try_for_each(|(((&(r0, rows), mut out), mut gates), mut cells)| -> Result<()> {
            let mut rec = vec![0.0f32; rows * g * hs];
            let mut h = vec![0.0f32; rows * hs];
            let mut c = vec![0.0f32; rows * hs];
            for t in self.order(steps) {
                // rec = h W_hh^T (+ b_hh).
                if let Some(b) = b_hh {
                    rec.chunks_exact_mut(g * hs).for_each(|row| row.copy_from_slice(b));
                }
                // As rec^T [G*H, rows] = W_hh [G*H, H] @ h^T [H, rows], written transposed.
                let dst = (&mut rec[..], 1, g * hs);
                matmul_into(dst, (w, hs, 1), (&h, 1, hs), [g * hs, rows, hs], b_hh.is_some(), Threads::Calling)?;
                let x_t = &xp[t * gh + r0 * g * hs..t * gh + (r0 + rows) * g * hs];
                let acts = step_mut(&mut gates, t)?;
                match (self.cell, cells.as_mut()) {
                    (Cell::Lstm, Some(cells)) => {
                        cells::lstm_step(x_t, &rec, &mut c, &mut h, acts, hs);
                        step_mut(cells, t)?.copy_from_slice(&c);
                    }
                    _ => cells::gru_step(x_t, &rec, &mut h, acts, hs),
                }
                step_mut(&mut out, t)?.copy_from_slice(&h);
            }
            Ok(())
        })?;
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = saved;
        Tensor::from_vec(out, &[steps, n, hs])
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (steps, n) = self.check(inputs)?;
        let (hs, g) = (self.hidden, self.gates());
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let (row, gh, ah) = (n * hs, n * g * hs, n * 4 * hs);
        if saved.gates.len() != steps * ah {
            return Err(Error::NoBackward { op: format!("{} (backward without its forward)", self.name()) });
        }
        let (output, grad) = (output.contiguous()?, grad.contiguous()?);
        let (hs_all, gy) = (slice(&output)?, slice(&grad)?);
        let w_hh = inputs[1].contiguous()?;
        let w = slice(&w_hh)?;
        // d xp per step, and (GRU) the gradient of the recurrent pre-activations `h W_hh^T + b_hh`
        // (for the LSTM they are the same: both enter the gates as a sum).
        let mut dxp = vec![0.0f32; steps * gh];
        let mut drec = if self.cell == Cell::Gru { vec![0.0f32; steps * gh] } else { Vec::new() };
        let order: Vec<usize> = self.order(steps).collect();
        let blocks = row_blocks(n);
        let dxps = split_rows(&mut dxp, steps, n, g * hs, &blocks)?;
        let mut drecs: Vec<Option<ArrayViewMut3<'_, f32>>> = match self.cell {
            Cell::Gru => split_rows(&mut drec, steps, n, g * hs, &blocks)?.into_iter().map(Some).collect(),
            Cell::Lstm => blocks.iter().map(|_| None).collect(),
        };
        let work: Vec<_> = blocks.iter().zip(dxps).zip(drecs.drain(..)).collect();
        work.into_par_iter().try_for_each(|((&(r0, rows), mut dxp), mut drec)| -> Result<()> {
            let (br, bg) = (rows * hs, rows * 4 * hs);
            let zeros = vec![0.0f32; br];
            let mut dh = vec![0.0f32; br];
            let mut dc = vec![0.0f32; br];
            // This block's rows of step `t` in a [T, N, H] buffer.
            let at = |t: usize| t * row + r0 * hs..t * row + r0 * hs + br;
            for (pos, &t) in order.iter().enumerate().rev() {
                let prev = (pos > 0).then(|| order[pos - 1]);
                let h_prev = prev.map_or(&zeros[..], |p| &hs_all[at(p)]);
                // dh += the output's own gradient at t (dh holds what came back from t + 1).
                for (d, &y) in dh.iter_mut().zip(&gy[at(t)]) {
                    *d += y;
                }
                let acts = &saved.gates[t * ah + r0 * 4 * hs..t * ah + r0 * 4 * hs + bg];
                let dx_t = step_mut(&mut dxp, t)?;
                let d_rec: &[f32] = match (self.cell, drec.as_mut()) {
                    (Cell::Gru, Some(drec)) => {
                        let dr_t = step_mut(drec, t)?;
                        cells::gru_step_backward(acts, h_prev, &mut dh, dx_t, dr_t, hs);
                        dr_t
                    }
                    _ => {
                        let c_prev = prev.map_or(&zeros[..], |p| &saved.cells[at(p)]);
                        cells::lstm_step_backward(acts, &saved.cells[at(t)], c_prev, &dh, &mut dc, dx_t, hs);
                        dh.fill(0.0);
                        dx_t
                    }
                };
                if prev.is_some() {
                    // dh_{t-1} += d(h W_hh^T) W_hh
                    // As dh^T [H, rows] += W_hh^T [H, G*H] @ d_rec^T [G*H, rows].
                    let dst = (&mut dh[..], 1, hs);
                    matmul_into(dst, (w, 1, hs), (d_rec, 1, g * hs), [hs, rows, g * hs], true, Threads::Calling)?;
                }
            }
            Ok(())
        })?;
        // dW_hh = sum_t d_rec_t^T h_{t-1}. The state before step t is the output at t - 1
        // (t + 1 in reverse), so the sum is one product of two row blocks of the
        // [T * N, ..] buffers, shifted by one step; the first processed step, whose state
        // before is zero, drops out.
        let d_rec_all = if self.cell == Cell::Gru { &drec } else { &dxp };
        let mut dw_hh = vec![0.0f32; g * hs * hs];
        if steps > 1 {
            let (rec_rows, h_rows) = if self.reverse { (0..steps - 1, 1..steps) } else { (1..steps, 0..steps - 1) };
            let d_rec_rows = &d_rec_all[rec_rows.start * gh..rec_rows.end * gh];
            let h_before = &hs_all[h_rows.start * row..h_rows.end * row];
            let k = (steps - 1) * n;
            matmul_into(
                (&mut dw_hh, hs, 1),
                (d_rec_rows, 1, g * hs),
                (h_before, hs, 1),
                [g * hs, hs, k],
                false,
                Threads::Pool,
            )?;
        }
        let db_hh = match self.cell {
            Cell::Gru if inputs.len() == 3 => Some(Tensor::from_vec(drec, &[steps * n, g * hs])?.sum(&[0], false)?),
            _ => None,
        };
        let mut grads =
            vec![Some(Tensor::from_vec(dxp, &[steps, n, g * hs])?), Some(Tensor::from_vec(dw_hh, &[g * hs, hs])?)];
        if inputs.len() == 3 {
            grads.push(db_hh);
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_core::tensor::{Rng, gradcheck};

    use super::*;

    /// `d(sum(scan(xp, W_hh[, b_hh]) * r)) / d inputs` by the hand-written
    /// backward against central differences (eps 1e-3, tolerance 1e-2 of
    /// `1 + |numeric|`, f64 sums), both directions.
    fn check(cell: Cell, with_bias: bool) -> Result<()> {
        let (t, n, h) = (4, 2, 3);
        let g = if cell == Cell::Lstm { 4 } else { 3 };
        let mut rng = Rng::new(11);
        let xp = Tensor::randn(&[t, n, g * h], &mut rng);
        let w = Tensor::randn(&[g * h, h], &mut rng).mul_scalar(0.5)?;
        let b = Tensor::randn(&[g * h], &mut rng);
        for reverse in [false, true] {
            let run = |ins: &[Tensor]| {
                let refs: Vec<&Tensor> = ins.iter().collect();
                Tensor::apply_custom(Arc::new(Scan::new(cell, h, reverse)), &refs)
            };
            if with_bias {
                gradcheck(run, &[&xp, &w, &b], 1e-3, 1e-2)?;
            } else {
                gradcheck(run, &[&xp, &w], 1e-3, 1e-2)?;
            }
        }
        Ok(())
    }

    #[test]
    fn lstm_scan_passes_gradcheck() -> Result<()> {
        check(Cell::Lstm, false)
    }

    #[test]
    fn gru_scan_passes_gradcheck_with_and_without_b_hh() -> Result<()> {
        check(Cell::Gru, true)?;
        check(Cell::Gru, false)
    }

    /// The composed recurrence (what GPU inputs take), run on the CPU, against the fused op:
    /// outputs and every input's gradient, both cells and directions.
    #[test]
    fn the_composed_recurrence_matches_the_fused_op() -> Result<()> {
        let (t, n, h) = (5, 3, 4);
        for (cell, with_bias) in [(Cell::Lstm, false), (Cell::Gru, true), (Cell::Gru, false)] {
            let g = if cell == Cell::Lstm { 4 } else { 3 };
            let mut rng = Rng::new(5);
            let xp = Tensor::randn(&[t, n, g * h], &mut rng);
            let w = Tensor::randn(&[g * h, h], &mut rng).mul_scalar(0.5)?;
            let b = Tensor::randn(&[g * h], &mut rng);
            let weight = Tensor::randn(&[t, n, h], &mut rng);
            for reverse in [false, true] {
                let run = |composed: bool| -> Result<Vec<Vec<f32>>> {
                    let ins: Vec<Tensor> = [&xp, &w, &b][..if with_bias { 3 } else { 2 }]
                        .iter()
                        .map(|x| x.detach().requires_grad_())
                        .collect::<Result<_>>()?;
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let scan = Scan::new(cell, h, reverse);
                    let y = if composed { scan.composed(&refs)? } else { Tensor::apply_custom(Arc::new(scan), &refs)? };
                    y.mul(&weight)?.sum_all()?.backward()?;
                    let mut out = vec![y.to_vec()?];
                    for x in &ins {
                        out.push(x.grad().expect("a gradient").to_vec()?);
                    }
                    Ok(out)
                };
                let (want, got) = (run(false)?, run(true)?);
                for (i, (a, b)) in want.iter().zip(&got).enumerate() {
                    for (p, q) in a.iter().zip(b) {
                        assert!(
                            (p - q).abs() <= 1e-4 * p.abs().max(1.0),
                            "{cell:?} reverse {reverse} part {i}: {p} vs {q}"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// A scan whose saved buffers come back from [`SPARE`] with another run's values gives
    /// the same bits as the first run: the forward overwrites every element it reads back.
    #[test]
    fn reused_saved_buffers_change_no_bits() -> Result<()> {
        let (t, n, h) = (6, 5, 7);
        for cell in [Cell::Lstm, Cell::Gru] {
            let g = if cell == Cell::Lstm { 4 } else { 3 };
            let run = |seed: u64| -> Result<Vec<Vec<u32>>> {
                let mut rng = Rng::new(seed);
                let xp = Tensor::randn(&[t, n, g * h], &mut rng).requires_grad_()?;
                let w = Tensor::randn(&[g * h, h], &mut rng).mul_scalar(0.5)?.requires_grad_()?;
                let y = Tensor::apply_custom(Arc::new(Scan::new(cell, h, false)), &[&xp, &w])?;
                y.mul(&Tensor::randn(&[t, n, h], &mut rng))?.sum_all()?.backward()?;
                let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect();
                Ok(vec![
                    bits(y.to_vec()?),
                    bits(xp.grad().expect("dxp").to_vec()?),
                    bits(w.grad().expect("dW").to_vec()?),
                ])
            };
            let first = run(1)?;
            run(2)?;
            // NaN-filled spares of exactly the saved buffers' lengths (no other test uses
            // them): any element the forward failed to write would reach the results.
            spare_give(vec![f32::NAN; t * n * 4 * h]);
            spare_give(vec![f32::NAN; t * n * h]);
            assert!(run(1)? == first, "{cell:?}: the run on reused buffers differs from the first");
        }
        Ok(())
    }

    #[test]
    fn the_pool_keeps_neither_oversized_nor_too_many_buffers() {
        let held =
            |len: usize| SPARE.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|v| v.len() == len).count();
        // calloc'ed: no page is touched.
        spare_give(vec![0.0; SPARE_MAX_FLOATS + 1]);
        assert_eq!(held(SPARE_MAX_FLOATS + 1), 0);
        for _ in 0..SPARE_MAX + 3 {
            spare_give(vec![0.0; 4099]);
        }
        assert!(held(4099) <= SPARE_MAX);
        assert!(SPARE.lock().unwrap_or_else(|e| e.into_inner()).len() <= SPARE_MAX);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let xp = Tensor::zeros(&[2, 1, 8]);
        let op = || Arc::new(Scan::new(Cell::Lstm, 2, false));
        assert!(Tensor::apply_custom(op(), &[&xp, &Tensor::zeros(&[8, 3])]).is_err());
        assert!(Tensor::apply_custom(op(), &[&Tensor::zeros(&[2, 8]), &Tensor::zeros(&[8, 2])]).is_err());
        assert!(Tensor::apply_custom(op(), &[&xp, &Tensor::zeros(&[8, 2]), &Tensor::zeros(&[8])]).is_err());
        assert!(Tensor::apply_custom(op(), &[&xp, &Tensor::zeros(&[8, 2])]).is_ok());
    }
}
