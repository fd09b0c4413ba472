//! Host storage and the small helpers every CPU kernel shares: uninitialised output buffers,
//! the rayon threshold, and ndarray views over (strided) storage.

use std::mem::MaybeUninit;

use ndarray::{ArrayViewD, IxDyn, ShapeBuilder};
use rayon::prelude::*;

use super::super::device::DType;
use super::super::shape::Layout;

/// Below this many elements a kernel runs on the calling thread: waking rayon's workers costs
/// a few microseconds, more than a small elementwise op takes.
pub(crate) const PAR_ELEMS: usize = 1 << 15;

/// Chunk of elements handed to one rayon task by the elementwise kernels.
const CHUNK: usize = 1 << 13;

/// Host memory of one dtype, contiguous; tensors read it through a [`Layout`].
#[derive(Debug, Clone)]
pub(crate) enum CpuStorage {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl CpuStorage {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::I64(_) => DType::I64,
        }
    }
}

/// The number of threads the CPU kernels (and gemm) use: rayon's current pool, sized by
/// `RAYON_NUM_THREADS` or the core count.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Whether a kernel over `n` elements should use rayon.
#[inline]
pub(crate) fn should_par(n: usize) -> bool {
    n >= PAR_ELEMS && rayon::current_num_threads() > 1
}

/// Allocates `n` floats and lets `fill` initialise every one of them, without zeroing first
/// (a 1 MiB memset is a fifth of a LayerNorm's time). `fill` must write all `n` slots.
pub(crate) fn build_f32(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: every caller's `fill` writes all `n` elements (each kernel writes its whole
    // output range: a row loop over all rows, or a zip over all inputs of length `n`).
    unsafe { v.set_len(n) };
    v
}

/// `f` applied to every element, in parallel chunks above the threshold.
pub(crate) fn map_f32(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    if !should_par(x.len()) {
        return x.iter().map(|&v| f(v)).collect();
    }
    build_f32(x.len(), |out| {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, i)| {
            for (o, &v) in o.iter_mut().zip(i) {
                o.write(f(v));
            }
        })
    })
}

/// `f(a_i, b_i)` for two equally long slices.
pub(crate) fn zip_map_f32(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    debug_assert_eq!(a.len(), b.len());
    if !should_par(a.len()) {
        return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    }
    build_f32(a.len(), |out| {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| {
            for (o, (&x, &y)) in o.iter_mut().zip(a.iter().zip(b)) {
                o.write(f(x, y));
            }
        })
    })
}

/// Rows per rayon task when splitting `rows` rows of `cols` elements: an even share per
/// thread, but no task under [`PAR_ELEMS`] / 4 elements.
pub(crate) fn rows_per_task(rows: usize, cols: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let min_rows = (PAR_ELEMS / 4).div_ceil(cols.max(1));
    rows.div_ceil(threads).max(min_rows).max(1)
}

/// Runs `f(row_index, input_row, output_row)` over the rows of a `[rows, cols]` buffer,
/// in parallel when the buffer is large. Returns the new buffer.
pub(crate) fn par_rows(x: &[f32], cols: usize, f: impl Fn(usize, &[f32], &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    // A last row may be shorter (GELU runs over fixed-size chunks of any length).
    let rows = if cols == 0 { 0 } else { x.len().div_ceil(cols) };
    par_rows_with(x, cols, &mut vec![(); rows], |r, i, o, _| f(r, i, o))
}

/// [`par_rows`] with a per-row side output: `f(row_index, input_row, output_row, &mut
/// side[row_index])` (a norm's mean and rstd). `side` holds one slot per row.
pub(crate) fn par_rows_with<S: Send>(
    x: &[f32],
    cols: usize,
    side: &mut [S],
    f: impl Fn(usize, &[f32], &mut [MaybeUninit<f32>], &mut S) + Sync,
) -> Vec<f32> {
    let n = x.len();
    if cols == 0 || n == 0 {
        return Vec::new();
    }
    assert_eq!(side.len(), n.div_ceil(cols), "one side slot per row");
    build_f32(n, |out| {
        if should_par(n) {
            // One contiguous block of rows per thread: fewer, larger tasks than one per row
            // (measured: softmax over 64 x 4096 on 2 threads, 52 -> ~45 us).
            let block = rows_per_task(n / cols, cols);
            let run = |b: usize, o: &mut [MaybeUninit<f32>], i: &[f32], s: &mut [S]| {
                for (r, ((o, i), s)) in o.chunks_mut(cols).zip(i.chunks(cols)).zip(s).enumerate() {
                    f(b * block + r, i, o, s);
                }
            };
            let blocks = out.chunks_mut(block * cols).zip(x.chunks(block * cols)).zip(side.chunks_mut(block));
            if rayon::current_thread_index().is_none() {
                // Called from outside the pool: this thread takes the first block itself
                // and hands the rest to the pool, instead of sleeping until the pool
                // has done them all.
                let mut blocks = blocks.enumerate();
                let first = blocks.next();
                let run = &run;
                rayon::in_place_scope(|scope| {
                    for (b, ((o, i), s)) in blocks {
                        scope.spawn(move |_| run(b, o, i, s));
                    }
                    if let Some((b, ((o, i), s))) = first {
                        run(b, o, i, s);
                    }
                });
            } else {
                out.par_chunks_mut(block * cols)
                    .zip(x.par_chunks(block * cols))
                    .zip(side.par_chunks_mut(block))
                    .enumerate()
                    .for_each(|(b, ((o, i), s))| run(b, o, i, s));
            }
        } else {
            for (r, ((o, i), s)) in out.chunks_mut(cols).zip(x.chunks(cols)).zip(side).enumerate() {
                f(r, i, o, s);
            }
        }
    })
}

/// An ndarray view of `data` through `layout` (strides are element counts).
pub(crate) fn view_f32<'a, T>(data: &'a [T], layout: &Layout) -> ArrayViewD<'a, T> {
    let shape = IxDyn(&layout.shape).strides(IxDyn(&layout.strides));
    ArrayViewD::from_shape(shape, &data[layout.offset..])
        .expect("layouts are in bounds and non-overlapping by construction (shape.rs)")
}
