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

/// One operand as cuBLAS reads it: the tensor holding the data (the input itself, or a
/// contiguous / expanded copy), whether cuBLAS must transpose it, its leading dimension,
/// and the element distance between consecutive batch matrices (0 = shared by all).
struct Operand {
    t: Tensor,
    trans: bool,
    ld: usize,
    batch_stride: usize,
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

/// `t`'s last two dims as a cuBLAS operand over the broadcast `batch` dims: as it is when
/// possible, else contiguous, else expanded to the full batch (a copy per batch).
fn operand(t: &Tensor, batch: &[usize]) -> Result<Operand> {
    let try_as_is = |t: &Tensor| -> Option<Operand> {
        let l = t.layout();
        let r = l.shape.len();
        let (trans, ld) = mat_op(l.shape[r - 2], l.shape[r - 1], l.strides[r - 2], l.strides[r - 1])?;
        let batch_stride = batch_stride(l, batch)?;
        Some(Operand { t: t.clone(), trans, ld, batch_stride })
    };
    if let Some(op) = try_as_is(t) {
        return Ok(op);
    }
    if let Some(op) = try_as_is(&contiguous(t)?) {
        return Ok(op);
    }
    let r = t.rank();
    let mut full = batch.to_vec();
    full.extend_from_slice(&t.shape()[r - 2..]);
    try_as_is(&expand(t, &full)?).ok_or_else(|| Error::Cuda {
        op: "matmul".into(),
        message: format!("no cuBLAS layout for an operand of shape {:?}", t.shape()),
    })
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

/// `c[batch, m, n] = a[batch, m, k] @ b[batch, k, n] + beta * c` (row-major, contiguous `c`)
/// through one cuBLAS call. `k`, `m` and `n` are non-zero.
#[allow(clippy::too_many_arguments)]
fn gemm(
    dev: &CudaDev,
    op: &'static str,
    a: &Operand,
    b: &Operand,
    c: &mut CudaSlice<f32>,
    (batch, m, n, k): (usize, usize, usize, usize),
    beta: f32,
) -> Result<()> {
    let blas = dev.blas()?;
    let (av, bv) = (operand_view(a, op)?, operand_view(b, op)?);
    // Column-major: C^T (n x m) = op(B^T) (n x k) @ op(A^T) (k x m).
    let cfg = GemmConfig {
        transa: blas_op(b.trans),
        transb: blas_op(a.trans),
        m: int(n, op)?,
        n: int(m, op)?,
        k: int(k, op)?,
        alpha: 1.0f32,
        lda: int(b.ld, op)?,
        ldb: int(a.ld, op)?,
        beta,
        ldc: int(n, op)?,
    };
    let err = |e: cudarc::cublas::result::CublasError| Error::Cuda { op: op.into(), message: format!("{e:?}") };
    if batch == 1 {
        // SAFETY: the operands' layouts (checked by `mat_op`) address in-bounds elements for
        // every index of their [m, k] / [k, n] matrices; `c` holds m * n elements.
        unsafe { blas.gemm(cfg, &bv, &av, c) }.map_err(err)
    } else {
        let cfg = StridedBatchedConfig {
            gemm: cfg,
            batch_size: int(batch, op)?,
            stride_a: b.batch_stride as i64,
            stride_b: a.batch_stride as i64,
            stride_c: (m * n) as i64,
        };
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
    if nb > 1 && ob.batch_stride == 0 && !oa.trans && oa.batch_stride == m * oa.ld {
        // Row-major A batches stacked at a uniform row stride against one B: [nb * m, k].
        gemm(&dev, OP, &oa, &ob, &mut c, (1, nb * m, n, k), 0.0)?;
    } else {
        gemm(&dev, OP, &oa, &ob, &mut c, (nb, m, n, k), 0.0)?;
    }
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
        gemm(&dev, OP, &ox, &ow, &mut c, (1, rows, out_f, in_f), beta)?;
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
    gemm(&dev, OP, &oo, &og, &mut c, (1, 1, cols, rows), 0.0)?;
    Ok(tensor_f32(&dev, c, &[cols]))
}
