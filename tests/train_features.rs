//! Trainer features through the facade: gradient clipping against PyTorch,
//! early stopping, the device choice and checkpoints.

use std::path::PathBuf;

use arc::Result;
use arc::data::Table;
use arc::nn::Param;
use arc::spec::{ArcSpec, Config, TrainerSpec};
use arc::train::{EpochRecord, Trained, train};
use arc::{Error, Tensor};

const SPEC: &str = "examples/specs/iris.yaml";
const DATA: &str = "examples/data/iris.csv";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec_text() -> String {
    std::fs::read_to_string(root().join(SPEC)).expect("the iris spec is committed")
}

fn table() -> Result<Table> {
    let pm = arc::get_plugin_manager();
    pm.get_data_source("csv")?.create(&Config::new())?.load(&root().join(DATA).display().to_string())
}

/// The iris spec with `extra` appended to `trainer.config` (indented under it).
fn with_config(epochs: usize, extra: &str) -> String {
    let mut text = spec_text().replace("epochs: 100", &format!("epochs: {epochs}"));
    for line in extra.lines() {
        text = text.replace("    seed: 42\n", &format!("    seed: 42\n    {line}\n"));
    }
    text
}

fn run(text: &str) -> Result<Trained> {
    let spec = ArcSpec::from_yaml(text, SPEC)?;
    let trainer = TrainerSpec::from_config(spec.trainer.as_ref().expect("a trainer section"))?;
    train(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut |_| {})
}

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
        for (p, want) in params.iter().zip(case["grads"].as_array().expect("grads")) {
            let got = p.grad().expect("a gradient").to_vec()?;
            for (g, w) in got.iter().zip(floats(want)) {
                // f32 rounding of the norm and the coefficient: a few ulps.
                assert!((g - w).abs() <= 1e-6 * w.abs().max(1e-3), "{case}: {got:?} vs {want}");
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
            "trainer.config.early_stopping.monitor: unknown value `val_los` (did you mean `val_loss`?); \
             expected one of val_loss, train_loss, accuracy, macro_f1"
        )
    );
}

// ---- device -----------------------------------------------------------------

#[test]
fn cpu_and_auto_train_and_cuda_is_a_clear_error() -> Result<()> {
    let cpu = run(&with_config(2, "device: cpu"))?;
    let auto = run(&with_config(2, "device: auto"))?;
    assert_eq!(bits(&cpu)?, bits(&auto)?, "auto picks the cpu in a build without a CUDA backend");
    let err = run(&with_config(2, "device: cuda")).err().expect("no CUDA backend");
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err:?}");
    assert!(err.to_string().starts_with("trainer.config.device: `cuda` is not available: this build"), "{err}");
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
    let trainer = TrainerSpec::from_config(spec.trainer.as_ref().expect("a trainer section"))?;
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
