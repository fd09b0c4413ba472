//! Every built-in layer's `StateSize` (the memory budget's estimate, from the config alone)
//! equals the elements of the parameters and buffers the built layer holds; an overflowing
//! size is an error naming the layer, not a wrapped count.

use arc_builtins::BuiltinLayerPlugin;
use arc_core::Error;
use arc_core::plugin::PluginManager;
use arc_core::spec::Config;

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinLayerPlugin, "builtin_layers").expect("registers");
    pm.refresh_registries().expect("refreshes");
    pm
}

#[test]
fn the_estimate_is_what_the_built_layer_holds() {
    let pm = manager();
    let cases = [
        ("Linear", "{in_features: 3, out_features: 5}"),
        ("Linear", "{in_features: 3, out_features: 5, bias: false}"),
        ("BatchNorm1d", "{num_features: 4}"),
        ("BatchNorm1d", "{num_features: 4, affine: false, track_running_stats: false}"),
        ("LayerNorm", "{normalized_shape: [2, 3]}"),
        ("LayerNorm", "{normalized_shape: 6, elementwise_affine: false}"),
        ("Embedding", "{num_embeddings: 10, embedding_dim: 4}"),
        ("MultiHeadAttention", "{embed_dim: 8, num_heads: 2}"),
        ("MultiHeadAttention", "{embed_dim: 8, num_heads: 2, kdim: 3, vdim: 5}"),
        ("MultiHeadAttention", "{embed_dim: 8, num_heads: 2, bias: false}"),
        ("TransformerEncoderLayer", "{d_model: 8, nhead: 2, dim_feedforward: 16}"),
        ("TransformerEncoderLayer", "{d_model: 8, nhead: 2, dim_feedforward: 16, bias: false}"),
        ("LSTM", "{input_size: 3, hidden_size: 4, num_layers: 2, bidirectional: true}"),
        ("GRU", "{input_size: 3, hidden_size: 4, bias: false}"),
        ("ReLU", "{}"),
    ];
    for (layer, yaml) in cases {
        let config = Config::from_yaml(yaml).expect("yaml");
        let component = pm.get_layer(layer).expect("registered");
        let estimate = component.state_size(&config).expect("a size function").expect("a size");
        let built = component.create(&config).expect("builds");
        let mut held = 0u64;
        built.visit_params("", &mut |_, p| held += p.value().numel() as u64);
        built.visit_buffers("", &mut |_, t| held += t.numel() as u64);
        assert_eq!(estimate, held, "{layer} {yaml}");
    }
    // The positional table is no buffer, but it is memory.
    let config = Config::from_yaml("{d_model: 8, max_len: 50}").expect("yaml");
    let size = pm.get_layer("PositionalEncoding").unwrap().state_size(&config).unwrap().unwrap();
    assert_eq!(size, 400);
}

#[test]
fn an_overflowing_size_is_an_error_naming_the_layer() {
    let pm = manager();
    let config = Config::from_yaml("{in_features: 4294967296, out_features: 4294967296, bias: false}").expect("yaml");
    let err = pm.get_layer("Linear").unwrap().state_size(&config).unwrap().unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "layer `core.Linear`: a tensor of shape [4294967296, 4294967296] has more elements than memory can address"
    );
    // 2^32 × 2^32 = 2^64 wraps to 0 in unchecked arithmetic; a huge but addressable one counts.
    let big = Config::from_yaml("{in_features: 4, out_features: 1000000000000}").expect("yaml");
    assert_eq!(pm.get_layer("Linear").unwrap().state_size(&big).unwrap().unwrap(), 5_000_000_000_000);
}
