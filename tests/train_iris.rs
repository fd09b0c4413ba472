//! `arc train` on iris, end to end: the spec → pipeline → graph → trainer
//! path, determinism, and the model directory.

use std::path::Path;
use std::process::Command;

use arc::Result;
use arc::spec::{ArcSpec, Config};
use arc::train::{Trained, train};

#[path = "support/iris.rs"]
mod iris;

use iris::{DATA, SPEC, petal_regression_spec, root, spec_text, table};

fn run(text: &str) -> Result<Trained> {
    let spec = ArcSpec::from_yaml(text, SPEC)?;
    let trainer = spec.trainer()?.clone();
    train(&spec, &trainer, &table()?, arc::get_plugin_manager(), &mut |_| {})
}

#[test]
fn iris_reaches_93_percent_held_out_accuracy() -> Result<()> {
    let trained = run(&spec_text())?;
    let last = trained.history.last().expect("100 epochs");
    assert_eq!(trained.history.epochs.len(), 100);
    assert!(last.val_loss.is_some(), "a validation split is held out");
    assert!(last.metrics["accuracy"] >= 0.93, "validation accuracy {}", last.metrics["accuracy"]);
    assert!(last.metrics["macro_f1"] >= 0.9, "validation macro-F1 {}", last.metrics["macro_f1"]);
    assert!(last.train_loss < trained.history.epochs[0].train_loss, "the loss goes down");
    Ok(())
}

#[test]
fn two_runs_with_one_seed_give_bit_identical_weights() -> Result<()> {
    let text = spec_text().replace("epochs: 100", "epochs: 5");
    let bits = |t: &Trained| -> Result<Vec<(String, Vec<u32>)>> {
        t.model
            .named_values()
            .into_iter()
            .map(|(n, v)| Ok((n, v.to_vec()?.iter().map(|x| x.to_bits()).collect())))
            .collect()
    };
    let (a, b) = (run(&text)?, run(&text)?);
    assert_eq!(bits(&a)?, bits(&b)?);
    assert_eq!(a.history, b.history);
    let c = run(&text.replace("seed: 42", "seed: 7"))?;
    assert_ne!(bits(&a)?, bits(&c)?, "another seed gives other weights");
    Ok(())
}

#[test]
fn graph_errors_name_the_node() -> Result<()> {
    let text = spec_text();
    let err = |from: &str, to: &str| run(&text.replace(from, to)).err().map(|e| e.to_string()).unwrap_or_default();
    // Training validates first: every error is listed with its YAML line and column.
    let one = |line: &str| format!("the spec has 1 error(s):\n{SPEC}:{line}");
    assert_eq!(
        err("type: ReLU", "type: ReLu"),
        one("38:13: error: node `act`: unknown layer `ReLu` (did you mean `ReLU` or `GELU`?)")
    );
    assert_eq!(
        err("inputs: [features]", "inputs: [featurs]"),
        one("36:16: error: node `fc1`: `featurs` is not a node or a model input (did you mean `features`?)")
    );
    assert_eq!(
        err("inputs: [features]", "inputs: [fc2]"),
        one("36:15: error: model graph has a cycle: fc1 → act → fc2 → fc1")
    );
    assert_eq!(
        err("in_features: vars.n_features", "in_features: vars.n_feature"),
        one("35:29: error: node `fc1`: `vars.n_feature` is not defined by any processor step \
             (did you mean `vars.n_features`?)")
    );
    Ok(())
}

#[test]
fn a_nan_loss_stops_training_naming_epoch_and_batch() {
    // lr 1e38: the first step sends the weights to ±1e38, the logits overflow.
    let text = spec_text().replace("config: {lr: 0.01}", "config: {lr: 1.0e38}");
    let err = run(&text).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with("loss is ") && err.ends_with("at epoch 1, batch 2: training stopped"), "{err}");
}

fn arc_train(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_arc"))
        .current_dir(root())
        .args(["train", SPEC, "--data", DATA, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("arc runs")
}

#[test]
fn arc_train_writes_a_model_directory() -> Result<()> {
    let out = std::env::temp_dir().join(format!("arc-train-iris-{}", std::process::id()));
    let run = arc_train(&out, &["--epochs", "20"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("epoch  20/20  loss "), "{stdout}");
    assert!(stdout.contains("val_loss") && stdout.contains("accuracy") && stdout.contains("macro_f1"), "{stdout}");
    for file in ["spec.yaml", "model.safetensors", "processors.json", "history.json"] {
        assert!(out.join(file).is_file(), "{file} is written");
    }
    let bytes = std::fs::read(out.join("model.safetensors")).expect("weights");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    assert_eq!(st.tensor("fc1.weight").expect("fc1.weight").shape(), [16, 4]);
    assert_eq!(st.tensor("fc2.weight").expect("fc2.weight").shape(), [3, 16]);
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).expect("history")).expect("history is JSON");
    assert_eq!(history["epochs"].as_array().map(Vec::len), Some(20));
    let fitted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("processors.json")).expect("state")).expect("state is JSON");
    assert_eq!(fitted["vars"]["n_features"], 4.0);
    assert!(fitted["states"]["label"].is_object() && fitted["states"]["scaler"].is_object(), "{fitted}");
    // A second run replaces the directory whole; no temporary is left beside it.
    assert!(arc_train(&out, &["--epochs", "2"]).status.success());
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).expect("history")).expect("JSON");
    assert_eq!(history["epochs"].as_array().map(Vec::len), Some(2));
    let parent = out.parent().expect("a temp dir");
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    let leftovers = std::fs::read_dir(parent)
        .expect("temp dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!(".{name}.")))
        .count();
    assert_eq!(leftovers, 0);
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}

#[test]
fn user_errors_exit_1_with_a_message() {
    let out = std::env::temp_dir().join(format!("arc-train-missing-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_arc"))
        .current_dir(root())
        .args(["train", SPEC, "--data", "examples/data/nope.csv", "--out"])
        .arg(&out)
        .output()
        .expect("arc runs");
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("nope.csv"), "{stderr}");
    assert!(!stderr.contains("backtrace") && !out.exists());
}

#[test]
fn predict_decodes_labels_from_the_saved_model() -> Result<()> {
    let out = std::env::temp_dir().join(format!("arc-predict-iris-{}", std::process::id()));
    assert!(arc_train(&out, &[]).status.success());
    // Rows without the target column: the label encoder is train-only.
    let rows = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.3,3.3,6.0,2.5\n";
    let data = out.with_extension("csv");
    std::fs::write(&data, rows).expect("temp csv");
    let run = Command::new(env!("CARGO_BIN_EXE_arc"))
        .arg("predict")
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .output()
        .expect("arc runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "species,p_setosa,p_versicolor,p_virginica");
    assert!(lines[1].starts_with("setosa,") && lines[2].starts_with("virginica,"), "{stdout}");
    // The library path agrees, and the probabilities of a row sum to 1 (to 1e-5).
    let loaded = arc::model_dir::load(&out)?;
    let table =
        arc::get_plugin_manager().get_data_source("csv")?.create(&Config::new())?.load(&data.display().to_string())?;
    let prediction = arc::train::predict(&loaded, &table, arc::get_plugin_manager())?;
    let sum: f64 = prediction.columns[1..].iter().map(|(_, v)| v[0].parse::<f64>().expect("a number")).sum();
    assert!((sum - 1.0).abs() < 1e-5, "{sum}");
    let _ = (std::fs::remove_dir_all(&out), std::fs::remove_file(&data));
    Ok(())
}

#[test]
fn validate_checks_a_spec_and_builds_its_model() {
    let ok = Command::new(env!("CARGO_BIN_EXE_arc"))
        .current_dir(root())
        .args(["validate", SPEC, "--data", DATA])
        .output()
        .expect("arc runs");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && stdout.contains("model: 3 nodes (fc1 → act → fc2), 131 parameters"), "{stdout}");
    let bad = std::env::temp_dir().join(format!("arc-validate-{}.yaml", std::process::id()));
    std::fs::write(&bad, spec_text().replace("type: ReLU", "type: ReLUU")).expect("temp spec");
    let run = Command::new(env!("CARGO_BIN_EXE_arc")).arg("validate").arg(&bad).output().expect("arc runs");
    assert_eq!(run.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let line =
        format!("{}:38:13: error: node `act`: unknown layer `ReLUU` (did you mean `ReLU` or `GELU`?)", bad.display());
    assert!(stdout.starts_with(&line), "{stdout}");
    let _ = std::fs::remove_file(&bad);
}

#[test]
fn nodes_run_in_topological_order_with_named_refs() -> Result<()> {
    use std::collections::BTreeMap;

    use arc::Tensor;
    use arc::graph::{GraphModel, ModelSpec};

    // Declared out of order: `out` reads `act.output`, `act` reads `fc`.
    let yaml = "inputs: {x: [null, vars.n]}\n\
                graph:\n\
                - {name: out, type: Tanh, inputs: act.output}\n\
                - {name: act, type: ReLU, inputs: fc}\n\
                - {name: fc, type: Linear, params: {in_features: vars.n, out_features: 2}, inputs: x}\n\
                outputs: {y: out, hidden: fc.output}";
    let spec = ModelSpec::from_config(&Config::from_yaml(yaml)?)?;
    let vars = BTreeMap::from([("n".to_owned(), 3.0)]);
    let model = GraphModel::build(&spec, &vars, arc::get_plugin_manager())?;
    assert_eq!(model.node_names(), ["fc", "act", "out"]);
    let names: Vec<String> = model.named_values().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["fc.weight", "fc.bias"]);
    let x = Tensor::from_vec(vec![1.0, -2.0, 0.5, 0.0, 1.0, -1.0], &[2, 3])?;
    let out = model.forward(&BTreeMap::from([("x".to_owned(), x.clone())]))?;
    // y = tanh(relu(x Wᵀ + b)), exactly the composed ops.
    let values = model.named_values();
    let hidden = x.linear(&values[0].1, Some(&values[1].1))?;
    assert_eq!(out["hidden"].to_vec()?, hidden.to_vec()?);
    assert_eq!(out["y"].to_vec()?, hidden.relu()?.tanh()?.to_vec()?);
    let err = model.forward(&BTreeMap::from([("x".to_owned(), Tensor::from_vec(vec![1.0; 4], &[2, 2])?)])).unwrap_err();
    assert_eq!(err.to_string(), "spec: model input `x`: expected shape [null, 3], got [2, 2]");
    Ok(())
}

#[test]
fn regression_records_mse_mae_and_r2() -> Result<()> {
    // Petal width from the other three measurements: a float target gives
    // the regression metrics; a linear fit explains most of the variance.
    let text = petal_regression_spec("{epochs: 60, batch_size: 16, learning_rate: 0.05, seed: 3}");
    let trained = run(&text)?;
    assert_eq!(trained.history.task, Some(arc::train::Task::Regression));
    let last = trained.history.last().expect("60 epochs");
    assert_eq!(last.metrics.keys().collect::<Vec<_>>(), ["mae", "mse", "r2"]);
    // The recorded MSE is the validation loss (MSELoss is the mean squared error), to f32 rounding.
    let val_loss = last.val_loss.expect("a validation split");
    assert!((last.metrics["mse"] - val_loss).abs() <= 1e-5 * val_loss.max(1e-6) + 1e-6, "{last:?}");
    assert!(last.metrics["r2"] > 0.85, "{last:?}");
    Ok(())
}

#[test]
fn an_input_dtype_is_parsed_and_checked() -> Result<()> {
    let text = spec_text()
        .replace("features: [null, vars.n_features]", "features: {dtype: float32, shape: [null, vars.n_features]}");
    let trained = run(&text.replace("epochs: 100", "epochs: 2"))?;
    assert_eq!(trained.history.epochs.len(), 2);
    let err = run(&text.replace("dtype: float32", "dtype: int64")).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains(
            "iris.yaml:31:15: error: model input `features`: declared int64, but `tensors.features` holds float32"
        ),
        "{err}"
    );
    let err = run(&text.replace("dtype: float32", "dtype: complex")).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.starts_with(
            "examples/specs/iris.yaml:31:15: model.inputs.features: unknown variant `complex`, expected one of"
        ),
        "{err}"
    );
    Ok(())
}

#[test]
fn predictor_returns_and_outputs_pick_and_name_the_columns() -> Result<()> {
    // Two model outputs: the logits and the hidden layer.
    let base =
        spec_text().replace("epochs: 100", "epochs: 3").replace("    logits: fc2", "    logits: fc2\n    hidden: act");
    let columns = |predictor: &str| -> Result<Vec<String>> {
        let text = base
            .replace("predictor:\n  outputs: {species: model.logits}\n  decode: {species: states.label}", predictor);
        let trained = run(&text)?;
        let dir = std::env::temp_dir().join(format!("arc-returns-{}-{}", std::process::id(), predictor.len()));
        arc::model_dir::save(&dir, &text, &trained.model.named_state(), &trained.fitted, &trained.history)?;
        let loaded = arc::model_dir::load(&dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        let prediction = arc::train::predict(&loaded, &table()?, arc::get_plugin_manager())?;
        Ok(prediction.columns.into_iter().map(|(n, _)| n).collect())
    };
    let classes = ["p_setosa", "p_versicolor", "p_virginica"];
    assert_eq!(columns("predictor: {returns: [logits]}")?, [&["species"][..], &classes].concat());
    assert_eq!(columns("predictor: {returns: [model.hidden]}")?.len(), 16);
    assert_eq!(columns("predictor: {outputs: {kind: model.logits}}")?, [&["kind"][..], &classes].concat());
    let all = columns("predictor: {}")?;
    assert_eq!(all.len(), 16 + 4, "{all:?}");
    // Every output, in the order the spec writes them: `logits`, then `hidden`.
    assert_eq!((all[0].as_str(), all[4].as_str(), all[19].as_str()), ("species", "hidden_0", "hidden_15"));
    Ok(())
}

/// `--out` naming a directory Arc did not write (or a file) is refused
/// before training, exit code 1, and what is there stays as it was.
#[test]
fn arc_train_never_replaces_what_it_did_not_write() {
    let dir = std::env::temp_dir().join(format!("arc-train-foreign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("checkpoints")).expect("dir");
    std::fs::write(dir.join("notes.txt"), "mine").expect("write");
    std::fs::write(dir.join("checkpoints/mine.txt"), "mine too").expect("write");
    let run = arc_train(&dir, &["--epochs", "1"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("was not written by arc; not replaced"), "{stderr}");
    assert!(!String::from_utf8_lossy(&run.stdout).contains("training `"), "refused before training");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).ok().as_deref(), Some("mine"));
    assert_eq!(std::fs::read_to_string(dir.join("checkpoints/mine.txt")).ok().as_deref(), Some("mine too"));
    let _ = std::fs::remove_dir_all(&dir);
}
