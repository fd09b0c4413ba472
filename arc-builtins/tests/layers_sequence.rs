//! The sequence layers (`MultiHeadAttention`, `TransformerEncoderLayer`,
//! `LSTM`, `GRU`) built by name through a `PluginManager`, against PyTorch.
//!
//! Fixtures come from `scripts/reference/layers_sequence.py` (PyTorch 2.x,
//! CPU, eval mode, dropout 0): each holds a config, inputs, parameters under
//! their state_dict names, the output, an upstream gradient `r`, and the
//! gradients of `L = sum(output * r)` with respect to the float inputs and
//! every parameter. Tolerances: outputs `|got - want| <= 1e-6 + 1e-5 |want|`,
//! gradients `<= 1e-6 + 1e-4 |want|` (f32 sums in a different order).

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use arc_builtins::BuiltinLayerPlugin;
use arc_core::nn::{Layer, Param, ShapeSpec};
use arc_core::plugin::ComponentKind;
use arc_core::spec::Config;
use arc_core::tensor::{Rng, gradcheck};
use arc_core::{PluginManager, Result, Tensor};
use serde::Deserialize;

#[derive(Deserialize)]
struct Data {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(alias = "port")]
    name: String,
    #[serde(flatten)]
    data: Data,
}

#[derive(Deserialize)]
struct Fixture {
    layer: String,
    config: serde_json::Value,
    inputs: Vec<Named>,
    params: Vec<Named>,
    output: Data,
    grad_output: Data,
    input_grads: BTreeMap<String, Data>,
    param_grads: BTreeMap<String, Data>,
}

impl Data {
    /// f32 data, or a boolean mask as i64 0/1 (Arc's boolean masks).
    fn tensor(&self) -> Result<Tensor> {
        if self.dtype == "bool" {
            Tensor::from_vec_i64(self.data.iter().map(|&v| v as i64).collect(), &self.shape)
        } else {
            Tensor::from_vec(self.values(), &self.shape)
        }
    }

    fn values(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

fn load(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/layers_sequence/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A manager holding only the built-in layer plugin, registered at run time.
fn manager() -> Result<PluginManager> {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
    pm.refresh_registries()?;
    Ok(pm)
}

fn create(pm: &PluginManager, layer: &str, config: &Config) -> Result<Box<dyn Layer>> {
    pm.get_layer(layer)?.create(config)
}

fn yaml(text: &str) -> Config {
    Config::from_yaml(text).expect("test YAML parses")
}

fn param_names(layer: &dyn Layer) -> Vec<String> {
    let mut names = Vec::new();
    layer.visit_params("", &mut |name, _| names.push(name.to_owned()));
    names
}

/// Builds the fixture's layer by name, loads its parameters, runs it in
/// eval mode and compares the output and every gradient with PyTorch's.
fn check_fixture(name: &str) -> Result<()> {
    let f = load(name);
    let pm = manager()?;
    let mut layer = create(&pm, &f.layer, &Config::from_value(&f.config)?)?;
    layer.set_training(false);

    // Same names, in PyTorch's named_parameters order, and same shapes.
    let want_names: Vec<String> = f.params.iter().map(|p| p.name.clone()).collect();
    assert_eq!(param_names(layer.as_ref()), want_names, "{name}: parameter names");
    let by_name: BTreeMap<&str, &Data> = f.params.iter().map(|p| (p.name.as_str(), &p.data)).collect();
    let mut failure = None;
    layer.visit_params("", &mut |pname, param: &Param| {
        let data = by_name[pname];
        assert_eq!(param.shape(), data.shape, "{name}: shape of {pname}");
        if let Err(e) = data.tensor().and_then(|t| param.set(t)) {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }

    let inputs: Vec<(String, Tensor)> = f
        .inputs
        .iter()
        .map(|i| {
            let t = i.data.tensor()?;
            let t = if f.input_grads.contains_key(&i.name) { t.requires_grad_()? } else { t };
            Ok((i.name.clone(), t))
        })
        .collect::<Result<_>>()?;
    let out = if let [(port, x)] = inputs.as_slice()
        && (port == "input" || port == "src")
    {
        layer.forward_single(x)?
    } else {
        let named: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        layer.forward_multi(&named)?
    };
    assert_eq!(out.shape(), f.output.shape, "{name}: output shape");
    support::assert_close(&format!("{name}: output"), &out.to_vec()?, &f.output.values(), 1e-5, 1e-6);

    out.mul(&f.grad_output.tensor()?)?.sum_all()?.backward()?;
    for (port, t) in &inputs {
        if let Some(want) = f.input_grads.get(port) {
            let got = t.grad().unwrap_or_else(|| panic!("{name}: no gradient for input {port}"));
            support::assert_close(&format!("{name}: d/d{port}"), &got.to_vec()?, &want.values(), 1e-4, 1e-6);
        }
    }
    let mut grads = Vec::new();
    layer.visit_params("", &mut |pname, param| grads.push((pname.to_owned(), param.grad())));
    for (pname, got) in grads {
        let got = got.unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        support::assert_close(
            &format!("{name}: d/d{pname}"),
            &got.to_vec()?,
            &f.param_grads[&pname].values(),
            1e-4,
            1e-6,
        );
    }
    Ok(())
}

macro_rules! fixture_tests {
    ($($test:ident => $fixture:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() -> Result<()> {
                check_fixture($fixture)
            }
        )*
    };
}

fixture_tests! {
    mha_self_attention_from_one_input => "mha_self_seq_first",
    mha_cross_attention_batch_first => "mha_cross_batch_first",
    mha_kdim_vdim_without_bias => "mha_kdim_vdim_no_bias",
    mha_bool_attn_and_key_padding_masks => "mha_bool_masks",
    mha_float_per_head_attn_and_key_padding_masks => "mha_float_masks",
    transformer_post_norm_relu_with_padding_mask => "tel_post_norm_relu",
    transformer_pre_norm_gelu_batch_first => "tel_pre_norm_gelu_batch_first",
    transformer_pre_norm_no_bias_causal_mask => "tel_pre_norm_no_bias_causal",
    lstm_two_layers_bidirectional_batch_first => "lstm_2layers_bidirectional_batch_first",
    lstm_one_layer_seq_first => "lstm_1layer_seq_first",
    lstm_two_layers_no_bias_unbatched => "lstm_2layers_no_bias_unbatched",
    gru_two_layers_bidirectional_batch_first => "gru_2layers_bidirectional_batch_first",
    gru_one_layer_seq_first => "gru_1layer_seq_first",
    gru_two_layers_no_bias_unbatched => "gru_2layers_no_bias_unbatched",
}

#[test]
fn self_attention_through_the_ports_matches_the_single_input() -> Result<()> {
    // One product for q, k, v when the three ports hold the same tensor, three
    // products when they hold equal copies, and key/value default to query:
    // the same maths, so equal to 1e-6.
    let pm = manager()?;
    let mut layer = create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 8, num_heads: 2, batch_first: true}"))?;
    layer.set_training(false);
    let x = Tensor::randn(&[2, 5, 8], &mut Rng::new(3));
    let copy = Tensor::from_vec(x.to_vec()?, x.shape())?;
    let single = layer.forward_single(&x)?.to_vec()?;
    let same = layer.forward_multi(&[("query", &x), ("key", &x), ("value", &x)])?.to_vec()?;
    let copies = layer.forward_multi(&[("value", &copy), ("query", &x), ("key", &copy)])?.to_vec()?;
    let defaulted = layer.forward_multi(&[("query", &x)])?.to_vec()?;
    support::assert_close("same tensor", &same, &single, 0.0, 1e-6);
    support::assert_close("copies", &copies, &single, 0.0, 1e-6);
    support::assert_close("key and value default to query", &defaulted, &single, 0.0, 1e-6);
    let err = layer.forward_multi(&[("query", &x), ("keys", &x)]).unwrap_err();
    assert!(err.to_string().contains("(query required)"), "{err}");
    Ok(())
}

#[test]
fn fused_and_composed_attention_agree() -> Result<()> {
    // A mask that takes gradients (or dropout in training) runs the composed
    // ops; one that does not runs the fused kernel. Same maths: equal to 1e-6,
    // gradients of the query to 1e-5.
    let pm = manager()?;
    let mut layer = create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 8, num_heads: 4}"))?;
    layer.set_training(false);
    let mut rng = Rng::new(9);
    let (q, kv) = (Tensor::randn(&[3, 2, 8], &mut rng), Tensor::randn(&[5, 2, 8], &mut rng));
    let mask = Tensor::randn(&[3, 5], &mut rng);
    let run = |mask: &Tensor| -> Result<(Vec<f32>, Vec<f32>)> {
        let q = Tensor::from_vec(q.to_vec()?, q.shape())?.requires_grad_()?;
        let out = layer.forward_multi(&[("query", &q), ("key", &kv), ("value", &kv), ("attn_mask", mask)])?;
        out.sum_all()?.backward()?;
        Ok((out.to_vec()?, q.grad().expect("query gradient").to_vec()?))
    };
    let (fused, fused_grad) = run(&mask)?;
    let (composed, composed_grad) = run(&Tensor::from_vec(mask.to_vec()?, &[3, 5])?.requires_grad_()?)?;
    support::assert_close("output", &fused, &composed, 0.0, 1e-6);
    support::assert_close("d/dquery", &fused_grad, &composed_grad, 0.0, 1e-5);
    Ok(())
}

#[test]
fn parameters_have_pytorch_names_shapes_and_initialisation() -> Result<()> {
    let pm = manager()?;
    let shapes = |layer: &dyn Layer| {
        let mut v = Vec::new();
        layer.visit_params("enc", &mut |n, p| v.push((n.to_owned(), p.shape(), p.value().to_vec().unwrap())));
        v
    };
    // MHA: xavier in_proj (bound sqrt(6 / (E + 3E))), zero biases, out_proj U(+-1/sqrt(E)).
    let mha = shapes(create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 16, num_heads: 4}"))?.as_ref());
    let names: Vec<_> = mha.iter().map(|(n, s, _)| (n.as_str(), s.clone())).collect();
    assert_eq!(
        names,
        [
            ("enc.in_proj_weight", vec![48, 16]),
            ("enc.in_proj_bias", vec![48]),
            ("enc.out_proj.weight", vec![16, 16]),
            ("enc.out_proj.bias", vec![16])
        ]
    );
    assert!(mha[0].2.iter().all(|v| v.abs() <= (6.0f32 / 64.0).sqrt()));
    assert!(mha[1].2.iter().chain(&mha[3].2).all(|&v| v == 0.0));
    assert!(mha[2].2.iter().all(|v| v.abs() <= 0.25) && mha[2].2.iter().any(|&v| v != 0.0));

    let tel = create(&pm, "TransformerEncoderLayer", &yaml("{d_model: 8, nhead: 2, dim_feedforward: 32}"))?;
    let tel = shapes(tel.as_ref());
    let names: Vec<&str> = tel.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "enc.self_attn.in_proj_weight",
            "enc.self_attn.in_proj_bias",
            "enc.self_attn.out_proj.weight",
            "enc.self_attn.out_proj.bias",
            "enc.linear1.weight",
            "enc.linear1.bias",
            "enc.linear2.weight",
            "enc.linear2.bias",
            "enc.norm1.weight",
            "enc.norm1.bias",
            "enc.norm2.weight",
            "enc.norm2.bias"
        ]
    );
    assert_eq!(tel[4].1, [32, 8]);
    assert!(tel[5].2.iter().all(|v| v.abs() <= 1.0 / 8f32.sqrt()), "linear1.bias ~ U(+-1/sqrt(d_model))");
    assert!(tel[8].2.iter().all(|&v| v == 1.0) && tel[9].2.iter().all(|&v| v == 0.0));

    // GRU: every tensor U(+-1/sqrt(hidden)); the reverse direction's input width is 2H above layer 0.
    let gru = create(&pm, "GRU", &yaml("{input_size: 3, hidden_size: 4, num_layers: 2, bidirectional: true}"))?;
    let gru = shapes(gru.as_ref());
    assert_eq!(gru.len(), 16);
    assert_eq!((gru[4].0.as_str(), gru[4].1.clone()), ("enc.weight_ih_l0_reverse", vec![12, 3]));
    assert_eq!((gru[9].0.as_str(), gru[9].1.clone()), ("enc.weight_hh_l1", vec![12, 4]));
    assert_eq!((gru[12].0.as_str(), gru[12].1.clone()), ("enc.weight_ih_l1_reverse", vec![12, 8]));
    assert!(gru.iter().all(|(_, _, v)| v.iter().all(|v| v.abs() <= 0.5)));
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 3, hidden_size: 4, bias: false}"))?;
    assert_eq!(param_names(lstm.as_ref()), ["weight_ih_l0", "weight_hh_l0"]);
    Ok(())
}

#[test]
fn output_shapes_follow_pytorch() -> Result<()> {
    let pm = manager()?;
    let shape = |layer: &dyn Layer, inputs: &[ShapeSpec]| layer.output_shape(inputs);
    let mha = create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 8, num_heads: 2}"))?;
    assert_eq!(
        shape(mha.as_ref(), &[vec![Some(5), None, Some(8)], vec![Some(7), None, Some(8)]])?,
        [Some(5), None, Some(8)]
    );
    assert!(shape(mha.as_ref(), &[vec![Some(5), None, Some(6)]]).is_err());
    let tel = create(&pm, "TransformerEncoderLayer", &yaml("{d_model: 8, nhead: 2, batch_first: true}"))?;
    assert_eq!(shape(tel.as_ref(), &[vec![None, Some(4), Some(8)]])?, [None, Some(4), Some(8)]);
    assert!(shape(tel.as_ref(), &[vec![Some(8)]]).is_err());
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 3, hidden_size: 5, bidirectional: true}"))?;
    assert_eq!(shape(lstm.as_ref(), &[vec![None, None, Some(3)]])?, [None, None, Some(10)]);
    assert_eq!(shape(lstm.as_ref(), &[vec![Some(6), Some(3)]])?, [Some(6), Some(10)]);
    assert!(shape(lstm.as_ref(), &[vec![None, None, Some(4)]]).is_err());
    let gru = create(&pm, "GRU", &yaml("{input_size: 3, hidden_size: 5, num_layers: 3}"))?;
    assert_eq!(shape(gru.as_ref(), &[vec![None, Some(2), None]])?, [None, Some(2), Some(5)]);
    // The inferred shapes are the real ones.
    let x = Tensor::randn(&[4, 2, 3], &mut Rng::new(0));
    assert_eq!(lstm.forward_single(&x)?.shape(), [4, 2, 10]);
    assert_eq!(gru.forward_single(&x)?.shape(), [4, 2, 5]);
    Ok(())
}

#[test]
fn bad_configs_are_errors_naming_the_layer_and_parameter() -> Result<()> {
    let pm = manager()?;
    let err = |layer: &str, text: &str| create(&pm, layer, &yaml(text)).err().expect("config is rejected").to_string();
    assert_eq!(
        err("MultiHeadAttention", "{embed_dim: 8, num_heads: 3}"),
        "core.MultiHeadAttention: invalid config: embed_dim (8) must be divisible by num_heads (3)"
    );
    assert_eq!(
        err("MultiHeadAttention", "{embed_dim: 8, num_head: 2}"),
        "core.MultiHeadAttention: unknown parameter `num_head` (did you mean `num_heads`?)"
    );
    assert_eq!(err("MultiHeadAttention", "{embed_dim: 8}"), "core.MultiHeadAttention: missing parameter `num_heads`");
    assert_eq!(
        err("TransformerEncoderLayer", "{d_model: 8, nhead: 2, dropout: 1.5}"),
        "core.TransformerEncoderLayer: invalid config: dropout probability has to be between 0 and 1, but got 1.5"
    );
    let activation = err("TransformerEncoderLayer", "{d_model: 8, nhead: 2, activation: tanh}");
    assert!(activation.starts_with("core.TransformerEncoderLayer: invalid config: "), "{activation}");
    assert!(activation.contains("unknown variant `tanh`, expected `relu` or `gelu`"), "{activation}");
    assert_eq!(
        err("LSTM", "{input_size: 3, hidden_size: 4, num_layers: 0}"),
        "core.LSTM: invalid config: num_layers must be at least 1"
    );
    assert_eq!(err("GRU", "{input_size: 3, hidden: 4}"), "core.GRU: unknown parameter `hidden`");

    // The config validator answers for these layers only.
    let valid = |name: &str, text: &str| pm.validate_component_config(ComponentKind::Layer, name, &yaml(text));
    assert!(valid("MultiHeadAttention", "{embed_dim: 8, num_heads: 2}")?);
    assert!(!valid("MultiHeadAttention", "{embed_dim: 8, num_heads: 3}")?);
    assert!(valid("MultiheadAttention", "{embed_dim: 8, num_heads: 4, kdim: 3, vdim: 5, dropout: 0.2}")?);
    assert!(valid("TransformerEncoderLayer", "{d_model: 8, nhead: 2, activation: gelu, norm_first: true}")?);
    assert!(!valid("TransformerEncoderLayer", "{d_model: 8, nhead: 2, layer_norm: 1e-5}")?);
    assert!(valid("LSTM", "{input_size: 3, hidden_size: 4, dropout: 0.5, num_layers: 2}")?);
    assert!(!valid("GRU", "{input_size: 3, hidden_size: 4, dropout: -0.1}")?);
    assert!(!valid("GRU", "{input_size: 3}")?);
    Ok(())
}

#[test]
fn bad_inputs_are_errors_not_panics() -> Result<()> {
    let pm = manager()?;
    let mha = create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 8, num_heads: 2}"))?;
    let x = Tensor::randn(&[3, 2, 8], &mut Rng::new(0));
    assert!(mha.forward_single(&Tensor::randn(&[3, 2, 6], &mut Rng::new(0))).is_err());
    assert!(mha.forward_single(&Tensor::randn(&[8], &mut Rng::new(0))).is_err());
    let bad_mask = Tensor::from_vec_i64(vec![0; 6], &[2, 3])?;
    let err = mha.forward_multi(&[("query", &x), ("attn_mask", &bad_mask)]).unwrap_err();
    assert!(err.to_string().contains("attn_mask [L, S] or [N * num_heads, L, S]"), "{err}");
    let bad_padding = Tensor::from_vec_i64(vec![0; 4], &[2, 2])?;
    assert!(mha.forward_multi(&[("query", &x), ("key_padding_mask", &bad_padding)]).is_err());
    let short_key = Tensor::randn(&[4, 1, 8], &mut Rng::new(0));
    assert!(mha.forward_multi(&[("query", &x), ("key", &short_key), ("value", &short_key)]).is_err());
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 3, hidden_size: 4}"))?;
    let err = lstm.forward_single(&Tensor::randn(&[4, 2, 5], &mut Rng::new(0))).unwrap_err();
    assert!(err.to_string().starts_with("op `core.LSTM`: expected input"), "{err}");
    let tel = create(&pm, "TransformerEncoderLayer", &yaml("{d_model: 8, nhead: 2}"))?;
    assert!(tel.forward_multi(&[("source", &x)]).is_err());
    Ok(())
}

#[test]
fn no_grad_mode_reaches_both_directions() -> Result<()> {
    // The two directions of a bidirectional layer may run on pool threads;
    // under no_grad nothing is recorded on either.
    let pm = manager()?;
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 3, hidden_size: 4, bidirectional: true, num_layers: 2}"))?;
    let x = Tensor::randn(&[5, 2, 3], &mut Rng::new(4));
    let recorded = lstm.forward_single(&x)?;
    assert!(recorded.requires_grad());
    let plain = {
        let _guard = arc_core::tensor::no_grad();
        lstm.forward_single(&x)?
    };
    assert!(!plain.requires_grad());
    assert_eq!(plain.to_vec()?, recorded.to_vec()?);
    Ok(())
}

#[test]
fn dropout_acts_in_training_only() -> Result<()> {
    let pm = manager()?;
    let x = Tensor::randn(&[5, 2, 8], &mut Rng::new(1));
    for (layer, config) in [
        ("MultiHeadAttention", "{embed_dim: 8, num_heads: 2, dropout: 0.5}"),
        ("TransformerEncoderLayer", "{d_model: 8, nhead: 2, dim_feedforward: 16}"),
        ("LSTM", "{input_size: 8, hidden_size: 4, num_layers: 2, dropout: 0.5}"),
        ("GRU", "{input_size: 8, hidden_size: 4, num_layers: 2, dropout: 0.5}"),
    ] {
        let mut layer_box = create(&pm, layer, &yaml(config))?;
        let train = layer_box.forward_single(&x)?.to_vec()?;
        layer_box.set_training(false);
        let eval = layer_box.forward_single(&x)?.to_vec()?;
        assert_eq!(eval, layer_box.forward_single(&x)?.to_vec()?, "{layer}: eval is deterministic");
        assert_ne!(train, eval, "{layer}: dropout changes the training output");
    }
    Ok(())
}

#[test]
fn training_mode_backward_reaches_every_parameter() -> Result<()> {
    // Dropout active (the composed attention path, dropout between recurrent layers):
    // every parameter and the input get a finite gradient.
    let pm = manager()?;
    for (layer, config) in [
        ("TransformerEncoderLayer", "{d_model: 8, nhead: 2, dim_feedforward: 16, dropout: 0.2, norm_first: true}"),
        ("MultiHeadAttention", "{embed_dim: 8, num_heads: 2, dropout: 0.3, batch_first: true}"),
        ("GRU", "{input_size: 8, hidden_size: 3, num_layers: 2, dropout: 0.3, bidirectional: true}"),
    ] {
        let layer_box = create(&pm, layer, &yaml(config))?;
        let x = Tensor::randn(&[4, 3, 8], &mut Rng::new(2)).requires_grad_()?;
        layer_box.forward_single(&x)?.square()?.sum_all()?.backward()?;
        let finite = |t: Option<Tensor>| t.is_some_and(|g| g.to_vec().is_ok_and(|v| v.iter().all(|x| x.is_finite())));
        assert!(finite(x.grad()), "{layer}: input gradient");
        layer_box.visit_params("", &mut |name, p| assert!(finite(p.grad()), "{layer}: gradient of {name}"));
    }
    Ok(())
}

// ---- finite differences on tiny sizes: dL/dinput by autograd vs central differences
// (eps 1e-3, tolerance 1e-2 relative to 1 + |numeric|, f64 accumulation) ----

fn gradcheck_layer(layer: &str, config: &str, shape: &[usize]) -> Result<()> {
    let pm = manager()?;
    let mut layer = create(&pm, layer, &yaml(config))?;
    layer.set_training(false);
    let x = Tensor::randn(shape, &mut Rng::new(7));
    gradcheck(|t| layer.forward_single(&t[0]), &[&x], 1e-3, 1e-2)
}

#[test]
fn gradcheck_multi_head_attention_with_masks() -> Result<()> {
    let pm = manager()?;
    let mut layer = create(&pm, "MultiHeadAttention", &yaml("{embed_dim: 4, num_heads: 2, batch_first: true}"))?;
    layer.set_training(false);
    let mut rng = Rng::new(5);
    let (q, k, v) =
        (Tensor::randn(&[2, 3, 4], &mut rng), Tensor::randn(&[2, 4, 4], &mut rng), Tensor::randn(&[2, 4, 4], &mut rng));
    let attn = Tensor::from_vec_i64(vec![0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0], &[3, 4])?;
    let padding = Tensor::randn(&[2, 4], &mut rng);
    gradcheck(
        |t| {
            let ports =
                [("query", &t[0]), ("key", &t[1]), ("value", &t[2]), ("attn_mask", &attn), ("key_padding_mask", &t[3])];
            layer.forward_multi(&ports)
        },
        &[&q, &k, &v, &padding],
        1e-3,
        1e-2,
    )
}

#[test]
fn gradcheck_transformer_encoder_layer_both_norm_orders() -> Result<()> {
    gradcheck_layer(
        "TransformerEncoderLayer",
        "{d_model: 4, nhead: 2, dim_feedforward: 6, activation: gelu}",
        &[3, 2, 4],
    )?;
    gradcheck_layer(
        "TransformerEncoderLayer",
        "{d_model: 4, nhead: 2, dim_feedforward: 6, norm_first: true}",
        &[3, 2, 4],
    )
}

#[test]
fn gradcheck_lstm_bidirectional_two_layers() -> Result<()> {
    gradcheck_layer("LSTM", "{input_size: 3, hidden_size: 2, num_layers: 2, bidirectional: true}", &[4, 2, 3])
}

#[test]
fn gradcheck_gru_bidirectional_batch_first() -> Result<()> {
    gradcheck_layer("GRU", "{input_size: 3, hidden_size: 2, bidirectional: true, batch_first: true}", &[2, 4, 3])
}

/// `is_causal: true` is PyTorch's `src_mask = generate_square_subsequent_mask(S)`: the same
/// output as that mask given on the port, and no position sees the ones after it.
#[test]
fn a_causal_encoder_layer_is_the_square_subsequent_mask() -> Result<()> {
    let pm = manager()?;
    let config = "{d_model: 8, nhead: 2, dim_feedforward: 16, dropout: 0.0, batch_first: true}";
    arc_core::nn::init::manual_seed(3);
    let masked = create(&pm, "TransformerEncoderLayer", &yaml(config))?;
    arc_core::nn::init::manual_seed(3);
    let causal = create(&pm, "TransformerEncoderLayer", &yaml(&config.replace('}', ", is_causal: true}")))?;
    let x = Tensor::randn(&[2, 5, 8], &mut Rng::new(1));
    let s = 5;
    let square = (0..s * s).map(|k| if k % s > k / s { f32::NEG_INFINITY } else { 0.0 }).collect();
    let mask = Tensor::from_vec(square, &[s, s])?;
    let want = arc_core::nn::forward(masked.as_ref(), "tel", &[("src", &x), ("src_mask", &mask)])?;
    let got = causal.forward_single(&x)?;
    let (want, got) = (want.to_vec()?, got.to_vec()?);
    assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() <= 1e-6), "{want:?} vs {got:?}");
    // Changing the last position changes no earlier position's output.
    let mut later = x.to_vec()?;
    for v in &mut later[4 * 8..5 * 8] {
        *v += 1.0;
    }
    let moved = causal.forward_single(&Tensor::from_vec(later, &[2, 5, 8])?)?.to_vec()?;
    assert_eq!(&moved[..4 * 8], &got[..4 * 8]);
    assert_ne!(&moved[4 * 8..5 * 8], &got[4 * 8..5 * 8]);
    Ok(())
}

/// The sequence classifier of the LSTM benchmark: `LSTM` (batch first) then `core.Select
/// {dim: 1, index: -1}` gives PyTorch's `out[:, -1]`, shapes included, and its gradient
/// reaches the LSTM's weights as the last step's alone does.
#[test]
fn lstm_then_select_gives_the_last_step() -> Result<()> {
    let pm = manager()?;
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 3, hidden_size: 4, batch_first: true}"))?;
    let select = create(&pm, "Select", &yaml("{dim: 1, index: -1}"))?;
    let shape = lstm.output_shape(&[vec![None, Some(5), Some(3)]])?;
    assert_eq!(shape, [None, Some(5), Some(4)]);
    assert_eq!(select.output_shape(&[shape])?, [None, Some(4)]);
    let x = Tensor::randn(&[2, 5, 3], &mut Rng::new(7));
    let grads = |last: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<Vec<Vec<f32>>> {
        let mut params = Vec::new();
        lstm.visit_params("", &mut |_, p| params.push(p));
        params.iter().for_each(|p| p.zero_grad());
        let out = last(&lstm.forward_single(&x)?)?;
        assert_eq!(out.shape(), &[2, 4]);
        out.sum_all()?.backward()?;
        let mut g = vec![out.to_vec()?];
        for p in params {
            g.push(p.grad().expect("a gradient").to_vec()?);
        }
        Ok(g)
    };
    let by_select = grads(&|y| select.forward_single(y))?;
    let by_narrow = grads(&|y| y.narrow(1, 4, 1)?.reshape(&[2, 4]))?;
    assert_eq!(by_select, by_narrow);
    Ok(())
}

/// The LSTM's fused scan splits the batch into one block per thread: for a given thread
/// count, two runs give the same bits (outputs and gradients), with 1, 2 and 3 threads.
#[test]
fn lstm_forward_and_backward_repeat_bit_for_bit_per_thread_count() -> Result<()> {
    let pm = manager()?;
    let lstm = create(&pm, "LSTM", &yaml("{input_size: 8, hidden_size: 16, batch_first: true}"))?;
    let x = Tensor::randn(&[7, 6, 8], &mut Rng::new(3));
    let run = || -> Result<Vec<Vec<u32>>> {
        let mut params = Vec::new();
        lstm.visit_params("", &mut |_, p| params.push(p));
        params.iter().for_each(|p| p.zero_grad());
        let y = lstm.forward_single(&x)?;
        y.mul(&y)?.sum_all()?.backward()?;
        let mut bits = vec![y.to_vec()?.iter().map(|v| v.to_bits()).collect()];
        for p in params {
            bits.push(p.grad().expect("a gradient").to_vec()?.iter().map(|v| v.to_bits()).collect());
        }
        Ok(bits)
    };
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
        let (a, b) = pool.install(|| (run(), run()));
        assert_eq!(a?, b?, "{threads} threads");
    }
    Ok(())
}
