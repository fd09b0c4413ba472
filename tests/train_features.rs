//! Trainer features through the facade: gradient clipping against PyTorch,
//! early stopping, the device choice and checkpoints.

use std::path::PathBuf;

use arc::Result;
use arc::nn::Param;
use arc::spec::ArcSpec;
use arc::train::{EpochRecord, Trained};
use arc::{Error, Tensor};

#[path = "support/iris.rs"]
mod iris;

use iris::{DATA, SPEC, root, run, spec_text, table, with_config};

fn bits(t: &Trained) -> Result<Vec<(String, Vec<u32>)>> {
    t.model
        .named_values()
        .into_iter()
        .map(|(n, v)| Ok((n, v.to_vec()?.iter().map(|x| x.to_bits()).collect())))
        .collect()
}

// ---- gradient clipping ------------------------------------------------------

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("a list").iter().map(|x| x.as_f64().expect("a number") as f32).collect()
}

#[test]
fn gradient_clipping_matches_pytorch() -> Result<()> {
    // tests/fixtures/grad_clip.json comes from scripts/reference/grad_clip.py
    // (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/grad_clip.json")).expect("the fixture is JSON");
    let shapes: Vec<Vec<usize>> = serde_json::from_value(doc["shapes"].clone()).expect("shapes");
    let grads: Vec<Vec<f32>> = doc["grads"].as_array().expect("grads").iter().map(floats).collect();
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 7);
    assert_eq!(shapes.len(), grads.len(), "a gradient per shape");
    for case in cases {
        // Each parameter's gradient is set through autograd: d/dp sum(p * g) = g.
        let params: Vec<Param> = shapes
            .iter()
            .zip(&grads)
            .map(|(shape, g)| {
                let p = Param::new(Tensor::zeros(shape))?;
                p.value().mul(&Tensor::from_vec(g.clone(), shape)?)?.sum_all()?.backward()?;
                Ok(p)
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&Param> = params.iter().collect();
        match case["kind"].as_str() {
            Some("norm") => {
                let norm_type = match &case["norm_type"] {
                    serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
                    v => v.as_f64().expect("a norm type"),
                };
                let total = arc::train::clip_grad_norm(&refs, case["max_norm"].as_f64().expect("max_norm"), norm_type)?;
                let expected = case["total_norm"].as_f64().expect("total_norm");
                assert!((total - expected).abs() <= 1e-6 * expected, "{case}: total norm {total} vs {expected}");
            }
            _ => arc::train::clip_grad_value(&refs, case["value"].as_f64().expect("value"))?,
        }
        let wanted = case["grads"].as_array().expect("grads");
        assert_eq!(wanted.len(), params.len(), "{case}: a gradient per parameter");
        for (p, want) in params.iter().zip(wanted) {
            let got = p.grad().expect("a gradient").to_vec()?;
            let want = floats(want);
            assert_eq!(got.len(), want.len(), "{case}: gradient length");
            for (g, w) in got.iter().zip(&want) {
                // f32 rounding of the norm and the coefficient: a few ulps.
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "{case}: {got:?} vs {want:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn clipping_in_training_changes_the_steps_only_when_it_bites() -> Result<()> {
    let plain = run(&with_config(3, ""))?;
    // A max_norm no gradient reaches: coef clamps to 1, the steps are bit-identical.
    let loose = run(&with_config(3, "gradient_clip: {max_norm: 1.0e9}"))?;
    assert_eq!(bits(&plain)?, bits(&loose)?);
    let tight = run(&with_config(3, "gradient_clip: {value: 1.0e-4}"))?;
    assert_ne!(bits(&plain)?, bits(&tight)?);
    // And clipped training is as deterministic as plain training.
    assert_eq!(bits(&tight)?, bits(&run(&with_config(3, "gradient_clip: {value: 1.0e-4}"))?)?);
    Ok(())
}

// ---- early stopping -----------------------------------------------------------

/// The epoch at which Keras's rule stops on `values` (None: it never does).
fn predicted_stop(values: &[f64], patience: usize, min_delta: f64, higher_is_better: bool) -> Option<(usize, usize)> {
    let (mut best, mut best_epoch, mut wait) = (None::<f64>, 0, 0);
    for (i, &v) in values.iter().enumerate() {
        let improved = match best {
            None => true,
            Some(b) if higher_is_better => v > b + min_delta,
            Some(b) => v < b - min_delta,
        };
        if improved {
            (best, best_epoch, wait) = (Some(v), i + 1, 0);
        } else {
            wait += 1;
            if wait >= patience {
                return Some((i + 1, best_epoch));
            }
        }
    }
    None
}

#[test]
fn early_stopping_stops_at_the_predicted_epoch_and_restores_the_best_weights() -> Result<()> {
    let full = run(&with_config(100, ""))?;
    let val: Vec<f64> = full.history.epochs.iter().map(|r| r.val_loss.expect("a validation split")).collect();
    let (stop, best) = predicted_stop(&val, 3, 0.01, false).expect("iris's val loss plateaus within 100 epochs");
    assert!(stop < 100 && best < stop);
    let stopped = run(&with_config(100, "early_stopping: {patience: 3, min_delta: 0.01}"))?;
    assert_eq!(stopped.history.stopped_early, Some(stop));
    assert_eq!(stopped.history.best_epoch, Some(best));
    assert!(stopped.history.restored_best);
    // Same seed, same epochs: the records are the full run's prefix.
    assert_eq!(stopped.history.epochs, full.history.epochs[..stop]);
    assert_eq!(stopped.history.final_record().map(|r| r.epoch), Some(best));
    // The restored weights are bit-identical to a run of `best` epochs.
    assert_eq!(bits(&stopped)?, bits(&run(&with_config(best, ""))?)?);
    // Without restore_best the weights are the stopping epoch's.
    let kept = run(&with_config(100, "early_stopping: {patience: 3, min_delta: 0.01, restore_best: false}"))?;
    assert!(!kept.history.restored_best);
    assert_eq!(bits(&kept)?, bits(&run(&with_config(stop, ""))?)?);
    Ok(())
}

#[test]
fn early_stopping_on_a_metric_maximises_it() -> Result<()> {
    let full = run(&with_config(60, ""))?;
    let acc: Vec<f64> = full.history.epochs.iter().map(|r| r.metrics["accuracy"]).collect();
    let (stop, best) = predicted_stop(&acc, 4, 0.0, true).expect("iris's accuracy plateaus within 60 epochs");
    let stopped = run(&with_config(60, "early_stopping: {monitor: accuracy, patience: 4}"))?;
    assert_eq!((stopped.history.stopped_early, stopped.history.best_epoch), (Some(stop), Some(best)));
    assert_eq!(stopped.history.final_record().map(|r| r.metrics["accuracy"]), Some(acc[best - 1]));
    Ok(())
}

#[test]
fn a_plateau_stops_after_exactly_patience_epochs() -> Result<()> {
    // lr 0: nothing changes, so epoch 1 is the best and epoch 1 + 4 stops.
    let text = with_config(50, "early_stopping: {patience: 4}").replace("config: {lr: 0.01}", "config: {lr: 0.0}");
    let trained = run(&text)?;
    assert_eq!(trained.history.stopped_early, Some(5));
    assert_eq!(trained.history.epochs.len(), 5);
    assert_eq!(trained.history.best_epoch, Some(1));
    Ok(())
}

#[test]
fn a_bad_monitor_is_named_with_did_you_mean() {
    let err = run(&with_config(5, "early_stopping: {monitor: val_los}")).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "the spec has 1 error(s):\nexamples/specs/iris.yaml:57:21: error: trainer.config.early_stopping.monitor: \
             unknown value `val_los` (did you mean `val_loss`?); expected one of val_loss, train_loss, accuracy, macro_f1"
        )
    );
}

// ---- device -----------------------------------------------------------------

#[test]
fn cpu_and_auto_train_and_cuda_is_a_clear_error() -> Result<()> {
    // Without a usable GPU (tests/cuda_training.rs covers the machines with one).
    let Err(why) = arc::tensor::cuda_device_count() else { return Ok(()) };
    let cpu = run(&with_config(2, "device: cpu"))?;
    let auto = run(&with_config(2, "device: auto"))?;
    assert_eq!(bits(&cpu)?, bits(&auto)?, "auto picks the cpu in a build without a CUDA backend");
    let err = run(&with_config(2, "device: cuda")).err().expect("no CUDA backend");
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err:?}");
    assert!(err.to_string().contains(":57:13: error: trainer.config.device: `cuda` is not available: "), "{err}");
    assert!(err.to_string().contains(&why), "the probe's reason: {err}");
    Ok(())
}

#[test]
fn the_observer_sees_every_batch_then_the_epoch() -> Result<()> {
    use arc::train::{BatchEnd, TrainObserver, TrainStart};

    #[derive(Default)]
    struct Log(Vec<String>);
    impl TrainObserver for Log {
        fn on_train_start(&mut self, s: &TrainStart) {
            self.0.push(format!(
                "start {}x{} {}+{} {}",
                s.epochs, s.batches_per_epoch, s.train_rows, s.val_rows, s.device
            ));
        }
        fn on_batch_end(&mut self, b: &BatchEnd) {
            self.0.push(format!("batch {}.{}/{}", b.epoch, b.batch, b.batches));
        }
        fn on_epoch_end(&mut self, r: &EpochRecord) {
            self.0.push(format!("epoch {}", r.epoch));
        }
    }
    let text = with_config(2, "");
    let spec = ArcSpec::from_yaml(&text, SPEC)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let mut log = Log::default();
    arc::train::train_with(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut log)?;
    // 150 rows, 20% held out: 120 training rows in batches of 16 → 8 batches.
    let mut expected = vec!["start 2x8 120+30 cpu".to_owned()];
    for epoch in 1..=2 {
        expected.extend((1..=8).map(|b| format!("batch {epoch}.{b}/8")));
        expected.push(format!("epoch {epoch}"));
    }
    assert_eq!(log.0, expected);
    Ok(())
}

// ---- checkpoints --------------------------------------------------------------

#[test]
fn checkpoints_come_every_n_epochs_and_an_observer_error_stops_training() -> Result<()> {
    use arc::train::{Checkpoint, TrainObserver};

    struct Saves(Vec<(usize, usize)>, Option<usize>);
    impl TrainObserver for Saves {
        fn on_checkpoint(&mut self, c: &Checkpoint<'_>) -> Result<()> {
            self.0.push((c.epoch, c.history.epochs.len()));
            match self.1 {
                Some(fail) if fail == c.epoch => Err(Error::ModelDir { path: "disk".into(), message: "full".into() }),
                _ => Ok(()),
            }
        }
    }
    let text = with_config(7, "checkpoint_every: 3");
    let spec = ArcSpec::from_yaml(&text, SPEC)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let mut saves = Saves(Vec::new(), None);
    arc::train::train_with(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut saves)?;
    assert_eq!(saves.0, [(3, 3), (6, 6)]);
    let mut failing = Saves(Vec::new(), Some(3));
    let err = arc::train::train_with(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut failing);
    assert_eq!(err.err().map(|e| e.to_string()).as_deref(), Some("model directory `disk`: full"));
    let zero = run(&with_config(2, "checkpoint_every: 0")).err().map(|e| e.to_string());
    assert_eq!(
        zero.as_deref(),
        Some(
            "the spec has 1 error(s):\nexamples/specs/iris.yaml:57:23: error: trainer.config.checkpoint_every must be \
             at least 1, got 0"
        )
    );
    Ok(())
}

fn arc_cli(args: &[&str], spec: Option<&str>) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_arc"));
    command.current_dir(root()).env("RUST_BACKTRACE", "1");
    if let Some(text) = spec {
        let path =
            std::env::temp_dir().join(format!("arc-features-{}-{}.yaml", std::process::id(), args.join("_").len()));
        std::fs::write(&path, text).expect("temp spec");
        command.arg("train").arg(&path).args(["--data", DATA]);
    }
    command.args(args).output().expect("arc runs")
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("arc-features-{name}-{}", std::process::id()))
}

#[test]
fn arc_train_writes_checkpoints_and_metrics_json() -> Result<()> {
    let out = out_dir("checkpoints");
    let out_arg = out.to_str().expect("utf-8");
    let run = arc_cli(&["--out", out_arg], Some(&with_config(5, "checkpoint_every: 2")));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // Not a terminal: plain lines, one per epoch, and one per checkpoint.
    assert!(stdout.contains("epoch   2/5  loss ") && stdout.contains("epoch   5/5  loss "), "{stdout}");
    let two = arc::model_dir::checkpoint_dir(&out, 2);
    assert!(stdout.contains(&format!("checkpoint written to {}", two.display())), "{stdout}");
    let names: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .expect("a checkpoints folder")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["epoch-0002", "epoch-0004"], "no temporaries beside them");
    // A checkpoint is a model directory: it loads, and its weights are those of a 4-epoch run.
    let four = arc::model_dir::load(&arc::model_dir::checkpoint_dir(&out, 4))?;
    let reference = out_dir("four-epochs");
    assert!(arc_cli(&["--out", reference.to_str().expect("utf-8")], Some(&with_config(4, ""))).status.success());
    let reference = arc::model_dir::load(&reference)?;
    let values = |l: &arc::model_dir::Loaded| -> Vec<(String, Vec<f32>)> {
        let mut v: Vec<_> = l.weights.iter().map(|(n, t)| (n.clone(), t.to_vec().expect("f32"))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(values(&four).len(), 4);
    assert_eq!(values(&four), values(&reference));
    // metrics.json holds the last record's numbers.
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).expect("history")).expect("JSON");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).expect("metrics")).expect("JSON");
    let last = &history["epochs"][4];
    assert_eq!(metrics["epoch"], 5);
    assert_eq!(metrics["split"], "validation");
    assert_eq!(metrics["val_loss"], last["val_loss"]);
    assert_eq!(metrics["metrics"], last["metrics"]);
    let _ = (std::fs::remove_dir_all(&out), std::fs::remove_dir_all(out_dir("four-epochs")));
    Ok(())
}

#[test]
fn arc_train_device_flag_overrides_the_spec() {
    // Without a usable GPU (tests/cuda_training.rs covers the machines with one).
    let Err(why) = arc::tensor::cuda_device_count() else { return };
    let out = out_dir("device");
    let out_arg = out.to_str().expect("utf-8");
    let cuda = arc_cli(&["--out", out_arg, "--device", "cuda"], Some(&with_config(2, "device: cpu")));
    assert_eq!(cuda.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    assert!(stderr.starts_with("error: --device cuda: `cuda` is not available: "), "{stderr}");
    assert!(stderr.contains(&why), "the probe's reason: {stderr}");
    assert!(!stderr.contains("backtrace") && !stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "nothing written");
    let auto = arc_cli(&["--out", out_arg, "--device", "auto"], Some(&with_config(2, "")));
    let stdout = String::from_utf8_lossy(&auto.stdout);
    assert!(auto.status.success() && stdout.contains("device auto)\ndevice auto: "), "{stdout}");
    assert!(stdout.contains("; training on the cpu\nepoch   1/2"), "{stdout}");
    let bad = arc_cli(&["--out", out_arg, "--device", "tpu"], Some(&with_config(2, "")));
    assert_eq!(bad.status.code(), Some(1), "a bad flag is a user error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown device `tpu`: expected cpu, cuda or auto"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_user_error_exits_1_with_the_message_and_no_backtrace() {
    // RUST_BACKTRACE=1 is set: a user error still prints only `error: ...`.
    let run = arc_cli(&["train", "examples/specs/missing.yaml", "--data", DATA], None);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("error: cannot read `examples/specs/missing.yaml`: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let nan = arc_cli(
        &["--out", out_dir("nan").to_str().expect("utf-8")],
        Some(&spec_text().replace("lr: 0.01", "lr: 1.0e38")),
    );
    assert_eq!(nan.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&nan.stderr);
    assert!(stderr.starts_with("error: loss is ") && stderr.contains("at epoch 1, batch 2"), "{stderr}");
}
