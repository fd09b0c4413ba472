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
//! Each pair's blocks are ndarray views (disjoint mutable ones split from the
//! output buffers), multiplied by [`arc_core::tensor::gemm`] on the pair's thread.
//! The composed path (`attention.rs`) remains for what this op does not
//! cover: dropout on the weights, and masks that take gradients.

use std::sync::Mutex;

use arc_core::tensor::CustomOp;
use arc_core::tensor::gemm::{Threads, gemm, view};
use arc_core::tensor::ndarray::{ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis};
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

    /// The `[len, hd]` view of head `h` of batch `n` in an operand of row width `width`
    /// and `len` positions, at column offset `column`.
    fn head<'a>(
        &self,
        data: &'a [f32],
        (n, h): (usize, usize),
        len: usize,
        width: usize,
        column: usize,
    ) -> Result<ArrayView2<'a, f32>> {
        let g = &self.geometry;
        let col = column + h * g.head_dim;
        let (base, rs) = if g.seq_first { (n * width + col, g.batch * width) } else { (n * len * width + col, width) };
        view(data, base, (len, g.head_dim), (rs, 1))
    }

    /// `(q, k, v)` views of pair `(n, h)`.
    fn operand_heads<'a>(&self, [q, k, v]: [&'a [f32]; 3], pair: (usize, usize)) -> Result<[ArrayView2<'a, f32>; 3]> {
        let g = &self.geometry;
        let e = g.heads * g.head_dim;
        Ok(if g.packed {
            [
                self.head(q, pair, g.queries, 3 * e, 0)?,
                self.head(k, pair, g.queries, 3 * e, e)?,
                self.head(v, pair, g.queries, 3 * e, 2 * e)?,
            ]
        } else {
            [self.head(q, pair, g.queries, e, 0)?, self.head(k, pair, g.keys, e, 0)?, self.head(v, pair, g.keys, e, 0)?]
        })
    }

    /// Disjoint mutable `[len, hd]` views of a buffer of `len` positions and row width
    /// `blocks * E`: `[block][n * heads + h]`, head `h` of batch `n` in column block `block`.
    fn heads_mut<'a>(
        &self,
        data: &'a mut [f32],
        len: usize,
        blocks: usize,
    ) -> Result<Vec<Vec<ArrayViewMut2<'a, f32>>>> {
        let g = &self.geometry;
        let width = blocks * g.heads * g.head_dim;
        let bad = || Error::ShapeMismatch { op: OP, lhs: vec![g.batch, len, width], rhs: vec![] };
        let whole = if g.seq_first {
            ArrayViewMut3::from_shape((len, g.batch, width), data).map_err(|_| bad())?.permuted_axes([1, 0, 2])
        } else {
            ArrayViewMut3::from_shape((g.batch, len, width), data).map_err(|_| bad())?
        };
        let mut out: Vec<Vec<ArrayViewMut2<'a, f32>>> =
            (0..blocks).map(|_| Vec::with_capacity(g.batch * g.heads)).collect();
        for mut rest in whole.into_outer_iter_mut() {
            for block in &mut out {
                for _ in 0..g.heads {
                    let (head, after) = rest.split_at(Axis(1), g.head_dim);
                    block.push(head);
                    rest = after;
                }
            }
        }
        Ok(out)
    }

    /// [`Self::heads_mut`] of a buffer of one block.
    fn one_block_mut<'a>(&self, data: &'a mut [f32], len: usize) -> Result<Vec<ArrayViewMut2<'a, f32>>> {
        Ok(self.heads_mut(data, len, 1)?.pop().unwrap_or_default())
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
        let out_heads = self.one_block_mut(&mut out, l)?;
        weights.par_chunks_mut((l * s).max(1)).zip(out_heads).enumerate().try_for_each(
            |(pair, (p, o))| -> Result<()> {
                let (n, h) = (pair / g.heads, pair % g.heads);
                let [qh, kh, vh] = self.operand_heads([q, k, v], (n, h))?;
                let pm = ArrayViewMut2::from_shape((l, s), &mut *p).map_err(|_| Error::ShapeMismatch {
                    op: OP,
                    lhs: vec![l, s],
                    rhs: vec![],
                })?;
                gemm(pm, qh, kh.t(), false, Threads::Calling)?;
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
                gemm(o, own(p, l, s)?, vh, false, Threads::Calling)
            },
        )?;
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
        // One buffer per gradient (or one packed [.., 3E] buffer), each pair writing its own blocks.
        let mut grads: Vec<Vec<f32>> = operands.iter().map(|t| vec![0.0f32; t.numel()]).collect();
        let (dq, dk, dv) = match &mut grads[..] {
            [packed] => {
                let mut blocks = self.heads_mut(packed, l, 3)?.into_iter();
                let mut next = || blocks.next().unwrap_or_default();
                (next(), next(), next())
            }
            [dq, dk, dv] => (self.one_block_mut(dq, l)?, self.one_block_mut(dk, s)?, self.one_block_mut(dv, s)?),
            _ => return Err(Error::NoBackward { op: format!("{OP} (operands)") }),
        };
        let scale = 1.0 / (hd as f32).sqrt();
        dq.into_par_iter().zip(dk).zip(dv).enumerate().try_for_each_init(
            || vec![0.0f32; l * s],
            |ds, (pair, ((dq, dk), dv))| -> Result<()> {
                let (n, h) = (pair / g.heads, pair % g.heads);
                let [qh, kh, vh] = self.operand_heads([q, k, v], (n, h))?;
                let doh = self.head(dout, (n, h), l, g.heads * hd, 0)?;
                let p = own(&weights[pair * l * s..(pair + 1) * l * s], l, s)?;
                // dV = P^T dO, dP = dO V^T
                gemm(dv, p.t(), doh, false, Threads::Calling)?;
                gemm(own_mut(ds, l, s)?, doh, vh.t(), false, Threads::Calling)?;
                for (drow, prow) in ds.chunks_exact_mut(s.max(1)).zip(p.rows()) {
                    let dot: f32 = drow.iter().zip(prow).map(|(d, p)| d * p).sum();
                    for (d, &pv) in drow.iter_mut().zip(prow) {
                        *d = pv * (*d - dot) * scale;
                    }
                }
                // dQ = dS K, dK = dS^T Q
                let dsv = own(ds, l, s)?;
                gemm(dq, dsv, kh, false, Threads::Calling)?;
                gemm(dk, dsv.t(), qh, false, Threads::Calling)
            },
        )?;
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

/// A row-major `[rows, cols]` block of the op's own.
fn own(data: &[f32], rows: usize, cols: usize) -> Result<ArrayView2<'_, f32>> {
    view(data, 0, (rows, cols), (cols, 1))
}

/// A mutable row-major `[rows, cols]` block of the op's own.
fn own_mut(data: &mut [f32], rows: usize, cols: usize) -> Result<ArrayViewMut2<'_, f32>> {
    ArrayViewMut2::from_shape((rows, cols), data).map_err(|_| Error::ShapeMismatch {
        op: OP,
        lhs: vec![rows, cols],
        rhs: vec![],
    })
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
