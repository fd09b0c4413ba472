//! The table's timer: the anchors' method (median of 5 repeats of ~0.2 s).

use std::time::{Duration, Instant};

/// Nanoseconds per call of `f`: calibrated to ~0.2 s a repeat, median of 5
/// repeats (`ANCHOR_STAT=min` takes the best instead, as the anchors do).
pub fn ns_per_call<R>(mut f: impl FnMut() -> R) -> f64 {
    let mut n: u64 = 1;
    loop {
        let t = time(&mut f, n);
        if t >= Duration::from_millis(20) {
            n = ((n as f64) * 0.2 / t.as_secs_f64()).max(1.0) as u64;
            break;
        }
        n *= 10;
    }
    let mut runs: Vec<f64> = (0..5).map(|_| time(&mut f, n).as_nanos() as f64 / n as f64).collect();
    runs.sort_by(f64::total_cmp);
    if std::env::var("ANCHOR_STAT").as_deref() == Ok("min") { runs[0] } else { runs[2] }
}

fn time<R>(f: &mut impl FnMut() -> R, n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    start.elapsed()
}
