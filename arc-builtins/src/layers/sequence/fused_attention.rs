//! Scaled dot-product attention over all heads as one [`CustomOp`], with
//! its backward: per (batch, head) pair, in parallel over the pairs,
//!
//! ```text
//! P = softmax(Q K^T * scale + mask)      O = P V
//! dV = P^T dO    dP = dO V^T    dS = P * (dP - rowsum(dP * P)) * scale
//! dQ = dS K      dK = dS^T Q
//! ```
//!
//! Q, K, V are read in place from the projections' layout (`[L, N, E]` or
//! `[N, L, E]`, head `h` in columns `h*hd..(h+1)*hd`, or the packed `[.., 3E]`
//! output of a self-attention projection), and O is written straight in the
//! merged-heads layout the output projection reads: no head split or merge
//! copies, one `[L, S]` block per pair in flight, `P` kept for the backward.
//! The composed path (`attention.rs`) remains for what this op does not
//! cover: dropout on the weights, and masks that take gradients.

use std::sync::Mutex;

use arc_core::tensor::CustomOp;
use arc_core::{DType, Error, Result, Tensor};
use rayon::prelude::*;

const OP: &str = "core.scaled_dot_product_attention";

/// How the operands are laid out (see [`Attention::new`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    /// Batch size `N`.
    pub(super) batch: usize,
    /// Query length `L`.
    pub(super) queries: usize,
    /// Key length `S`.
    pub(super) keys: usize,
    /// Number of heads.
    pub(super) heads: usize,
    /// Per-head width `hd`.
    pub(super) head_dim: usize,
    /// `[len, N, ..]` (true) or `[N, len, ..]`.
    pub(super) seq_first: bool,
    /// Q, K, V are one packed `[.., 3E]` input (self-attention).
    pub(super) packed: bool,
}

/// A strided `[rows, cols]` view: element `(i, j)` at `base + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct View {
    base: usize,
    rs: isize,
    cs: isize,
}

/// A raw pointer that worker threads write through, each to its own
/// (batch, head) block.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: each parallel task writes only the elements of its own (batch, head)
// pair, which no other task reads or writes; the buffer outlives the tasks.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so closures capture the `Send` wrapper, not its field).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// `dst (+)= a @ b` for strided views, on the calling thread.
///
/// # Safety
/// Every addressed element of `a`, `b` (`[m, k]`, `[k, n]`) and `dst`
/// (`[m, n]`) must be in bounds, and `dst` writable by this thread alone.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: (*mut f32, View),
    a: (*const f32, View),
    b: (*const f32, View),
    add: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !add {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: (i, j) is inside `dst` (the caller's contract).
                    unsafe { *dst.0.offset(dst.1.base as isize + i as isize * dst.1.rs + j as isize * dst.1.cs) = 0.0 };
                }
            }
        }
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0.add(dst.1.base),
            dst.1.cs,
            dst.1.rs,
            add,
            a.0.add(a.1.base),
            a.1.cs,
            a.1.rs,
            b.0.add(b.1.base),
            b.1.cs,
            b.1.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The fused attention (see the module docs). Inputs: `q, k, v` (or the
/// packed `qkv`), then optionally an f32 additive mask `[mN, mH, L, S]`
/// with `mN` in `{1, N}` and `mH` in `{1, heads}` (it takes no gradient).
/// Output: `[L, N, E]` or `[N, L, E]`, as the query.
#[derive(Debug)]
pub(super) struct Attention {
    geometry: Geometry,
    has_mask: bool,
    /// The softmax weights `[N, H, L, S]` of the forward, for the backward.
    weights: Mutex<Vec<f32>>,
}

impl Attention {
    /// An op for `geometry`, with or without a mask input.
    pub(super) fn new(geometry: Geometry, has_mask: bool) -> Self {
        Self { geometry, has_mask, weights: Mutex::new(Vec::new()) }
    }

    /// The views of head `h` of batch `n` in an operand of row width `width`
    /// and `len` positions, at column offset `column`.
    fn view(&self, n: usize, h: usize, len: usize, width: usize, column: usize) -> View {
        let g = &self.geometry;
        let col = column + h * g.head_dim;
        if g.seq_first {
            View { base: n * width + col, rs: (g.batch * width) as isize, cs: 1 }
        } else {
            View { base: n * len * width + col, rs: width as isize, cs: 1 }
        }
    }

    /// `(q, k, v)` views of pair `(n, h)`, and their row widths.
    fn operand_views(&self, n: usize, h: usize) -> [View; 3] {
        let g = &self.geometry;
        let e = g.heads * g.head_dim;
        if g.packed {
            [0, e, 2 * e].map(|c| self.view(n, h, g.queries, 3 * e, c))
        } else {
            [self.view(n, h, g.queries, e, 0), self.view(n, h, g.keys, e, 0), self.view(n, h, g.keys, e, 0)]
        }
    }

    /// Checks the inputs' shapes; returns the mask's `(mN, mH)` when there is one.
    fn check(&self, inputs: &[&Tensor]) -> Result<Option<(usize, usize)>> {
        let g = &self.geometry;
        let e = g.heads * g.head_dim;
        let order = |len: usize, width: usize| if g.seq_first { [len, g.batch, width] } else { [g.batch, len, width] };
        let wanted: Vec<[usize; 3]> = if g.packed {
            vec![order(g.queries, 3 * e)]
        } else {
            vec![order(g.queries, e), order(g.keys, e), order(g.keys, e)]
        };
        let expected = wanted.len() + usize::from(self.has_mask);
        if inputs.len() != expected {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "inputs",
                value: inputs.len().to_string(),
                expected: "q, k, v (or the packed qkv) and an optional mask",
            });
        }
        for (t, want) in inputs.iter().zip(&wanted) {
            if t.shape() != want {
                return Err(Error::ShapeMismatch { op: OP, lhs: want.to_vec(), rhs: t.shape().to_vec() });
            }
            if t.dtype() != DType::F32 {
                return Err(Error::DTypeMismatch { op: OP, expected: DType::F32, got: t.dtype() });
            }
        }
        if !self.has_mask {
            return Ok(None);
        }
        let m = inputs[wanted.len()];
        let s = m.shape();
        let fits = s.len() == 4
            && (s[0] == 1 || s[0] == g.batch)
            && (s[1] == 1 || s[1] == g.heads)
            && s[2..] == [g.queries, g.keys]
            && m.dtype() == DType::F32;
        if !fits {
            return Err(Error::BadRank {
                op: OP,
                expected: "an f32 mask [1 or N, 1 or heads, L, S]",
                shape: s.to_vec(),
            });
        }
        Ok(Some((s[0], s[1])))
    }
}

/// `t` row-major (copied only when it is a strided view).
fn contiguous(t: &Tensor) -> Result<Tensor> {
    t.contiguous()
}

/// The elements of a contiguous f32 tensor.
fn slice(t: &Tensor) -> &[f32] {
    t.as_f32_slice().expect("a contiguous f32 CPU tensor (checked by `Attention::check`) has a slice")
}

impl CustomOp for Attention {
    fn name(&self) -> &str {
        OP
    }

    fn forward_cpu(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let mask_dims = self.check(inputs)?;
        let g = self.geometry;
        let (l, s, hd, e) = (g.queries, g.keys, g.head_dim, g.heads * g.head_dim);
        let operands: Vec<Tensor> = inputs.iter().map(|t| contiguous(t)).collect::<Result<_>>()?;
        let mask = mask_dims.map(|dims| (slice(&operands[operands.len() - 1]), dims));
        let (q, k, v) = if g.packed {
            (slice(&operands[0]), slice(&operands[0]), slice(&operands[0]))
        } else {
            (slice(&operands[0]), slice(&operands[1]), slice(&operands[2]))
        };
        let scale = 1.0 / (hd as f32).sqrt();
        let mut out = vec![0.0f32; g.batch * l * e];
        let mut weights = vec![0.0f32; g.batch * g.heads * l * s];
        let out_ptr = SharedMut(out.as_mut_ptr());
        weights.par_chunks_mut((l * s).max(1)).take(g.batch * g.heads).enumerate().for_each(|(pair, p)| {
            let (n, h) = (pair / g.heads, pair % g.heads);
            let [qv, kv, vv] = self.operand_views(n, h);
            let own = View { base: 0, rs: s as isize, cs: 1 };
            // SAFETY: the views address in-bounds elements of the checked shapes; `p` is this
            // pair's own block; the output rows of (n, h) belong to this task alone.
            unsafe {
                gemm(
                    l,
                    s,
                    hd,
                    (p.as_mut_ptr(), own),
                    (q.as_ptr(), qv),
                    (k.as_ptr(), View { rs: kv.cs, cs: kv.rs, ..kv }),
                    false,
                );
            }
            for (i, row) in p.chunks_exact_mut(s.max(1)).enumerate() {
                if let Some((m, (mn, mh))) = mask {
                    let base = (((if mn > 1 { n } else { 0 }) * mh + if mh > 1 { h } else { 0 }) * l + i) * s;
                    for (x, &a) in row.iter_mut().zip(&m[base..base + s]) {
                        *x = *x * scale + a;
                    }
                } else {
                    row.iter_mut().for_each(|x| *x *= scale);
                }
                softmax_in_place(row);
            }
            let ov = self.view_out(n, h);
            // SAFETY: as above.
            unsafe { gemm(l, hd, s, (out_ptr.ptr(), ov), (p.as_ptr(), own), (v.as_ptr(), vv), false) };
        });
        *self.weights.lock().unwrap_or_else(|e| e.into_inner()) = weights;
        let shape = if g.seq_first { [l, g.batch, e] } else { [g.batch, l, e] };
        Tensor::from_vec(out, &shape)
    }

    fn backward(&self, inputs: &[&Tensor], _output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        self.check(inputs)?;
        let g = self.geometry;
        let (l, s, hd) = (g.queries, g.keys, g.head_dim);
        let weights = self.weights.lock().unwrap_or_else(|e| e.into_inner());
        if weights.len() != g.batch * g.heads * l * s {
            return Err(Error::NoBackward { op: format!("{OP} (backward without its forward)") });
        }
        let operands: Vec<Tensor> =
            inputs.iter().take(if g.packed { 1 } else { 3 }).map(|t| contiguous(t)).collect::<Result<_>>()?;
        let dout = contiguous(grad)?;
        let dout = slice(&dout);
        let (q, k, v) = if g.packed {
            (slice(&operands[0]), slice(&operands[0]), slice(&operands[0]))
        } else {
            (slice(&operands[0]), slice(&operands[1]), slice(&operands[2]))
        };
        // One buffer per gradient (or one packed [.., 3E] buffer), each pair writing its own block.
        let mut grads: Vec<Vec<f32>> = operands.iter().map(|t| vec![0.0f32; t.numel()]).collect();
        let ptrs: Vec<SharedMut> = grads.iter_mut().map(|b| SharedMut(b.as_mut_ptr())).collect();
        let dst = |i: usize| if g.packed { ptrs[0] } else { ptrs[i] };
        let (dq_ptr, dk_ptr, dv_ptr) = (dst(0), dst(1), dst(2));
        let scale = 1.0 / (hd as f32).sqrt();
        (0..g.batch * g.heads).into_par_iter().for_each_init(
            || vec![0.0f32; l * s],
            |ds, pair| {
                let (n, h) = (pair / g.heads, pair % g.heads);
                let [qv, kv, vv] = self.operand_views(n, h);
                let ov = self.view_out(n, h);
                let p = &weights[pair * l * s..(pair + 1) * l * s];
                let own = View { base: 0, rs: s as isize, cs: 1 };
                let own_t = View { base: 0, rs: 1, cs: s as isize };
                let t = |v: View| View { rs: v.cs, cs: v.rs, ..v };
                // SAFETY: all views address in-bounds elements of the checked shapes; the
                // gradient blocks of pair (n, h) are written by this task alone.
                unsafe {
                    // dV = P^T dO
                    gemm(s, hd, l, (dv_ptr.ptr(), vv), (p.as_ptr(), own_t), (dout.as_ptr(), ov), false);
                    // dP = dO V^T
                    gemm(l, s, hd, (ds.as_mut_ptr(), own), (dout.as_ptr(), ov), (v.as_ptr(), t(vv)), false);
                }
                for (drow, prow) in ds.chunks_exact_mut(s.max(1)).zip(p.chunks_exact(s.max(1))) {
                    let dot: f32 = drow.iter().zip(prow).map(|(d, p)| d * p).sum();
                    for (d, &pv) in drow.iter_mut().zip(prow) {
                        *d = pv * (*d - dot) * scale;
                    }
                }
                // SAFETY: as above.
                unsafe {
                    // dQ = dS K, dK = dS^T Q
                    gemm(l, hd, s, (dq_ptr.ptr(), qv), (ds.as_ptr(), own), (k.as_ptr(), kv), false);
                    gemm(s, hd, l, (dk_ptr.ptr(), kv), (ds.as_ptr(), own_t), (q.as_ptr(), qv), false);
                }
            },
        );
        let mut result: Vec<Option<Tensor>> = grads
            .into_iter()
            .zip(&operands)
            .map(|(d, t)| Tensor::from_vec(d, t.shape()).map(Some))
            .collect::<Result<_>>()?;
        if self.has_mask {
            result.push(None);
        }
        Ok(result)
    }
}

impl Attention {
    /// The output view of pair `(n, h)` in the merged `[.., E]` layout.
    fn view_out(&self, n: usize, h: usize) -> View {
        let g = &self.geometry;
        self.view(n, h, g.queries, g.heads * g.head_dim, 0)
    }
}

/// Softmax of one row in place (max-subtracted; a row of all `-inf` gives
/// NaN, as PyTorch's).
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arc_core::tensor::{Rng, gradcheck};

    use super::*;

    /// The same attention from tensor ops: `[N, H, L, hd]` heads.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, g: Geometry) -> Result<Tensor> {
        let (h, hd, e) = (g.heads, g.head_dim, g.heads * g.head_dim);
        let heads = |t: &Tensor, len: usize| -> Result<Tensor> {
            if g.seq_first {
                t.reshape(&[len, g.batch, h, hd])?.permute(&[1, 2, 0, 3])
            } else {
                t.reshape(&[g.batch, len, h, hd])?.permute(&[0, 2, 1, 3])
            }
        };
        let scores =
            heads(q, g.queries)?.matmul(&heads(k, g.keys)?.transpose(-2, -1)?)?.mul_scalar(1.0 / (hd as f32).sqrt())?;
        let scores = match mask {
            Some(m) => scores.add(m)?,
            None => scores,
        };
        let out = scores.softmax(-1)?.matmul(&heads(v, g.keys)?)?;
        if g.seq_first {
            out.permute(&[2, 0, 1, 3])?.reshape(&[g.queries, g.batch, e])
        } else {
            out.permute(&[0, 2, 1, 3])?.reshape(&[g.batch, g.queries, e])
        }
    }

    fn geometry(seq_first: bool, packed: bool) -> Geometry {
        let keys = if packed { 3 } else { 4 };
        Geometry { batch: 2, queries: 3, keys, heads: 2, head_dim: 2, seq_first, packed }
    }

    fn operand(g: Geometry, len: usize, width: usize, rng: &mut Rng) -> Tensor {
        let shape = if g.seq_first { [len, g.batch, width] } else { [g.batch, len, width] };
        Tensor::randn(&shape, rng)
    }

    /// Forward against the composed reference (to 1e-6), and the
    /// hand-written backward against central differences (eps 1e-3,
    /// tolerance 1e-2 of `1 + |numeric|`), for both layouts, packed and
    /// separate operands, with and without a per-batch mask.
    #[test]
    fn fused_attention_matches_the_composed_ops_and_passes_gradcheck() -> Result<()> {
        let mut rng = Rng::new(21);
        for (seq_first, packed, masked) in
            [(true, false, false), (false, false, true), (true, true, true), (false, true, false)]
        {
            let g = geometry(seq_first, packed);
            let e = g.heads * g.head_dim;
            let mask = masked.then(|| Tensor::randn(&[g.batch, 1, g.queries, g.keys], &mut rng));
            let operands: Vec<Tensor> = if packed {
                vec![operand(g, g.queries, 3 * e, &mut rng)]
            } else {
                vec![
                    operand(g, g.queries, e, &mut rng),
                    operand(g, g.keys, e, &mut rng),
                    operand(g, g.keys, e, &mut rng),
                ]
            };
            let run = |ts: &[Tensor]| {
                let mut inputs: Vec<&Tensor> = ts.iter().collect();
                inputs.extend(mask.as_ref());
                Tensor::apply_custom(Arc::new(Attention::new(g, mask.is_some())), &inputs)
            };
            let (q, k, v) = if packed {
                let qkv = &operands[0];
                (qkv.narrow(-1, 0, e)?, qkv.narrow(-1, e, e)?, qkv.narrow(-1, 2 * e, e)?)
            } else {
                (operands[0].clone(), operands[1].clone(), operands[2].clone())
            };
            let want = reference(&q, &k, &v, mask.as_ref(), g)?.to_vec()?;
            let got = run(&operands)?.to_vec()?;
            assert!(
                got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-6),
                "{seq_first} {packed}: {got:?} vs {want:?}"
            );
            let refs: Vec<&Tensor> = operands.iter().collect();
            gradcheck(run, &refs, 1e-3, 1e-2)?;
        }
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() {
        let g = geometry(true, false);
        let op = || Arc::new(Attention::new(g, false));
        let q = Tensor::zeros(&[3, 2, 4]);
        let kv = Tensor::zeros(&[4, 2, 4]);
        assert!(Tensor::apply_custom(op(), &[&q, &kv, &kv]).is_ok());
        assert!(Tensor::apply_custom(op(), &[&q, &q, &kv]).is_err());
        assert!(Tensor::apply_custom(op(), &[&q, &kv]).is_err());
        let masked = Arc::new(Attention::new(g, true));
        assert!(Tensor::apply_custom(masked.clone(), &[&q, &kv, &kv, &Tensor::zeros(&[2, 2, 3, 4])]).is_ok());
        assert!(Tensor::apply_custom(masked, &[&q, &kv, &kv, &Tensor::zeros(&[3, 4])]).is_err());
    }
}
