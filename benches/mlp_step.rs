//! `mlp784_256_256_10_adam_step_b128`: one training step of an MLP 784-256-256-10 with ReLU
//! at batch 128 — zero the gradients, forward, cross-entropy, backward, `core.Adam` step —
//! as `../shared/anchors/torch_layers.py` measures it for PyTorch. The model is composed
//! directly from tensor ops (`linear`, `relu`, `cross_entropy`) and `Param`s; the optimizer
//! comes from the plugin registry, as a trainer gets it.
//!
//! `cargo bench --bench mlp_step` prints `case<TAB>value<TAB>unit` rows (us/call and
//! examples/s, the median of 5 repeats of ~0.2 s, the anchors' method).
//! `MLP_STEP_BREAKDOWN=1` adds the same step without the optimizer; `MLP_STEP_PROFILE=10`
//! instead runs 10 steps and stops, for
//! `valgrind --tool=callgrind` (instruction counts hold under a noisy machine).

use arc::nn::{Param, init};
use arc::spec::Config;
use arc::tensor::{CrossEntropyOptions, Rng};
use arc::{Result, Tensor};

#[path = "table/timing.rs"]
mod timing;

const CASE: &str = "mlp784_256_256_10_adam_step_b128";
const BATCH: usize = 128;

/// `Linear(in, out)` with PyTorch's default initialisation.
fn linear(name: &str, fan_in: usize, fan_out: usize) -> Result<[(String, Param); 2]> {
    let weight = Param::new(init::kaiming_uniform(&[fan_out, fan_in], fan_in))?;
    let bias = Param::new(init::kaiming_uniform(&[fan_out], fan_in))?;
    Ok([(format!("{name}.weight"), weight), (format!("{name}.bias"), bias)])
}

fn run() -> Result<()> {
    init::manual_seed(0);
    let params: Vec<(String, Param)> =
        [linear("0", 784, 256)?, linear("2", 256, 256)?, linear("4", 256, 10)?].into_iter().flatten().collect();
    let named: Vec<(&str, &Param)> = params.iter().map(|(n, p)| (n.as_str(), p)).collect();
    let mut rng = Rng::new(1);
    let x = Tensor::randn(&[BATCH, 784], &mut rng);
    let y = Tensor::randint(&[BATCH], 0, 10, &mut rng)?;
    let options = CrossEntropyOptions::default();
    let pm = arc::get_plugin_manager();
    let mut adam = pm.get_optimizer("Adam")?.create(&Config::from_yaml("lr: 1e-3")?)?;
    let forward_backward = || -> Result<()> {
        for (_, p) in &named {
            p.zero_grad();
        }
        let v: Vec<Tensor> = named.iter().map(|(_, p)| p.value()).collect();
        let h = x.linear(&v[0], Some(&v[1]))?.relu()?;
        let h = h.linear(&v[2], Some(&v[3]))?.relu()?;
        let loss = h.linear(&v[4], Some(&v[5]))?.cross_entropy(&y, &options)?;
        loss.backward()
    };
    let mut train_step = || -> Result<()> {
        forward_backward()?;
        adam.step(&named)
    };
    train_step()?;
    // `MLP_STEP_PROFILE=N`: run N steps and stop, for `valgrind --tool=callgrind`.
    if let Some(n) = std::env::var("MLP_STEP_PROFILE").ok().and_then(|n| n.parse::<usize>().ok()) {
        for _ in 0..n {
            train_step()?;
        }
        return Ok(());
    }
    let us = timing::ns_per_call(|| train_step().expect("the MLP step runs on valid shapes")) / 1e3;
    println!("{CASE}\t{us:.4}\tus/call");
    println!("{CASE}\t{:.4}\texamples/s", BATCH as f64 / us * 1e6);
    // `MLP_STEP_BREAKDOWN=1`: also the step without the optimizer (zero_grad, forward,
    // cross-entropy, backward), to tell the optimizer's share from the engine's.
    if std::env::var_os("MLP_STEP_BREAKDOWN").is_some() {
        let us = timing::ns_per_call(|| forward_backward().expect("the MLP step runs on valid shapes")) / 1e3;
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
