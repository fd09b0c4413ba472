//! The broken-file corpus (`tests/corpus/`, made by `tests/corpus/make_corpus.py`):
//! every file gets an error naming the file, never a panic — through
//! `arc::model_dir::load`, `ModelBundle::load`, `arc predict` and `arc export`
//! (exit code 1, a user error; 2 would be an internal error or a panic).
#![cfg(feature = "builtins")]

use std::path::{Path, PathBuf};
use std::process::Command;

use arc::Error;

fn corpus(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(path)
}

fn iris_csv() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv").display().to_string()
}

/// (exit code, stderr) of the arc binary.
fn arc_bin(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arc")).args(args).output().expect("the arc binary runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `arc predict` and `arc export` on `dir` both fail as user errors whose
/// message contains each of `needles`.
fn cli_rejects(dir: &Path, needles: &[&str]) {
    let dir_text = dir.display().to_string();
    let out = std::env::temp_dir().join(format!("arc-untrusted-{}.onnx", std::process::id()));
    let out = out.display().to_string();
    for args in [
        vec!["predict", &dir_text, "--data", &iris_csv()],
        vec!["export", &dir_text, "--format", "onnx", "--out", &out],
    ] {
        let (code, stderr) = arc_bin(&args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("internal error"), "{args:?}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{args:?}: `{needle}` not in {stderr}");
        }
        assert!(!Path::new(&out).exists());
    }
}

/// `ModelDir` error from `model_dir::load` whose path ends with `file`
/// and whose message contains `message`.
fn load_fails(dir: &Path, file: &str, message: &str) {
    let result = std::panic::catch_unwind(|| arc::model_dir::load(dir).map(|_| ()));
    let err = result.expect("no panic").expect_err("an error");
    match &err {
        Error::ModelDir { path, message: m } => {
            assert!(path.ends_with(file), "{path} should name {file}");
            assert!(m.contains(message), "`{message}` not in `{m}`");
        }
        other => panic!("expected Error::ModelDir, got {other:?}"),
    }
}

/// Safetensors files: (file, what the decoder says).
const SAFETENSORS: &[(&str, &str)] = &[
    ("empty.safetensors", "not a valid safetensors file: header too small"),
    ("short_length_prefix.safetensors", "not a valid safetensors file: header too small"),
    ("truncated_header.safetensors", "not a valid safetensors file: invalid header length"),
    ("truncated_data.safetensors", "not a valid safetensors file: incomplete metadata, file not fully covered"),
    ("corrupt_header_json.safetensors", "not a valid safetensors file: invalid JSON in header"),
    ("header_length_too_large.safetensors", "not a valid safetensors file: header too large"),
    ("offsets_beyond_file.safetensors", "not a valid safetensors file: incomplete metadata, file not fully covered"),
    ("offsets_mismatch_shape.safetensors", "not a valid safetensors file: invalid shape, data type, or offset"),
    ("wrong_dtype.safetensors", "`fc1.weight` is I32, not F32"),
    ("not_safetensors.safetensors", "not a valid safetensors file: header too large"),
];

/// A copy of the valid corpus model directory with `model.safetensors` replaced.
fn dir_with_weights(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-untrusted-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    for entry in std::fs::read_dir(corpus("model_dirs/valid")).expect("valid dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    std::fs::copy(corpus(&format!("safetensors/{case}")), dir.join("model.safetensors")).expect("copy case");
    dir
}

#[test]
fn the_valid_control_directory_loads_predicts_and_exports() {
    let dir = corpus("model_dirs/valid");
    let loaded = arc::model_dir::load(&dir).expect("the control loads");
    assert_eq!(loaded.weights.len(), 4);
    let (code, stderr) = arc_bin(&["predict", &dir.display().to_string(), "--data", &iris_csv()]);
    assert_eq!(code, Some(0), "{stderr}");
    let model = arc::train::ModelBundle::load(&dir, arc::get_plugin_manager())
        .and_then(|b| b.export_model())
        .expect("exportable");
    assert_eq!(model.nodes.len(), 3);
}

#[test]
fn every_broken_safetensors_file_is_an_error_naming_the_weights_file() {
    for (case, message) in SAFETENSORS {
        let bytes = std::fs::read(corpus(&format!("safetensors/{case}"))).expect("corpus file");
        let decoded = std::panic::catch_unwind(|| arc::model_dir::weights_from_safetensors(&bytes).map(|_| ()));
        let err = decoded.unwrap_or_else(|_| panic!("{case}: panicked")).expect_err(case);
        assert!(err.to_string().contains(message), "{case}: `{message}` not in `{err}`");
        let dir = dir_with_weights(case);
        load_fails(&dir, "model.safetensors", message);
        cli_rejects(&dir, &["model.safetensors", message]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn every_broken_model_directory_is_an_error_naming_the_file() {
    // (directory, file named, message) for failures of `model_dir::load`.
    let cases: &[(&str, &str, &str)] = &[
        ("missing_spec", "spec.yaml", "No such file"),
        ("missing_model", "model.safetensors", "No such file"),
        ("missing_processors", "processors.json", "No such file"),
        ("truncated_weights", "model.safetensors", "not a valid safetensors file"),
        ("offsets_beyond_file", "model.safetensors", "file not fully covered"),
        ("wrong_dtype", "model.safetensors", "`fc1.weight` is I32, not F32"),
        ("newer_format_version", "arc.json", "format_version 99 is newer than this build of arc reads (1)"),
        ("corrupt_manifest", "arc.json", "EOF while parsing"),
        ("corrupt_processors", "processors.json", "EOF while parsing"),
    ];
    for (case, file, message) in cases {
        let dir = corpus(&format!("model_dirs/{case}"));
        load_fails(&dir, file, message);
        cli_rejects(&dir, &[file, message]);
    }
}

#[test]
fn directories_that_load_but_do_not_fit_their_spec_are_errors_too() {
    // These load (the files parse); building the model from them fails.
    let cases: &[(&str, &[&str])] = &[
        ("wrong_shape", &["model.safetensors", "`fc1.weight` has shape [4, 16], the model wants [16, 4]"]),
        ("missing_weight", &["model.safetensors", "no weights for `fc2.bias`"]),
        ("corrupt_spec", &["spec.yaml", "did not find expected"]),
        ("processors_missing_vars", &["unknown input `vars.n_features`"]),
    ];
    for (case, needles) in cases {
        let dir = corpus(&format!("model_dirs/{case}"));
        let loaded = arc::model_dir::load(&dir).unwrap_or_else(|e| panic!("{case} loads: {e}"));
        let export = std::panic::catch_unwind(|| {
            arc::train::ModelBundle::from_loaded(&loaded, arc::get_plugin_manager())
                .and_then(|b| b.export_model())
                .map(|_| ())
        });
        let err = export.expect("no panic").expect_err(case).to_string();
        for needle in needles.iter().filter(|n| !n.ends_with(".yaml") && !n.ends_with(".safetensors")) {
            assert!(err.contains(needle), "{case}: `{needle}` not in `{err}`");
        }
        cli_rejects(&dir, needles);
    }
}

#[test]
fn every_corpus_file_is_covered_by_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(corpus("safetensors"))
        .expect("corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = SAFETENSORS.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
    let mut dirs: Vec<String> = std::fs::read_dir(corpus("model_dirs"))
        .expect("corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let expected = [
        "corrupt_manifest",
        "corrupt_processors",
        "corrupt_spec",
        "missing_model",
        "missing_processors",
        "missing_spec",
        "missing_weight",
        "newer_format_version",
        "offsets_beyond_file",
        "processors_missing_vars",
        "truncated_weights",
        "valid",
        "wrong_dtype",
        "wrong_shape",
    ];
    assert_eq!(dirs, expected);
}
