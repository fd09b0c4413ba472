//! Helpers shared by the fixture tests.

/// Asserts `|got - want| <= atol + rtol * |want|` element by element (a NaN
/// matches only a NaN), in f64; `what` names the compared values.
pub fn assert_close<G: Copy + Into<f64>, W: Copy + Into<f64>>(what: &str, got: &[G], want: &[W], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        let ok = if w.is_nan() { g.is_nan() } else { (g - w).abs() <= atol + rtol * w.abs() };
        assert!(ok, "{what}[{i}]: got {g}, expected {w} (rtol {rtol}, atol {atol})");
    }
}
