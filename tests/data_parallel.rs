//! Data-parallel training semantics, on a world of threads (`LocalWorld`):
//! two ranks with batch `b` train the same weights as one process with batch
//! `2b`, every rank ends with the same model, and only rank 0 reports.
//! `tests/mpi.rs` runs the same comparison through `mpirun` and the CLI.

use arc::Result;
use arc::distributed::{Collective, LocalWorld};
use arc::spec::ArcSpec;
use arc::train::{DataParallel, EpochRecord, TrainObserver, Trained, train_parallel};

#[path = "support/iris.rs"]
mod iris;

/// The iris spec with `epochs`, a per-process batch of `batch` and `optimizer`.
fn spec(epochs: usize, batch: usize, optimizer: &str) -> Result<ArcSpec> {
    let text = iris::spec_text()
        .replace("epochs: 100", &format!("epochs: {epochs}"))
        .replace("batch_size: 16", &format!("batch_size: {batch}"))
        .replace("type: Adam\n    config: {lr: 0.01}", optimizer);
    ArcSpec::from_yaml(&text, iris::SPEC)
}

#[derive(Default)]
struct Events(usize);

impl TrainObserver for Events {
    fn on_epoch_end(&mut self, _: &EpochRecord) {
        self.0 += 1;
    }
}

/// Trains `spec` on `world` threads; each rank's model and its observer's event count.
fn on_threads(spec: &ArcSpec, world: usize, drop_last: bool) -> Vec<(Trained, usize)> {
    let table = iris::table().expect("iris loads");
    let trainer = spec.trainer().expect("a trainer").clone();
    let ranks = LocalWorld::new(world);
    std::thread::scope(|s| {
        let handles: Vec<_> = ranks
            .iter()
            .map(|rank| {
                let (table, trainer) = (&table, &trainer);
                s.spawn(move || {
                    let parallel = DataParallel { drop_last, ..DataParallel::new(rank) };
                    let mut events = Events::default();
                    let trained =
                        train_parallel(spec, trainer, table, arc::get_plugin_manager(), &mut events, &parallel);
                    if trained.is_err() {
                        rank.abort(1);
                    }
                    (trained.expect("every rank trains"), events.0)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no rank panics")).collect()
    })
}

fn weights(t: &Trained) -> Vec<(String, Vec<f32>)> {
    t.model.named_values().into_iter().map(|(n, v)| (n, v.to_vec().expect("host"))).collect()
}

fn assert_close(a: &Trained, b: &Trained, tolerance: f32) {
    for ((na, wa), (nb, wb)) in weights(a).iter().zip(weights(b)) {
        assert_eq!(*na, nb);
        let worst = wa.iter().zip(&wb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= tolerance, "`{na}` differs by {worst}");
    }
}

const SGD: &str = "type: SGD\n    config: {lr: 0.1, momentum: 0.9}";
const ADAM: &str = "type: Adam\n    config: {lr: 0.01}";

#[test]
fn two_ranks_of_batch_16_train_what_one_process_of_batch_32_trains() -> Result<()> {
    for optimizer in [SGD, ADAM] {
        // Iris: 120 training rows, 60 per rank; the ragged last batches (12 per rank, 24 in
        // one process) line up too, since the shards are equal.
        let one = on_threads(&spec(10, 32, optimizer)?, 1, false);
        let two = on_threads(&spec(10, 16, optimizer)?, 2, false);
        assert_close(&two[0].0, &one[0].0, 1e-5);
        assert_eq!(weights(&two[0].0), weights(&two[1].0), "every rank ends with the same weights");
        let (h1, h2) = (&one[0].0.history, &two[0].0.history);
        for (a, b) in h1.epochs.iter().zip(&h2.epochs) {
            assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{a:?} vs {b:?}");
            assert!((a.val_loss.unwrap() - b.val_loss.unwrap()).abs() < 1e-5);
        }
        assert_eq!(two[1].0.history, two[0].0.history, "rank 0's numbers are everyone's");
        assert_eq!((two[0].1, two[1].1), (10, 0), "only rank 0 reports");
    }
    Ok(())
}

#[test]
fn an_uneven_split_pads_or_drops_and_every_rank_agrees() -> Result<()> {
    // 120 training rows over 7 ranks: padded to 126 (18 each) or cut to 119 (17 each).
    for drop_last in [false, true] {
        let ranks = on_threads(&spec(2, 8, ADAM)?, 7, drop_last);
        for r in &ranks[1..] {
            assert_eq!(weights(&r.0), weights(&ranks[0].0));
        }
    }
    Ok(())
}

#[test]
fn the_initial_weights_and_fitted_state_are_rank_zeros() -> Result<()> {
    // Zero epochs: what each rank holds after the broadcasts, before any step.
    let ranks = on_threads(&spec(0, 16, ADAM)?, 3, false);
    let single = on_threads(&spec(0, 16, ADAM)?, 1, false);
    for (trained, _) in &ranks {
        assert_eq!(weights(trained), weights(&single[0].0));
        assert_eq!(trained.fitted, single[0].0.fitted);
    }
    Ok(())
}

/// `arc train` with the launcher's variables set, in a build without the backend.
#[cfg(not(feature = "mpi"))]
fn launched(vars: &[(&str, &str)], name: &str) -> (std::process::Output, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!("arc-dp-{}-{name}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_arc"))
        .args(["train", iris::SPEC, "--data", iris::DATA, "--out"])
        .arg(&out)
        .current_dir(iris::root())
        .envs(vars.iter().copied())
        .output()
        .expect("arc runs");
    (output, out)
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_the_backend_refuses_a_launchers_world_before_writing() {
    let (output, out) = launched(&[("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_RANK", "0")], "mpi");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: distributed (launcher): started by an MPI launcher (OMPI_COMM_WORLD_SIZE=2), but this arc was \
             built without the `mpi` feature"
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing trained");
    assert!(!out.exists(), "nothing written");

    let torchrun = [("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")];
    let (output, out) = launched(&torchrun, "torchrun");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: distributed (launcher): WORLD_SIZE=2 (a torchrun-style launch) on the cpu"),
        "{stderr}"
    );
    assert!(!out.exists());
}
