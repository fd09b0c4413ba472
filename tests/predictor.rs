//! `arc::Predictor` end to end: a model trained on iris and saved, loaded
//! back, against `arc::train::predict` (the batch path `arc predict` runs)
//! for every row; threads; load errors naming the file; bad rows; the JSON
//! lines loop of `examples/embed_predict.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc::Predictor;
use arc::data::{Column, ColumnValues, Table};
use arc::predictor::{Row, Value, serve_json_lines};
use arc::spec::{ArcSpec, Config};
use arc::{Error, Result};

const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn iris() -> Result<Table> {
    let pm = arc::get_plugin_manager();
    pm.get_data_source("csv")?
        .create(&Config::new())?
        .load(&root().join("examples/data/iris.csv").display().to_string())
}

fn iris_spec(epochs: usize) -> String {
    std::fs::read_to_string(root().join("examples/specs/iris.yaml"))
        .expect("the iris spec is committed")
        .replace("epochs: 100", &format!("epochs: {epochs}"))
}

/// Trains `spec_text` on `table` and saves the model directory under a
/// fresh temporary path named after `tag`.
fn train_and_save(spec_text: &str, table: &Table, tag: &str) -> Result<PathBuf> {
    let spec = ArcSpec::from_yaml(spec_text, "spec.yaml")?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let trained = arc::train::train(&spec, &trainer, table, arc::get_plugin_manager(), &mut |_| {})?;
    let dir = std::env::temp_dir().join(format!("arc-predictor-{tag}-{}", std::process::id()));
    arc::model_dir::save(&dir, spec_text, &trained.model.named_values(), &trained.fitted, &trained.history)?;
    Ok(dir)
}

/// Row `i` of `table` as named cells.
fn cells(table: &Table, i: usize) -> Vec<(&str, Value<'_>)> {
    table
        .columns()
        .iter()
        .map(|c| {
            let v = match &c.values {
                ColumnValues::Numeric(v) => Value::Number(v[i]),
                ColumnValues::Text(v) => v[i].as_deref().map_or(Value::Missing, Value::Text),
            };
            (c.name.as_str(), v)
        })
        .collect()
}

/// Every row of `table` through the predictor equals `arc::train::predict`
/// on the whole table: the same label, probabilities within 1e-6.
fn check_against_batch_predict(dir: &Path, table: &Table, predictor: &Predictor) -> Result<()> {
    check_against_batch_predict_within(dir, table, predictor, "species", 1e-6)
}

/// [`check_against_batch_predict`] for the label column `label` and probabilities within `tolerance`.
fn check_against_batch_predict_within(
    dir: &Path,
    table: &Table,
    predictor: &Predictor,
    label: &str,
    tolerance: f32,
) -> Result<()> {
    let loaded = arc::model_dir::load(dir)?;
    let reference = arc::train::predict(&loaded, table, arc::get_plugin_manager())?;
    let (label_column, labels) = &reference.columns[0];
    assert_eq!(label_column, label);
    for i in 0..table.num_rows() {
        let row = cells(table, i);
        let out = predictor.predict_row(&row[..])?;
        assert_eq!(out.label.as_deref(), Some(labels[i].as_str()), "row {i}");
        assert_eq!(out.values.len(), reference.columns.len() - 1);
        for (c, (name, probs)) in reference.columns[1..].iter().enumerate() {
            assert_eq!(name, &format!("p_{}", predictor.classes()[c]));
            let want: f32 = probs[i].parse().expect("a probability");
            assert!((out.values[c] - want).abs() <= tolerance, "row {i}, {name}: {} vs {want}", out.values[c]);
        }
    }
    Ok(())
}

fn numbers(table: &Table, i: usize) -> Result<Vec<f32>> {
    FEATURES.iter().map(|c| Ok(table.numeric(c)?[i] as f32)).collect()
}

#[test]
fn the_compiled_path_matches_arc_predict_on_every_iris_row() -> Result<()> {
    let table = iris()?;
    let dir = train_and_save(&iris_spec(30), &table, "fast")?;
    let predictor = Predictor::load(&dir)?;
    assert!(predictor.is_allocation_free(), "an MLP with scaled features compiles");
    assert_eq!(predictor.input_columns(), FEATURES);
    let classes: Vec<&str> = predictor.classes().iter().map(|c| &**c).collect();
    assert_eq!(classes, ["setosa", "versicolor", "virginica"]);
    check_against_batch_predict(&dir, &table, &predictor)?;

    // The feature-slice forms and the batch give the same answers as named rows.
    let rows: Vec<Vec<f32>> = (0..table.num_rows()).map(|i| numbers(&table, i)).collect::<Result<_>>()?;
    let batch: Vec<Row<'_>> = rows.iter().map(|r| Row::from(&r[..])).collect();
    let outputs = predictor.predict_batch(&batch);
    let mut out = vec![0.0; predictor.output_len()];
    for (i, answer) in outputs.into_iter().enumerate() {
        let answer = answer?;
        let named = predictor.predict_row(&cells(&table, i)[..])?;
        assert_eq!(answer, named, "row {i}");
        let class = predictor.predict_row_into(&rows[i], &mut out)?;
        assert_eq!(class, named.class_index);
        assert_eq!(out, named.values);
    }
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// A third-party plugin's layers (the example plugin's RMSNorm, SwiGLU and
/// tanh-GELU, with their `Layer::row_op` kernels) compile like the built-ins.
#[cfg(feature = "example-plugin")]
#[test]
fn a_model_of_plugin_layers_predicts_allocation_free_like_arc_predict() -> Result<()> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/specs/wine_plugin.yaml")).expect("committed");
    let table = arc::get_plugin_manager()
        .get_data_source("csv")?
        .create(&Config::new())?
        .load(&root().join("examples/data/wine.csv").display().to_string())?;
    let dir = train_and_save(&text.replace("epochs: 30", "epochs: 5"), &table, "plugin")?;
    let predictor = Predictor::load(&dir)?;
    assert!(predictor.is_allocation_free(), "the plugin's layers give row kernels");
    check_against_batch_predict_within(&dir, &table, &predictor, "class", 1e-5)?;
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn a_model_without_kernels_runs_the_generic_path_with_the_same_answers() -> Result<()> {
    // BatchNorm1d has no compiled kernel: the Tensor path runs it.
    let text = iris_spec(10).replace(
        "    - name: act\n      type: ReLU",
        "    - name: bn\n      type: BatchNorm1d\n      params: {num_features: 16}\n    - name: act\n      type: ReLU",
    );
    assert!(text.contains("BatchNorm1d"));
    let table = iris()?;
    let dir = train_and_save(&text, &table, "generic")?;
    let predictor = Predictor::load(&dir)?;
    assert!(!predictor.is_allocation_free());
    check_against_batch_predict(&dir, &table, &predictor)?;
    let row = numbers(&table, 0)?;
    let mut out = vec![0.0; 3];
    let class = predictor.predict_row_into(&row, &mut out)?;
    assert_eq!(Some(out.clone()), predictor.predict_row(&row[..]).map(|o| o.values).ok());
    assert!(class.is_some());
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn one_predictor_serves_threads() -> Result<()> {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Predictor>();
    let table = iris()?;
    let dir = train_and_save(&iris_spec(5), &table, "threads")?;
    let predictor = Arc::new(Predictor::load(&dir)?);
    let rows: Arc<Vec<Vec<f32>>> = Arc::new((0..table.num_rows()).map(|i| numbers(&table, i)).collect::<Result<_>>()?);
    let run = |p: Arc<Predictor>, rows: Arc<Vec<Vec<f32>>>| {
        std::thread::spawn(move || {
            let mut out = vec![0.0; p.output_len()];
            let mut all = Vec::new();
            for _ in 0..20 {
                for r in rows.iter() {
                    p.predict_row_into(r, &mut out).expect("a good row");
                    all.push(out.clone());
                }
            }
            all
        })
    };
    // The reference: each row alone on this thread, before any other thread runs
    // (itself checked against `arc predict`'s batch path in the tests above).
    let alone: Vec<Vec<f32>> =
        rows.iter().map(|r| predictor.predict_row(&r[..]).map(|o| o.values)).collect::<Result<_>>()?;
    let want: Vec<Vec<f32>> = (0..20).flat_map(|_| alone.iter().cloned()).collect();
    let a = run(predictor.clone(), rows.clone());
    let b = run(predictor.clone(), rows.clone());
    let (a, b) = (a.join().expect("thread a"), b.join().expect("thread b"));
    assert_eq!(a.len(), 20 * table.num_rows());
    assert_eq!(a, want, "thread a answers as one row alone does");
    assert_eq!(b, want, "thread b answers as one row alone does");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// A copy of the model directory `dir` at `tag`, with `edit` applied.
fn edited(dir: &Path, tag: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let copy = std::env::temp_dir().join(format!("arc-predictor-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&copy).expect("a temp dir");
    for file in ["spec.yaml", "model.safetensors", "processors.json", "history.json"] {
        std::fs::copy(dir.join(file), copy.join(file)).expect("copy");
    }
    edit(&copy);
    copy
}

fn load_error(dir: &Path) -> String {
    let err = Predictor::load(dir).err().map(|e| e.to_string()).unwrap_or_else(|| "loaded".into());
    std::fs::remove_dir_all(dir).ok();
    err
}

#[test]
fn load_errors_name_the_file_at_fault() -> Result<()> {
    let dir = train_and_save(&iris_spec(2), &iris()?, "load-errors")?;
    let weights = |d: &Path| d.join("model.safetensors").display().to_string();

    let err = load_error(&edited(&dir, "no-weights", |d| std::fs::remove_file(d.join("model.safetensors")).unwrap()));
    assert!(err.contains("model.safetensors"), "{err}");

    let err = load_error(&edited(&dir, "corrupt", |d| {
        let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
        std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    }));
    assert!(err.contains("model.safetensors"), "{err}");

    let copy = edited(&dir, "shape", |d| {
        let mut loaded = arc::model_dir::load(d).unwrap();
        let w = loaded.weights.iter_mut().find(|(n, _)| n == "fc1.weight").unwrap();
        w.1 = arc::Tensor::from_vec(vec![0.5; 48], &[16, 3]).unwrap();
        std::fs::write(d.join("model.safetensors"), arc::model_dir::weights_to_safetensors(&loaded.weights).unwrap())
            .unwrap();
    });
    let path = weights(&copy);
    assert_eq!(load_error(&copy), format!("{path}: `fc1.weight` has shape [16, 3], the model wants [16, 4]"));

    let copy = edited(&dir, "extra", |d| {
        let mut loaded = arc::model_dir::load(d).unwrap();
        loaded.weights.push(("fc3.weight".into(), arc::Tensor::from_vec(vec![1.0], &[1]).unwrap()));
        std::fs::write(d.join("model.safetensors"), arc::model_dir::weights_to_safetensors(&loaded.weights).unwrap())
            .unwrap();
    });
    let path = weights(&copy);
    assert_eq!(load_error(&copy), format!("{path}: `fc3.weight` is not a parameter of the model"));

    let copy = edited(&dir, "no-state", |d| {
        let text = std::fs::read_to_string(d.join("processors.json")).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["states"].as_object_mut().unwrap().remove("scaler");
        std::fs::write(d.join("processors.json"), json.to_string()).unwrap();
    });
    let path = copy.join("processors.json").display().to_string();
    assert_eq!(load_error(&copy), format!("{path}: step `scale`: no saved state `states.scaler`"));

    let err = load_error(&edited(&dir, "bad-spec", |d| {
        let text = std::fs::read_to_string(d.join("spec.yaml")).unwrap();
        std::fs::write(d.join("spec.yaml"), text.replace("type: ReLU", "type: ReLu")).unwrap();
    }));
    assert!(err.contains("spec.yaml") && err.contains("unknown layer"), "{err}");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// Iris plus a text column `color` (one-hot, unknown categories are errors),
/// joined to the scaled measurements by a Concatenate node.
const COLOR_SPEC: &str = "\
model_name: iris_color
features:
  feature_columns: [sepal_length, sepal_width, petal_length, petal_width]
  target_columns: [species]
  processors:
    - {name: assemble, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.raw: output}}
    - {name: scale, op: MinMaxNormalization, inputs: {x: tensors.raw}, outputs: {tensors.features: output}}
    - {name: onehot, op: CategoricalEncoding, inputs: {columns: [color]}, outputs: {tensors.color: output}}
    - {name: label, op: LabelEncoding, train_only: true, inputs: {column: species}, outputs: {tensors.species: output}}
model:
  inputs:
    features: [null, 4]
    color: [null, 3]
  graph:
    - {name: join, type: Concatenate, inputs: [features, color]}
    - {name: fc1, type: Linear, params: {in_features: 7, out_features: 8}}
    - {name: act, type: Tanh}
    - {name: fc2, type: Linear, params: {in_features: 8, out_features: 3}}
  outputs: {logits: fc2}
trainer:
  optimizer: {type: Adam, config: {lr: 0.01}}
  loss: {type: CrossEntropyLoss, inputs: {pred: model.logits, target: target_columns.species}}
  config: {epochs: 5, batch_size: 16, validation_split: 0.0, seed: 1}
";

fn iris_with_color() -> Result<Table> {
    let mut table = iris()?;
    let colors = ["red", "green", "blue"];
    let values = (0..table.num_rows()).map(|i| Some(colors[i % 3].to_owned())).collect();
    table.push_column(Column::text("color", values))?;
    Ok(table)
}

#[test]
fn one_hot_and_concatenate_compile_and_match_arc_predict() -> Result<()> {
    let table = iris_with_color()?;
    let dir = train_and_save(COLOR_SPEC, &table, "color")?;
    let predictor = Predictor::load(&dir)?;
    assert!(predictor.is_allocation_free());
    assert_eq!(predictor.input_columns().last().map(String::as_str), Some("color"));
    check_against_batch_predict(&dir, &table, &predictor)?;
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn a_bad_row_is_an_error_naming_the_column_and_nothing_else_changes() -> Result<()> {
    let table = iris_with_color()?;
    let dir = train_and_save(COLOR_SPEC, &table, "bad-rows")?;
    let predictor = Predictor::load(&dir)?;
    let good = cells(&table, 0);
    let before = predictor.predict_row(&good[..])?;
    let with = |column: &str, value: Value<'static>| -> String {
        let mut row = cells(&table, 0);
        row.iter_mut().find(|(n, _)| *n == column).expect("a column").1 = value;
        predictor.predict_row(&row[..]).err().map(|e| e.to_string()).unwrap_or_default()
    };
    assert_eq!(with("petal_width", Value::Number(f64::NAN)), "column `petal_width`: row 1 has a missing value");
    assert_eq!(with("sepal_width", Value::Missing), "column `sepal_width`: row 1 has a missing value");
    assert_eq!(with("sepal_length", Value::Text("long")), "column `sepal_length` is not numeric: row 1 holds `long`");
    assert_eq!(
        with("color", Value::Text("greeen")),
        "column `color`: unknown category `greeen` (row 1) (did you mean `green`?)"
    );
    assert_eq!(with("color", Value::Missing), "column `color`: row 1 has a missing value");
    let missing: Vec<_> = good.iter().filter(|(n, _)| *n != "petal_length").copied().collect();
    let err = predictor.predict_row(&missing[..]).unwrap_err();
    assert!(matches!(&err, Error::MissingColumn { column, .. } if column == "petal_length"), "{err}");
    let short = [1.0f32, 2.0];
    let err = predictor.predict_row(&short[..]).unwrap_err().to_string();
    assert!(err.starts_with("predict: 2 feature values given, the input columns are"), "{err}");
    // In a batch, the bad row fails alone; the predictor is unchanged.
    let bad: Vec<_> = good.iter().map(|&(n, v)| if n == "color" { (n, Value::Text("teal")) } else { (n, v) }).collect();
    let answers = predictor.predict_batch(&[Row::from(&good[..]), Row::from(&bad[..]), Row::from(&good[..])]);
    assert_eq!(answers[0].as_ref().ok(), Some(&before));
    assert!(answers[1].as_ref().is_err_and(|e| e.to_string().contains("column `color`")));
    assert_eq!(answers[2].as_ref().ok(), Some(&before));
    assert_eq!(predictor.predict_row(&good[..])?, before);
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

#[test]
fn serve_json_lines_answers_each_line_and_reports_bad_ones() -> Result<()> {
    let table = iris()?;
    let dir = train_and_save(&iris_spec(5), &table, "serve")?;
    let predictor = Predictor::load(&dir)?;
    let row = |i: usize| -> Result<String> {
        let fields: Vec<String> =
            FEATURES.iter().map(|c| Ok(format!("\"{c}\": {}", table.numeric(c)?[i]))).collect::<Result<_>>()?;
        Ok(format!("{{{}}}", fields.join(", ")))
    };
    let input = format!("{}\n\n{{\"sepal_length\": 5.0}}\nnot json\n[1, 2]\n{}\n", row(0)?, row(100)?);
    let mut out = Vec::new();
    let answers = serve_json_lines(&predictor, input.as_bytes(), &mut out).expect("in-memory I/O");
    assert_eq!(answers, 5, "the blank line is skipped");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let expect = |i: usize| -> Result<String> {
        let label = predictor.predict_row(&cells(&table, i)[..])?.label.expect("a classifier");
        Ok(label.to_string())
    };
    // The fields `arc predict` writes: the decoded label, then a probability per class.
    let keys: Vec<&str> = lines[0].as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["species", "p_setosa", "p_versicolor", "p_virginica"]);
    assert_eq!(lines[0]["species"], expect(0)?);
    let p: f64 = keys[1..].iter().filter_map(|k| lines[0][*k].as_f64()).sum();
    assert!((p - 1.0).abs() < 1e-5, "{p}");
    assert_eq!(lines[1]["error"], "no column `sepal_width`");
    assert!(lines[2]["error"].as_str().is_some_and(|e| e.starts_with("invalid JSON")), "{}", lines[2]);
    assert_eq!(lines[3]["error"], "expected a JSON object of column values");
    assert_eq!(lines[4]["species"], expect(100)?);
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// A regression model through every other compiled kernel: LayerNorm,
/// GELU (tanh), Sigmoid, Add, Dropout, Tanh, Flatten, robust scaling.
const REGRESSION_SPEC: &str = "\
model_name: iris_petal_width
features:
  feature_columns: [sepal_length, sepal_width, petal_length]
  processors:
    - {name: assemble, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.raw: output}}
    - {name: scale, op: RobustNormalization, inputs: {x: tensors.raw}, outputs: {tensors.features: output}}
    - {name: target, op: transform.assemble_vector, train_only: true, inputs: {columns: [petal_width]}, outputs: {tensors.y: output}}
model:
  inputs: {features: [null, 3]}
  graph:
    - {name: fc1, type: Linear, params: {in_features: 3, out_features: 8}, inputs: [features]}
    - {name: ln, type: LayerNorm, params: {normalized_shape: 8}}
    - {name: g, type: core.GELU, params: {approximate: tanh}}
    - {name: fc2, type: Linear, params: {in_features: 8, out_features: 8}}
    - {name: s, type: Sigmoid}
    - {name: res, type: Add, inputs: [g, s]}
    - {name: d, type: Dropout, params: {p: 0.1}}
    - {name: t, type: Tanh}
    - {name: fl, type: Flatten}
    - {name: out, type: Linear, params: {in_features: 8, out_features: 1}}
  outputs: {y: out}
trainer:
  optimizer: {type: Adam, config: {lr: 0.01}}
  loss: {type: MSELoss, inputs: {pred: model.y, target: tensors.y}}
  config: {epochs: 5, batch_size: 16, validation_split: 0.0, seed: 3}
";

#[test]
fn a_regression_model_through_every_kernel_matches_arc_predict() -> Result<()> {
    let table = iris()?;
    let dir = train_and_save(REGRESSION_SPEC, &table, "regression")?;
    let predictor = Predictor::load(&dir)?;
    assert!(predictor.is_allocation_free());
    assert!(predictor.classes().is_empty());
    assert_eq!(predictor.output_len(), 1);
    // The reference: the Tensor path on the whole table, as `arc predict` runs it
    // (built here by hand, independently of `arc::train::predict`).
    let pm = arc::get_plugin_manager();
    let loaded = arc::model_dir::load(&dir)?;
    let spec = ArcSpec::from_yaml(REGRESSION_SPEC, "spec.yaml")?;
    let bindings = arc::pipeline::Pipeline::from_spec(&spec.features, pm)?.transform(&table, &loaded.fitted)?;
    let mut model = arc::graph::GraphModel::build(&spec.model, &loaded.fitted.vars, pm)?;
    model.set_training(false);
    let weights: std::collections::BTreeMap<_, _> = loaded.weights.into_iter().collect();
    let mut set = Vec::new();
    model.visit_params(&mut |name, p| set.push(p.set(weights[name].clone())));
    set.into_iter().collect::<Result<Vec<()>>>()?;
    let inputs = std::collections::BTreeMap::from([("features".to_owned(), bindings.tensors["features"].clone())]);
    let _guard = arc::tensor::no_grad();
    let want = model.forward(&inputs)?["y"].to_vec()?;
    assert_eq!(want.len(), table.num_rows());
    for (i, want) in want.iter().enumerate() {
        let out = predictor.predict_row(&cells(&table, i)[..])?;
        assert_eq!((out.label, out.class_index), (None, None));
        assert!((out.values[0] - want).abs() <= 1e-5, "row {i}: {} vs {want}", out.values[0]);
    }
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

/// The embedded Predictor and `arc predict` answer the same thing: for the original's
/// Example 1, whose spec returns only `probability`, both give the probability and the
/// decoded label, under the same names, with the same values; the JSON-lines answer is an
/// object of those fields.
#[test]
fn the_predictor_answers_what_arc_predict_writes() -> Result<()> {
    let pm = arc::get_plugin_manager();
    let data = pm
        .get_data_source("csv")?
        .create(&Config::new())?
        .load(&root().join("examples/data/diabetes.csv").display().to_string())?;
    let rows: Vec<usize> = (0..12).collect();
    let table = data.select_rows(&(0..400).collect::<Vec<_>>())?;
    let text = std::fs::read_to_string(root().join("examples/specs/diabetes.yaml")).expect("the spec is committed");
    let dir = train_and_save(&text, &table, "example-1")?;
    let predictor = Predictor::load(&dir)?;
    let batch = arc::train::predict(&arc::model_dir::load(&dir)?, &table, pm)?;
    let names: Vec<&str> = batch.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["probability", "outcome"]);
    for &i in &rows {
        let answer = predictor.answer_row(&cells(&table, i)[..])?;
        let fields: Vec<&str> = answer.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(fields, names);
        for ((name, cell), (_, column)) in answer.iter().zip(&batch.columns) {
            assert_eq!(cell.text(), column[i], "row {i}, `{name}`");
        }
        // The Rust form: the label and the positive class's probability.
        let output = predictor.predict_row(&cells(&table, i)[..])?;
        assert_eq!(output.label.as_deref(), Some(batch.columns[1].1[i].as_str()));
        assert_eq!(format!("{}", output.values[0]), batch.columns[0].1[i]);
    }
    let line = FEATURES_OF_EXAMPLE_1
        .iter()
        .map(|c| Ok(format!("\"{c}\": {}", table.numeric(c)?[0])))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    serve_json_lines(&predictor, format!("{{{}}}\n", line.join(", ")).as_bytes(), &mut out).expect("in-memory I/O");
    let json: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let keys: Vec<&str> = json.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["probability", "outcome"]);
    assert_eq!(json["outcome"], batch.columns[1].1[0].as_str());
    assert_eq!(json["probability"].as_f64().map(|p| format!("{}", p as f32)), Some(batch.columns[0].1[0].clone()));
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}

const FEATURES_OF_EXAMPLE_1: [&str; 3] = ["age", "bmi", "glucose_level"];

/// The README's library call: a spec file and a data location to a model
/// directory, as `arc train` writes it; the Predictor loads it.
#[test]
fn train_to_dir_writes_a_model_directory_the_predictor_loads() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("arc-train-to-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = root().join("examples/data/iris.csv").display().to_string();
    let trained =
        arc::train::train_to_dir(&root().join("examples/specs/iris.yaml"), &data, &dir, arc::get_plugin_manager())?;
    assert_eq!(trained.history.epochs.len(), 100);
    for file in ["spec.yaml", "model.safetensors", "processors.json", "history.json"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let predictor = Predictor::load(&dir)?;
    check_against_batch_predict(&dir, &iris()?, &predictor)?;
    // A spec that is not there is an error naming it.
    let Err(err) = arc::train::train_to_dir(Path::new("no/such.yaml"), &data, &dir, arc::get_plugin_manager()) else {
        panic!("a missing spec trains nothing");
    };
    assert!(err.to_string().contains("cannot read `no/such.yaml`"), "{err}");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
