//! A single-precision GEMM in two builds, chosen at run time: AVX-512 (a 14×32 register
//! tile) and AVX2 + FMA (a 6×16 tile, for CPUs such as AMD Zen 2 and 3); BLIS-style
//! blocking and packed panels. The text below describes the AVX-512 build; the AVX2 build
//! has the same loops with its own sizes (`x86::avx2`: 6-row and 16-column panels, 8×8
//! transposes, `KC` 256, `NC` 256 for its 512 KiB L2, ragged edges through `vmaskmovps`).
//!
//! `c[m, n] (+)= a[m, k] @ b[k, n]` for operands with arbitrary non-negative element strides.
//! The loops of one thread, outermost first: chunks of up to `MC` rows (`ic`); `KC` steps of
//! the depth (`pc`), where the `MC × KC` block of `a` is packed once into 14-row panels
//! (transposed 16×16 in registers from a row-major `a`), or read in place when `n` spans few
//! panels; `NC` columns (`jc`), where the `KC × NC` block of `b` is packed into 32-column
//! panels (1 MiB, it stays in the 2 MiB L2); each 14-row panel of `a` (28 KiB, in the 48 KiB
//! L1d); each 32-column panel of `b` (streamed from L2), with the microkernel over the 14×32
//! tile: 28 zmm accumulators, two loads of `b` and fourteen broadcasts of `a` per step of `k`,
//! the tile of `c` prefetched during the last 64 steps. Ragged tiles run the same kernel
//! instantiated for fewer rows (1..=13) or one vector of columns, with masked loads and
//! stores.
//!
//! The kernel writes vectors along the rows of `c`; a column-major `c` is handled as
//! `c^T = b^T @ a^T`, and a `c` with no unit stride goes through a tile buffer.
//!
//! Threads split `c` into blocks of whole tiles along `m` or `n` only, never `k`, and the
//! depth blocking depends only on `k`: every element is the same chain of fused multiply-adds
//! in the same order whatever the thread count, so results are bit-identical for any
//! `threads`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
#[cfg(target_arch = "x86_64")]
use std::cell::RefCell;

/// Whether the running CPU has what one of the kernel's builds needs (avx512f, unless the
/// environment sets `ARC_DISABLE_AVX512`; or avx2 and fma), detected at run time and cached.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::tensor::math::has_avx512() || x86::has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The AVX-512 build's tile rows (broadcasts of `a` per step of `k`).
const MR: usize = 14;
/// The AVX-512 build's tile columns (two zmm vectors of `b` per step of `k`).
const NR: usize = 16 * NVEC;
/// zmm vectors per row of the AVX-512 build's tile.
const NVEC: usize = 2;
/// The AVX-512 build's largest depth block: a 14-row panel of packed `a` is `KC * 56` bytes
/// (28 KiB, in the 48 KiB L1d beside the streamed panel of `b`). Measured against 256 and
/// 384: fewer loads and stores of `c` per multiply-add.
const KC: usize = 512;
/// The AVX-512 build's largest row block: the packed `MC × KC` block of `a` (up to 8.2 MiB)
/// is packed once per depth block and read from L3, one 14-row panel at a time.
const MC: usize = MR * 300;
/// The AVX-512 build's largest column block: a packed `KC × NC` block of `b` is 1 MiB, in
/// the 2 MiB L2.
const NC: usize = 512;
/// The largest tile of any build (`MR × NR` floats), for the tile buffer of a strided `c`.
const TILE_MAX: usize = MR * NR;
/// Steps of `k` left when the microkernel starts fetching its tile of `c`.
const C_PREFETCH_STEPS: usize = 64;
/// Unrolling of the microkernel's loop over `k`.
const UNROLL: usize = 2;
/// Below `m * n * k` = this many multiply-adds per thread, fewer threads are used (waking a
/// rayon worker costs about as much as 1M multiply-adds on one core; on the AVX2 build a
/// lower bound, 128K, made 64^3 3x slower on 2 threads).
const PAR_MIN_WORK: usize = 1 << 20;
/// How much more a transposing pack costs than a copying one, for the choice of the
/// dimension that threads split.
const SPLIT_TRANSPOSE_COST: usize = 2;
/// Products whose `a` has at most this many rows (three 14-row panels of the AVX-512 build:
/// a recurrent scan's per-thread batch block) read a row-major `b` in place instead of
/// packing it (the LSTM backward's per-step `[32, 512] @ [512, 128]`: 28.5 -> 25.1 us).
const DIRECT_B_MAX_ROWS: usize = 42;
/// A block of a row-major `a` used by at most this many columns of `b` (two 32-column
/// panels of the AVX-512 build, four 16-column ones of the AVX2 build) is read in place
/// (broadcast from its own strides) instead of packed: a Linear's transposed-orientation
/// forward, `W [1024, 1024] @ x^T [1024, 64]`, would otherwise transpose all of W every
/// call (AVX2 build, 2-core Zen 3: 1.4-1.75 ms packed). A column-major `a` is always packed:
/// read in place, its columns at a power-of-two stride share a few L1 sets (the LSTM's
/// `dW_hh`, `[512, 1216] @ [1216, 128]`, took 926 us that way, 660 us packed).
const DIRECT_A_MAX_COLS: usize = 64;

/// `c[m, n] = (if accumulate { c } else { 0 }) + a[m, k] @ b[k, n]`, element (i, j) of x at
/// `x + i*rs + j*cs` (strides in elements, any non-negative values, including transposed or
/// column-major operands and row strides larger than the width); computed on up to
/// `threads` threads of rayon's current pool (1 = calling thread only).
///
/// Results are bit-identical for every call with the same inputs, whatever `threads`.
///
/// # Safety
/// All addressed elements in bounds, `c` not aliasing `a` or `b`, [`available`] is true.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    accumulate: bool,
    threads: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        debug_assert!(available());
        let p = Problem { m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, accumulate };
        // SAFETY: forwarded from the caller (bounds, no aliasing); the build's features are
        // present (`available`, checked again here).
        unsafe {
            if crate::tensor::math::has_avx512() {
                x86::run::<x86::Avx512>(p.oriented(), threads)
            } else {
                x86::run::<x86::Avx2>(p.oriented(), threads)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, accumulate, threads);
        unreachable!("microkernel::sgemm called where available() is false");
    }
}

/// One product's operands; `Send`/`Sync` so that threads can share it (each writes a
/// disjoint block of `c`).
#[derive(Clone, Copy)]
struct Problem {
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    accumulate: bool,
}

// SAFETY: the pointers are only dereferenced under `sgemm`'s contract, and threads write
// disjoint blocks of `c`.
unsafe impl Send for Problem {}
// SAFETY: as above; shared access reads `a` and `b` only.
unsafe impl Sync for Problem {}

impl Problem {
    /// The kernel stores vectors along rows of `c`: a column-major `c`, or one with fewer
    /// than 16 columns and more rows, becomes `c^T = b^T @ a^T` (the same sums in the same
    /// order, so the choice cannot change a result's bits).
    fn oriented(self) -> Problem {
        let narrow = self.n < 16 && self.m > self.n;
        let swap = if self.csc == 1 { narrow } else { self.rsc == 1 || narrow };
        if swap {
            Problem {
                m: self.n,
                n: self.m,
                k: self.k,
                a: self.b,
                rsa: self.csb,
                csa: self.rsb,
                b: self.a,
                rsb: self.csa,
                csb: self.rsa,
                c: self.c,
                rsc: self.csc,
                csc: self.rsc,
                accumulate: self.accumulate,
            }
        } else {
            self
        }
    }

    /// The sub-product of rows `r0..r1` and columns `j0..j1` of `c`.
    fn block(&self, r0: usize, r1: usize, j0: usize, j1: usize) -> Problem {
        Problem {
            m: r1 - r0,
            n: j1 - j0,
            a: self.a.wrapping_offset(r0 as isize * self.rsa),
            b: self.b.wrapping_offset(j0 as isize * self.csb),
            c: self.c.wrapping_offset(r0 as isize * self.rsc + j0 as isize * self.csc),
            ..*self
        }
    }
}

/// Splits `len` items, counted in units of `unit`, into `parts` contiguous ranges whose
/// boundaries are multiples of `unit`; returns the boundary of part `i`.
fn split_point(len: usize, unit: usize, parts: usize, i: usize) -> usize {
    let units = len.div_ceil(unit);
    (units * i / parts * unit).min(len)
}

/// A depth, row or column block size near `max` that splits `len` into equal blocks
/// (multiples of `unit`), so that no block is a sliver.
fn balanced(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    /// Packing buffers of one thread, reused across calls.
    #[derive(Default)]
    struct Buffers {
        a: AlignedBuf,
        b: AlignedBuf,
    }

    /// A growable f32 buffer whose start is 64-byte aligned.
    #[derive(Default)]
    struct AlignedBuf {
        raw: Vec<f32>,
    }

    impl AlignedBuf {
        /// A pointer to at least `len` writable floats, 64-byte aligned, followed by at
        /// least [`PACK_SLACK`] more (a pack's last full-vector store may reach past `len`).
        fn get(&mut self, len: usize) -> *mut f32 {
            if self.raw.len() < len + 15 + PACK_SLACK {
                self.raw = vec![0.0; len + 15 + PACK_SLACK];
            }
            let p = self.raw.as_mut_ptr();
            let skip = p.align_offset(64).min(15);
            p.wrapping_add(skip)
        }
    }

    /// Floats writable past the end of a packing buffer.
    const PACK_SLACK: usize = 16;

    thread_local! {
        static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    }

    /// Whether the CPU has AVX2 and FMA (the [`Avx2`] build), detected once.
    pub(super) fn has_avx2_fma() -> bool {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"))
    }

    /// One instruction set's build of the kernel: its tile and block sizes, its packing and
    /// its register-tile routine. The blocked loops and the threads' split are shared.
    pub(super) trait Build {
        /// Rows of the register tile.
        const MR: usize;
        /// Columns of the register tile (two vectors).
        const NR: usize;
        /// Largest depth block.
        const KC: usize;
        /// Largest row block (the packed block of `a`).
        const MC: usize;
        /// Largest column block (the packed block of `b`, kept in L2).
        const NC: usize;
        /// Multiply-adds per cycle of one core, for the cost of a split.
        const FMAS_PER_CYCLE: usize;

        /// Packs the `mc × kc` block of `a` into `MR`-row panels.
        ///
        /// # Safety
        /// The block is in bounds; `dst` holds `mc.div_ceil(MR) * MR * kc` floats and
        /// [`PACK_SLACK`] more; the build's features are present.
        unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dst: *mut f32);

        /// Packs the `kc × nc` block of `b` into `NR`-column panels, zero-padded.
        ///
        /// # Safety
        /// The block is in bounds; `dst` holds `nc.div_ceil(NR) * NR * kc` floats, 64-byte
        /// aligned; the build's features are present.
        unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: *mut f32);

        /// `c[..mr, ..t.nr] = (load_c ? c : 0) + a @ b` at row stride `rsc` (unit column
        /// stride); `direct_a`/`direct_b`: the panel is read in place, else it is packed.
        ///
        /// # Safety
        /// The panels and the tile of `c` are in bounds; the build's features are present.
        #[allow(clippy::too_many_arguments)]
        unsafe fn tile(t: &Tile, mr: usize, direct_a: bool, direct_b: bool, c: *mut f32, rsc: isize, load_c: bool);
    }

    /// The AVX-512 build: a 14×32 tile of 28 zmm accumulators.
    pub(super) struct Avx512;

    impl Build for Avx512 {
        const MR: usize = MR;
        const NR: usize = NR;
        const KC: usize = KC;
        const MC: usize = MC;
        const NC: usize = NC;
        const FMAS_PER_CYCLE: usize = 32;

        unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dst: *mut f32) {
            // SAFETY: forwarded.
            unsafe { pack_a(mc, kc, a, rsa, csa, dst) }
        }

        unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: *mut f32) {
            // SAFETY: forwarded.
            unsafe { pack_b(kc, nc, b, rsb, csb, dst) }
        }

        unsafe fn tile(t: &Tile, mr: usize, direct_a: bool, direct_b: bool, c: *mut f32, rsc: isize, load_c: bool) {
            // SAFETY: forwarded.
            unsafe { t.run(mr, direct_a, direct_b, c, rsc, load_c) }
        }
    }

    pub(super) use avx2::Avx2;

    /// Runs an oriented product on up to `threads` threads.
    ///
    /// # Safety
    /// As [`sgemm`]'s; `K`'s features are present.
    pub(super) unsafe fn run<K: Build>(p: Problem, threads: usize) {
        if p.m == 0 || p.n == 0 {
            return;
        }
        let work = p.m.saturating_mul(p.n).saturating_mul(p.k);
        let threads = threads.min(rayon::current_num_threads()).min(work / PAR_MIN_WORK).max(1);
        if threads == 1 {
            // SAFETY: forwarded.
            unsafe { run_one::<K>(p) };
            return;
        }
        // Split the dimension whose split costs the busiest thread less: its multiply-adds
        // (whole tiles, 32 a cycle with AVX-512) plus what it packs (about half a cycle per copied
        // element; a transposing pack, of a row-major `a` or a column-major `b`, twice that).
        // Splitting along m duplicates the packing of `b` in every thread, along n that of
        // `a`: the LSTM's dW_hh, [512, 1216] @ [1216, 128], split along n for 4% better
        // balance took 631 us, along m 503 us. Ties go to n.
        let (mr, nr) = (K::MR, K::NR);
        let (units_m, units_n) = (p.m.div_ceil(mr), p.n.div_ceil(nr));
        let widest =
            |len: usize, units: usize, unit: usize| (units.div_ceil(threads.min(units)) * unit).min(len) as f64;
        let (wm, wn) = (widest(p.m, units_m, mr), widest(p.n, units_n, nr));
        let pack_a = if p.rsa == 1 { 1.0 } else { SPLIT_TRANSPOSE_COST as f64 } * p.k as f64;
        let pack_b = if p.csb == 1 { 1.0 } else { SPLIT_TRANSPOSE_COST as f64 } * p.k as f64;
        let (m, n, k) = (p.m as f64, p.n as f64, p.k as f64);
        let fmas = K::FMAS_PER_CYCLE as f64;
        let cost = |rows: f64, cols: f64| rows * cols * k / fmas + (rows * pack_a + cols * pack_b) / 2.0;
        let along_n = cost(m, wn) <= cost(wm, n);
        let parts = threads.min(if along_n { units_n } else { units_m });
        let block = |i: usize| {
            if along_n {
                p.block(0, p.m, split_point(p.n, nr, parts, i), split_point(p.n, nr, parts, i + 1))
            } else {
                p.block(split_point(p.m, mr, parts, i), split_point(p.m, mr, parts, i + 1), 0, p.n)
            }
        };
        rayon::scope(|s| {
            for i in 1..parts {
                let q = block(i);
                // SAFETY: each block covers disjoint rows or columns of `c`; the rest is
                // forwarded from the caller.
                s.spawn(move |_| unsafe { run_one::<K>(q) });
            }
            // SAFETY: as above.
            unsafe { run_one::<K>(block(0)) };
        });
    }

    /// One thread's product, with this thread's packing buffers.
    ///
    /// # Safety
    /// As [`sgemm`]'s; `K`'s features are present.
    unsafe fn run_one<K: Build>(p: Problem) {
        if p.m == 0 || p.n == 0 {
            return;
        }
        if p.k == 0 {
            if !p.accumulate {
                for i in 0..p.m {
                    for j in 0..p.n {
                        // SAFETY: (i, j) is an element of `c`.
                        unsafe { *p.c.offset(i as isize * p.rsc + j as isize * p.csc) = 0.0 };
                    }
                }
            }
            return;
        }
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            // SAFETY: forwarded.
            Ok(mut bufs) => unsafe { blocked::<K>(&p, &mut bufs) },
            // SAFETY: as above (re-entered on this thread: fresh buffers).
            Err(_) => unsafe { blocked::<K>(&p, &mut Buffers::default()) },
        });
    }

    /// The blocked loops of one thread: for each chunk of at most `MC` rows and each depth
    /// block, `a`'s block is packed once (or read in place when `n` spans few panels); then
    /// for each `NC` block of columns, `b`'s block is packed (it stays in L2) and every
    /// `MR`-row panel of `a` (in L1) sweeps across its `NR`-column panels.
    ///
    /// # Safety
    /// As [`sgemm`]'s; `p.m`, `p.n` and `p.k` are positive; `K`'s features are present.
    unsafe fn blocked<K: Build>(p: &Problem, bufs: &mut Buffers) {
        let (mr_max, nr_max) = (K::MR, K::NR);
        let kc_max = balanced(p.k, K::KC, 1);
        let nc_max = balanced(p.n, K::NC, nr_max);
        let mc_max = balanced(p.m, K::MC, mr_max);
        let direct_a = p.n.div_ceil(nr_max) * nr_max <= DIRECT_A_MAX_COLS && p.csa == 1;
        // A few `MR`-row panels of `a` reuse each panel of `b` too little to pay for packing
        // it; the kernel then reads a row-major `b` in place.
        let direct_b = p.csb == 1 && p.m.div_ceil(mr_max) * mr_max <= DIRECT_B_MAX_ROWS;
        let bpack = if direct_b { std::ptr::null_mut() } else { bufs.b.get(kc_max * nc_max) };
        let apack = if direct_a { std::ptr::null_mut() } else { bufs.a.get(kc_max * mc_max) };
        let direct_c = p.csc == 1;
        let mut tile = [0f32; TILE_MAX];
        let mut ic = 0;
        while ic < p.m {
            let mc = mc_max.min(p.m - ic);
            let mut pc = 0;
            while pc < p.k {
                let kc = kc_max.min(p.k - pc);
                let load_c = p.accumulate || pc > 0;
                let a_blk = p.a.wrapping_offset(ic as isize * p.rsa + pc as isize * p.csa);
                if !direct_a {
                    // SAFETY: the block (ic.., pc..) of `a` is in bounds; `apack` holds
                    // kc * mc_max.
                    unsafe { K::pack_a(mc, kc, a_blk, p.rsa, p.csa, apack) };
                }
                let mut jc = 0;
                while jc < p.n {
                    let nc = nc_max.min(p.n - jc);
                    let b_blk = p.b.wrapping_offset(pc as isize * p.rsb + jc as isize * p.csb);
                    if !direct_b {
                        // SAFETY: the block (pc.., jc..) of `b` is in bounds; `bpack` holds
                        // kc * nc_max.
                        unsafe { K::pack_b(kc, nc, b_blk, p.rsb, p.csb, bpack) };
                    }
                    let mut i = 0;
                    while i < mc {
                        let mr = mr_max.min(mc - i);
                        let (ap, ars, acs) = if direct_a {
                            (a_blk.wrapping_offset(i as isize * p.rsa), p.rsa, p.csa)
                        } else {
                            (apack.wrapping_add(i * kc) as *const f32, 1, mr_max as isize)
                        };
                        for jp in 0..nc.div_ceil(nr_max) {
                            let j = jp * nr_max;
                            let nr = nr_max.min(nc - j);
                            let (bp, bs) = if direct_b {
                                (b_blk.wrapping_add(j), p.rsb)
                            } else {
                                (bpack.wrapping_add(jp * nr_max * kc) as *const f32, nr_max as isize)
                            };
                            let cp = p.c.wrapping_offset((ic + i) as isize * p.rsc + (jc + j) as isize * p.csc);
                            let t = Tile { kc, a: ap, ars, acs, b: bp, bs, nr };
                            if direct_c {
                                // SAFETY: the tile's rows and columns of `c` are in bounds.
                                unsafe { K::tile(&t, mr, direct_a, direct_b, cp, p.rsc, load_c) };
                            } else {
                                // SAFETY: `tile` holds MR x NR floats at row stride NR; then
                                // each (r, q) below is an element of `c`.
                                unsafe {
                                    K::tile(&t, mr, direct_a, direct_b, tile.as_mut_ptr(), nr_max as isize, false);
                                    for r in 0..mr {
                                        for q in 0..nr {
                                            let e = cp.offset(r as isize * p.rsc + q as isize * p.csc);
                                            let v = tile[r * nr_max + q];
                                            *e = if load_c { *e + v } else { v };
                                        }
                                    }
                                }
                            }
                        }
                        i += mr;
                    }
                    jc += nc;
                }
                pc += kc;
            }
            ic += mc;
        }
    }

    /// One microkernel call: `kc` steps over an `a` panel (element (i, p) at
    /// `a + i*ars + p*acs`) and a `b` panel (`bs` floats per step, of which `nr` count).
    pub(super) struct Tile {
        kc: usize,
        a: *const f32,
        ars: isize,
        acs: isize,
        b: *const f32,
        bs: isize,
        nr: usize,
    }

    /// Instantiates the kernel (the `kernel` in scope where it is used) for `mr` rows
    /// (1..=MR), one or two vectors of `$lanes` columns, and packed or in-place `a` and `b`.
    macro_rules! dispatch {
        ($lanes:literal, $t:expr, $mr:expr, $da:expr, $db:expr, $c:expr, $rsc:expr, $load:expr; $($r:literal)*) => {
            match ($t.nr > $lanes, $da, $db) {
                (false, false, false) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 1, true, true; $($r)*),
                (false, false, true) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 1, true, false; $($r)*),
                (false, true, false) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 1, false, true; $($r)*),
                (false, true, true) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 1, false, false; $($r)*),
                (true, false, false) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 2, true, true; $($r)*),
                (true, false, true) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 2, true, false; $($r)*),
                (true, true, false) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 2, false, true; $($r)*),
                (true, true, true) => dispatch!(@rows $t, $mr, $c, $rsc, $load, 2, false, false; $($r)*),
            }
        };
        (@rows $t:expr, $mr:expr, $c:expr, $rsc:expr, $load:expr, $nv:literal, $pa:literal, $pb:literal;
            $($r:literal)*) => {
            match $mr {
                $($r => kernel::<$r, $nv, $pa, $pb>($t, $c, $rsc, $load),)*
                _ => unreachable!("tile rows out of range"),
            }
        };
    }

    impl Tile {
        /// `c[..mr, ..nr] = (load_c ? c : 0) + a @ b` at row stride `rsc` (unit column
        /// stride); `direct_a`/`direct_b`: the panel is read in place (strides `ars`, `acs`
        /// or `bs`), else it is packed.
        ///
        /// # Safety
        /// The panels and the tile of `c` are in bounds; avx512f is present.
        #[target_feature(enable = "avx512f")]
        unsafe fn run(&self, mr: usize, direct_a: bool, direct_b: bool, c: *mut f32, rsc: isize, load_c: bool) {
            // SAFETY: forwarded.
            unsafe { dispatch!(16, self, mr, direct_a, direct_b, c, rsc, load_c; 1 2 3 4 5 6 7 8 9 10 11 12 13 14) }
        }
    }

    /// The `M × (16 NV)` register-blocked kernel. `PA`: `a` is packed (`MR` floats per step),
    /// else read at `t.ars`/`t.acs`; `PB`: `b` is packed (`NR` floats per step, 64-byte
    /// aligned), else read at row stride `t.bs` with its columns past `t.nr` masked off.
    ///
    /// # Safety
    /// As [`Tile::run`]'s, with `M <= MR` and `t.nr` within the `NV` vectors.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)]
    unsafe fn kernel<const M: usize, const NV: usize, const PA: bool, const PB: bool>(
        t: &Tile,
        c: *mut f32,
        rsc: isize,
        load_c: bool,
    ) {
        let last = t.nr - 16 * (NV - 1);
        let last_mask: __mmask16 = low_mask(last);
        let mut acc = [[_mm512_setzero_ps(); NV]; M];
        let mut ap = t.a;
        let mut bp = t.b;
        // One step of `k`: NV loads of `b`, M broadcasts of `a`, M * NV fused multiply-adds.
        macro_rules! step {
            () => {{
                let mut bv = [_mm512_setzero_ps(); NV];
                for v in 0..NV {
                    bv[v] = if PB {
                        _mm512_load_ps(bp.add(16 * v))
                    } else {
                        _mm512_maskz_loadu_ps(if v + 1 == NV { last_mask } else { 0xFFFF }, bp.add(16 * v))
                    };
                }
                for i in 0..M {
                    let x = if PA { *ap.add(i) } else { *ap.offset(i as isize * t.ars) };
                    let ai = _mm512_set1_ps(x);
                    for v in 0..NV {
                        acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
                    }
                }
                ap = if PA { ap.add(MR) } else { ap.offset(t.acs) };
                bp = if PB { bp.add(NR) } else { bp.offset(t.bs) };
            }};
        }
        // SAFETY: every read is within the panels (kc steps), every write within the tile;
        // prefetches cannot fault.
        unsafe {
            // The tile of `c` is read and written after the loop: fetch it during the last
            // steps (earlier, the streamed panel would evict it from L1 again).
            let tail = t.kc.min(C_PREFETCH_STEPS);
            let mut left = t.kc - tail;
            while left >= UNROLL {
                for _ in 0..UNROLL {
                    step!();
                }
                left -= UNROLL;
            }
            for _ in 0..left {
                step!();
            }
            for i in 0..M {
                let row = c.offset(i as isize * rsc) as *const i8;
                for v in 0..NV {
                    _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(64 * v));
                }
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(64 * NV - 4));
            }
            for _ in 0..tail {
                step!();
            }
            for i in 0..M {
                let row = c.offset(i as isize * rsc);
                for v in 0..NV {
                    let mask = if v + 1 == NV { last_mask } else { 0xFFFF };
                    let dst = row.add(16 * v);
                    let sum =
                        if load_c { _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), acc[i][v]) } else { acc[i][v] };
                    _mm512_mask_storeu_ps(dst, mask, sum);
                }
            }
        }
    }

    /// A mask of the low `n` lanes (`n <= 16`).
    fn low_mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xFFFF } else { (1u16 << n) - 1 }
    }

    /// Packs the `kc × nc` block of `b` at `b` into 32-column panels (`NR` floats per step,
    /// zero-padded past `nc`), panel after panel.
    ///
    /// # Safety
    /// The block is in bounds; `dst` holds `nc.div_ceil(NR) * NR * kc` floats, 64-byte aligned.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: *mut f32) {
        for (jp, j0) in (0..nc).step_by(NR).enumerate() {
            let nr = NR.min(nc - j0);
            // SAFETY: within the block and the buffer.
            unsafe {
                let d = dst.add(jp * NR * kc);
                let src = b.offset(j0 as isize * csb);
                if csb == 1 {
                    for p in 0..kc {
                        let s = src.offset(p as isize * rsb);
                        for v in 0..NVEC {
                            let mask = low_mask(nr.saturating_sub(16 * v));
                            _mm512_store_ps(d.add(p * NR + 16 * v), _mm512_maskz_loadu_ps(mask, s.add(16 * v)));
                        }
                    }
                } else if rsb == 1 {
                    for v in 0..NVEC {
                        let lines = nr.saturating_sub(16 * v).min(16);
                        transpose_pack(src.offset(16 * v as isize * csb), csb, lines, kc, d.add(16 * v), NR, 0xFFFF);
                    }
                } else {
                    for p in 0..kc {
                        for q in 0..NR {
                            *d.add(p * NR + q) =
                                if q < nr { *src.offset(p as isize * rsb + q as isize * csb) } else { 0.0 };
                        }
                    }
                }
            }
        }
    }

    /// Packs the `mc × kc` block of `a` at `a` into 14-row panels (`MR` floats per step; rows
    /// past `mc` in the last panel are left unset: the kernel for fewer rows never reads them).
    ///
    /// # Safety
    /// The block is in bounds; `dst` holds `mc.div_ceil(MR) * MR * kc` floats.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dst: *mut f32) {
        for (ip, i0) in (0..mc).step_by(MR).enumerate() {
            let mr = MR.min(mc - i0);
            // SAFETY: within the block and the buffer.
            unsafe {
                let d = dst.add(ip * MR * kc);
                let src = a.offset(i0 as isize * rsa);
                if rsa == 1 {
                    let mask = low_mask(mr);
                    for p in 0..kc {
                        let x = _mm512_maskz_loadu_ps(mask, src.offset(p as isize * csa));
                        _mm512_mask_storeu_ps(d.add(p * MR), mask, x);
                    }
                } else if csa == 1 {
                    transpose_pack(src, rsa, mr, kc, d, MR, low_mask(mr));
                } else {
                    for p in 0..kc {
                        for r in 0..mr {
                            *d.add(p * MR + r) = *src.offset(r as isize * rsa + p as isize * csa);
                        }
                    }
                }
            }
        }
    }

    /// `dst[q * dst_stride + l] = src[l * line_stride + q]` for `q < len` and the lanes `l` in
    /// `store_mask` (zero for `l >= lines`): `lines` (<= 16) contiguous source lines
    /// transposed 16×16 at a time.
    ///
    /// # Safety
    /// The source lines (`len` floats each) and the destination rows are in bounds.
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose_pack(
        src: *const f32,
        line_stride: isize,
        lines: usize,
        len: usize,
        dst: *mut f32,
        dst_stride: usize,
        store_mask: __mmask16,
    ) {
        let mut q0 = 0;
        while q0 < len {
            let qn = 16.min(len - q0);
            let mask = low_mask(qn);
            // SAFETY: masked loads read only the `qn` floats from q0 on of the `lines` lines
            // (the other lanes and lines are masked off and cannot fault); the stores write
            // rows q0..q0 + qn of the destination.
            unsafe {
                let mut r: [__m512; 16] = std::array::from_fn(|l| {
                    let line_mask = if l < lines { mask } else { 0 };
                    _mm512_maskz_loadu_ps(line_mask, src.wrapping_offset(l as isize * line_stride + q0 as isize))
                });
                transpose16(&mut r);
                for (q, rq) in r.iter().enumerate() {
                    if q < qn {
                        _mm512_mask_storeu_ps(dst.add((q0 + q) * dst_stride), store_mask, *rq);
                    }
                }
            }
            q0 += qn;
        }
    }

    /// Transposes 16 vectors of 16 floats in registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose16(r: &mut [__m512; 16]) {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // t[4g + h] for h in 0..4: interleaved pairs; combine 64-bit halves.
        for g in 0..4 {
            let (t0, t1, t2, t3) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            r[4 * g] = _mm512_shuffle_ps::<0x44>(t0, t2);
            r[4 * g + 1] = _mm512_shuffle_ps::<0xEE>(t0, t2);
            r[4 * g + 2] = _mm512_shuffle_ps::<0x44>(t1, t3);
            r[4 * g + 3] = _mm512_shuffle_ps::<0xEE>(t1, t3);
        }
        // Now r[4g + h] lane group l (128-bit) holds rows 4g..4g+4, column 4l + h.
        for g in 0..2 {
            for h in 0..4 {
                let (x, y) = (r[8 * g + h], r[8 * g + 4 + h]);
                t[8 * g + h] = _mm512_shuffle_f32x4::<0x88>(x, y);
                t[8 * g + 4 + h] = _mm512_shuffle_f32x4::<0xDD>(x, y);
            }
        }
        for h in 0..8 {
            let (x, y) = (t[h], t[8 + h]);
            r[h] = _mm512_shuffle_f32x4::<0x88>(x, y);
            r[8 + h] = _mm512_shuffle_f32x4::<0xDD>(x, y);
        }
    }

    #[cfg(test)]
    pub(super) fn transpose16_for_test(m: &mut [f32; 256]) {
        let mut r = [[0f32; 16]; 16];
        for (i, row) in r.iter_mut().enumerate() {
            row.copy_from_slice(&m[16 * i..16 * i + 16]);
        }
        // SAFETY: the test calls this only where avx512f is present; the reads and writes are
        // of 16 floats within `r`.
        unsafe {
            let mut v: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(r[i].as_ptr()));
            transpose16(&mut v);
            for (i, vi) in v.iter().enumerate() {
                _mm512_storeu_ps(m[16 * i..].as_mut_ptr(), *vi);
            }
        }
    }

    /// The AVX2 build (CPUs without AVX-512, such as AMD Zen 2 and 3): a 6×16 tile of 12 ymm
    /// accumulators, two loads of `b` and six broadcasts of `a` per step of `k`; ragged
    /// edges through `vmaskmovps` loads and stores; 8×8 in-register transposes for packing.
    pub(super) mod avx2 {
        use super::*;

        /// Tile rows.
        const MR: usize = 6;
        /// Tile columns: two ymm vectors.
        const NR: usize = 16;
        /// Depth block: a 6-row panel of packed `a` is 6 KiB, in the 32 KiB L1d beside the
        /// 16 KiB panel of `b` streamed from L2.
        const KC: usize = 256;
        /// Column block: a packed `KC × NC` block of `b` is 256 KiB, in the 512 KiB L2.
        const NC: usize = 256;
        /// Row block: the packed block of `a` (up to 1.2 MiB) is read from L3, a panel at a time.
        const MC: usize = MR * 200;

        /// The AVX2 build.
        pub(in super::super) struct Avx2;

        impl Build for Avx2 {
            const MR: usize = MR;
            const NR: usize = NR;
            const KC: usize = KC;
            const MC: usize = MC;
            const NC: usize = NC;
            const FMAS_PER_CYCLE: usize = 16;

            unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dst: *mut f32) {
                // SAFETY: forwarded.
                unsafe { pack_a(mc, kc, a, rsa, csa, dst) }
            }

            unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: *mut f32) {
                // SAFETY: forwarded.
                unsafe { pack_b(kc, nc, b, rsb, csb, dst) }
            }

            unsafe fn tile(t: &Tile, mr: usize, direct_a: bool, direct_b: bool, c: *mut f32, rsc: isize, load_c: bool) {
                // SAFETY: forwarded.
                unsafe { run_tile(t, mr, direct_a, direct_b, c, rsc, load_c) }
            }
        }

        /// [`Build::tile`] of the AVX2 build.
        ///
        /// # Safety
        /// As [`Build::tile`]'s.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run_tile(t: &Tile, mr: usize, direct_a: bool, direct_b: bool, c: *mut f32, rsc: isize, load_c: bool) {
            // SAFETY: forwarded.
            unsafe { dispatch!(8, t, mr, direct_a, direct_b, c, rsc, load_c; 1 2 3 4 5 6) }
        }

        /// A mask of the low `n` lanes (`n <= 8`) for `vmaskmovps`.
        #[target_feature(enable = "avx2")]
        #[inline]
        fn low_mask(n: usize) -> __m256i {
            _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
        }

        /// The `M × (8 NV)` register-blocked kernel; `PA`, `PB` as in the AVX-512 build (a
        /// packed `b` panel is 32-byte aligned).
        ///
        /// # Safety
        /// As [`Build::tile`]'s, with `M <= MR` and `t.nr` within the `NV` vectors.
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::needless_range_loop)]
        unsafe fn kernel<const M: usize, const NV: usize, const PA: bool, const PB: bool>(
            t: &Tile,
            c: *mut f32,
            rsc: isize,
            load_c: bool,
        ) {
            let last = t.nr - 8 * (NV - 1);
            let last_full = last == 8;
            let last_mask = low_mask(last);
            let mut acc = [[_mm256_setzero_ps(); NV]; M];
            let mut ap = t.a;
            let mut bp = t.b;
            macro_rules! step {
                () => {{
                    let mut bv = [_mm256_setzero_ps(); NV];
                    for v in 0..NV {
                        bv[v] = if PB {
                            _mm256_load_ps(bp.add(8 * v))
                        } else if v + 1 < NV || last_full {
                            _mm256_loadu_ps(bp.add(8 * v))
                        } else {
                            _mm256_maskload_ps(bp.add(8 * v), last_mask)
                        };
                    }
                    for i in 0..M {
                        let x = if PA { *ap.add(i) } else { *ap.offset(i as isize * t.ars) };
                        let ai = _mm256_set1_ps(x);
                        for v in 0..NV {
                            acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
                        }
                    }
                    ap = if PA { ap.add(MR) } else { ap.offset(t.acs) };
                    bp = if PB { bp.add(NR) } else { bp.offset(t.bs) };
                }};
            }
            // SAFETY: every read is within the panels (kc steps), every write within the
            // tile; masked lanes are neither read nor written; prefetches cannot fault.
            unsafe {
                let tail = t.kc.min(C_PREFETCH_STEPS);
                let mut left = t.kc - tail;
                while left >= UNROLL {
                    for _ in 0..UNROLL {
                        step!();
                    }
                    left -= UNROLL;
                }
                for _ in 0..left {
                    step!();
                }
                for i in 0..M {
                    let row = c.offset(i as isize * rsc) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(row);
                    _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(32 * NV - 4));
                }
                for _ in 0..tail {
                    step!();
                }
                for i in 0..M {
                    let row = c.offset(i as isize * rsc);
                    for v in 0..NV {
                        let dst = row.add(8 * v);
                        if v + 1 < NV || last_full {
                            let sum = if load_c { _mm256_add_ps(_mm256_loadu_ps(dst), acc[i][v]) } else { acc[i][v] };
                            _mm256_storeu_ps(dst, sum);
                        } else {
                            let sum = if load_c {
                                _mm256_add_ps(_mm256_maskload_ps(dst, last_mask), acc[i][v])
                            } else {
                                acc[i][v]
                            };
                            _mm256_maskstore_ps(dst, last_mask, sum);
                        }
                    }
                }
            }
        }

        /// Packs the `kc × nc` block of `b` into 16-column panels (zero-padded past `nc`).
        ///
        /// # Safety
        /// As [`Build::pack_b`]'s.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: *mut f32) {
            for (jp, j0) in (0..nc).step_by(NR).enumerate() {
                let nr = NR.min(nc - j0);
                // SAFETY: within the block and the buffer; masked lanes are not read.
                unsafe {
                    let d = dst.add(jp * NR * kc);
                    let src = b.offset(j0 as isize * csb);
                    if csb == 1 && nr == NR {
                        for p in 0..kc {
                            let s = src.offset(p as isize * rsb);
                            _mm256_store_ps(d.add(p * NR), _mm256_loadu_ps(s));
                            _mm256_store_ps(d.add(p * NR + 8), _mm256_loadu_ps(s.add(8)));
                        }
                    } else if csb == 1 {
                        let masks = [low_mask(nr), low_mask(nr.saturating_sub(8))];
                        for p in 0..kc {
                            let s = src.offset(p as isize * rsb);
                            for (v, &mask) in masks.iter().enumerate() {
                                _mm256_store_ps(d.add(p * NR + 8 * v), _mm256_maskload_ps(s.add(8 * v), mask));
                            }
                        }
                    } else if rsb == 1 {
                        for v in 0..2 {
                            let lines = nr.saturating_sub(8 * v).min(8);
                            transpose_pack(src.offset(8 * v as isize * csb), csb, lines, kc, d.add(8 * v), NR);
                        }
                    } else {
                        for p in 0..kc {
                            for q in 0..NR {
                                *d.add(p * NR + q) =
                                    if q < nr { *src.offset(p as isize * rsb + q as isize * csb) } else { 0.0 };
                            }
                        }
                    }
                }
            }
        }

        /// Packs the `mc × kc` block of `a` into 6-row panels (rows past `mc` in the last
        /// panel hold anything: the kernel for fewer rows never reads them). Each step's 6
        /// floats are written as a whole vector of 8, in ascending order, so that the next
        /// step's store overwrites the 2 extra; the last one lands in the buffer's
        /// [`PACK_SLACK`]. (`vmaskmovps` stores cost ~10x a plain store on Zen 3: masked, this
        /// pack took 13-19% of the transformer step there.)
        ///
        /// # Safety
        /// As [`Build::pack_a`]'s, and `dst` has [`PACK_SLACK`] writable floats past the block.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: isize, csa: isize, dst: *mut f32) {
            for (ip, i0) in (0..mc).step_by(MR).enumerate() {
                let mr = MR.min(mc - i0);
                let mask = low_mask(mr);
                // SAFETY: within the block and the buffer (plus its slack); masked lanes are
                // not read.
                unsafe {
                    let d = dst.add(ip * MR * kc);
                    let src = a.offset(i0 as isize * rsa);
                    if rsa == 1 {
                        for p in 0..kc {
                            _mm256_storeu_ps(d.add(p * MR), _mm256_maskload_ps(src.offset(p as isize * csa), mask));
                        }
                    } else if csa == 1 {
                        transpose_pack(src, rsa, mr, kc, d, MR);
                    } else {
                        for p in 0..kc {
                            for r in 0..mr {
                                *d.add(p * MR + r) = *src.offset(r as isize * rsa + p as isize * csa);
                            }
                        }
                    }
                }
            }
        }

        /// `dst[q * dst_stride + l] = src[l * line_stride + q]` for `q < len` and `l < 8`
        /// (zero for `l >= lines`): `lines` (<= 8) contiguous source lines transposed 8×8 at a
        /// time. Rows are stored whole, 8 floats, in ascending order: with `dst_stride < 8`
        /// each overwrites the previous one's extra lanes, and the last one's reach
        /// `8 - dst_stride` floats past row `len - 1`.
        ///
        /// # Safety
        /// The source lines (`len` floats each) and the destination rows, 8 floats each, are
        /// in bounds.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn transpose_pack(
            src: *const f32,
            line_stride: isize,
            lines: usize,
            len: usize,
            dst: *mut f32,
            dst_stride: usize,
        ) {
            let mut q0 = 0;
            while q0 < len {
                let qn = 8.min(len - q0);
                let mask = low_mask(qn);
                // SAFETY: masked loads read only the `qn` floats from q0 on of the `lines`
                // lines (lines past `lines` are not read at all); the stores write rows q0..q0
                // + qn of the destination, 8 floats each (in bounds by the contract).
                unsafe {
                    let mut r: [__m256; 8] = std::array::from_fn(|l| {
                        if l < lines {
                            _mm256_maskload_ps(src.wrapping_offset(l as isize * line_stride + q0 as isize), mask)
                        } else {
                            _mm256_setzero_ps()
                        }
                    });
                    transpose8(&mut r);
                    for (q, rq) in r.iter().enumerate().take(qn) {
                        _mm256_storeu_ps(dst.add((q0 + q) * dst_stride), *rq);
                    }
                }
                q0 += qn;
            }
        }

        /// Transposes 8 vectors of 8 floats in registers.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        fn transpose8(r: &mut [__m256; 8]) {
            let t: [__m256; 8] = std::array::from_fn(|i| {
                let (x, y) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
                if i % 2 == 0 { _mm256_unpacklo_ps(x, y) } else { _mm256_unpackhi_ps(x, y) }
            });
            // t[4g + h]: rows 4g..4g+4 interleaved in pairs; combine the 64-bit halves.
            let mut s = [_mm256_setzero_ps(); 8];
            for g in 0..2 {
                let (t0, t1, t2, t3) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                s[4 * g] = _mm256_shuffle_ps::<0x44>(t0, t2);
                s[4 * g + 1] = _mm256_shuffle_ps::<0xEE>(t0, t2);
                s[4 * g + 2] = _mm256_shuffle_ps::<0x44>(t1, t3);
                s[4 * g + 3] = _mm256_shuffle_ps::<0xEE>(t1, t3);
            }
            // s[4g + h], 128-bit lane l: rows 4g..4g+4 of column 4l + h.
            for h in 0..4 {
                r[h] = _mm256_permute2f128_ps::<0x20>(s[h], s[4 + h]);
                r[4 + h] = _mm256_permute2f128_ps::<0x31>(s[h], s[4 + h]);
            }
        }

        #[cfg(test)]
        pub(in super::super) fn transpose8_for_test(m: &mut [f32; 64]) {
            assert!(has_avx2_fma(), "the test checks avx2 first");
            // SAFETY: avx2 is present (asserted); the reads and writes are of 8 floats
            // within `m`.
            unsafe {
                let mut v: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(m[8 * i..].as_ptr()));
                transpose8(&mut v);
                for (i, vi) in v.iter().enumerate() {
                    _mm256_storeu_ps(m[8 * i..].as_mut_ptr(), *vi);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix layout: how element (i, j) of an `r × c` matrix is addressed.
    #[derive(Clone, Copy, Debug)]
    enum Lay {
        /// Row-major, row stride = width.
        Row,
        /// Column-major.
        Col,
        /// Row-major with 3 floats of padding per row.
        RowPad,
        /// Column-major with 5 floats of padding per column.
        ColPad,
        /// Neither stride is 1 (every other element of a wider row-major matrix).
        Gen,
    }

    impl Lay {
        /// (row stride, column stride, buffer length) for an `r × c` matrix.
        fn strides(self, r: usize, c: usize) -> (isize, isize, usize) {
            let (rs, cs) = match self {
                Lay::Row => (c, 1),
                Lay::Col => (1, r),
                Lay::RowPad => (c + 3, 1),
                Lay::ColPad => (1, r + 5),
                Lay::Gen => (2 * c + 1, 2),
            };
            let len = if r == 0 || c == 0 { 0 } else { (r - 1) * rs + (c - 1) * cs + 1 };
            (rs as isize, cs as isize, len)
        }
    }

    /// Deterministic values in [-1, 1) (the project's seeded stream).
    fn fill(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::tensor::Rng::new(seed);
        (0..len).map(|_| rng.uniform() * 2.0 - 1.0).collect()
    }

    /// Runs one product through `sgemm` and checks it against an f64 triple loop; returns
    /// the result buffer of `c`.
    #[allow(clippy::too_many_arguments)]
    fn check(m: usize, n: usize, k: usize, la: Lay, lb: Lay, lc: Lay, accumulate: bool, threads: usize) -> Vec<f32> {
        let (rsa, csa, lena) = la.strides(m, k);
        let (rsb, csb, lenb) = lb.strides(k, n);
        let (rsc, csc, lenc) = lc.strides(m, n);
        let a = fill(lena, 1 + (m * 31 + k) as u64);
        let b = fill(lenb, 2 + (k * 17 + n) as u64);
        let c0 = fill(lenc, 3 + (m + n) as u64);
        let mut c = c0.clone();
        // SAFETY: the buffers hold every addressed element; `available()` was checked.
        unsafe {
            sgemm(m, n, k, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, c.as_mut_ptr(), rsc, csc, accumulate, threads)
        };
        for i in 0..m {
            for j in 0..n {
                let mut want = 0f64;
                let mut mag = 0f64;
                for p in 0..k {
                    let x = a[(i as isize * rsa + p as isize * csa) as usize] as f64
                        * b[(p as isize * rsb + j as isize * csb) as usize] as f64;
                    want += x;
                    mag += x.abs();
                }
                let ci = (i as isize * rsc + j as isize * csc) as usize;
                if accumulate {
                    want += c0[ci] as f64;
                    mag += (c0[ci] as f64).abs();
                }
                let got = c[ci] as f64;
                assert!(
                    (got - want).abs() <= 1e-4 * mag.max(1e-3) + 1e-6,
                    "{m}x{n}x{k} {la:?} {lb:?} {lc:?} acc={accumulate} t={threads}: c[{i},{j}] = {got}, want {want}"
                );
            }
        }
        // Elements of the buffer outside the matrix are untouched.
        let mut inside = vec![false; lenc];
        for i in 0..m {
            for j in 0..n {
                inside[(i as isize * rsc + j as isize * csc) as usize] = true;
            }
        }
        for (idx, (&x, &x0)) in c.iter().zip(&c0).enumerate() {
            assert!(inside[idx] || x.to_bits() == x0.to_bits(), "{m}x{n}x{k}: element {idx} outside c written");
        }
        c
    }

    fn skip() -> bool {
        if !available() {
            eprintln!("skipped: this CPU has neither avx512f nor avx2 and fma");
            return true;
        }
        false
    }

    #[test]
    fn transpose8_transposes() {
        if !x86::has_avx2_fma() {
            eprintln!("skipped: this CPU has no avx2");
            return;
        }
        let mut m: [f32; 64] = std::array::from_fn(|i| i as f32);
        x86::avx2::transpose8_for_test(&mut m);
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(m[8 * i + j], (8 * j + i) as f32, "({i}, {j})");
            }
        }
    }

    #[test]
    fn transpose16_transposes() {
        if !crate::tensor::math::has_avx512() {
            eprintln!("skipped: this CPU has no avx512f");
            return;
        }
        let mut m: [f32; 256] = std::array::from_fn(|i| i as f32);
        x86::transpose16_for_test(&mut m);
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(m[16 * i + j], (16 * j + i) as f32, "({i}, {j})");
            }
        }
    }

    #[test]
    fn shapes_row_major() {
        if skip() {
            return;
        }
        let dims = [0, 1, 2, 6, 8, 13, 14, 15, 16, 17, 31, 32, 33, 47, 50];
        for &m in &dims {
            for &n in &dims {
                for &k in &[0, 1, 3, 16, 17, 40] {
                    for &acc in &[false, true] {
                        check(m, n, k, Lay::Row, Lay::Row, Lay::Row, acc, 1);
                    }
                }
            }
        }
    }

    #[test]
    fn layouts_and_threads() {
        if skip() {
            return;
        }
        let lays = [Lay::Row, Lay::Col, Lay::RowPad, Lay::ColPad, Lay::Gen];
        for &(m, n, k) in &[(1, 1, 1), (29, 45, 19), (70, 33, 300), (5, 97, 260), (130, 3, 37)] {
            for &la in &lays {
                for &lb in &lays {
                    for &lc in &lays {
                        for &acc in &[false, true] {
                            for &t in &[1, 2] {
                                check(m, n, k, la, lb, lc, acc, t);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn layouts_on_two_threads() {
        if skip() {
            return;
        }
        // Large enough for two threads: split along m (with a shared packed `b`) and along n.
        let lays = [Lay::Row, Lay::Col, Lay::RowPad, Lay::ColPad, Lay::Gen];
        for &(m, n, k) in &[(150, 130, 120), (40, 700, 90)] {
            for &la in &lays {
                for &lb in &lays {
                    for &lc in &[Lay::Row, Lay::Col, Lay::Gen] {
                        for &acc in &[false, true] {
                            check(m, n, k, la, lb, lc, acc, 2);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn large_blocks_and_skinny() {
        if skip() {
            return;
        }
        // Past KC (several depth blocks), MC and NC; tall-skinny and short-wide.
        let cases = [
            (300, 200, 600, Lay::Row, Lay::Row),
            (400, 3200, 70, Lay::Row, Lay::Col),
            (128, 256, 784, Lay::Row, Lay::Col),
            (256, 784, 128, Lay::Col, Lay::Row),
            (2000, 5, 33, Lay::Row, Lay::Row),
            (3, 3000, 20, Lay::Col, Lay::Row),
            (1000, 1, 513, Lay::Row, Lay::Col),
            (1, 700, 513, Lay::Row, Lay::Row),
        ];
        for &(m, n, k, la, lb) in &cases {
            for &t in &[1, 2, 3] {
                check(m, n, k, la, lb, Lay::Row, t == 2, t);
            }
            check(m, n, k, la, lb, Lay::Col, false, 2);
        }
    }

    #[test]
    fn bit_identical_repeats_and_threads() {
        if skip() {
            return;
        }
        for &(m, n, k, lb) in &[(200, 300, 700, Lay::Row), (128, 256, 784, Lay::Col), (64, 1000, 520, Lay::Row)] {
            let first = check(m, n, k, Lay::Row, lb, Lay::Row, false, 1);
            for t in [1, 2, 3, 4] {
                for _ in 0..2 {
                    let again = check(m, n, k, Lay::Row, lb, Lay::Row, false, t);
                    assert!(
                        first.iter().zip(&again).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{m}x{n}x{k}: threads={t} differs from threads=1"
                    );
                }
            }
        }
    }
}
