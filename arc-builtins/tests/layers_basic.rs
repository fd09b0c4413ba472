//! The basic built-in layers (`core.Linear` ... `core.Flatten`), created by name through a
//! `PluginManager` holding `BuiltinLayerPlugin`, against PyTorch 2.15.
//!
//! The fixtures under `tests/fixtures/layers_basic/` come from
//! `scripts/reference/layers_basic.py` (see its doc for the format). For each case the layer's
//! parameters are loaded by their state_dict names, then every step checks, in its mode:
//! the output `y` (relative tolerance 1e-5, absolute 1e-6 for values near zero), the shape
//! inference against the real output shape, and the gradients of `L = sum(y * g)` for the
//! fixture's `g` with respect to every float input and parameter (relative 1e-4, absolute
//! 1e-6). Running statistics and renormalised weights are compared after the last step.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use arc_builtins::BuiltinLayerPlugin;
use arc_core::nn::{self, Layer, Param, ShapeSpec, init};
use arc_core::plugin::{ComponentKind, PluginManager};
use arc_core::spec::Config;
use arc_core::tensor::{DType, Rng, gradcheck, no_grad};
use arc_core::{Result, Tensor};
use serde::Deserialize;

// ---- fixtures ------------------------------------------------------------------------

#[derive(Deserialize)]
struct Fx {
    shape: Vec<usize>,
    dtype: String,
    data: Vec<f64>,
}

impl Fx {
    fn tensor(&self) -> Result<Tensor> {
        match self.dtype.as_str() {
            "i64" => Tensor::from_vec_i64(self.data.iter().map(|&v| v as i64).collect(), &self.shape),
            _ => Tensor::from_vec(self.floats(), &self.shape),
        }
    }

    fn floats(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

#[derive(Deserialize)]
struct Step {
    mode: String,
    inputs: BTreeMap<String, Fx>,
    grad_output: Fx,
    output: Fx,
    input_grads: BTreeMap<String, Fx>,
    param_grads: BTreeMap<String, Fx>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "type")]
    layer_type: String,
    config: serde_json::Value,
    params: BTreeMap<String, Fx>,
    steps: Vec<Step>,
    #[serde(default)]
    buffers: BTreeMap<String, Fx>,
    #[serde(default)]
    params_after: BTreeMap<String, Fx>,
}

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers_basic").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_close(got: &[f32], want: &[f32], rtol: f32, atol: f32, what: &str) {
    support::assert_close(what, got, want, rtol.into(), atol.into());
}

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinLayerPlugin, "builtin_layers").unwrap();
    pm.refresh_registries().unwrap();
    pm
}

fn create(pm: &PluginManager, layer_type: &str, yaml: &str) -> Result<Box<dyn Layer>> {
    pm.get_layer(layer_type)?.create(&Config::from_yaml(yaml)?)
}

fn param_names(layer: &dyn Layer) -> Vec<String> {
    let mut names = Vec::new();
    layer.visit_params("", &mut |name, _| names.push(name.to_owned()));
    names.sort();
    names
}

/// Runs `f` on the parameter called `name`.
fn with_param<R>(layer: &dyn Layer, name: &str, f: impl FnOnce(&Param) -> R) -> R {
    let (mut f, mut out) = (Some(f), None);
    layer.visit_params("", &mut |n, p| {
        if n == name
            && let Some(f) = f.take()
        {
            out = Some(f(p));
        }
    });
    out.unwrap_or_else(|| panic!("no parameter `{name}`"))
}

fn buffers(layer: &dyn Layer) -> BTreeMap<String, Tensor> {
    let mut out = BTreeMap::new();
    layer.visit_buffers("", &mut |name, t| {
        out.insert(name.to_owned(), t.clone());
    });
    out
}

fn known(shape: &[usize]) -> ShapeSpec {
    shape.iter().map(|&d| Some(d)).collect()
}

// ---- the fixture runner ----------------------------------------------------------------

fn run_case(name: &str) -> Result<()> {
    let case: Case = fixture(name);
    let pm = manager();
    let mut layer = pm.get_layer(&case.layer_type)?.create(&Config::from_value(&case.config)?)?;
    assert_eq!(param_names(&*layer), case.params.keys().cloned().collect::<Vec<_>>(), "{name}: parameter names");
    let buffer_names: Vec<String> = buffers(&*layer).into_keys().collect();
    assert_eq!(buffer_names, case.buffers.keys().cloned().collect::<Vec<_>>(), "{name}: buffer names");
    for (pname, value) in &case.params {
        assert_eq!(with_param(&*layer, pname, Param::shape), value.shape, "{name}: shape of `{pname}`");
        with_param(&*layer, pname, |p| p.set(value.tensor()?))?;
    }

    for (s, step) in case.steps.iter().enumerate() {
        let at = format!("{name} step {s} ({})", step.mode);
        layer.set_training(step.mode == "train");
        let inputs: Vec<(String, Tensor)> = step
            .inputs
            .iter()
            .map(|(port, fx)| {
                let t = fx.tensor()?;
                Ok((port.clone(), if t.dtype() == DType::F32 { t.requires_grad_()? } else { t }))
            })
            .collect::<Result<_>>()?;
        let named: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let y = nn::forward(&*layer, &case.layer_type, &named)?;
        assert_eq!(y.shape(), step.output.shape, "{at}: output shape");
        assert_close(&y.to_vec()?, &step.output.floats(), 1e-5, 1e-6, &format!("{at}: output"));

        // Shape inference: exact with every size known; with an unknown batch dim, every size
        // it still gives must be the real one.
        let shapes: Vec<ShapeSpec> = inputs.iter().map(|(_, t)| known(t.shape())).collect();
        assert_eq!(layer.output_shape(&shapes)?, known(y.shape()), "{at}: output_shape");
        let batchless: Vec<ShapeSpec> = shapes
            .iter()
            .map(|s| s.iter().enumerate().map(|(i, d)| if i == 0 && s.len() > 1 { None } else { *d }).collect())
            .collect();
        let inferred = layer.output_shape(&batchless)?;
        assert_eq!(inferred.len(), y.rank(), "{at}: rank without a batch size");
        assert!(inferred.iter().zip(y.shape()).all(|(a, b)| a.is_none_or(|a| a == *b)), "{at}: {inferred:?}");

        y.mul(&step.grad_output.tensor()?)?.sum_all()?.backward()?;
        for (port, want) in &step.input_grads {
            let x = &inputs.iter().find(|(n, _)| n == port).expect("fixture ports are the inputs").1;
            let got = x.grad().map_or_else(|| Ok(vec![0.0; x.numel()]), |g| g.to_vec())?;
            assert_close(&got, &want.floats(), 1e-4, 1e-6, &format!("{at}: d/d{port}"));
        }
        for (pname, want) in &step.param_grads {
            let got = with_param(&*layer, pname, |p| p.grad())
                .map_or_else(|| Ok(vec![0.0; want.data.len()]), |g| g.to_vec())?;
            assert_close(&got, &want.floats(), 1e-4, 1e-6, &format!("{at}: d/d{pname}"));
            with_param(&*layer, pname, Param::zero_grad);
        }
    }

    let got = buffers(&*layer);
    for (bname, want) in &case.buffers {
        let t = &got[bname];
        assert_eq!(t.shape(), want.shape, "{name}: shape of buffer `{bname}`");
        if t.dtype() == DType::I64 {
            assert_eq!(t.to_vec_i64()?, want.data.iter().map(|&v| v as i64).collect::<Vec<_>>(), "{name}: {bname}");
        } else {
            assert_close(&t.to_vec()?, &want.floats(), 1e-5, 1e-6, &format!("{name}: buffer `{bname}`"));
        }
    }
    for (pname, want) in &case.params_after {
        let value = with_param(&*layer, pname, Param::value).to_vec()?;
        assert_close(&value, &want.floats(), 1e-5, 1e-6, &format!("{name}: `{pname}` after the steps"));
    }
    Ok(())
}

macro_rules! torch_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() -> Result<()> {
                run_case(stringify!($case))
            }
        )*

        /// Every fixture file has its test above.
        #[test]
        fn every_fixture_is_run() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers_basic");
            let mut files: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".json").to_owned())
                .filter(|f| f != "positional_encoding_table")
                .collect();
            files.sort();
            let mut cases = vec![$(stringify!($case).to_owned()),*];
            cases.sort();
            assert_eq!(files, cases);
        }
    };
}

mod torch {
    use super::*;

    torch_cases!(
        linear,
        linear_no_bias_3d,
        relu,
        sigmoid,
        tanh,
        gelu,
        gelu_tanh,
        softmax_last_dim,
        softmax_dim1,
        dropout_eval,
        batchnorm_2d,
        batchnorm_3d_cumulative,
        batchnorm_no_affine_no_stats,
        layernorm,
        layernorm_2d_shape,
        layernorm_no_bias,
        layernorm_no_affine,
        embedding,
        embedding_padding_idx,
        embedding_negative_padding_idx,
        embedding_max_norm,
        embedding_max_norm_l1,
        embedding_scale_grad_by_freq,
        positional_encoding_eval,
        positional_encoding_seq_first_odd,
        concatenate,
        concatenate_dim0,
        add,
        add_broadcast,
        flatten,
        flatten_0_1,
        flatten_middle,
    );
}

#[path = "layers_basic/behaviour.rs"]
mod behaviour;
#[path = "layers_basic/configs.rs"]
mod configs;
#[path = "layers_basic/gradients.rs"]
mod gradients;
