//! Forward + backward of the sequence layers, built by name through the
//! facade's plugin manager: prints `case<TAB>value<TAB>unit` rows (median of
//! 5 repeats of ~0.2 s, the anchors' method), to compare with
//! `scripts/bench/torch_sequence_layers.py` (PyTorch, 2 threads).
//!
//! ```text
//! cargo bench --bench sequence_layers          # every case
//! cargo bench --bench sequence_layers -- lstm  # the cases whose name contains `lstm`
//! ```

use arc::Tensor;
use arc::nn::Layer;
use arc::spec::Config;
use arc::tensor::Rng;

#[path = "table/timing.rs"]
mod timing;

/// A layer of the linked built-in plugin, by name.
fn layer(name: &str, config: &str) -> Box<dyn Layer> {
    let config = Config::from_yaml(config).expect("bench config parses");
    arc::get_plugin_manager().get_layer(name).and_then(|c| c.create(&config)).expect("the built-in layers are linked")
}

/// Microseconds per forward + backward of `layer` on `x` with upstream gradient `gy`.
fn fwd_bwd_us(layer: &dyn Layer, x: &Tensor, gy: &Tensor) -> f64 {
    let ns = timing::ns_per_call(|| {
        layer.visit_params("", &mut |_, p| p.zero_grad());
        x.zero_grad();
        let y = layer.forward_single(x).expect("forward");
        y.backward_with(gy).expect("backward");
    });
    ns / 1e3
}

/// Whether `case` is selected by the command line's filters (none: all).
fn selected(case: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    filters.is_empty() || filters.iter().any(|f| case.contains(f.as_str()))
}

fn main() {
    if selected("mha_b32_s64_d256_h8_fwd_bwd") {
        mha_case(&mut Rng::new(0));
    }
    if selected("lstm_b32_s64_h256_fwd_bwd") {
        lstm_case(&mut Rng::new(1));
    }
}

/// Self-attention, batch first: `x [32, 64, 256]`, 8 heads.
fn mha_case(rng: &mut Rng) {
    let mha = layer("MultiHeadAttention", "{embed_dim: 256, num_heads: 8, batch_first: true}");
    let x = Tensor::randn(&[32, 64, 256], rng).requires_grad_().expect("f32 leaf");
    let gy = Tensor::randn(&[32, 64, 256], rng);
    let mha_us = fwd_bwd_us(mha.as_ref(), &x, &gy);
    println!("mha_b32_s64_d256_h8_fwd_bwd\t{mha_us:.1}\tus/call");
}

/// One LSTM layer, sequence first: `x [64, 32, 256]`, hidden 256.
fn lstm_case(rng: &mut Rng) {
    let lstm = layer("LSTM", "{input_size: 256, hidden_size: 256}");
    let x = Tensor::randn(&[64, 32, 256], rng).requires_grad_().expect("f32 leaf");
    let gy = Tensor::randn(&[64, 32, 256], rng);
    let lstm_us = fwd_bwd_us(lstm.as_ref(), &x, &gy);
    println!("lstm_b32_s64_h256_fwd_bwd\t{lstm_us:.1}\tus/call");
}
