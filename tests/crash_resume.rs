//! Nothing the user had is lost, and a killed run resumes exactly. `arc train` is killed at
//! deterministic moments (`ARC_TEST_ABORT_AFTER_BATCH=N` aborts the process after batch N,
//! `ARC_TEST_ABORT_MID_SAVE=1` while a model directory or checkpoint is half written); the
//! previous model directory must still load and predict the same, and `--resume` must end
//! with the uninterrupted run's weights, bit for bit. Also `--out`'s rules: a file is never
//! replaced, a directory Arc did not write only with `--force`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/iris.rs"]
mod iris;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// The iris spec with `epochs` and `extra` lines in `trainer.config`, written into `dir`.
fn spec(dir: &Path, epochs: usize, extra: &str) -> PathBuf {
    let path = dir.join("spec.yaml");
    std::fs::write(&path, iris::with_config(epochs, extra)).expect("spec written");
    path
}

fn arc(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arc")).args(args).envs(env.iter().copied()).output().expect("arc runs")
}

fn train(spec: &Path, out: &Path, more: &[&str], env: &[(&str, &str)]) -> Output {
    let data = iris::root().join(iris::DATA);
    let mut args =
        vec!["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(more);
    arc(&args, env)
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    o
}

fn killed(o: &Output) {
    assert!(!o.status.success(), "the run was to be killed: {}", String::from_utf8_lossy(&o.stdout));
}

/// What `arc predict` prints for the iris rows with model `dir`.
fn predictions(dir: &Path) -> Vec<u8> {
    let data = iris::root().join(iris::DATA);
    ok(arc(&["predict", dir.to_str().unwrap(), "--data", data.to_str().unwrap()], &[])).stdout
}

/// Every file under `dir`, with its bytes, sorted by path; hidden entries (a killed run's
/// temporary `.NAME.tmp-PID` directories, which nothing reads) left out.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("readable").map(|e| e.expect("entry")) {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                assert!(entry.file_name().to_string_lossy().contains(".tmp-"), "{}", path.display());
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).expect("readable")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_killed_run_resumes_to_the_uninterrupted_weights_bit_for_bit() {
    let dir = scratch("resume");
    // 120 training rows in batches of 16: 8 batches an epoch.
    for (name, extra, kill_after) in [
        ("adam", "checkpoint_every: 1", "27"),     // in epoch 4: resumes after epoch 3
        ("boundary", "checkpoint_every: 2", "17"), // the first batch after epoch 2's checkpoint
        ("early", "checkpoint_every: 1\nearly_stopping: {patience: 2, monitor: accuracy, restore_best: true}", "30"),
    ] {
        let spec = spec(&dir, 8, extra);
        let (full, part) = (dir.join(format!("{name}-full")), dir.join(format!("{name}-part")));
        ok(train(&spec, &full, &[], &[]));
        killed(&train(&spec, &part, &[], &[("ARC_TEST_ABORT_AFTER_BATCH", kill_after)]));
        assert!(!part.join("model.safetensors").exists(), "{name}: no final model yet");
        let resumed = ok(train(&spec, &part, &["--resume", part.to_str().unwrap()], &[]));
        let said = String::from_utf8_lossy(&resumed.stdout);
        assert!(said.contains("resuming from "), "{said}");
        let bytes = |d: &Path, f: &str| std::fs::read(d.join(f)).expect("written");
        assert!(bytes(&full, "model.safetensors") == bytes(&part, "model.safetensors"), "{name}: the weights differ");
        assert_eq!(bytes(&full, "history.json"), bytes(&part, "history.json"), "{name}: the history differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_refuses_another_spec_and_a_directory_without_checkpoints() {
    let dir = scratch("resume-errors");
    let spec_path = spec(&dir, 3, "checkpoint_every: 1");
    let out = dir.join("model");
    ok(train(&spec_path, &out, &[], &[]));
    let other = dir.join("other.yaml");
    std::fs::write(&other, iris::with_config(4, "checkpoint_every: 1")).expect("written");
    let o = train(&other, &out, &["--resume", out.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("the checkpoint was trained from another spec"), "{stderr}");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let o = train(&spec_path, &dir.join("x"), &["--resume", empty.to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no complete checkpoint in"), "{o:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killing_a_run_at_any_moment_leaves_the_previous_model_as_it_was() {
    let dir = scratch("kill");
    let out = dir.join("model");
    ok(train(&spec(&dir, 3, "checkpoint_every: 1"), &out, &[], &[]));
    let before = snapshot(&out);
    let predicted = predictions(&out);
    let moments: [(&str, &str, &str); 4] = [
        ("no checkpoints, mid-epoch", "", "ARC_TEST_ABORT_AFTER_BATCH"),
        ("checkpoints, before the first", "checkpoint_every: 2", "ARC_TEST_ABORT_AFTER_BATCH"),
        ("while the final model is half written", "", "ARC_TEST_ABORT_MID_SAVE"),
        ("while a checkpoint is half written", "checkpoint_every: 1", "ARC_TEST_ABORT_MID_SAVE"),
    ];
    for (moment, extra, variable) in moments {
        // Another run into the same directory (other epochs: other weights), killed; a run
        // with checkpoints needs --force to replace the earlier run's (see below).
        let force: &[&str] = if extra.is_empty() { &[] } else { &["--force"] };
        killed(&train(&spec(&dir, 4, extra), &out, force, &[(variable, "3")]));
        assert!(snapshot(&out) == before, "{moment}: the previous model directory changed");
        assert_eq!(predictions(&out), predicted, "{moment}: the previous model predicts otherwise");
        assert!(arc::model_dir::checkpoint::latest(&out).is_some(), "{moment}: the previous checkpoints are there");
    }
    // A new run with checkpoints over the earlier run's is refused without --force: they are
    // kept, and nothing else changes.
    let refused = train(&spec(&dir, 4, "checkpoint_every: 1"), &out, &[], &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("holds an earlier run's checkpoints") && stderr.contains("--resume"), "{stderr}");
    assert!(snapshot(&out) == before, "a refused run changed the model directory");
    // A half-written directory is hidden, never taken for a model or a checkpoint, and the
    // next run removes what the killed ones left.
    let next = ok(train(&spec(&dir, 4, "checkpoint_every: 1"), &out, &["--force"], &[]));
    assert!(String::from_utf8_lossy(&next.stdout).contains("left by a run that was killed"), "{next:?}");
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .expect("readable")
        .chain(std::fs::read_dir(out.join("checkpoints")).expect("readable"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // With --force the new run's checkpoints replaced the old run's: epochs 1 to 4, all its own.
    let epochs: Vec<String> = snapshot(&out.join("checkpoints"))
        .iter()
        .filter(|(p, _)| p.ends_with("arc.json"))
        .map(|(p, _)| p.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(epochs, ["epoch-0001", "epoch-0002", "epoch-0003", "epoch-0004"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_never_replaces_a_file_and_a_foreign_directory_only_with_force() {
    let dir = scratch("out");
    let spec = spec(&dir, 1, "");
    let error = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let file = dir.join("notes.txt");
    std::fs::write(&file, "mine").expect("written");
    for force in [&[][..], &["--force"][..]] {
        let o = train(&spec, &file, force, &[]);
        assert!(error(&o).contains("exists and is not a directory; never replaced, --force or not"), "{o:?}");
        assert_eq!(std::fs::read_to_string(&file).expect("still there"), "mine");
    }

    let foreign = dir.join("photos");
    std::fs::create_dir_all(&foreign).expect("dir");
    std::fs::write(foreign.join("cat.jpg"), "meow").expect("written");
    let o = train(&spec, &foreign, &[], &[]);
    assert!(error(&o).contains("exists and was not written by arc; not replaced (pass --force"), "{o:?}");
    assert_eq!(std::fs::read_to_string(foreign.join("cat.jpg")).expect("kept"), "meow");
    ok(train(&spec, &foreign, &["--force"], &[]));
    assert!(!foreign.join("cat.jpg").exists() && foreign.join("model.safetensors").exists(), "replaced whole");

    let model = dir.join("model");
    ok(train(&spec, &model, &[], &[]));
    std::fs::write(model.join("README.md"), "my notes").expect("written");
    let o = train(&spec, &model, &[], &[]);
    assert!(error(&o).contains("is a model directory, but `README.md` in it was not written by arc"), "{o:?}");
    assert!(model.join("README.md").exists());
    ok(train(&spec, &model, &["--force"], &[]));
    assert!(!model.join("README.md").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
