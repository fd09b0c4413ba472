//! Prints `case<TAB>value<TAB>unit` rows named and measured like
//! `../shared/anchors`, so `table.py` merges them with the Python rows:
//! `cargo bench --bench table > rust.run1.tsv`. Optional filter: the first
//! argument selects groups (`hooks`, `tensor`).

#[path = "fixtures/hooks.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "table/hooks.rs"]
mod hooks;
#[path = "table/tensor.rs"]
mod tensor;
#[path = "table/timing.rs"]
mod timing;

fn main() {
    // `cargo bench` passes `--bench`; the first other argument filters groups.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |group: &str| filter.as_deref().is_none_or(|f| group.contains(f));
    println!("# arc {} (rust, release)", env!("CARGO_PKG_VERSION"));
    let mut out = |case: &str, value: f64, unit: &str| println!("{case}\t{value:.4}\t{unit}");
    if wants("hooks") {
        hooks::run(&mut out);
    }
    if wants("tensor") {
        tensor::run(&mut out);
    }
}
