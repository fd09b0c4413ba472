//! Training on a GPU against the CPU: every built-in layer's forward and backward with the
//! same weights, the built-in optimizers' steps with device state, and a short iris run with
//! `device: cuda` whose losses match the CPU run. Without a GPU those print why they skip;
//! the device-choice errors (`device: cuda` without a GPU, `auto` falling back, the CLI's
//! `--device cuda`) run everywhere.

use arc::nn::{Layer, Param};
use arc::spec::{ArcSpec, Config};
use arc::tensor::{Rng, cuda_device_count};
use arc::{DType, Device, Error, Result, Tensor};

#[path = "support/iris.rs"]
mod iris;
#[path = "support/skip.rs"]
mod skip;

use iris::{DATA, SPEC, root, run, table, with_config};

/// Layers (reductions, matmuls) and optimizer steps: 1e-4 relative.
const TOL: f32 = 1e-4;

/// The first GPU, or `None` after printing why `test` skips.
fn gpu(test: &str) -> Option<Device> {
    match cuda_device_count() {
        Ok(_) => Some(Device::Cuda(0)),
        Err(why) => {
            skip::skip_gpu_test(test, &format!("no CUDA device ({why})"));
            None
        }
    }
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut Rng::new(seed))
}

/// Same shape, values within `rel` relative error (absolute near zero).
fn assert_close(what: &str, a: &Tensor, b: &Tensor, rel: f32) -> Result<()> {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    let (x, y) = (a.to_vec()?, b.to_vec()?);
    for (i, (&p, &q)) in x.iter().zip(&y).enumerate() {
        let tol = rel * p.abs().max(q.abs()).max(1.0);
        assert!((p - q).abs() <= tol || (p.is_nan() && q.is_nan()), "{what}: element {i}: cpu {p} vs cuda {q}");
    }
    Ok(())
}

// ---- the device choice, with and without a GPU ---------------------------------

#[test]
fn device_cuda_without_a_gpu_is_an_error_naming_the_reason() -> Result<()> {
    let Err(why) = cuda_device_count() else { return Ok(()) };
    let err = run(&with_config(1, "device: cuda")).err().expect("no GPU: `device: cuda` fails");
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err:?}");
    let msg = err.to_string();
    // Located at the spec's `device` value.
    assert!(msg.contains("iris.yaml:57:13: error: trainer.config.device: `cuda` is not available: "), "{msg}");
    assert!(msg.contains(&why), "the probe's reason `{why}` is in: {msg}");
    assert!(msg.contains("use `device: cpu` or `auto`"), "{msg}");
    Ok(())
}

#[test]
fn device_auto_without_a_gpu_trains_on_the_cpu_with_a_note() -> Result<()> {
    use arc::train::{TrainObserver, TrainStart};
    if cuda_device_count().is_ok() {
        return Ok(());
    }
    struct Start(Option<(Device, Option<String>)>);
    impl TrainObserver for Start {
        fn on_train_start(&mut self, s: &TrainStart) {
            self.0 = Some((s.device, s.device_note.clone()));
        }
    }
    let spec = ArcSpec::from_yaml(&with_config(1, "device: auto"), SPEC)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let mut start = Start(None);
    arc::train::train_with(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut start)?;
    let (device, note) = start.0.expect("training started");
    assert_eq!(device, Device::Cpu);
    let note = note.expect("auto explains its choice");
    assert!(note.starts_with("device auto: ") && note.ends_with("; training on the cpu"), "{note}");
    Ok(())
}

#[test]
fn the_cli_device_cuda_flag_reaches_training() {
    let Err(why) = cuda_device_count() else { return };
    let path = std::env::temp_dir().join(format!("arc-cuda-training-{}.yaml", std::process::id()));
    std::fs::write(&path, with_config(1, "device: cpu")).expect("temp spec");
    let out = std::env::temp_dir().join(format!("arc-cuda-training-out-{}", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_arc"))
        .current_dir(root())
        .arg("train")
        .arg(&path)
        .args(["--data", DATA, "--out", out.to_str().expect("utf-8"), "--device", "cuda"])
        .output()
        .expect("arc runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.starts_with("error: --device cuda: `cuda` is not available: "), "{stderr}");
    assert!(stderr.contains(&why), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

// ---- layers ----------------------------------------------------------------------

/// A built-in layer from its name and YAML params, with weights drawn from `seed`.
fn layer(name: &str, yaml: &str, seed: u64) -> Result<Box<dyn Layer>> {
    arc::nn::init::manual_seed(seed);
    arc::get_plugin_manager().get_layer(name)?.create(&Config::from_yaml(yaml)?)
}

/// Moves a layer's parameters and buffers to `device`.
fn layer_to_device(layer: &dyn Layer, device: Device) -> Result<()> {
    let mut params: Vec<&Param> = Vec::new();
    layer.visit_params("", &mut |_, p| params.push(p));
    for p in params {
        p.set(p.value().to_device(device)?)?;
    }
    let mut buffers = Vec::new();
    layer.visit_buffers("", &mut |n, t| buffers.push((n.to_owned(), t.clone())));
    let moved: Vec<(String, Tensor)> =
        buffers.into_iter().map(|(n, t)| Ok((n, t.to_device(device)?))).collect::<Result<_>>()?;
    layer.load_buffers("", &mut |n| moved.iter().find(|(m, _)| m == n).map(|(_, t)| t.clone()))
}

/// The output, each float input's gradient and each parameter's gradient of
/// `sum(layer(inputs) * w)` for a fixed random `w`.
fn forward_backward(layer: &dyn Layer, inputs: &[Tensor], device: Device) -> Result<Vec<(String, Tensor)>> {
    let inputs: Vec<Tensor> = inputs
        .iter()
        .map(|t| {
            let t = t.to_device(device)?;
            if t.dtype() == DType::F32 { t.requires_grad_() } else { Ok(t) }
        })
        .collect::<Result<_>>()?;
    let y = if inputs.len() == 1 {
        layer.forward_single(&inputs[0])?
    } else {
        let named: Vec<(&str, &Tensor)> = layer.input_names().iter().copied().zip(inputs.iter()).collect();
        layer.forward_multi(&named)?
    };
    assert_eq!(y.device(), device, "the output is on the input's device");
    y.mul(&randn(y.shape(), 99).to_device(device)?)?.sum_all()?.backward()?;
    let mut out = vec![("output".to_owned(), y.detach())];
    for (i, t) in inputs.iter().enumerate() {
        if let Some(g) = t.grad() {
            assert_eq!(g.device(), device, "input {i}'s gradient is on its device");
            out.push((format!("grad of input {i}"), g));
        }
    }
    let mut params = Vec::new();
    layer.visit_params("", &mut |n, p| params.push((n.to_owned(), p.grad())));
    for (n, g) in params {
        let g = g.unwrap_or_else(|| panic!("parameter `{n}` has a gradient"));
        out.push((format!("grad of {n}"), g));
    }
    Ok(out)
}

#[test]
fn every_builtin_layer_matches_the_cpu_forward_and_backward() -> Result<()> {
    let Some(dev) = gpu("every_builtin_layer_matches_the_cpu_forward_and_backward") else { return Ok(()) };
    let x = randn(&[8, 6], 1);
    let seq = randn(&[5, 2, 8], 2);
    let tokens = Tensor::randint(&[3, 5], 0, 10, &mut Rng::new(3))?;
    let cases: Vec<(&str, &str, Vec<Tensor>)> = vec![
        ("Linear", "in_features: 6\nout_features: 5", vec![x.clone()]),
        ("ReLU", "{}", vec![x.clone()]),
        ("Sigmoid", "{}", vec![x.clone()]),
        ("Tanh", "{}", vec![x.clone()]),
        ("GELU", "{}", vec![x.clone()]),
        ("GELU", "approximate: tanh", vec![x.clone()]),
        ("Softmax", "dim: -1", vec![x.clone()]),
        ("Dropout", "p: 0.3", vec![x.clone()]),
        ("BatchNorm1d", "num_features: 6", vec![x.clone()]),
        ("BatchNorm1d", "num_features: 2", vec![randn(&[4, 2, 5], 4)]),
        ("BatchNorm1d", "num_features: 6\naffine: false", vec![x.clone()]),
        ("LayerNorm", "normalized_shape: [6]", vec![x.clone()]),
        ("Embedding", "num_embeddings: 10\nembedding_dim: 4", vec![tokens.clone()]),
        ("Embedding", "num_embeddings: 10\nembedding_dim: 4\npadding_idx: 0", vec![tokens.clone()]),
        ("PositionalEncoding", "d_model: 8\nmax_len: 20", vec![seq.clone()]),
        ("Concatenate", "num_inputs: 2\ndim: -1", vec![x.clone(), randn(&[8, 3], 5)]),
        ("Add", "num_inputs: 2", vec![x.clone(), randn(&[8, 6], 6)]),
        ("Flatten", "{}", vec![randn(&[4, 3, 2], 7)]),
        ("MultiHeadAttention", "embed_dim: 8\nnum_heads: 2", vec![seq.clone()]),
        ("TransformerEncoderLayer", "d_model: 8\nnhead: 2\ndim_feedforward: 16", vec![seq.clone()]),
        ("LSTM", "input_size: 8\nhidden_size: 3", vec![seq.clone()]),
        ("LSTM", "input_size: 8\nhidden_size: 3\nbidirectional: true\nnum_layers: 2", vec![seq.clone()]),
        ("GRU", "input_size: 8\nhidden_size: 3", vec![seq.clone()]),
    ];
    for (name, yaml, inputs) in cases {
        let what = format!("{name} ({})", yaml.replace('\n', ", "));
        let cpu_layer = layer(name, yaml, 11)?;
        let gpu_layer = layer(name, yaml, 11)?;
        layer_to_device(gpu_layer.as_ref(), dev)?;
        let want = forward_backward(cpu_layer.as_ref(), &inputs, Device::Cpu)?;
        let got = forward_backward(gpu_layer.as_ref(), &inputs, dev)?;
        assert_eq!(want.len(), got.len(), "{what}: the same gradients exist");
        for ((label, a), (_, b)) in want.iter().zip(&got) {
            assert_close(&format!("{what}: {label}"), a, b, TOL)?;
        }
        // Buffers (batch norm's running statistics) are updated alike.
        let (mut bc, mut bg) = (Vec::new(), Vec::new());
        cpu_layer.visit_buffers("", &mut |n, t| bc.push((n.to_owned(), t.clone())));
        gpu_layer.visit_buffers("", &mut |n, t| bg.push((n.to_owned(), t.clone())));
        for ((n, a), (_, b)) in bc.iter().zip(&bg) {
            if a.dtype() == DType::F32 {
                assert_close(&format!("{what}: buffer {n}"), a, b, TOL)?;
            } else {
                assert_eq!(a.to_vec_i64()?, b.to_vec_i64()?, "{what}: buffer {n}");
            }
        }
    }
    Ok(())
}

// ---- optimizers ------------------------------------------------------------------

#[test]
fn builtin_optimizer_steps_on_the_gpu_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("builtin_optimizer_steps_on_the_gpu_match_the_cpu") else { return Ok(()) };
    let pm = arc::get_plugin_manager();
    let configs = [
        ("SGD", "lr: 0.1"),
        ("SGD", "lr: 0.1\nmomentum: 0.9\nweight_decay: 0.01"),
        ("SGD", "lr: 0.1\nmomentum: 0.9\nnesterov: true\nmaximize: true"),
        ("Adam", "lr: 0.01\nweight_decay: 0.1"),
        ("AdamW", "lr: 0.01"),
    ];
    for (name, yaml) in configs {
        let mut opts = [pm.get_optimizer(name)?.create(&Config::from_yaml(yaml)?)?, {
            pm.get_optimizer(name)?.create(&Config::from_yaml(yaml)?)?
        }];
        let p0 = randn(&[33, 17], 1);
        let params = [Param::new(p0.clone())?, Param::new(p0.to_device(dev)?)?];
        for step in 0..4u64 {
            let g = randn(&[33, 17], 10 + step);
            for (opt, p) in opts.iter_mut().zip(&params) {
                p.zero_grad();
                let d = p.value().device();
                p.value().mul(&g.to_device(d)?)?.sum_all()?.backward()?;
                opt.step(&[("w", p)])?;
            }
            assert_eq!(params[1].value().device(), dev, "{name}: the parameter stays on the GPU");
            assert_close(&format!("{name} ({yaml}) step {step}"), &params[0].value(), &params[1].value(), TOL)?;
        }
        // The state checkpoints as host tensors, equal to the CPU optimizer's.
        let (sc, sg) = (opts[0].state(), opts[1].state());
        assert_eq!(sc.scalars, sg.scalars, "{name}");
        for (k, t) in &sg.tensors {
            assert_eq!(t.device(), Device::Cpu, "{name}: state `{k}` is saved on the host");
            assert_close(&format!("{name} state {k}"), &sc.tensors[k], t, TOL)?;
        }
        // And loads back to continue on the GPU.
        opts[1].load_state(sg)?;
        let p = &params[1];
        p.zero_grad();
        p.value().mul(&randn(&[33, 17], 50).to_device(dev)?)?.sum_all()?.backward()?;
        opts[1].step(&[("w", p)])?;
        assert_eq!(p.value().device(), dev);
    }
    // A host-only optimizer names itself and the alternatives.
    let mut rmsprop = pm.get_optimizer("RMSprop")?.create(&Config::from_yaml("lr: 0.01")?)?;
    let p = Param::new(randn(&[3], 2).to_device(dev)?)?;
    p.value().sum_all()?.backward()?;
    let err = rmsprop.step(&[("w", &p)]).unwrap_err().to_string();
    assert!(err.contains("core.RMSprop") && err.contains("core.Adam"), "{err}");
    Ok(())
}

#[test]
fn gradient_clipping_on_the_gpu_matches_the_cpu() -> Result<()> {
    let Some(dev) = gpu("gradient_clipping_on_the_gpu_matches_the_cpu") else { return Ok(()) };
    for norm_type in [2.0, 1.0, 3.0, f64::INFINITY] {
        let grads = [randn(&[40, 7], 1), randn(&[13], 2)];
        let make = |device: Device| -> Result<Vec<Param>> {
            grads
                .iter()
                .map(|g| {
                    let p = Param::new(Tensor::zeros(g.shape()).to_device(device)?)?;
                    p.value().mul(&g.to_device(device)?)?.sum_all()?.backward()?;
                    Ok(p)
                })
                .collect()
        };
        let (cpu, gpu_params) = (make(Device::Cpu)?, make(dev)?);
        let tc = arc::train::clip_grad_norm(&cpu.iter().collect::<Vec<_>>(), 1.0, norm_type)?;
        let tg = arc::train::clip_grad_norm(&gpu_params.iter().collect::<Vec<_>>(), 1.0, norm_type)?;
        assert!((tc - tg).abs() <= 1e-4 * tc.abs().max(1.0), "norm {norm_type}: {tc} vs {tg}");
        for (a, b) in cpu.iter().zip(&gpu_params) {
            let (ga, gb) = (a.grad().expect("grad"), b.grad().expect("grad"));
            assert_eq!(gb.device(), dev);
            assert_close(&format!("clip norm {norm_type}"), &ga, &gb, TOL)?;
        }
    }
    Ok(())
}

// ---- a training run --------------------------------------------------------------

#[test]
fn iris_on_the_gpu_follows_the_cpu_run() -> Result<()> {
    let Some(_) = gpu("iris_on_the_gpu_follows_the_cpu_run") else { return Ok(()) };
    let cpu = run(&with_config(5, "device: cpu"))?;
    let cuda = run(&with_config(5, "device: cuda"))?;
    assert_eq!(cpu.history.epochs.len(), cuda.history.epochs.len());
    for (a, b) in cpu.history.epochs.iter().zip(&cuda.history.epochs) {
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-3 * x.abs().max(1.0);
        assert!(
            close(a.train_loss, b.train_loss),
            "epoch {}: train loss {} vs {}",
            a.epoch,
            a.train_loss,
            b.train_loss
        );
        let (va, vb) = (a.val_loss.expect("val"), b.val_loss.expect("val"));
        assert!(close(va, vb), "epoch {}: val loss {va} vs {vb}", a.epoch);
    }
    // The trained model comes back to the host.
    for (n, t) in cuda.model.named_state() {
        assert_eq!(t.device(), Device::Cpu, "`{n}` is returned on the host");
    }
    Ok(())
}

// ---- the plugins' CUDA sources compile (NVRTC, no GPU needed) ------------------------

/// `(kernel, source)` of every custom op shipped with CUDA source: the built-in ones and
/// the example plugin's.
#[cfg(all(feature = "cuda", feature = "losses"))]
fn shipped_cuda_sources() -> Vec<(&'static str, &'static str)> {
    #[allow(unused_mut)]
    let mut sources = arc_builtins::cuda_sources();
    #[cfg(feature = "example-plugin")]
    sources.push(("swiglu", arc_example_plugin::SWIGLU_CUDA));
    sources
}

#[cfg(all(feature = "cuda", feature = "losses"))]
#[test]
fn the_shipped_custom_op_sources_compile_without_warnings() {
    use arc::tensor::compile_source;
    for (kernel, source) in shipped_cuda_sources() {
        for arch in ["compute_75", "compute_90"] {
            match compile_source(kernel, source, arch) {
                Ok(log) => assert!(log.is_empty(), "{kernel} ({arch}) warns:\n{log}"),
                Err(e @ Error::CudaUnavailable { .. }) => {
                    assert!(
                        std::env::var_os("ARC_REQUIRE_NVRTC").is_none_or(|v| v != "1"),
                        "ARC_REQUIRE_NVRTC=1 but NVRTC is missing: {e}"
                    );
                    eprintln!("skipping the_shipped_custom_op_sources_compile_without_warnings: {e}");
                    return;
                }
                Err(e) => panic!("{kernel} ({arch}): {e}"),
            }
            assert!(source.contains(&format!("void {kernel}(")), "{kernel} is the kernel's name");
        }
    }
}

/// The example plugin's SwiGLU runs its CUDA kernel (with a scalar argument) on a GPU and
/// its host backward through copies; both match the CPU.
#[cfg(feature = "example-plugin")]
#[test]
fn the_example_plugins_swiglu_kernel_matches_the_cpu() -> Result<()> {
    let Some(dev) = gpu("the_example_plugins_swiglu_kernel_matches_the_cpu") else { return Ok(()) };
    let layer = arc_example_plugin::SwiGlu;
    let x = randn(&[7, 3, 10], 5);
    let want = forward_backward(&layer, std::slice::from_ref(&x), Device::Cpu)?;
    let got = forward_backward(&layer, &[x], dev)?;
    for ((label, a), (_, b)) in want.iter().zip(&got) {
        assert_close(&format!("swiglu {label}"), a, b, TOL)?;
    }
    Ok(())
}
