//! Batch norm's running statistics are model state: `arc train` saves them
//! with the weights (under PyTorch's buffer names) and every loader puts
//! them back, so an eval-mode model read from its directory computes what
//! the trained model computed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arc::graph::GraphModel;
use arc::spec::{ArcSpec, Config};
use arc::{DType, Result, Tensor};

const SPEC: &str = "tests/fixtures/specs/iris_bn.yaml";
const DATA: &str = "examples/data/iris.csv";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn logits(model: &GraphModel, x: &Tensor) -> Result<Vec<f32>> {
    let _guard = arc::tensor::no_grad();
    let inputs = BTreeMap::from([("features".to_owned(), x.clone())]);
    model.forward(&inputs)?["logits"].to_vec()
}

#[test]
fn running_statistics_are_saved_and_loaded_back() -> Result<()> {
    let text =
        std::fs::read_to_string(root().join(SPEC)).expect("the fixture spec").replace("epochs: 100", "epochs: 5");
    let spec = ArcSpec::from_yaml(&text, SPEC)?;
    let pm = arc::get_plugin_manager();
    let table = pm.get_data_source("csv")?.create(&Config::new())?.load(&root().join(DATA).display().to_string())?;
    let trained = arc::train::train(&spec, spec.trainer()?, &table, pm, &mut |_| {})?;

    let dir = std::env::temp_dir().join(format!("arc-bn-state-{}", std::process::id()));
    arc::model_dir::save(&dir, &text, &trained.model.named_state(), &trained.fitted, &trained.history)?;
    let loaded = arc::model_dir::load(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);

    let saved: BTreeMap<&str, &Tensor> = loaded.weights.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, value) in trained.model.named_buffers() {
        let file = saved.get(name.as_str()).unwrap_or_else(|| panic!("`{name}` is saved"));
        assert_eq!(file.dtype(), value.dtype(), "{name}");
        assert_eq!(file.shape(), value.shape(), "{name}");
    }
    // 5 epochs of 120 training rows in batches of 16: 8 batches an epoch.
    assert_eq!(saved["bn.num_batches_tracked"].dtype(), DType::I64);
    assert_eq!(saved["bn.num_batches_tracked"].item_i64()?, 40);
    let mean = saved["bn.running_mean"].to_vec()?;
    assert!(mean.iter().any(|m| *m != 0.0), "the running mean moved from its initial zeros: {mean:?}");
    assert_eq!(mean, trained.model.named_buffers()[0].1.to_vec()?);

    // A fresh model with the saved state computes the trained model's logits.
    let x = Tensor::from_vec((0..12).map(|i| (i as f32 - 6.0) / 4.0).collect(), &[3, 4])?;
    let mut fresh = GraphModel::build(&spec.model, &trained.fitted.vars, pm)?;
    fresh.set_training(false);
    fresh.load_state(&loaded.weights)?;
    assert_eq!(logits(&fresh, &x)?, logits(&trained.model, &x)?);

    // Without the buffers (parameters only) the answer differs: they matter.
    let mut params_only = GraphModel::build(&spec.model, &trained.fitted.vars, pm)?;
    params_only.set_training(false);
    params_only.load_state(&trained.model.named_values())?;
    assert_ne!(logits(&params_only, &x)?, logits(&trained.model, &x)?);

    // A buffer of the wrong shape is an error naming it and the weights file.
    let mut bad = loaded.weights.clone();
    for (name, t) in &mut bad {
        if name == "bn.running_var" {
            *t = Tensor::ones(&[3]);
        }
    }
    let err = fresh.load_state(&bad).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("bn.running_var"), "{err}");
    Ok(())
}
