//! Matrix products through cuBLAS: `matmul` (2-D, batched, broadcast batch dims), the fused
//! `linear` forward (bias folded in through `beta = 1`), and column sums (a gemm with a ones
//! row) for `linear`'s bias gradient.
//!
//! cuBLAS is column-major: a row-major `C[m, n] = A[m, k] B[k, n]` is computed as
//! `C^T = B^T A^T`, i.e. cuBLAS's `A` is our `B` and its `m`/`n` are swapped. A row-major
//! matrix read column-major is its transpose, so a row-major operand is passed untransposed
//! (`OP_N`, leading dim = its row stride) and a transposed view of row-major data (`w.t()`)
//! is passed with `OP_T` (leading dim = its column stride), never copied. Other strided
//! operands are made contiguous first.

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaSlice, CudaView, PushKernelArg};

use super::device::{CudaDev, cuda_err, launch_1d};
use super::storage::{Strided, alloc_f32, f32_slice, same_device, tensor_f32, zeros_f32};
use super::{contiguous, expand, fill};
use crate::tensor::Tensor;
use crate::tensor::device::DType;
use crate::tensor::shape::{Layout, broadcast_shapes};
use crate::{Error, Result};

/// How cuBLAS reads one operand: whether it must transpose it, its leading dimension, and
/// the element distance between consecutive batch matrices (0 = shared by all).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Desc {
    trans: bool,
    ld: usize,
    batch_stride: usize,
}

/// One operand: the tensor holding the data (the input itself, or a contiguous / expanded
/// copy) and how cuBLAS reads it.
struct Operand {
    t: Tensor,
    desc: Desc,
}

/// How a `rows x cols` matrix with strides `(rs, cs)` is passed to cuBLAS without a copy:
/// `(transposed, leading dim)`, or `None` when it needs one. Size-1 dims take any stride.
fn mat_op(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<(bool, usize)> {
    if (cols == 1 || cs == 1) && (rows == 1 || rs >= cols.max(1)) {
        return Some((false, if rows == 1 { cols.max(1) } else { rs }));
    }
    if (rows == 1 || rs == 1) && (cols == 1 || cs >= rows.max(1)) {
        return Some((true, if cols == 1 { rows.max(1) } else { cs }));
    }
    None
}

/// The single batch stride of `l`'s leading dims read through the broadcast `batch` shape,
/// when the flat batch index maps to one (0 when every batch shares the matrix).
fn batch_stride(l: &Layout, batch: &[usize]) -> Option<usize> {
    let r = l.shape.len();
    let lead = batch.len() - (r - 2);
    let strides: Vec<(usize, usize)> = (0..batch.len())
        .filter(|&i| batch[i] > 1)
        .map(|i| (batch[i], if i < lead || l.shape[i - lead] == 1 { 0 } else { l.strides[i - lead] }))
        .collect();
    if strides.iter().all(|&(_, s)| s == 0) {
        return Some(0);
    }
    let ok = strides.windows(2).all(|w| w[0].1 == w[1].1 * w[1].0);
    ok.then(|| strides.last().map_or(0, |&(_, s)| s))
}

/// `l`'s last two dims over the broadcast `batch` dims as cuBLAS reads them, when it can
/// without a copy.
fn describe(l: &Layout, batch: &[usize]) -> Option<Desc> {
    let r = l.shape.len();
    let (trans, ld) = mat_op(l.shape[r - 2], l.shape[r - 1], l.strides[r - 2], l.strides[r - 1])?;
    Some(Desc { trans, ld, batch_stride: batch_stride(l, batch)? })
}

/// `t` as a cuBLAS operand over the broadcast `batch` dims: as it is when possible, else
/// contiguous, else expanded to the full batch (a copy per batch).
fn operand(t: &Tensor, batch: &[usize]) -> Result<Operand> {
    if let Some(desc) = describe(t.layout(), batch) {
        return Ok(Operand { t: t.clone(), desc });
    }
    let dense = contiguous(t)?;
    if let Some(desc) = describe(dense.layout(), batch) {
        return Ok(Operand { t: dense, desc });
    }
    let r = t.rank();
    let mut full = batch.to_vec();
    full.extend_from_slice(&t.shape()[r - 2..]);
    let expanded = expand(t, &full)?;
    match describe(expanded.layout(), batch) {
        Some(desc) => Ok(Operand { t: expanded, desc }),
        None => Err(Error::Cuda {
            op: "matmul".into(),
            message: format!("no cuBLAS layout for an operand of shape {:?}", t.shape()),
        }),
    }
}

/// The operand's elements from its offset on.
fn operand_view<'a>(o: &'a Operand, op: &'static str) -> Result<CudaView<'a, f32>> {
    let (_, s) = f32_slice(&o.t, op)?;
    s.try_slice(o.t.layout().offset..)
        .ok_or_else(|| Error::Cuda { op: op.into(), message: "an operand's offset lies outside its buffer".into() })
}

/// A size as cuBLAS's `int`.
fn int(v: usize, op: &'static str) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Cuda { op: op.into(), message: format!("{v} is too large for cuBLAS") })
}

fn blas_op(trans: bool) -> cublasOperation_t {
    if trans { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N }
}

/// Whether `nb` batches of a row-major `a` (rows `m`) against one shared `b` can run as a
/// single `[nb * m, k] @ [k, n]` product: a's batches are stacked at its row stride.
fn folds(a: Desc, b: Desc, nb: usize, m: usize) -> bool {
    nb > 1 && b.batch_stride == 0 && !a.trans && a.batch_stride == m * a.ld
}

/// The cuBLAS call computing row-major `c[batch, m, n] = a @ b + beta * c` (contiguous `c`):
/// column-major `C^T (n x m) = op(B^T) (n x k) @ op(A^T) (k x m)`, so cuBLAS's first operand
/// is `b` and its `m` / `n` are ours swapped.
fn plan(
    a: Desc,
    b: Desc,
    (batch, m, n, k): (usize, usize, usize, usize),
    beta: f32,
) -> Result<StridedBatchedConfig<f32>> {
    const OP: &str = "matmul";
    Ok(StridedBatchedConfig {
        gemm: GemmConfig {
            transa: blas_op(b.trans),
            transb: blas_op(a.trans),
            m: int(n, OP)?,
            n: int(m, OP)?,
            k: int(k, OP)?,
            alpha: 1.0f32,
            lda: int(b.ld, OP)?,
            ldb: int(a.ld, OP)?,
            beta,
            ldc: int(n, OP)?,
        },
        batch_size: int(batch, OP)?,
        stride_a: b.batch_stride as i64,
        stride_b: a.batch_stride as i64,
        stride_c: (m * n) as i64,
    })
}

/// `c[batch, m, n] = a[batch, m, k] @ b[batch, k, n] + beta * c` (row-major, contiguous `c`)
/// through one cuBLAS call. `k`, `m` and `n` are non-zero.
fn gemm(
    dev: &CudaDev,
    op: &'static str,
    (a, b): (&Operand, &Operand),
    c: &mut CudaSlice<f32>,
    dims: (usize, usize, usize, usize),
    beta: f32,
) -> Result<()> {
    let blas = dev.blas()?;
    let (av, bv) = (operand_view(a, op)?, operand_view(b, op)?);
    let cfg = plan(a.desc, b.desc, dims, beta)?;
    let err = |e: cudarc::cublas::result::CublasError| Error::Cuda { op: op.into(), message: format!("{e:?}") };
    if dims.0 == 1 {
        // SAFETY: the operands' layouts (checked by `mat_op`) address in-bounds elements for
        // every index of their [m, k] / [k, n] matrices; `c` holds m * n elements.
        unsafe { blas.gemm(cfg.gemm, &bv, &av, c) }.map_err(err)
    } else {
        // SAFETY: as above for every batch; the batch strides come from the operands'
        // layouts over the broadcast batch shape; `c` holds batch * m * n elements.
        unsafe { blas.gemm_strided_batched(cfg, &bv, &av, c) }.map_err(err)
    }
}

/// `a @ b` for f32 operands of rank >= 2 on one GPU, with the CPU's shape rules (batch dims
/// broadcast). A batched left operand with a shared right matrix is folded into one gemm.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "matmul";
    let dev = same_device(OP, &[a, b])?;
    let mismatch = || Error::ShapeMismatch { op: OP, lhs: a.shape().to_vec(), rhs: b.shape().to_vec() };
    if a.rank() < 2 || b.rank() < 2 {
        return Err(mismatch());
    }
    for t in [a, b] {
        if t.dtype() != DType::F32 {
            return Err(Error::DTypeMismatch { op: OP, expected: DType::F32, got: t.dtype() });
        }
    }
    let (ra, rb) = (a.rank(), b.rank());
    let (m, k, k2, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 2], b.shape()[rb - 1]);
    if k != k2 {
        return Err(mismatch());
    }
    let batch = broadcast_shapes(OP, &a.shape()[..ra - 2], &b.shape()[..rb - 2]).map_err(|_| mismatch())?;
    let nb: usize = batch.iter().product();
    let mut shape = batch.to_vec();
    shape.extend([m, n]);
    let total = nb * m * n;
    if total == 0 || k == 0 {
        return Ok(tensor_f32(&dev, zeros_f32(&dev, total, OP)?, &shape));
    }
    let (oa, ob) = (operand(a, &batch)?, operand(b, &batch)?);
    let mut c = alloc_f32(&dev, total, OP)?;
    let dims = if folds(oa.desc, ob.desc, nb, m) { (1, nb * m, n, k) } else { (nb, m, n, k) };
    gemm(&dev, OP, (&oa, &ob), &mut c, dims, 0.0)?;
    Ok(tensor_f32(&dev, c, &shape))
}

/// `x @ w^T + bias` for `x: [rows, in]`, `w: [out, in]`, `bias: [out]` on one GPU (shapes
/// checked by the caller): the bias is broadcast into the output, then one gemm with
/// `beta = 1` adds the product; `w^T` is read through cuBLAS's transpose flag.
pub(crate) fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    const OP: &str = "linear";
    let mut all = vec![x, w];
    all.extend(bias);
    let dev = same_device(OP, &all)?;
    let (rows, in_f, out_f) = (x.shape()[0], x.shape()[1], w.shape()[0]);
    let n = rows * out_f;
    let mut c = match bias {
        Some(b) if n > 0 => broadcast_rows(&dev, b, rows, out_f, OP)?,
        _ => zeros_f32(&dev, n, OP)?,
    };
    if n > 0 && in_f > 0 {
        let wt = w.transpose_raw(0, 1);
        let (ox, ow) = (operand(x, &[])?, operand(&wt, &[])?);
        let beta = if bias.is_some() { 1.0 } else { 0.0 };
        gemm(&dev, OP, (&ox, &ow), &mut c, (1, rows, out_f, in_f), beta)?;
    }
    Ok(tensor_f32(&dev, c, &[rows, out_f]))
}

/// `bias` (`[cols]`) copied into every row of a new `[rows, cols]` buffer.
fn broadcast_rows(dev: &CudaDev, bias: &Tensor, rows: usize, cols: usize, op: &'static str) -> Result<CudaSlice<f32>> {
    let (_, src) = f32_slice(bias, op)?;
    let n = rows * cols;
    let strided = Strided::broadcast(op, bias.layout(), &[rows, cols])?;
    let mut out = alloc_f32(dev, n, op)?;
    let f = dev.func("elementwise", "copy_strided_f32")?;
    let n64 = n as i64;
    // SAFETY: matches `copy_strided_f32`; `out` holds n elements and `strided` reads the
    // bias's layout through its broadcast to [rows, cols].
    unsafe { dev.stream.launch_builder(&f).arg(src).arg(&strided).arg(&mut out).arg(&n64).launch(launch_1d(n)) }
        .map_err(cuda_err(op))?;
    Ok(out)
}

/// The column sums of a 2-D f32 `g: [rows, cols]` as a `[cols]` tensor on its GPU, through a
/// gemm with a row of ones (`[1, rows] @ [rows, cols]`).
pub(crate) fn sum_rows(g: &Tensor) -> Result<Tensor> {
    const OP: &str = "linear";
    let dev = same_device(OP, &[g])?;
    let (rows, cols) = (g.shape()[0], g.shape()[1]);
    if rows == 0 || cols == 0 {
        return Ok(tensor_f32(&dev, zeros_f32(&dev, cols, OP)?, &[cols]));
    }
    let ones = fill(g, &[1, rows], DType::F32, 1.0)?;
    let (oo, og) = (operand(&ones, &[])?, operand(g, &[])?);
    let mut c = alloc_f32(&dev, cols, OP)?;
    gemm(&dev, OP, (&oo, &og), &mut c, (1, 1, cols, rows), 0.0)?;
    Ok(tensor_f32(&dev, c, &[cols]))
}

#[cfg(test)]
mod tests {
    //! The cuBLAS call plans checked on the host: a column-major `sgemmStridedBatched`
    //! emulation (with cuBLAS's leading-dimension rules and bounds-checked reads) runs each
    //! plan on the operands' host buffers and must reproduce the CPU matmul.

    use super::*;
    use crate::tensor::Rng;

    /// cuBLAS's `sgemmStridedBatched` on host slices (column-major), asserting its argument
    /// rules.
    fn sgemm_host(cfg: &StridedBatchedConfig<f32>, a: &[f32], b: &[f32], c: &mut [f32]) {
        let g = &cfg.gemm;
        let n_op = cublasOperation_t::CUBLAS_OP_N;
        let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
        let (lda, ldb, ldc) = (g.lda as usize, g.ldb as usize, g.ldc as usize);
        assert!(lda >= (if g.transa == n_op { m } else { k }).max(1), "lda {lda} too small: {cfg:?}");
        assert!(ldb >= (if g.transb == n_op { k } else { n }).max(1), "ldb {ldb} too small: {cfg:?}");
        assert!(ldc >= m.max(1), "ldc {ldc} too small: {cfg:?}");
        for batch in 0..cfg.batch_size as usize {
            let (ao, bo, co) =
                (batch * cfg.stride_a as usize, batch * cfg.stride_b as usize, batch * cfg.stride_c as usize);
            for j in 0..n {
                for i in 0..m {
                    let mut acc = 0.0f64;
                    for p in 0..k {
                        let av = if g.transa == n_op { a[ao + i + p * lda] } else { a[ao + p + i * lda] };
                        let bv = if g.transb == n_op { b[bo + p + j * ldb] } else { b[bo + j + p * ldb] };
                        acc += av as f64 * bv as f64;
                    }
                    let ci = co + i + j * ldc;
                    c[ci] = g.alpha * acc as f32 + g.beta * c[ci];
                }
            }
        }
    }

    /// `operand` on the host: as it is, else contiguous, else expanded.
    fn host_operand(t: &Tensor, batch: &[usize]) -> (Tensor, Desc) {
        if let Some(d) = describe(t.layout(), batch) {
            return (t.clone(), d);
        }
        let dense = t.contiguous().unwrap();
        if let Some(d) = describe(dense.layout(), batch) {
            return (dense, d);
        }
        let mut full = batch.to_vec();
        full.extend_from_slice(&t.shape()[t.rank() - 2..]);
        let e = t.broadcast_as(&full).unwrap().contiguous().unwrap();
        let d = describe(e.layout(), batch).expect("an expanded operand is row-major");
        (e, d)
    }

    fn data(t: &Tensor) -> &[f32] {
        let (d, l) = t.cpu_f32("test").unwrap();
        &d[l.offset..]
    }

    /// `matmul`'s planning, executed by the emulation.
    fn planned_matmul(a: &Tensor, b: &Tensor) -> (Vec<f32>, bool) {
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k, n) = (a.shape()[ra - 2], a.shape()[ra - 1], b.shape()[rb - 1]);
        let batch = broadcast_shapes("t", &a.shape()[..ra - 2], &b.shape()[..rb - 2]).unwrap();
        let nb: usize = batch.iter().product();
        let ((at, ad), (bt, bd)) = (host_operand(a, &batch), host_operand(b, &batch));
        let folded = folds(ad, bd, nb, m);
        let dims = if folded { (1, nb * m, n, k) } else { (nb, m, n, k) };
        let cfg = plan(ad, bd, dims, 0.0).unwrap();
        let mut c = vec![f32::NAN; nb * m * n];
        // beta = 0 must not read c: NaN * 0 would poison it, so clear first as cuBLAS does.
        c.iter_mut().for_each(|v| *v = 0.0);
        sgemm_host(&cfg, data(&bt), data(&at), &mut c);
        (c, folded)
    }

    fn close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{what}: element {i}: {g} vs {w}");
        }
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        Tensor::randn(shape, &mut Rng::new(seed))
    }

    #[test]
    fn plans_reproduce_the_cpu_matmul_for_every_layout() -> Result<()> {
        let t = |x: Tensor| x.t().unwrap();
        let cases: Vec<(&str, Tensor, Tensor, Option<bool>)> = vec![
            ("2-D", randn(&[7, 33], 1), randn(&[33, 129], 2), Some(false)),
            ("1 x 1", randn(&[1, 1], 1), randn(&[1, 1], 2), None),
            ("row x col", randn(&[1, 33], 1), randn(&[33, 1], 2), None),
            ("col x row", randn(&[129, 1], 1), randn(&[1, 7], 2), None),
            ("a^T", t(randn(&[33, 7], 3)), randn(&[33, 5], 4), None),
            ("b^T", randn(&[7, 33], 5), t(randn(&[129, 33], 6)), None),
            ("a^T b^T", t(randn(&[33, 7], 7)), t(randn(&[5, 33], 8)), None),
            ("narrowed", randn(&[7, 33], 9).narrow(1, 4, 20)?, randn(&[40, 9], 10).narrow(0, 3, 20)?, None),
            ("b^T narrowed", randn(&[4, 6], 1), t(randn(&[9, 6], 2).narrow(0, 2, 5)?), None),
            ("batched", randn(&[3, 7, 33], 11), randn(&[3, 33, 5], 12), Some(false)),
            ("4-D batched", randn(&[2, 3, 7, 9], 13), randn(&[2, 3, 9, 4], 14), None),
            ("permuted batch", randn(&[7, 3, 5], 15).permute(&[1, 0, 2])?, randn(&[3, 5, 4], 16), None),
            ("batched a^T", randn(&[3, 33, 7], 17).transpose(1, 2)?, randn(&[3, 33, 5], 18), None),
            ("batched b^T", randn(&[3, 7, 33], 17), randn(&[3, 5, 33], 18).transpose(1, 2)?, None),
            ("folded", randn(&[4, 7, 33], 19), randn(&[33, 5], 20), Some(true)),
            ("folded 4-D", randn(&[2, 3, 1, 129], 21), randn(&[129, 7], 22), Some(true)),
            ("broadcast b^T", randn(&[4, 7, 33], 19), t(randn(&[5, 33], 20)), Some(true)),
            ("batched a^T, shared b", randn(&[4, 33, 7], 23).transpose(1, 2)?, randn(&[33, 5], 24), Some(false)),
            ("gapped batches, shared b", randn(&[4, 9, 33], 33).narrow(1, 1, 7)?, randn(&[33, 5], 34), Some(false)),
            (
                "interleaved batches, shared b",
                randn(&[7, 3, 5], 35).permute(&[1, 0, 2])?,
                randn(&[5, 4], 36),
                Some(false),
            ),
            ("shared a", randn(&[7, 33], 25), randn(&[4, 33, 5], 26), Some(false)),
            ("shared row", randn(&[1, 129], 25), randn(&[4, 129, 1], 26), Some(false)),
            ("mixed broadcast", randn(&[2, 1, 7, 5], 27), randn(&[3, 5, 4], 28), Some(false)),
            ("broadcast 1-batch", randn(&[1, 7, 5], 29), randn(&[3, 5, 4], 30), Some(false)),
            ("permuted 4-D", randn(&[3, 2, 4, 5], 31).permute(&[1, 0, 2, 3])?, randn(&[5, 6], 32), None),
        ];
        for (what, a, b, want_fold) in cases {
            let want = a.matmul(&b)?.to_vec()?;
            let (got, folded) = planned_matmul(&a, &b);
            close(what, &got, &want);
            if let Some(f) = want_fold {
                assert_eq!(folded, f, "{what}: fold");
            }
        }
        Ok(())
    }

    #[test]
    fn transposed_views_are_read_in_place() {
        // w^T of a contiguous [out, in] weight: OP_T with ld = in, no copy.
        let w = randn(&[7, 33], 1);
        let d = describe(w.t().unwrap().layout(), &[]).unwrap();
        assert_eq!(d, Desc { trans: true, ld: 33, batch_stride: 0 });
        let x = randn(&[9, 33], 2);
        assert_eq!(describe(x.layout(), &[]).unwrap(), Desc { trans: false, ld: 33, batch_stride: 0 });
        // A permuted batch is strided but needs no copy; a mixed broadcast does.
        let p = randn(&[7, 3, 5], 3).permute(&[1, 0, 2]).unwrap();
        assert_eq!(describe(p.layout(), &[3]).unwrap(), Desc { trans: false, ld: 15, batch_stride: 5 });
        let q = randn(&[2, 1, 7, 5], 4);
        assert!(describe(q.layout(), &[2, 3]).is_none());
    }

    #[test]
    fn linear_and_column_sum_plans_match_the_cpu() -> Result<()> {
        // linear: c = bias rows, then x @ w^T with beta = 1.
        let (x, w, bias) = (randn(&[9, 33], 1), randn(&[7, 33], 2), randn(&[7], 3));
        let want = x.linear(&w, Some(&bias))?.to_vec()?;
        let (wt, xd) = (w.t()?, describe(x.layout(), &[]).unwrap());
        let wd = describe(wt.layout(), &[]).unwrap();
        let mut c: Vec<f32> = (0..9).flat_map(|_| bias.to_vec().unwrap()).collect();
        sgemm_host(&plan(xd, wd, (1, 9, 7, 33), 1.0)?, data(&wt), data(&x), &mut c);
        close("linear", &c, &want);
        // Column sums as ones[1, rows] @ g.
        let g = randn(&[9, 7], 4);
        let want = g.sum(&[0], false)?.to_vec()?;
        let ones = Tensor::ones(&[1, 9]);
        let (od, gd) = (describe(ones.layout(), &[]).unwrap(), describe(g.layout(), &[]).unwrap());
        let mut c = vec![0.0; 7];
        sgemm_host(&plan(od, gd, (1, 1, 7, 9), 0.0)?, data(&g), data(&ones), &mut c);
        close("column sums", &c, &want);
        // dW = g^T @ x reads g^T in place.
        let gt = g.t()?;
        let want = gt.matmul(&x)?.to_vec()?;
        let (got, _) = planned_matmul(&gt, &x);
        close("dW", &got, &want);
        Ok(())
    }
}
