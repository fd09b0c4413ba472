//! The AVX-512 sgemm kernel (`arc-core/src/tensor/microkernel.rs`, compiled into this bench
//! through `#[path]`, as it is crate-private) against the `gemm` crate, called the way
//! `matmul.rs` calls it, on 2 threads. Prints `case<TAB>value<TAB>unit` rows: GFLOPS of each,
//! best of several interleaved repeats. Run with `RAYON_NUM_THREADS=2` (and, as the other
//! benches, `MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456`).
//! `SGEMM_BENCH_SAMPLES` sets the repeats (default 15); `SGEMM_BENCH_FILTER` keeps the cases
//! whose name contains it.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../arc-core/src/tensor/microkernel.rs"]
mod microkernel;

/// What the kernel's file names as `crate::tensor` (its tests' seeded stream and the
/// AVX-512 switch), here.
mod tensor {
    pub use arc::tensor::Rng;

    pub mod math {
        pub use arc::tensor::avx512_enabled as has_avx512;
    }
}

/// One product: `c[m, n] = a[m, k] @ b[k, n]`; `a_col`/`b_col`: the operand is column-major
/// (a transposed view of a row-major matrix).
struct Case {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_col: bool,
    b_col: bool,
}

const fn case(name: &'static str, m: usize, n: usize, k: usize, a_col: bool, b_col: bool) -> Case {
    Case { name, m, n, k, a_col, b_col }
}

const CASES: &[Case] = &[
    case("sgemm1024", 1024, 1024, 1024, false, false),
    case("sgemm2048", 2048, 2048, 2048, false, false),
    case("mlp_fc1_fwd_128x784@784x256T", 128, 256, 784, false, true),
    case("mlp_fc2_fwd_128x256@256x256T", 128, 256, 256, false, true),
    case("mlp_fc3_fwd_128x256@256x10T", 128, 10, 256, false, true),
    case("mlp_fc1_dx_128x256@256x784", 128, 784, 256, false, false),
    case("mlp_fc3_dx_128x10@10x256", 128, 256, 10, false, false),
    case("mlp_fc3_dw_10x128T@128x256", 10, 256, 128, true, false),
    case("mlp_fc1_dw_256x128T@128x784", 256, 784, 128, true, false),
    case("linear1024_fwd_64x1024@1024x1024T", 64, 1024, 1024, false, true),
    // What Linear multiplies for a batch of 64: `W @ x^T`, then one transpose.
    case("linear1024_fwdT_1024x1024@1024x64T", 1024, 64, 1024, false, true),
    case("linear1024_dx_64x1024@1024x1024", 64, 1024, 1024, false, false),
    case("linear1024_dw_1024x64T@64x1024", 1024, 1024, 64, true, false),
    case("xformer_qkv_1280x192@192x576T", 1280, 576, 192, false, true),
    case("xformer_head_1280x192@192x1000T", 1280, 1000, 192, false, true),
    // Small products: where the caller should switch to the `gemm` crate.
    case("small_8", 8, 8, 8, false, false),
    case("small_16", 16, 16, 16, false, false),
    case("small_24", 24, 24, 24, false, false),
    case("small_32", 32, 32, 32, false, false),
    case("small_48", 48, 48, 48, false, false),
    case("small_64", 64, 64, 64, false, false),
    case("small_96", 96, 96, 96, false, false),
    case("small_128", 128, 128, 128, false, false),
    case("small_32x64@64x64T", 32, 64, 64, false, true),
    case("small_64x128@128x32T", 64, 32, 128, false, true),
    // One head of the transformer case's attention (20 positions, 48 dims): scores `q @ k^T`
    // and the context `p @ v`.
    case("attn_scores_20x48@48x20T", 20, 20, 48, false, true),
    case("attn_context_20x20@20x48", 20, 48, 20, false, false),
];

/// Deterministic values in [-1, 1) (the project's seeded stream).
fn fill(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = tensor::Rng::new(seed);
    (0..len).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

/// Seconds per call of `f`: the best, over `samples`, of the mean of a batch lasting ~4 ms.
fn time(mut f: impl FnMut(), reps: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    let samples: usize = std::env::var("SGEMM_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let filter = std::env::var("SGEMM_BENCH_FILTER").unwrap_or_default();
    let threads = rayon::current_num_threads();
    gemm::set_lhs_packing_threshold_multi_thread(1);
    if !microkernel::available() {
        println!("# skipped: this CPU has neither avx512f nor avx2 and fma");
        return;
    }
    println!("# rayon threads: {threads}");
    for cs in CASES.iter().filter(|c| c.name.contains(&filter)) {
        let (m, n, k) = (cs.m, cs.n, cs.k);
        let a = fill(m * k, 1);
        let b = fill(k * n, 2);
        let mut c1 = vec![0f32; m * n];
        let mut c2 = vec![0f32; m * n];
        let (rsa, csa) = if cs.a_col { (1, m as isize) } else { (k as isize, 1) };
        let (rsb, csb) = if cs.b_col { (1, k as isize) } else { (n as isize, 1) };
        let mut ours = || {
            // SAFETY: the buffers hold the matrices at these strides; avx512f was checked.
            unsafe {
                microkernel::sgemm(
                    m,
                    n,
                    k,
                    a.as_ptr(),
                    rsa,
                    csa,
                    b.as_ptr(),
                    rsb,
                    csb,
                    c1.as_mut_ptr(),
                    n as isize,
                    1,
                    false,
                    threads,
                )
            };
            black_box(&mut c1);
        };
        // As `tensor::gemm` calls it: on the calling thread below 64^3 multiply-adds.
        let crate_threads =
            if m * n * k >= 64 * 64 * 64 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        let mut theirs = || {
            // SAFETY: as above.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c2.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    csa,
                    rsa,
                    b.as_ptr(),
                    csb,
                    rsb,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    crate_threads,
                )
            };
            black_box(&mut c2);
        };
        // Warm up and size the batches to ~4 ms.
        let once = time(&mut ours, 3).min(time(&mut theirs, 3));
        let reps = ((Duration::from_millis(4).as_secs_f64() / once) as usize).max(1);
        let (mut best_ours, mut best_theirs) = (f64::MAX, f64::MAX);
        for _ in 0..samples {
            best_ours = best_ours.min(time(&mut ours, reps));
            best_theirs = best_theirs.min(time(&mut theirs, reps));
        }
        let max_diff = c1.iter().zip(&c2).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(max_diff <= 1e-3 * (k as f32).sqrt(), "{}: results differ by {max_diff}", cs.name);
        let flops = 2.0 * (m * n * k) as f64;
        println!("{}/microkernel\t{:.1}\tGFLOPS", cs.name, flops / best_ours / 1e9);
        println!("{}/gemm_crate\t{:.1}\tGFLOPS", cs.name, flops / best_theirs / 1e9);
    }
}
