//! The machine's FMA peak, the ceiling the matrix products are held against: independent
//! chains of `vfmadd231ps` per thread, on 1 and on 2 threads, in GFLOPS. AVX-512 (24 zmm
//! chains, 2 flops x 16 lanes each: rows `fma_peak_avx512_1t` / `_2t`; `anchors/fma_peak.c`
//! measures AVX2 only, half of it on an AVX-512 CPU) and AVX2 (12 ymm chains, 8 lanes: rows
//! `fma_peak_avx2_1t` / `_2t`, the ceiling of the kernel's AVX2 build, as `fma_peak.c`).

use std::time::Instant;

/// FMAs per chain per timed run.
const STEPS: u64 = 20_000_000;

/// A vector width the peak is measured at.
#[derive(Clone, Copy)]
enum Width {
    Avx512,
    Avx2,
}

/// GFLOPS of `threads` threads, each running [`STEPS`] steps of its chains; the best of 3.
#[cfg(target_arch = "x86_64")]
fn peak(width: Width, threads: usize) -> Option<f64> {
    let (present, flops_per_step) = match width {
        Width::Avx512 => (std::is_x86_feature_detected!("avx512f"), 24.0 * 16.0 * 2.0),
        Width::Avx2 => {
            (std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"), 12.0 * 8.0 * 2.0)
        }
    };
    if !present {
        return None;
    }
    let run = || {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                // SAFETY: the CPU has the width's features (checked above).
                s.spawn(move || {
                    std::hint::black_box(unsafe {
                        match width {
                            Width::Avx512 => chains_avx512(STEPS),
                            Width::Avx2 => chains_avx2(STEPS),
                        }
                    })
                });
            }
        });
        threads as f64 * STEPS as f64 * flops_per_step / start.elapsed().as_secs_f64() / 1e9
    };
    Some((0..3).map(|_| run()).fold(0.0, f64::max))
}

#[cfg(not(target_arch = "x86_64"))]
fn peak(_width: Width, _threads: usize) -> Option<f64> {
    None
}

/// 24 independent zmm FMA chains for `steps` steps; returns a lane so nothing is optimised away.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains_avx512(steps: u64) -> f32 {
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

/// 12 independent ymm FMA chains for `steps` steps; returns a lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains_avx2(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..steps {
        for v in &mut acc {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
    _mm256_cvtss_f32(sum)
}

/// The peak rows (a comment line for a width the CPU lacks).
pub fn run(out: &mut dyn FnMut(&str, f64, &str)) {
    let rows = [
        ("fma_peak_avx512_1t", Width::Avx512, 1),
        ("fma_peak_avx512_2t", Width::Avx512, 2),
        ("fma_peak_avx2_1t", Width::Avx2, 1),
        ("fma_peak_avx2_2t", Width::Avx2, 2),
    ];
    for (case, width, threads) in rows {
        match peak(width, threads) {
            Some(gflops) => out(case, gflops, "GFLOPS"),
            None => println!("# {case}: not on this CPU"),
        }
    }
}
