//! Criterion benchmarks of the basic built-in layers, built by name through the plugin
//! manager as a spec would build them: `cargo bench --bench layers_basic`.
//!
//! `layer_linear1024_fwd` is the anchor `linear1024_fwd` through `core.Linear` (the layer adds
//! no work over `Tensor::linear`); the others have no anchor row and are compared with
//! PyTorch 2.15 CPU on 2 threads in the layers work's report.

use std::hint::black_box;

use arc_builtins::BuiltinLayerPlugin;
use arc_core::nn::Layer;
use arc_core::plugin::PluginManager;
use arc_core::spec::Config;
use arc_core::tensor::{Rng, no_grad};
use arc_core::{Result, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};

fn layer(pm: &PluginManager, name: &str, yaml: &str) -> Box<dyn Layer> {
    let config = Config::from_yaml(yaml).expect("the bench's YAML parses");
    pm.get_layer(name).and_then(|c| c.create(&config)).expect("the bench's layers build")
}

/// Forward, then backward of `sum(y * g)`.
fn fwd_bwd(layer: &dyn Layer, x: &Tensor, g: &Tensor) -> Result<()> {
    layer.forward_single(x)?.backward_with(g)
}

fn bench(c: &mut Criterion) {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinLayerPlugin, "builtin_layers").expect("a fresh manager");
    pm.refresh_registries().expect("the builtin layers register");
    let mut rng = Rng::new(0);

    let linear = layer(&pm, "Linear", "{in_features: 1024, out_features: 1024}");
    let x = Tensor::randn(&[64, 1024], &mut rng);
    {
        let _guard = no_grad();
        c.bench_function("layer_linear1024_fwd", |b| b.iter(|| black_box(linear.forward_single(&x))));
    }

    let xh = Tensor::randn(&[64, 4096], &mut rng);
    let gh = Tensor::randn(&[64, 4096], &mut rng);
    let mut bn = layer(&pm, "BatchNorm1d", "num_features: 4096");
    c.bench_function("batchnorm1d_train_fwd_64x4096", |b| {
        let _guard = no_grad();
        b.iter(|| black_box(bn.forward_single(&xh)))
    });
    let xg = xh.detach().requires_grad_().expect("an f32 leaf");
    c.bench_function("batchnorm1d_train_fwd_bwd_64x4096", |b| b.iter(|| black_box(fwd_bwd(&*bn, &xg, &gh))));
    bn.set_training(false);
    c.bench_function("batchnorm1d_eval_fwd_64x4096", |b| {
        let _guard = no_grad();
        b.iter(|| black_box(bn.forward_single(&xh)))
    });

    let ln = layer(&pm, "LayerNorm", "normalized_shape: 4096");
    c.bench_function("layer_layernorm_fwd_bwd_64x4096", |b| b.iter(|| black_box(fwd_bwd(&*ln, &xg, &gh))));

    let emb = layer(&pm, "Embedding", "{num_embeddings: 10000, embedding_dim: 256}");
    let ids = Tensor::randint(&[64, 128], 0, 10000, &mut rng).expect("a valid range");
    let ge = Tensor::randn(&[64, 128, 256], &mut rng);
    c.bench_function("embedding_fwd_10000x256_ids64x128", |b| {
        let _guard = no_grad();
        b.iter(|| black_box(emb.forward_single(&ids)))
    });
    c.bench_function("embedding_fwd_bwd_10000x256_ids64x128", |b| {
        b.iter(|| black_box(emb.forward_single(&ids).and_then(|y| y.backward_with(&ge))))
    });

    let mut pe = layer(&pm, "PositionalEncoding", "d_model: 256");
    pe.set_training(false);
    let xs = Tensor::randn(&[64, 128, 256], &mut rng);
    c.bench_function("positional_encoding_eval_fwd_64x128x256", |b| {
        let _guard = no_grad();
        b.iter(|| black_box(pe.forward_single(&xs)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
