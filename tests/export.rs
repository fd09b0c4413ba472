//! `arc export`: the safetensors and ONNX exporters end to end, checked by
//! consumers Arc did not write (NumPy + safetensors, onnxruntime) through
//! the Python scripts in `tests/python/`.
//!
//! The Python checks run with `$ARC_PYTHON` (default `python3`) when it can
//! import the packages they need; otherwise they print a loud skip reason,
//! unless `ARC_REQUIRE_PYTHON_CHECKS=1` (set by `.ci/run`), which makes a
//! missing package a failure.
#![cfg(feature = "builtins")]

use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::SafeTensors;

fn arc(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arc")).args(args).output().expect("the arc binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Trains `spec` on `data` into `dir/model`, runs `arc predict` into
/// `dir/predictions.csv`, and returns the model directory.
fn train_and_predict(dir: &Path, spec: &str, data: &str, epochs: &str) -> String {
    let model = dir.join("model").display().to_string();
    let (ok, _, stderr) = arc(&["train", &repo(spec), "--data", &repo(data), "--out", &model, "--epochs", epochs]);
    assert!(ok, "train: {stderr}");
    let predictions = dir.join("predictions.csv").display().to_string();
    let (ok, _, stderr) = arc(&["predict", &model, "--data", &repo(data), "--out", &predictions]);
    assert!(ok, "predict: {stderr}");
    model
}

fn export(model: &str, format: &str, out: &Path) {
    let out = out.display().to_string();
    let (ok, stdout, stderr) = arc(&["export", model, "--format", format, "--out", &out]);
    assert!(ok, "export {format}: {stderr}");
    assert!(stdout.contains(&format!("as {format} to {out}")), "{stdout}");
}

/// Runs `tests/python/<script>` with `args` if `$ARC_PYTHON` can import
/// `modules`; a skip prints why (and fails under `ARC_REQUIRE_PYTHON_CHECKS=1`).
fn python_check(script: &str, modules: &[&str], args: &[&str]) {
    let python = std::env::var("ARC_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let import = format!("import {}", modules.join(", "));
    let probe = Command::new(&python).args(["-c", &import]).output();
    let missing = match &probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").to_owned()),
        Err(e) => Some(format!("cannot run `{python}`: {e}")),
    };
    if let Some(why) = missing {
        let required = std::env::var("ARC_REQUIRE_PYTHON_CHECKS").is_ok_and(|v| v == "1");
        assert!(!required, "ARC_REQUIRE_PYTHON_CHECKS=1 but `{python} -c '{import}'` fails: {why}");
        eprintln!(
            "\n*** SKIPPED {script}: `{python} -c '{import}'` fails ({why}).\n*** Install them \
             (`python3 -m pip install numpy safetensors onnxruntime`) or set ARC_PYTHON.\n"
        );
        return;
    }
    let out =
        Command::new(&python).arg(repo(&format!("tests/python/{script}"))).args(args).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{script}: {stdout}");
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn safetensors_export_has_the_torch_state_dict_names_shapes_and_values() {
    let dir = scratch("st-names");
    let model = train_and_predict(&dir, "examples/specs/iris.yaml", "examples/data/iris.csv", "5");
    let out = dir.join("iris.safetensors");
    export(&model, "safetensors", &out);
    let bytes = std::fs::read(&out).expect("exported file");
    let st = SafeTensors::deserialize(&bytes).expect("a valid safetensors file");
    let mut names: Vec<(String, Vec<usize>)> = st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect();
    names.sort();
    // torch.nn.Linear(4, 16) and Linear(16, 3): weight [out, in], bias [out].
    let want =
        [("fc1.bias", vec![16]), ("fc1.weight", vec![16, 4]), ("fc2.bias", vec![3]), ("fc2.weight", vec![3, 16])];
    assert_eq!(names, want.map(|(n, s)| (n.to_owned(), s)));
    let (_, meta) = SafeTensors::read_metadata(&bytes).expect("header");
    let meta = meta.metadata().clone().expect("__metadata__");
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    assert_eq!(meta.get("arc.model_name").map(String::as_str), Some("iris"));
    // Same values as the model directory's weights, bit for bit.
    let saved = std::fs::read(Path::new(&model).join("model.safetensors")).expect("weights");
    let saved = SafeTensors::deserialize(&saved).expect("weights parse");
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        assert_eq!(view.data(), saved.tensor(&name).expect("saved tensor").data(), "{name}");
    }
    // Metadata can be turned off; the config is checked.
    let plain = dir.join("plain.safetensors").display().to_string();
    let (ok, _, stderr) =
        arc(&["export", &model, "--format", "safetensors", "--out", &plain, "--config", "{metadata: false}"]);
    assert!(ok, "{stderr}");
    let plain = std::fs::read(&plain).expect("plain");
    assert!(SafeTensors::read_metadata(&plain).expect("header").1.metadata().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_norm_buffers_are_exported_under_torch_names() {
    let dir = scratch("st-bn");
    let model = train_and_predict(&dir, "tests/fixtures/specs/iris_bn.yaml", "examples/data/iris.csv", "2");
    let out = dir.join("bn.safetensors");
    export(&model, "safetensors", &out);
    let bytes = std::fs::read(&out).expect("exported file");
    let st = SafeTensors::deserialize(&bytes).expect("valid");
    let names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    for n in ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"] {
        assert!(names.iter().any(|m| m == n), "{n} missing from {names:?}");
    }
    let tracked = st.tensor("bn.num_batches_tracked").expect("tracked");
    assert_eq!((tracked.dtype(), tracked.shape()), (safetensors::Dtype::I64, &[][..]));
    assert_eq!(st.tensor("bn.running_var").expect("var").shape(), [16]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn numpy_recomputes_the_safetensors_iris_mlp_like_arc_predict() {
    let dir = scratch("st-numpy");
    let model = train_and_predict(&dir, "examples/specs/iris.yaml", "examples/data/iris.csv", "100");
    let out = dir.join("iris.safetensors");
    export(&model, "safetensors", &out);
    let (out, predictions) = (out.display().to_string(), dir.join("predictions.csv").display().to_string());
    python_check(
        "test_export_safetensors.py",
        &["numpy", "safetensors"],
        &[&out, &model, &repo("examples/data/iris.csv"), &predictions],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_errors_name_the_format_the_key_or_the_directory() {
    let dir = scratch("errors");
    let model = train_and_predict(&dir, "examples/specs/iris.yaml", "examples/data/iris.csv", "1");
    let out = dir.join("x").display().to_string();
    let (ok, _, stderr) = arc(&["export", &model, "--format", "safetensor", "--out", &out]);
    assert!(!ok);
    assert!(stderr.contains("unknown exporter `safetensor` (did you mean `safetensors`?)"), "{stderr}");
    let (ok, _, stderr) =
        arc(&["export", &model, "--format", "safetensors", "--out", &out, "--config", "{metdata: 1}"]);
    assert!(!ok);
    assert!(stderr.contains("unknown parameter `metdata` (did you mean `metadata`?)"), "{stderr}");
    let missing = dir.join("no-such-model").display().to_string();
    let (ok, _, stderr) = arc(&["export", &missing, "--format", "safetensors", "--out", &out]);
    assert!(!ok);
    assert!(stderr.contains("no-such-model"), "{stderr}");
    assert!(!Path::new(&out).exists(), "nothing is written on failure");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Trains `spec`, exports it to ONNX and runs the onnxruntime check.
fn onnx_matches_arc_predict(name: &str, spec: &str, data: &str, epochs: &str, extra: &[&str]) {
    let dir = scratch(name);
    let model = train_and_predict(&dir, spec, data, epochs);
    let out = dir.join(format!("{name}.onnx"));
    let out_text = out.display().to_string();
    let mut args = vec!["export", &model, "--format", "onnx", "--out", &out_text];
    args.extend_from_slice(extra);
    let (ok, _, stderr) = arc(&args);
    assert!(ok, "export: {stderr}");
    // The file is an ONNX ModelProto: field 1 (ir_version) first, as varint.
    let bytes = std::fs::read(&out).expect("exported");
    assert_eq!(bytes[0], 0x08, "ir_version tag");
    let predictions = dir.join("predictions.csv").display().to_string();
    python_check(
        "test_export_onnx.py",
        &["numpy", "onnxruntime"],
        &[&out_text, &repo(data), &predictions, "--classifier", "logits"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn onnxruntime_runs_the_iris_export_like_arc_predict() {
    onnx_matches_arc_predict("onnx-iris", "examples/specs/iris.yaml", "examples/data/iris.csv", "100", &[]);
}

#[test]
fn onnxruntime_runs_the_digits_export_like_arc_predict() {
    // Min-max scaling in the graph, LayerNorm, exact GELU (Erf), Dropout.
    onnx_matches_arc_predict("onnx-digits", "tests/fixtures/specs/digits.yaml", "examples/data/digits.csv", "5", &[]);
}

#[test]
fn onnxruntime_runs_every_combinator_and_opset_20_gelu() {
    // Robust scaling, Add, Concatenate, BatchNorm1d, Sigmoid, Tanh, GELU (tanh), Flatten, Softmax,
    // Select (Gather) with negative dims and indices.
    let spec = "tests/fixtures/specs/iris_ops.yaml";
    onnx_matches_arc_predict("onnx-ops", spec, "examples/data/iris.csv", "20", &[]);
    onnx_matches_arc_predict("onnx-ops-20", spec, "examples/data/iris.csv", "3", &["--config", "{opset: 20}"]);
}

/// The example plugin's RMSNorm, SwiGLU and tanh-GELU lower themselves
/// (`Layer::onnx`): onnxruntime runs the export like `arc predict`, at
/// opset 17 (formulas) and 20 (`Gelu`, `Split` by `num_outputs`,
/// `ReduceMean` axes as an input).
#[cfg(feature = "example-plugin")]
#[test]
fn onnxruntime_runs_a_model_of_plugin_layers_like_arc_predict() {
    let spec = "tests/fixtures/specs/wine_plugin.yaml";
    onnx_matches_arc_predict("onnx-plugin", spec, "examples/data/wine.csv", "10", &[]);
    onnx_matches_arc_predict("onnx-plugin-20", spec, "examples/data/wine.csv", "3", &["--config", "{opset: 20}"]);
}

#[test]
fn onnx_config_is_checked_before_anything_is_written() {
    let dir = scratch("onnx-config");
    let model = train_and_predict(&dir, "examples/specs/iris.yaml", "examples/data/iris.csv", "1");
    let out = dir.join("m.onnx").display().to_string();
    let (ok, _, stderr) = arc(&["export", &model, "--format", "onnx", "--out", &out, "--config", "{opset: 13}"]);
    assert!(!ok);
    assert!(stderr.contains("core.onnx: invalid config: `opset` must be in 17..=21, got 13"), "{stderr}");
    let (ok, _, stderr) =
        arc(&["export", &model, "--format", "onnx", "--out", &out, "--config", "{include_processor: 1}"]);
    assert!(!ok);
    assert!(stderr.contains("unknown parameter `include_processor` (did you mean `include_processors`?)"), "{stderr}");
    assert!(!Path::new(&out).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_model_resolves_types_wiring_outputs_and_buffers() {
    let dir = scratch("export-model");
    let model = train_and_predict(&dir, "tests/fixtures/specs/iris_ops.yaml", "examples/data/iris.csv", "1");
    let m = arc::train::ModelBundle::load(Path::new(&model), arc::get_plugin_manager())
        .and_then(|b| b.export_model())
        .expect("loads");
    assert_eq!(m.spec.model_name, "iris_ops");
    assert_eq!(m.inputs.len(), 1);
    assert_eq!((m.inputs[0].name.as_str(), m.inputs[0].source.as_str()), ("features", "features"));
    assert_eq!(m.inputs[0].shape, [None, Some(4)]);
    let summary: Vec<(&str, &str)> = m.nodes.iter().map(|n| (n.name.as_str(), n.layer_type.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("fc_a", "core.Linear"),
            ("fc_b", "core.Linear"), // written `torch.nn.Linear`
            ("sig", "core.Sigmoid"),
            ("th", "core.Tanh"),
            ("sum", "core.Add"),
            ("cat", "core.Concatenate"),
            ("bn", "core.BatchNorm1d"),
            ("act", "core.GELU"),
            ("flat", "core.Flatten"),
            ("head", "core.Linear"),
            ("probs", "core.Softmax"),
            ("last", "core.Select"),
            ("second", "core.Select"),
        ]
    );
    let wiring = |name: &str| m.node(name).expect("node").inputs.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
    assert_eq!(wiring("fc_a"), ["features"]);
    assert_eq!(wiring("th"), ["fc_b"]); // `fc_b.output`
    assert_eq!(wiring("sum"), ["sig", "th"]);
    assert_eq!(wiring("bn"), ["cat"]); // no `inputs`: the previous node
    assert_eq!(wiring("second"), ["cat"]);
    assert_eq!(m.node("fc_a").expect("fc_a").params.get_u64("in_features"), Some(4)); // vars.n_features
    let outputs: Vec<(&str, &str)> = m.outputs.iter().map(|o| (o.name.as_str(), o.source.as_str())).collect();
    assert_eq!(outputs, [("logits", "head"), ("probs", "probs"), ("last", "last"), ("second", "second")]);
    let names: Vec<&str> = m.weights.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "fc_a.weight",
            "fc_a.bias",
            "fc_b.weight",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked",
            "head.weight",
            "head.bias",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
