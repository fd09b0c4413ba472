//! The registry (names, legacy names, `validate`) and the errors bad configs get.

use super::*;

// ---- registry ----------------------------------------------------------------------------

const LAYERS: [&str; 14] = [
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "Dropout",
    "BatchNorm1d",
    "LayerNorm",
    "Embedding",
    "PositionalEncoding",
    "Concatenate",
    "Add",
    "Flatten",
];

#[test]
fn the_registry_lists_every_layer_under_core() {
    let pm = manager();
    let listed = pm.get_layers();
    for short in LAYERS {
        let full = format!("core.{short}");
        assert!(listed.contains(&(full.clone(), "builtin_layers".to_owned())), "{full} missing from {listed:?}");
        assert_eq!(pm.get_layer(short).unwrap().name(), full, "short name `{short}`");
    }
}

#[test]
fn legacy_torch_names_resolve_to_core_layers() {
    let pm = manager();
    let legacy = ["Linear", "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "Dropout", "BatchNorm1d", "LayerNorm"];
    for short in legacy.into_iter().chain(["Embedding", "Flatten"]) {
        assert_eq!(pm.get_layer(&format!("torch.nn.{short}")).unwrap().name(), format!("core.{short}"));
    }
}

#[test]
fn validate_accepts_good_configs_and_rejects_bad_ones() -> Result<()> {
    let pm = manager();
    let ok =
        |name: &str, yaml: &str| pm.validate_component_config(ComponentKind::Layer, name, &Config::from_yaml(yaml)?);
    assert!(ok("Linear", "in_features: 3\nout_features: 2")?);
    assert!(ok("torch.nn.ReLU", "{}")? && !ok("torch.nn.ReLU", "alpha: 1")?, "legacy names are checked too");
    assert!(!ok("Linear", "in_features: 3")?);
    assert!(!ok("core.Linear", "in_features: 3\nout_features: 2\nbais: true")?);
    assert!(ok("Dropout", "p: 0.2")? && !ok("Dropout", "p: 1.2")?);
    assert!(ok("BatchNorm1d", "num_features: 3\nmomentum: null")? && !ok("BatchNorm1d", "num_features: 0")?);
    assert!(ok("LayerNorm", "normalized_shape: [2, 3]")? && !ok("LayerNorm", "normalized_shape: []")?);
    assert!(ok("Embedding", "{num_embeddings: 4, embedding_dim: 2, padding_idx: -4}")?);
    assert!(!ok("Embedding", "{num_embeddings: 4, embedding_dim: 2, padding_idx: 4}")?);
    assert!(ok("GELU", "approximate: tanh")? && !ok("GELU", "approximate: fast")?);
    assert!(ok("Softmax", "")? && ok("Flatten", "{start_dim: 0}")? && ok("Add", "num_inputs: 4")?);
    assert!(!ok("Concatenate", "num_inputs: 0")? && !ok("PositionalEncoding", "{d_model: 4, dropout: -0.1}")?);
    Ok(())
}

// ---- config errors -------------------------------------------------------------------

fn config_error(layer_type: &str, yaml: &str) -> String {
    match create(&manager(), layer_type, yaml) {
        Ok(_) => panic!("{layer_type} accepted {yaml:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_params_name_the_closest_known_one() {
    assert_eq!(
        config_error("Linear", "in_features: 4\nout_feature: 2"),
        "core.Linear: unknown parameter `out_feature` (did you mean `out_features`?)"
    );
    assert_eq!(config_error("ReLU", "inplce: true"), "core.ReLU: unknown parameter `inplce` (did you mean `inplace`?)");
    assert_eq!(config_error("Tanh", "alpha: 1"), "core.Tanh: unknown parameter `alpha`");
    assert_eq!(
        config_error("torch.nn.BatchNorm1d", "num_features: 3\nmomentom: 0.2"),
        "core.BatchNorm1d: unknown parameter `momentom` (did you mean `momentum`?)"
    );
    assert_eq!(
        config_error("Embedding", "num_embeddings: 3\nembedding_dim: 2\npadding_index: 0"),
        "core.Embedding: unknown parameter `padding_index` (did you mean `padding_idx`?)"
    );
}

#[test]
fn missing_params_are_named() {
    assert_eq!(config_error("Linear", "in_features: 4"), "core.Linear: missing parameter `out_features`");
    assert_eq!(config_error("LayerNorm", "eps: 0.1"), "core.LayerNorm: missing parameter `normalized_shape`");
    assert_eq!(config_error("PositionalEncoding", ""), "core.PositionalEncoding: missing parameter `d_model`");
    assert_eq!(config_error("Embedding", "num_embeddings: 3"), "core.Embedding: missing parameter `embedding_dim`");
}

#[test]
fn out_of_range_values_say_what_is_accepted() {
    let cases = [
        ("Dropout", "p: 1.5", "core.Dropout: invalid config: `p` must be a probability in [0, 1], got 1.5"),
        (
            "BatchNorm1d",
            "{num_features: 2, momentum: 2}",
            "core.BatchNorm1d: invalid config: `momentum` must be in [0, 1] or null, got 2",
        ),
        (
            "BatchNorm1d",
            "{num_features: 2, eps: -1}",
            "core.BatchNorm1d: invalid config: `eps` must be a finite number >= 0, got -1",
        ),
        (
            "LayerNorm",
            "normalized_shape: [3, 0]",
            "core.LayerNorm: invalid config: `normalized_shape` must be sizes >= 1, got [3, 0]",
        ),
        (
            "Embedding",
            "{num_embeddings: 5, embedding_dim: 2, padding_idx: -6}",
            "core.Embedding: invalid config: `padding_idx` must be within [-5, 5), got -6",
        ),
        (
            "Embedding",
            "{num_embeddings: 5, embedding_dim: 2, max_norm: 0}",
            "core.Embedding: invalid config: `max_norm` must be > 0, got 0",
        ),
        (
            "Embedding",
            "{num_embeddings: 5, embedding_dim: 2, sparse: true}",
            "core.Embedding: invalid config: `sparse: true` is not supported: Arc's gradients are dense",
        ),
        (
            "PositionalEncoding",
            "{d_model: 0}",
            "core.PositionalEncoding: invalid config: `d_model` and `max_len` must be at least 1, got 0 and 5000",
        ),
        ("Add", "num_inputs: 0", "core.Add: invalid config: `num_inputs` must be at least 1"),
    ];
    for (layer_type, yaml, want) in cases {
        assert_eq!(config_error(layer_type, yaml), want);
    }
    let err = config_error("GELU", "approximate: fast");
    assert!(err.starts_with("core.GELU: invalid config: unknown variant `fast`, expected `none` or `tanh`"), "{err}");
    let err = config_error("Linear", "in_features: -3\nout_features: 2");
    assert!(err.starts_with("core.Linear: invalid config: invalid value: integer `-3`"), "{err}");
}
