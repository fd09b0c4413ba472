//! Prints `case<TAB>value<TAB>unit` rows named and measured like
//! `../shared/anchors`, so `table.py` merges them with the Python rows:
//! `cargo bench --bench table > rust.run1.tsv`. Optional filter: the first
//! argument selects groups (`hooks`, `tensor`, `tensor_training` (the training steps; `tensor`
//! selects it too), `predictor`).

#[path = "fixtures/hooks.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "table/hooks.rs"]
mod hooks;
#[path = "table/peak.rs"]
mod peak;
#[path = "table/predictor.rs"]
mod predictor;
#[path = "table/tensor.rs"]
mod tensor;
#[path = "table/timing.rs"]
mod timing;
#[path = "table/training.rs"]
#[allow(dead_code)] // each bench uses part of it
mod training;

fn main() {
    // `cargo bench` passes `--bench`; the first other argument filters groups.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |group: &str| filter.as_deref().is_none_or(|f| group.contains(f));
    // First thing in the process (cold): enumerating the linked plugins into a new manager,
    // building its registries, then the global manager's first call (both steps again).
    // (Only when the predictor rows are wanted: the other groups keep their cold process.)
    let cold = if wants("predictor") { predictor::cold_start() } else { Vec::new() };
    println!("# arc {} (rust, release)", env!("CARGO_PKG_VERSION"));
    let mut out = |case: &str, value: f64, unit: &str| println!("{case}\t{value:.4}\t{unit}");
    if wants("hooks") {
        hooks::run(&mut out);
    }
    if wants("tensor") {
        peak::run(&mut out);
        tensor::run(&mut out);
    }
    // A filter naming a training case (`lstm`, `transformer`, `mlp784`) runs that case alone.
    let case = filter.as_deref().filter(|f| ["mlp784", "transformer", "lstm"].iter().any(|c| f.contains(c)));
    if (wants("tensor_training") || case.is_some())
        && let Err(e) = training::run(&mut out, &|f| timing::ns_per_call(f), case)
    {
        eprintln!("training rows: {e}");
        std::process::exit(1);
    }
    if wants("predictor")
        && let Err(e) = predictor::run(&mut out, &cold)
    {
        eprintln!("predictor rows: {e}");
        std::process::exit(1);
    }
}
