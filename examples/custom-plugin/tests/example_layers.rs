//! The example plugin's four layers: registered under `example.*` with
//! aliases, config checks, hand-derived values, and gradchecks.

use std::sync::Arc;

use arc_core::nn::{Layer, Param};
use arc_core::plugin::{ComponentKind, PluginManager};
use arc_core::spec::Config;
use arc_core::tensor::{Rng, gradcheck};
use arc_core::{Result, Tensor};
use arc_example_plugin::{ExamplePlugin, SwiGluOp};

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(ExamplePlugin, "example").unwrap();
    pm.refresh_registries().unwrap();
    pm
}

fn layer(pm: &PluginManager, name: &str, yaml: &str) -> Box<dyn Layer> {
    pm.get_layer(name).unwrap().create(&Config::from_yaml(yaml).unwrap()).unwrap()
}

fn random(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut Rng::new(seed))
}

#[test]
fn layers_resolve_by_full_name_and_alias() {
    let pm = manager();
    for (full, alias) in [
        ("example.GELU", "GELUTanh"),
        ("example.SwiGLU", "SwiGLU"),
        ("example.RMSNorm", "RMSNorm"),
        ("example.RotaryEmbedding", "RoPE"),
    ] {
        assert_eq!(pm.get_layer(alias).unwrap().name(), full);
        assert_eq!(pm.get_layer(full).unwrap().plugin().metadata.namespace, "example");
    }
}

#[test]
fn validate_layer_config_requires_each_layers_parameters() {
    let pm = manager();
    let check = |name: &str, yaml: &str| {
        pm.validate_component_config(ComponentKind::Layer, name, &Config::from_yaml(yaml).unwrap()).unwrap()
    };
    assert!(check("RMSNorm", "normalized_shape: 8"));
    assert!(!check("RMSNorm", "eps: 1.0e-5"), "normalized_shape is required");
    assert!(check("RoPE", "dim: 8"));
    assert!(!check("RoPE", "dim: 7"), "dim must be even");
    assert!(!check("RoPE", "{}"), "dim is required");
    assert!(check("GELUTanh", "{}"));
    assert!(!check("GELUTanh", "approximate: tanh"), "GELU takes no parameters");
    assert!(check("SwiGLU", "{}"));
    let err =
        pm.get_layer("RMSNorm").unwrap().create(&Config::from_yaml("normalised_shape: 8").unwrap()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "example.RMSNorm: unknown parameter `normalised_shape` (did you mean `normalized_shape`?)"
    );
}

#[test]
fn gelu_tanh_matches_its_formula() {
    let pm = manager();
    let gelu = layer(&pm, "GELUTanh", "{}");
    let xs = [-2.0f32, -0.5, 0.0, 1.0, 3.0];
    let y = gelu.forward_single(&Tensor::from_vec(xs.to_vec(), &[5]).unwrap()).unwrap().to_vec().unwrap();
    for (x, y) in xs.iter().zip(y) {
        let want = 0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh());
        assert!((y - want).abs() <= 1e-6 * want.abs().max(1.0), "gelu_tanh({x}) = {y}, want {want}");
    }
}

#[test]
fn rms_norm_matches_its_formula() {
    let pm = manager();
    let norm = layer(&pm, "RMSNorm", "normalized_shape: 2\neps: 0.0");
    // Row (3, 4): rms = sqrt((9 + 16) / 2) = sqrt(12.5).
    let y = norm.forward_single(&Tensor::from_vec(vec![3.0, 4.0], &[1, 2]).unwrap()).unwrap().to_vec().unwrap();
    let rms = 12.5f32.sqrt();
    assert!((y[0] - 3.0 / rms).abs() < 1e-6 && (y[1] - 4.0 / rms).abs() < 1e-6, "{y:?}");
    let mut names = Vec::new();
    norm.visit_params("block.norm", &mut |n, _| names.push(n.to_owned()));
    assert_eq!(names, ["block.norm.weight"]);
}

#[test]
fn rope_rotates_pairs_by_position_times_frequency() {
    let pm = manager();
    let rope = layer(&pm, "RoPE", "dim: 4\nbase: 100.0");
    // theta_0 = 1, theta_1 = 100^(-1/2) = 0.1; position 2 of a [1, 3, 4] input.
    let x = random(&[1, 3, 4], 1);
    let y = rope.forward_single(&x).unwrap().to_vec().unwrap();
    let x = x.to_vec().unwrap();
    let p = 2usize;
    for (i, theta) in [(0usize, 1.0f32), (1, 0.1)] {
        let (a, b) = (x[p * 4 + 2 * i], x[p * 4 + 2 * i + 1]);
        let angle = p as f32 * theta;
        let (want_a, want_b) = (a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos());
        assert!((y[p * 4 + 2 * i] - want_a).abs() < 1e-5 && (y[p * 4 + 2 * i + 1] - want_b).abs() < 1e-5);
    }
    // Position 0 is left as is.
    assert_eq!(&y[..4], &x[..4]);
    assert!(rope.forward_single(&random(&[3, 6], 2)).is_err(), "last dimension must be `dim`");
}

#[test]
fn swiglu_custom_backward_matches_the_composed_ops() {
    // Reference: silu(a) * b with the engine's own ops and autograd.
    let x = random(&[3, 8], 3).requires_grad_().unwrap();
    let reference = x.narrow(-1, 0, 4).unwrap().silu().unwrap().mul(&x.narrow(-1, 4, 4).unwrap()).unwrap();
    reference.sum_all().unwrap().backward().unwrap();
    let want = x.grad().unwrap().to_vec().unwrap();
    let fused_x = Tensor::from_vec(x.to_vec().unwrap(), &[3, 8]).unwrap().requires_grad_().unwrap();
    let fused = Tensor::apply_custom(Arc::new(SwiGluOp), &[&fused_x]).unwrap();
    assert_eq!(fused.to_vec().unwrap().len(), 12);
    for (f, r) in fused.to_vec().unwrap().iter().zip(reference.to_vec().unwrap()) {
        assert!((f - r).abs() < 1e-6);
    }
    fused.sum_all().unwrap().backward().unwrap();
    for (g, w) in fused_x.grad().unwrap().to_vec().unwrap().iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
}

fn gradcheck_layer(layer: &dyn Layer, shape: &[usize]) -> Result<()> {
    let x = random(shape, 4);
    gradcheck(|xs| layer.forward_single(&xs[0]), &[&x], 1e-3, 1e-2)
}

#[test]
fn all_four_layers_pass_gradcheck() {
    let pm = manager();
    gradcheck_layer(&*layer(&pm, "GELUTanh", "{}"), &[2, 5]).unwrap();
    gradcheck_layer(&*layer(&pm, "SwiGLU", "{}"), &[2, 6]).unwrap();
    gradcheck_layer(&*layer(&pm, "RMSNorm", "normalized_shape: 5"), &[3, 5]).unwrap();
    gradcheck_layer(&*layer(&pm, "RoPE", "dim: 4"), &[2, 3, 4]).unwrap();
}

#[test]
fn rms_norm_weight_gradient_is_the_normalized_input_summed_over_rows() {
    let pm = manager();
    let eps = 1e-5f32;
    let norm = layer(&pm, "RMSNorm", "{normalized_shape: 3, eps: 1.0e-5}");
    let x = random(&[2, 3], 5);
    // Upstream gradient g: d/dw_j sum(g * x / rms(x) * w) = sum_i g_ij * x_ij / rms_i.
    let g = random(&[2, 3], 6);
    norm.forward_single(&x).unwrap().mul(&g).unwrap().sum_all().unwrap().backward().unwrap();
    let mut grads: Vec<Option<Tensor>> = Vec::new();
    norm.visit_params("", &mut |_, p: &Param| grads.push(p.grad()));
    assert_eq!(grads.len(), 1);
    let got = grads[0].as_ref().expect("the weight gets a gradient").to_vec().unwrap();
    let (xs, gs) = (x.to_vec().unwrap(), g.to_vec().unwrap());
    let mut want = [0.0f64; 3];
    for row in 0..2 {
        let r = &xs[row * 3..row * 3 + 3];
        let mean_square = r.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / 3.0;
        let rms = (mean_square + f64::from(eps)).sqrt();
        for j in 0..3 {
            want[j] += f64::from(gs[row * 3 + j]) * f64::from(r[j]) / rms;
        }
    }
    assert_eq!(got.len(), 3);
    for (j, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((f64::from(*a) - b).abs() <= 1e-5 * b.abs().max(1.0), "weight[{j}]: {a} vs hand-derived {b}");
    }
}
