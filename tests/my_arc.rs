//! A user's own `arc` (`examples/my_arc.rs`: `arc::link_plugins!` and
//! `arc::cli::main`), built outside the `arc` binary target, knows the
//! plugin crate it links and trains a spec using one of its layers through
//! the command line.
#![cfg(feature = "example-plugin")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds `examples/my_arc.rs` (the library is built already, with these features) and
/// returns the binary's path.
fn my_arc() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--example", "my_arc", "--features", "example-plugin", "--message-format", "short"])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building my_arc: {}", String::from_utf8_lossy(&out.stderr));
    let exe = Path::new(env!("CARGO_BIN_EXE_arc")).with_file_name("examples").join("my_arc");
    assert!(exe.is_file(), "no binary at {}", exe.display());
    exe
}

fn run(exe: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(exe).args(args).current_dir(root()).output().expect("my_arc runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_users_own_arc_lists_and_trains_with_its_plugins() {
    let exe = my_arc();
    let (ok, stdout, stderr) = run(&exe, &["plugins"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("example") && stdout.contains("example.RMSNorm"), "{stdout}");

    let dir = std::env::temp_dir().join(format!("arc-my-arc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = dir.join("model").display().to_string();
    let spec = "tests/fixtures/specs/wine_plugin.yaml";
    let (ok, _, stderr) = run(&exe, &["validate", spec, "--data", "examples/data/wine.csv"]);
    assert!(ok, "validate: {stderr}");
    let (ok, stdout, stderr) =
        run(&exe, &["train", spec, "--data", "examples/data/wine.csv", "--out", &model, "--epochs", "3"]);
    assert!(ok, "train: {stderr}");
    assert!(stdout.contains("model written to"), "{stdout}");
    let predictions = dir.join("predictions.csv").display().to_string();
    let (ok, _, stderr) = run(&exe, &["predict", &model, "--data", "examples/data/wine.csv", "--out", &predictions]);
    assert!(ok, "predict: {stderr}");
    let text = std::fs::read_to_string(&predictions).expect("predictions written");
    assert_eq!(text.lines().count(), 179, "a header and one line per wine");
    // A bad flag is a user error (exit code 1), as with `arc`.
    let out = Command::new(&exe).arg("train").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
