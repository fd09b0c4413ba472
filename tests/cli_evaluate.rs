//! `arc evaluate` on the built binary: the same accuracy and loss as
//! computed independently from `arc predict`'s output, JSON output, and
//! user errors (an unknown target label, a missing target column).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

#[path = "support/iris.rs"]
mod iris;

use iris::{DATA, SPEC, petal_regression_spec, root, table};

fn arc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arc")).current_dir(root()).args(args).output().expect("arc runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One iris model for every test in this file (30 epochs).
fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("arc-cli-evaluate-{}", std::process::id()));
        let run = arc(&["train", SPEC, "--data", DATA, "--epochs", "30", "--out", dir.to_str().expect("utf-8")]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        dir
    })
}

/// A CSV file in the temp dir holding `contents`.
fn temp_csv(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("arc-cli-evaluate-{}-{name}.csv", std::process::id()));
    std::fs::write(&path, contents).expect("temp csv");
    path
}

#[test]
fn evaluate_agrees_with_predictions_scored_independently() {
    let dir = model_dir().to_str().expect("utf-8");
    let predicted = arc(&["predict", dir, "--data", DATA]);
    assert!(predicted.status.success(), "{}", text(&predicted.stderr));
    let truth: Vec<String> = std::fs::read_to_string(root().join(DATA))
        .expect("iris")
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().expect("a species").to_owned())
        .collect();
    let stdout = text(&predicted.stdout);
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    assert_eq!(header, ["species", "p_setosa", "p_versicolor", "p_virginica"]);
    let (mut correct, mut nll) = (0usize, 0.0f64);
    for (line, truth) in lines.zip(&truth) {
        let cells: Vec<&str> = line.split(',').collect();
        correct += usize::from(cells[0] == truth);
        // Cross-entropy of a row: -ln p(true class), from the softmax probabilities.
        let column = header.iter().position(|h| *h == format!("p_{truth}")).expect("a probability column");
        nll -= cells[column].parse::<f64>().expect("a probability").ln();
    }
    let run = arc(&["evaluate", dir, "--data", DATA, "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("--json prints JSON");
    assert_eq!(doc["model"], "iris");
    assert_eq!(doc["rows"], 150);
    assert_eq!(doc["task"], "multiclass");
    assert_eq!(doc["loss_type"], "CrossEntropyLoss");
    assert_eq!(doc["metrics"]["accuracy"].as_f64(), Some(correct as f64 / 150.0));
    assert!(correct >= 135, "a trained model gets most of iris right: {correct}/150");
    let loss = doc["loss"].as_f64().expect("a loss");
    assert!((loss - nll / 150.0).abs() < 1e-5, "evaluate {loss} vs from predictions {}", nll / 150.0);
    let f1 = doc["metrics"]["macro_f1"].as_f64().expect("macro_f1");
    assert!(f1 > 0.0 && f1 <= 1.0);
}

#[test]
fn evaluate_prints_a_table_by_default() {
    let run = arc(&["evaluate", model_dir().to_str().expect("utf-8"), "--data", DATA]);
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("`iris` on 150 rows of {DATA}"));
    assert!(lines[1].starts_with("loss (CrossEntropyLoss)  "), "{stdout}");
    assert!(lines[2].starts_with("accuracy                 0."), "{stdout}");
    assert!(lines[3].starts_with("macro_f1                 0."), "{stdout}");
    assert_eq!(lines.len(), 4);
}

#[test]
fn an_unknown_target_label_is_a_user_error_naming_row_column_and_label() {
    let iris = std::fs::read_to_string(root().join(DATA)).expect("iris");
    // Data row 3 (line 4) gets a label training never saw.
    let mut lines: Vec<String> = iris.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replace("setosa", "setosaa");
    let data = temp_csv("unknown-label", &(lines.join("\n") + "\n"));
    let run = arc(&["evaluate", model_dir().to_str().expect("utf-8"), "--data", data.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert_eq!(
        stderr.lines().next(),
        Some(
            "error: step `label` (`LabelEncoding`): column `species`, row 3: unknown label `setosaa` (did you mean `setosa`?)"
        )
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert!(run.stdout.is_empty());
    let _ = std::fs::remove_file(&data);
}

#[test]
fn a_missing_target_column_is_a_user_error() {
    let rows = "sepal_length,sepal_width,petal_length,petal_width,specie\n5.1,3.5,1.4,0.2,setosa\n";
    let data = temp_csv("no-target", rows);
    let run = arc(&["evaluate", model_dir().to_str().expect("utf-8"), "--data", data.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(text(&run.stderr), format!("error: {}: no column `species` (did you mean `specie`?)\n", data.display()));
    let _ = std::fs::remove_file(&data);
}

#[test]
fn a_missing_model_directory_is_a_user_error() {
    let run = arc(&["evaluate", "target/no-such-model-dir", "--data", DATA]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.starts_with("error: model directory `target/no-such-model-dir`: no such directory"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn a_regression_model_evaluates_to_the_trainers_own_mse_mae_and_r2() -> arc::Result<()> {
    use arc::spec::ArcSpec;

    // Petal width from the other measurements (the float target of train_iris.rs).
    let text =
        petal_regression_spec("{epochs: 20, batch_size: 16, learning_rate: 0.05, seed: 3, validation_split: 0.0}");
    let pm = arc::get_plugin_manager();
    let table = table()?;
    let spec = ArcSpec::from_yaml(&text, "petal.yaml")?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let trained = arc::train::train(&spec, &trainer, &table, pm, &mut |_| {})?;
    let dir = std::env::temp_dir().join(format!("arc-cli-evaluate-petal-{}", std::process::id()));
    arc::model_dir::save(&dir, &text, &trained.model.named_state(), &trained.fitted, &trained.history)?;
    let loaded = arc::model_dir::load(&dir)?;
    let evaluation = arc::train::evaluate(&loaded, &table, pm)?;
    assert_eq!(evaluation.task, arc::train::Task::Regression);
    // Without a validation split the trainer scores its last epoch on every
    // row (fit-mode pipeline, in-memory model); evaluate reloads the directory
    // and runs the pipeline in transform mode with the saved state.
    let expected = &trained.history.last().expect("20 epochs").metrics;
    assert_eq!(expected.keys().collect::<Vec<_>>(), ["mae", "mse", "r2"]);
    for name in ["mse", "mae", "r2"] {
        assert!((evaluation.metrics[name] - expected[name]).abs() < 1e-9, "{name}: {evaluation:?} vs {expected:?}");
    }
    // MSELoss with reduction mean is the MSE, to f32 rounding.
    assert!((evaluation.loss - expected["mse"]).abs() < 1e-5 * expected["mse"], "{evaluation:?}");
    assert_eq!(evaluation.rows, 150);
    // `arc predict` gives the raw values (nothing to decode); their MSE
    // against the column is evaluate's (the CSV holds them to f32 precision).
    let predicted = arc::train::predict(&loaded, &table, pm)?;
    assert_eq!(predicted.columns.len(), 1, "{:?}", predicted.columns.iter().map(|c| &c.0).collect::<Vec<_>>());
    assert_eq!(predicted.columns[0].0, "fc");
    let truth = table.to_tensor(&["petal_width"])?.to_vec()?;
    let values: Vec<f64> = predicted.columns[0].1.iter().map(|v| v.parse::<f64>().expect("a number")).collect();
    let mse = values.iter().zip(&truth).map(|(p, t)| (p - f64::from(*t)).powi(2)).sum::<f64>() / 150.0;
    assert!((mse - evaluation.metrics["mse"]).abs() < 1e-5, "{mse} vs {evaluation:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn the_regression_example_predicts_and_evaluates_through_the_cli() {
    // Its target step reads `columns: target_columns` (the list's name).
    let dir = std::env::temp_dir().join(format!("arc-cli-evaluate-alcohol-{}", std::process::id()));
    let (spec, data) = ("examples/specs/wine_alcohol.yaml", "examples/data/wine_alcohol.csv");
    let out = dir.to_str().expect("utf-8");
    let run = arc(&["train", spec, "--data", data, "--epochs", "3", "--out", out]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let run = arc(&["evaluate", out, "--data", data, "--json"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!((json["task"].as_str(), json["rows"].as_u64()), (Some("regression"), Some(178)));
    let mse = json["metrics"]["mse"].as_f64().expect("mse");
    let run = arc(&["predict", out, "--data", data]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let csv = text(&run.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("alcohol"));
    let truth = std::fs::read_to_string(root().join(data)).expect("data");
    let alcohol = truth.lines().skip(1).map(|l| l.rsplit(',').next().expect("a cell").trim().parse::<f64>());
    let predicted = lines.map(|l| l.parse::<f64>());
    let (mut sum, mut n) = (0.0, 0);
    for (p, t) in predicted.zip(alcohol) {
        sum += (p.expect("a number") - t.expect("a number")).powi(2);
        n += 1;
    }
    assert_eq!(n, 178);
    assert!((sum / 178.0 - mse).abs() < 1e-4 * mse.max(1.0), "{} vs {mse}", sum / 178.0);
    let _ = std::fs::remove_dir_all(&dir);
}
