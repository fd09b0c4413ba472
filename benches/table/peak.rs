//! The machine's AVX-512 FMA peak, the ceiling the matrix products are held against
//! (`anchors/fma_peak.c` measures AVX2 only, half of it on this CPU): 24 independent chains
//! of `vfmadd231ps` on zmm registers per thread, 2 flops x 16 lanes each, on 1 and on 2
//! threads. Rows `fma_peak_avx512_1t` / `_2t` in GFLOPS.

use std::time::Instant;

/// FMAs per chain per timed run.
const STEPS: u64 = 20_000_000;

/// GFLOPS of `threads` threads, each running [`STEPS`] steps of 24 chains; the best of 3.
#[cfg(target_arch = "x86_64")]
fn peak(threads: usize) -> Option<f64> {
    if !std::is_x86_feature_detected!("avx512f") {
        return None;
    }
    let run = || {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                // SAFETY: the CPU has AVX-512F (checked above).
                s.spawn(|| std::hint::black_box(unsafe { chains(STEPS) }));
            }
        });
        let flops = threads as f64 * STEPS as f64 * 24.0 * 16.0 * 2.0;
        flops / start.elapsed().as_secs_f64() / 1e9
    };
    Some((0..3).map(|_| run()).fold(0.0, f64::max))
}

#[cfg(not(target_arch = "x86_64"))]
fn peak(_threads: usize) -> Option<f64> {
    None
}

/// 24 independent FMA chains for `steps` steps; returns a lane so nothing is optimised away.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); 24];
    for _ in 0..steps {
        for v in &mut acc {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let sum = acc.iter().fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
    _mm512_reduce_add_ps(sum)
}

/// The peak rows (none without AVX-512).
pub fn run(out: &mut dyn FnMut(&str, f64, &str)) {
    for (case, threads) in [("fma_peak_avx512_1t", 1), ("fma_peak_avx512_2t", 2)] {
        match peak(threads) {
            Some(gflops) => out(case, gflops, "GFLOPS"),
            None => println!("# {case}: no AVX-512 on this CPU"),
        }
    }
}
