//! `mpirun -np 2 arc train …` (feature `mpi`): the same final weights as one
//! process with twice the batch, to 1e-5, for SGD and Adam; a failing or
//! killed rank ends the run with an error and leaves the output directory as
//! it was.
//!
//! Needs `mpirun` (OpenMPI or MPICH): skipped with a printed reason where
//! there is none, unless `ARC_REQUIRE_MPI=1` (CI) makes that a failure.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "support/iris.rs"]
mod iris;

fn mpirun() -> Option<PathBuf> {
    let found = Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("ARC_REQUIRE_MPI").is_none(), "ARC_REQUIRE_MPI is set but mpirun is not on PATH");
        eprintln!("skipped: no `mpirun` on PATH (install OpenMPI or MPICH)");
        return None;
    }
    Some(PathBuf::from("mpirun"))
}

/// `mpirun` as root in a container: OpenMPI's root and shared-memory settings
/// (MPICH ignores them).
fn launcher(mpirun: &Path) -> Command {
    let mut cmd = Command::new(mpirun);
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The iris spec with a per-process `batch` and `optimizer`, written into `dir`.
fn spec_file(dir: &Path, batch: usize, optimizer: &str) -> PathBuf {
    let text = iris::spec_text()
        .replace("epochs: 100", "epochs: 8")
        .replace("batch_size: 16", &format!("batch_size: {batch}"))
        .replace("type: Adam\n    config: {lr: 0.01}", optimizer);
    let path = dir.join(format!("iris-{batch}.yaml"));
    std::fs::write(&path, text).expect("spec written");
    path
}

fn arc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_arc"))
}

fn train_args(spec: &Path, data: &Path, out: &Path) -> Vec<String> {
    ["train", &spec.display().to_string(), "--data", &data.display().to_string(), "--out", &out.display().to_string()]
        .map(str::to_owned)
        .to_vec()
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let loaded = arc::model_dir::load(dir).expect("a model directory");
    let mut named: Vec<(String, Vec<f32>)> = loaded
        .weights
        .into_iter()
        .filter(|(_, t)| t.dtype() == arc::DType::F32)
        .map(|(n, t)| (n, t.to_vec().expect("host")))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

#[test]
fn two_processes_train_what_one_process_with_twice_the_batch_trains() {
    let Some(mpirun) = mpirun() else { return };
    let dir = scratch("equal");
    let data = iris::root().join(iris::DATA);
    for (name, optimizer) in
        [("sgd", "type: SGD\n    config: {lr: 0.1, momentum: 0.9}"), ("adam", "type: Adam\n    config: {lr: 0.01}")]
    {
        let (one, two) = (dir.join(format!("{name}-one")), dir.join(format!("{name}-two")));
        ok(arc().args(train_args(&spec_file(&dir, 32, optimizer), &data, &one)).output().expect("arc runs"));
        let out = ok(launcher(&mpirun)
            .args(["-np", "2", env!("CARGO_BIN_EXE_arc")])
            .args(train_args(&spec_file(&dir, 16, optimizer), &data, &two))
            .output()
            .expect("mpirun runs"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Rank 0 alone prints: one header, one line per epoch, one "written".
        assert_eq!(stdout.matches("training `iris`").count(), 1, "{stdout}");
        assert!(stdout.contains("batch 32, "), "the global batch is shown: {stdout}");
        assert!(stdout.contains("2 processes (mpi), batch 16 each"), "{stdout}");
        assert_eq!(stdout.matches("model written to").count(), 1, "{stdout}");
        for ((na, a), (nb, b)) in weights(&one).iter().zip(weights(&two)) {
            assert_eq!(*na, nb);
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "{name}: `{na}` differs by {worst}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_rank_ends_the_run_with_an_error_and_the_output_stays_as_it_was() {
    let Some(mpirun) = mpirun() else { return };
    let dir = scratch("fail");
    let data = iris::root().join(iris::DATA);
    let spec = spec_file(&dir, 16, "type: Adam\n    config: {lr: 0.01}");
    let out = dir.join("model");
    ok(arc().args(train_args(&spec, &data, &out)).output().expect("arc runs"));
    let before = std::fs::read(out.join("model.safetensors")).expect("weights written");
    // MPMD: rank 1 reads a file that is not there; rank 0 is waiting for it in a broadcast.
    let output = launcher(&mpirun)
        .args(["-np", "1", env!("CARGO_BIN_EXE_arc")])
        .args(train_args(&spec, &data, &out))
        .args([":", "-np", "1", env!("CARGO_BIN_EXE_arc")])
        .args(train_args(&spec, &dir.join("missing.csv"), &out))
        .output()
        .expect("mpirun runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the run fails");
    assert!(stderr.contains("error: rank 1 of 2:") && stderr.contains("missing.csv"), "{stderr}");
    assert_eq!(std::fs::read(out.join("model.safetensors")).expect("still there"), before);
    assert!(arc::model_dir::load(&out).is_ok(), "the earlier model still loads");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rank_that_dies_ends_the_run_and_writes_nothing() {
    let Some(mpirun) = mpirun() else { return };
    let dir = scratch("killed");
    let spec = spec_file(&dir, 16, "type: Adam\n    config: {lr: 0.01}");
    let out = dir.join("model");
    // Rank 1 is killed by a signal; rank 0 cannot train without it (the first broadcast).
    let output = launcher(&mpirun)
        .args(["-np", "1", env!("CARGO_BIN_EXE_arc")])
        .args(train_args(&spec, &iris::root().join(iris::DATA), &out))
        .args([":", "-np", "1", "sh", "-c", "kill -9 $$"])
        .output()
        .expect("mpirun runs");
    assert!(!output.status.success(), "the run fails");
    assert!(!out.exists(), "nothing written");
    let _ = std::fs::remove_dir_all(&dir);
}
