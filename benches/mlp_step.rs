//! `mlp784_256_256_10_adam_step_b128`: one training step of an MLP 784-256-256-10 with ReLU
//! at batch 128 — zero the gradients, forward, cross-entropy, backward, `core.Adam` step —
//! as `../shared/anchors/torch_layers.py` measures it for PyTorch. The model is built from
//! the registered layers, loss and optimizer (`table/training.rs`, also in the table).
//!
//! `cargo bench --bench mlp_step` prints `case<TAB>value<TAB>unit` rows (us/call and
//! examples/s, the median of 5 repeats of ~0.2 s, the anchors' method).
//! `MLP_STEP_BREAKDOWN=1` adds the same step without the optimizer; `MLP_STEP_PROFILE=10`
//! instead runs 10 steps and stops, for
//! `valgrind --tool=callgrind` (instruction counts hold under a noisy machine).

use arc::Result;

#[path = "table/timing.rs"]
mod timing;
#[path = "table/training.rs"]
#[allow(dead_code)] // each bench uses part of it
mod training;

const CASE: &str = "mlp784_256_256_10_adam_step_b128";
const BATCH: usize = 128;

fn run() -> Result<()> {
    let mut step = training::mlp()?;
    step.run()?;
    // `MLP_STEP_PROFILE=N`: run N steps and stop, for `valgrind --tool=callgrind`.
    if let Some(n) = std::env::var("MLP_STEP_PROFILE").ok().and_then(|n| n.parse::<usize>().ok()) {
        for _ in 0..n {
            step.run()?;
        }
        return Ok(());
    }
    let us = timing::ns_per_call(|| step.run().expect("the MLP step runs on valid shapes")) / 1e3;
    println!("{CASE}\t{us:.4}\tus/call");
    println!("{CASE}\t{:.4}\texamples/s", BATCH as f64 / us * 1e6);
    // `MLP_STEP_BREAKDOWN=1`: also the step without the optimizer (zero_grad, forward,
    // cross-entropy, backward), to tell the optimizer's share from the engine's.
    if std::env::var_os("MLP_STEP_BREAKDOWN").is_some() {
        let us = timing::ns_per_call(|| step.forward_backward().expect("the MLP step runs on valid shapes")) / 1e3;
        println!("{CASE}_without_step\t{us:.4}\tus/call");
    }
    Ok(())
}

fn main() {
    println!("# arc {} (rust, release)", env!("CARGO_PKG_VERSION"));
    if let Err(e) = run() {
        eprintln!("{CASE} failed: {e}");
        std::process::exit(1);
    }
}
