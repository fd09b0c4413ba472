//! Training-step rows of the benchmark table, with the case names and shapes of
//! `anchors/torch_layers.py`: zero the gradients, forward, loss, backward, optimizer step.
//! Every model is built from the registered components a spec would name (layers,
//! losses and optimizers from the plugin manager), not from hand-written tensor code.
//!
//! - `mlp784_256_256_10_adam_step_b128`: Linear 784-256-256-10 with ReLU, cross-entropy,
//!   `Adam(lr=1e-3)`, batch 128.
//! - `transformer_seq_adamw_step_b64_l20_d192`: `Embedding(1000, 192)` + `PositionalEncoding`
//!   (sinusoidal, dropout 0) -> one `TransformerEncoderLayer(192, 4 heads, feed-forward 384,
//!   batch_first, dropout 0)` -> `Linear(192, 1000)` per position, `CrossEntropyLoss` over
//!   the `[64, 20]` next ids, `AdamW(lr=1e-3)`.
//! - `lstm_seq_adam_step_b64_l20_h128`: `LSTM(64 -> 128, batch_first)` over 20 steps ->
//!   `Select {dim: 1, index: -1}` (the last step) -> `Linear(128, 10)`, cross-entropy,
//!   `Adam(lr=1e-3)`.
//!
//! Each step runs on rayon's pool through `arc::tensor::on_pool`, as the trainer runs a
//! batch on the CPU: one hand-off to the pool per step rather than one per parallel op
//! (the MLP step 664 -> 615 us on the 2-core dev VM).

use arc::nn::{Layer, Loss, Optimizer, Param};
use arc::spec::Config;
use arc::tensor::Rng;
use arc::{Result, Tensor};

/// A model of layers applied in order, its loss and its optimizer.
pub struct Step {
    layers: Vec<Box<dyn Layer>>,
    loss: Box<dyn Loss>,
    optimizer: Box<dyn Optimizer>,
    x: Tensor,
    y: Tensor,
}

impl Step {
    /// Built from `(layer type, params)` pairs, a loss and an optimizer, by name.
    fn new(layers: &[(&str, &str)], loss: (&str, &str), optimizer: (&str, &str), x: Tensor, y: Tensor) -> Result<Self> {
        arc::nn::init::manual_seed(0);
        let pm = arc::get_plugin_manager();
        let layers =
            layers.iter().map(|(t, p)| pm.get_layer(t)?.create(&Config::from_yaml(p)?)).collect::<Result<Vec<_>>>()?;
        let loss = pm.get_loss(loss.0)?.create(&Config::from_yaml(loss.1)?)?;
        let optimizer = pm.get_optimizer(optimizer.0)?.create(&Config::from_yaml(optimizer.1)?)?;
        Ok(Self { layers, loss, optimizer, x, y })
    }

    /// Zero the gradients, forward, loss, backward, one optimizer step; the loss. On
    /// rayon's pool, as the trainer runs a CPU batch.
    pub fn run(&mut self) -> Result<f32> {
        arc::tensor::on_pool(|| {
            let loss = self.forward_backward_here()?;
            let params = params(&self.layers);
            let named: Vec<(&str, &Param)> = params.iter().map(|(n, p)| (n.as_str(), *p)).collect();
            self.optimizer.step(&named)?;
            Ok(loss)
        })
    }

    /// The step without the optimizer (zero_grad, forward, loss, backward), on the pool.
    pub fn forward_backward(&mut self) -> Result<f32> {
        arc::tensor::on_pool(|| self.forward_backward_here())
    }

    /// [`Step::forward_backward`] on the calling thread.
    fn forward_backward_here(&mut self) -> Result<f32> {
        for (_, p) in params(&self.layers) {
            p.zero_grad();
        }
        let mut h = self.x.clone();
        for layer in &self.layers {
            h = layer.forward_single(&h)?;
        }
        let loss = self.loss.forward(&[&h, &self.y])?;
        loss.backward()?;
        loss.item()
    }
}

/// The parameters, named as a state dict would name them.
fn params(layers: &[Box<dyn Layer>]) -> Vec<(String, &Param)> {
    let mut named = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        layer.visit_params(&i.to_string(), &mut |name, p| named.push((name.to_owned(), p)));
    }
    named
}

/// `mlp784_256_256_10_adam_step_b128`.
pub fn mlp() -> Result<Step> {
    let mut rng = Rng::new(1);
    let x = Tensor::randn(&[128, 784], &mut rng);
    let y = Tensor::randint(&[128], 0, 10, &mut rng)?;
    let layers = [
        ("Linear", "{in_features: 784, out_features: 256}"),
        ("ReLU", ""),
        ("Linear", "{in_features: 256, out_features: 256}"),
        ("ReLU", ""),
        ("Linear", "{in_features: 256, out_features: 10}"),
    ];
    Step::new(&layers, ("CrossEntropyLoss", ""), ("Adam", "lr: 1e-3"), x, y)
}

/// `transformer_seq_adamw_step_b64_l20_d192`.
pub fn transformer() -> Result<Step> {
    let mut rng = Rng::new(2);
    let ids = Tensor::randint(&[64, 20], 0, 1000, &mut rng)?;
    let next = Tensor::randint(&[64, 20], 0, 1000, &mut rng)?;
    let layers = [
        ("Embedding", "{num_embeddings: 1000, embedding_dim: 192}"),
        ("PositionalEncoding", "{d_model: 192, max_len: 20, dropout: 0.0, batch_first: true}"),
        ("TransformerEncoderLayer", "{d_model: 192, nhead: 4, dim_feedforward: 384, dropout: 0.0, batch_first: true}"),
        ("Linear", "{in_features: 192, out_features: 1000}"),
    ];
    Step::new(&layers, ("CrossEntropyLoss", ""), ("AdamW", "lr: 1e-3"), ids, next)
}

/// `lstm_seq_adam_step_b64_l20_h128`.
pub fn lstm() -> Result<Step> {
    let mut rng = Rng::new(3);
    let xs = Tensor::randn(&[64, 20, 64], &mut rng);
    let ys = Tensor::randint(&[64], 0, 10, &mut rng)?;
    let layers = [
        ("LSTM", "{input_size: 64, hidden_size: 128, batch_first: true}"),
        ("Select", "{dim: 1, index: -1}"),
        ("Linear", "{in_features: 128, out_features: 10}"),
    ];
    Step::new(&layers, ("CrossEntropyLoss", ""), ("Adam", "lr: 1e-3"), xs, ys)
}

/// A case's model builder.
type Build = fn() -> Result<Step>;

/// The three steps as `(case, value, unit)` rows: us/call and examples/s (batch / time);
/// only the cases whose name contains `only`, when given.
pub fn run(
    out: &mut dyn FnMut(&str, f64, &str),
    ns_per_call: &dyn Fn(&mut dyn FnMut()) -> f64,
    only: Option<&str>,
) -> Result<()> {
    let cases: [(&str, Build, f64); 3] = [
        ("mlp784_256_256_10_adam_step_b128", mlp, 128.0),
        ("transformer_seq_adamw_step_b64_l20_d192", transformer, 64.0),
        ("lstm_seq_adam_step_b64_l20_h128", lstm, 64.0),
    ];
    for (case, build, batch) in cases.into_iter().filter(|(case, ..)| only.is_none_or(|o| case.contains(o))) {
        let mut step = build()?;
        step.run()?;
        let mut failed = None;
        let us = ns_per_call(&mut || {
            if let Err(e) = step.run() {
                failed = Some(e);
            }
        }) / 1e3;
        if let Some(e) = failed {
            return Err(e);
        }
        out(case, us, "us/call");
        out(case, batch / us * 1e6, "examples/s");
    }
    Ok(())
}
