//! The table's timer: the anchors' method (median of 5 repeats of ~0.2 s).

use std::time::{Duration, Instant};

/// Timed runs per case, as the anchors' `timeit` repeats.
const REPEATS: usize = 5;

/// Nanoseconds per call of `f`: warmed up, calibrated to ~0.2 s a repeat, median of
/// [`REPEATS`] repeats (`ANCHOR_STAT=min` takes the best instead, as the anchors do).
/// `TABLE_REPEATS` sets another count, for A/B runs on a noisy host
/// (`scripts/bench/ab.py`).
pub fn ns_per_call<R>(mut f: impl FnMut() -> R) -> f64 {
    time(&mut f, 3);
    let mut n: u64 = 1;
    loop {
        let t = time(&mut f, n);
        if t >= Duration::from_millis(20) {
            n = ((n as f64) * 0.2 / t.as_secs_f64()).max(1.0) as u64;
            break;
        }
        n *= 10;
    }
    let repeats =
        std::env::var("TABLE_REPEATS").ok().and_then(|r| r.parse().ok()).filter(|&r| r > 0).unwrap_or(REPEATS);
    let mut runs: Vec<f64> = (0..repeats).map(|_| time(&mut f, n).as_nanos() as f64 / n as f64).collect();
    runs.sort_by(f64::total_cmp);
    if std::env::var("ANCHOR_STAT").as_deref() == Ok("min") { runs[0] } else { runs[repeats / 2] }
}

fn time<R>(f: &mut impl FnMut() -> R, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    start.elapsed()
}
