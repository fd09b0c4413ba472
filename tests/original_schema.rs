//! The original Arc-Graph v0.1 schema, as its users write it: one test per
//! rule of `DESIGN.md` §5 that Arc used to read otherwise. Each spec here is
//! in the original's spelling and runs on a table built in the test.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arc::data::{Column, Table};
use arc::graph::GraphModel;
use arc::model_dir::Loaded;
use arc::nn::{Loss, Optimizer, OptimizerState, Param, Scores, Task};
use arc::plugin::{LossHookSpec, LossRegistrations, OptimizerHookSpec, OptimizerRegistrations, Plugin, PluginMetadata};
use arc::plugin::{PluginManager, Registrations};
use arc::spec::{ArcSpec, Config};
use arc::train::{Trained, evaluate, predict, train, validate_data};
use arc::{Result, Tensor, hookimpl};

fn pm() -> &'static PluginManager {
    arc::get_plugin_manager()
}

fn parse(text: &str) -> ArcSpec {
    ArcSpec::from_yaml(text, "s.yaml").unwrap_or_else(|e| panic!("the test's spec parses: {e}"))
}

fn fit_with(text: &str, table: &Table, manager: &PluginManager) -> Result<Trained> {
    let spec = parse(text);
    let trainer = spec.trainer.clone().expect("a trainer section");
    train(&spec, &trainer, table, manager, &mut |_| {})
}

fn fit(text: &str, table: &Table) -> Result<Trained> {
    fit_with(text, table, pm())
}

/// `validate_data`'s issues, as printed.
fn issues(text: &str, table: &Table) -> Vec<String> {
    let report = validate_data(&parse(text), table, pm()).expect("no hook fails").report;
    report.issues.iter().map(ToString::to_string).collect()
}

/// Every weight's bits, by name.
fn bits(trained: &Trained) -> Vec<(String, Vec<u32>)> {
    let values = trained.model.named_values();
    values.into_iter().map(|(n, t)| (n, t.to_vec().expect("f32").iter().map(|x| x.to_bits()).collect())).collect()
}

/// The model directory of `trained`, saved and read back.
fn saved(tag: &str, text: &str, trained: &Trained) -> Loaded {
    let dir: PathBuf = std::env::temp_dir().join(format!("arc-original-schema-{tag}-{}", std::process::id()));
    arc::model_dir::save(&dir, text, &trained.model.named_state(), &trained.fitted, &trained.history).expect("saves");
    let loaded = arc::model_dir::load(&dir).expect("loads");
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

/// `n` deterministic patients: age, bmi, glucose_level, a 0/1 `outcome` that grows with
/// them, its words `diabetic` (`no`/`yes`), a `country` and a continuous `risk`.
fn patients(n: usize) -> Table {
    let (mut age, mut bmi, mut glucose, mut outcome, mut words, mut country, mut risk) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        let (a, b, g) = (20.0 + (i * 37 % 60) as f64, 20.0 + (i * 13 % 20) as f64, 80.0 + (i * 29 % 90) as f64);
        let z = 0.05 * (a - 50.0) + 0.2 * (b - 30.0) + 0.05 * (g - 125.0) + ((i * 7 % 10) as f64 - 4.5) * 0.3;
        age.push(a);
        bmi.push(b);
        glucose.push(g);
        outcome.push(f64::from(u8::from(z > 0.0)));
        words.push(Some(if z > 0.0 { "yes" } else { "no" }.to_owned()));
        country.push(Some(["de", "fr", "it", "es"][i % 4].to_owned()));
        risk.push(0.5 * a / 60.0 + b / 40.0);
    }
    Table::new(vec![
        Column::numeric("age", age),
        Column::numeric("bmi", bmi),
        Column::numeric("glucose_level", glucose),
        Column::numeric("outcome", outcome),
        Column::text("diabetic", words),
        Column::text("country", country),
        Column::numeric("risk", risk),
    ])
    .expect("a table")
}

/// The original's Example 1 (a logistic regression), with `target` and `trainer.config`
/// lines to vary.
fn example_1(target: &str, loss: &str, config: &str) -> String {
    format!(
        "\
version: \"0.1\"
model_name: diabetes
features:
  feature_columns: [age, bmi, glucose_level]
  target_columns: [outcome, diabetic]
  processors:
    - name: assemble_raw_features
      op: transform.assemble_vector
      inputs: {{ columns: feature_columns }}
      outputs: {{ tensors.raw_features: output }}
    - name: get_feature_count
      op: inspect.feature_stats
      train_only: true
      inputs: {{ tensor: tensors.raw_features }}
      outputs: {{ vars.n_features: n_features }}
    - name: learn_scaler_state
      op: fit.standard_scaler
      train_only: true
      inputs: {{ x: tensors.raw_features }}
      outputs: {{ states.scaler_params: state }}
    - name: apply_scaling
      op: transform.standard_scaler
      inputs:
        x: tensors.raw_features
        state: states.scaler_params
      outputs: {{ tensors.features: output }}
model:
  inputs:
    features: {{ dtype: float32, shape: [null, vars.n_features] }}
  graph:
    - name: linear_layer
      type: core.Linear
      params: {{ in_features: vars.n_features, out_features: 1 }}
      inputs: {{ input: features }}
    - name: sigmoid_activation
      type: core.Sigmoid
      inputs: {{ input: linear_layer.output }}
  outputs:
    probability: sigmoid_activation.output
trainer:
  config: {config}
  optimizer:
    type: AdamW
  loss:
    type: {loss}
    inputs: {{ pred: model.probability, target: {target} }}
predictor:
  returns: [probability]
"
    )
}

const CONFIG: &str = "{ learning_rate: 0.05, epochs: 5, batch_size: 16 }";

#[test]
fn processor_outputs_bind_global_names_and_the_reversed_form_warns_at_its_line() -> Result<()> {
    let table = patients(120);
    let text = example_1("target_columns.outcome", "core.BCELoss", CONFIG);
    assert_eq!(issues(&text, &table), Vec::<String>::new());
    let canonical = fit(&text, &table)?;
    assert_eq!(canonical.fitted.vars["n_features"], 3.0);
    assert!(canonical.fitted.states.contains_key("scaler_params"));
    // Arc's earlier reversed form binds the same names: the same model, bit for bit, and a
    // warning at each line that uses it.
    let reversed = text
        .replace("{ tensors.raw_features: output }", "{ output: tensors.raw_features }")
        .replace("{ vars.n_features: n_features }", "{ n_features: vars.n_features }");
    assert_eq!(bits(&fit(&reversed, &table)?), bits(&canonical));
    assert_eq!(
        issues(&reversed, &table),
        [
            "s.yaml:10:18: warning: step `assemble_raw_features`: `output: tensors.raw_features` is Arc's earlier \
             reversed form; the original schema writes `tensors.raw_features: output` (global name: operator output)",
            "s.yaml:15:18: warning: step `get_feature_count`: `n_features: vars.n_features` is Arc's earlier reversed \
             form; the original schema writes `vars.n_features: n_features` (global name: operator output)",
        ]
    );
    // Two namespaced sides, or none, is an error at the step's outputs.
    let both = ArcSpec::from_yaml(&text.replace("{ tensors.features: output }", "{ tensors.a: tensors.b }"), "s.yaml");
    let message = both.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("s.yaml:26:16: features.processors[3].outputs: `tensors.a: tensors.b` names two globals"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_bare_column_and_word_values_are_step_inputs() -> Result<()> {
    let mut columns = patients(8).into_columns();
    let events = (0..8).map(|i| Some(format!("a{i} b{i} c{i} d{i}")));
    columns.push(Column::text("events", events.collect()));
    let table = Table::new(columns)?;
    let steps = "\
model_name: m
features:
  feature_columns: [country, events]
  processors:
    - {name: one, op: transform.hash_bucket, inputs: {x: country, num_buckets: 7}, outputs: {tensors.id: output}}
    - {name: list, op: transform.hash_bucket, inputs: {x: [country], num_buckets: 7}, outputs: {tensors.ids: output}}
    - {name: grid, op: transform.hash_and_pad, inputs: {x: events, num_buckets: 1000, max_length: 4}, outputs: {tensors.grid: output}}
    - {name: next, op: transform.sequence_shift, inputs: {x: tensors.grid, direction: left, fill_value: -1}, outputs: {tensors.next: output}}
    - {name: prev, op: transform.sequence_shift, inputs: {x: tensors.grid, direction: \"right\", fill_value: -1}, outputs: {tensors.prev: output}}
model:
  inputs: {id: {dtype: int64, shape: [null]}}
  graph: [{name: a, type: Embedding, params: {num_embeddings: 7, embedding_dim: 2}}]
";
    let spec = parse(steps);
    let bound = arc::pipeline::Pipeline::from_spec(&spec.features, pm())?.fit(&table)?;
    // A bare column is one 1-D tensor, a list a [rows, 1] one: the same buckets.
    let (one, list) = (&bound.tensors["id"], &bound.tensors["ids"]);
    assert_eq!((one.shape(), list.shape()), (&[8][..], &[8, 1][..]));
    assert_eq!(one.to_vec_i64()?, list.to_vec_i64()?);
    // `left`: each position takes the next one's value, the last `fill_value` (a next-item
    // label); `right` the previous one's.
    let grid = bound.tensors["grid"].to_vec_i64()?;
    let (next, prev) = (bound.tensors["next"].to_vec_i64()?, bound.tensors["prev"].to_vec_i64()?);
    for row in 0..8 {
        let g = &grid[row * 4..row * 4 + 4];
        assert_eq!(&next[row * 4..row * 4 + 4], [g[1], g[2], g[3], -1]);
        assert_eq!(&prev[row * 4..row * 4 + 4], [-1, g[0], g[1], g[2]]);
    }
    // An unknown word is a config error naming the op and the words, at the step.
    let bad = steps.replace("direction: left", "direction: up");
    let found = issues(&bad, &table);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("s.yaml:8:7: error: step `next` (`transform.sequence_shift`): ")
            && found[0].contains("direction: expected `left`, `right` or a whole number of steps, got `up`"),
        "{found:?}"
    );
    // A bare column that is not in the data: an error at the input, with did-you-mean.
    let found = issues(&steps.replace("{x: country, num", "{x: countyr, num"), &table);
    assert_eq!(
        found,
        ["s.yaml:5:58: error: step `one` (`transform.hash_bucket`): no column `countyr` (did you mean `country`?)"]
    );
    Ok(())
}

#[test]
fn a_regression_target_comes_straight_from_its_column() -> Result<()> {
    let table = patients(100);
    let direct = "\
model_name: risk
features:
  feature_columns: [age, bmi]
  target_columns: [risk]
  processors:
    - {name: x, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.x: output}}
model:
  inputs: {x: [null, 2]}
  graph: [{name: fc, type: Linear, params: {in_features: 2, out_features: 1}}]
trainer:
  optimizer: {type: SGD, config: {lr: 0.0001}}
  loss: {type: MSELoss, inputs: {pred: model.fc, target: target_columns.risk}}
  config: {epochs: 3, seed: 7}
";
    let trained = fit(direct, &table)?;
    assert_eq!(trained.history.task, Some(Task::Regression));
    assert_eq!(
        trained.history.last().map(|r| r.metrics.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["mae".to_owned(), "mse".into(), "r2".into()])
    );
    // The column read straight is what an assemble step would make: the same model.
    let with_step = direct
        .replace(
            "outputs: {tensors.x: output}}\n",
            "outputs: {tensors.x: output}}\n    - {name: y, op: transform.assemble_vector, train_only: true, inputs: {columns: [risk]}, outputs: {tensors.y: output}}\n",
        )
        .replace("target: target_columns.risk", "target: tensors.y");
    assert_eq!(bits(&fit(&with_step, &table)?), bits(&trained));
    Ok(())
}

#[test]
fn a_text_target_becomes_sorted_class_ids_saved_and_decoded() -> Result<()> {
    // Iris's species straight from the column: no label encoder in the spec.
    let iris = std::fs::read_to_string(root().join("examples/specs/iris.yaml")).expect("iris spec");
    let label_step = "    - name: label\n      op: LabelEncoding\n      train_only: true\n      inputs: {column: species}\n      \
                      outputs: {tensors.species: output, vars.num_classes: num_classes}\n";
    assert!(iris.contains(label_step));
    let direct = iris
        .replace(label_step, "")
        .replace("epochs: 100", "epochs: 5")
        .replace("  decode: {species: states.label}\n", "");
    let table = iris_table()?;
    let trained = fit(&direct, &table)?;
    let info = trained.fitted.target.clone().expect("the target's reading is saved");
    assert_eq!((info.task, info.scores, info.output.as_str()), (Task::Multiclass, Scores::Logits, "logits"));
    assert_eq!(info.classes.as_deref(), Some(&["setosa".to_owned(), "versicolor".into(), "virginica".into()][..]));
    // The same ids a label encoder gives: the same model, bit for bit.
    let encoded = fit(&iris.replace("epochs: 100", "epochs: 5"), &table)?;
    assert_eq!(bits(&trained), bits(&encoded));
    // `arc predict` decodes them with the saved classes.
    let prediction = predict(&saved("iris", &direct, &trained), &table, pm())?;
    let names: Vec<&str> = prediction.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["species", "p_setosa", "p_versicolor", "p_virginica"]);
    assert!(prediction.columns[0].1.iter().all(|l| ["setosa", "versicolor", "virginica"].contains(&l.as_str())));
    Ok(())
}

#[test]
fn whole_numbers_under_a_classification_loss_are_classes() -> Result<()> {
    // wine's `class` (0, 1, 2) straight from the column under CrossEntropyLoss.
    let wine = std::fs::read_to_string(root().join("examples/specs/wine.yaml")).expect("wine spec");
    let label_step = "    - name: label\n      op: LabelEncoding\n      train_only: true\n      inputs: {column: class}\n      \
                      outputs: {tensors.class: output, vars.num_classes: num_classes}\n";
    assert!(wine.contains(label_step));
    let direct = wine
        .replace(label_step, "")
        .replace("out_features: vars.num_classes", "out_features: 3")
        .replace("  decode: {class: states.label}\n", "");
    let table = csv("examples/data/wine.csv")?;
    let trained = fit(&direct.replace("epochs: 60", "epochs: 2"), &table)?;
    let info = trained.fitted.target.expect("saved");
    assert_eq!(info.classes.as_deref(), Some(&["0".to_owned(), "1".into(), "2".into()][..]));
    assert_eq!(trained.history.last().map(|r| r.metrics.contains_key("macro_f1")), Some(true));
    Ok(())
}

#[test]
fn a_binary_classifier_reports_binary_metrics_and_predicts_probability_and_label() -> Result<()> {
    let table = patients(200);
    for target in ["target_columns.outcome", "target_columns.diabetic"] {
        let text = example_1(target, "core.BCELoss", CONFIG);
        let trained = fit(&text, &table)?;
        assert_eq!(trained.history.task, Some(Task::Binary));
        let keys: Vec<&str> = trained.history.epochs[0].metrics.keys().map(String::as_str).collect();
        assert_eq!(keys, ["accuracy", "f1", "precision", "recall", "roc_auc"]);
        let last = trained.history.last().expect("epochs");
        assert!(last.metrics["accuracy"] >= 0.8 && last.metrics["roc_auc"] >= 0.85, "{target}: {last:?}");
        let loaded = saved("binary", &text, &trained);
        // metrics.json and `arc evaluate` report the same metrics.
        let evaluation = evaluate(&loaded, &table, pm())?;
        assert_eq!(evaluation.task, Task::Binary);
        assert_eq!(evaluation.metrics.keys().collect::<Vec<_>>(), keys);
        // The probability (`predictor.returns`) and the decoded label, named after the target.
        let prediction = predict(&loaded, &table, pm())?;
        let column = target.rsplit('.').next().unwrap_or_default();
        let names: Vec<&str> = prediction.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["probability", column]);
        let positive = if column == "outcome" { "1" } else { "yes" };
        for (p, label) in prediction.columns[0].1.iter().zip(&prediction.columns[1].1) {
            let p: f32 = p.parse().expect("a probability");
            assert_eq!(p >= 0.5, label == positive, "{p} {label}");
        }
    }
    // The two classes of a text target sort: `no` is class 0, `yes` the positive class 1.
    let trained = fit(&example_1("target_columns.diabetic", "core.BCELoss", CONFIG), &table)?;
    let info = trained.fitted.target.expect("saved");
    assert_eq!(info.classes.as_deref(), Some(&["no".to_owned(), "yes".into()][..]));
    // A third class under a binary loss is an error at the target.
    let three = Table::new(vec![Column::text("diabetic", (0..6).map(|i| Some(format!("c{}", i % 3))).collect())])?;
    let mut columns = patients(6).into_columns();
    columns.retain(|c| c.name != "diabetic");
    columns.extend(three.into_columns());
    let found = issues(&example_1("target_columns.diabetic", "core.BCELoss", CONFIG), &Table::new(columns)?);
    assert_eq!(
        found,
        ["s.yaml:46:48: error: trainer.loss: target: target column `diabetic`: `core.BCELoss` trains a binary \
          classifier, but the column holds 3 classes (c0, c1, c2)"]
    );
    Ok(())
}

/// A hinge loss on labels 0/1 (as -1/+1): a plugin's loss that says it trains a binary
/// classifier of logits.
struct Hinge;

impl Loss for Hinge {
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let signs = inputs[1].affine(2.0, -1.0)?;
        inputs[0].mul(&signs)?.neg()?.add_scalar(1.0)?.relu()?.mean_all()
    }

    fn task(&self) -> Task {
        Task::Binary
    }

    fn scores(&self) -> Scores {
        Scores::Logits
    }
}

/// Plain gradient descent with a fixed `step` and no learning-rate key.
struct PlainDescent {
    step: f32,
}

impl Optimizer for PlainDescent {
    fn step(&mut self, params: &[(&str, &Param)]) -> Result<()> {
        for (_, p) in params {
            if let Some(g) = p.grad() {
                p.set(p.value().sub(&g.mul_scalar(self.step)?)?.detach())?;
            }
        }
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        f64::from(self.step)
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.step = lr as f32;
    }
    fn state(&self) -> OptimizerState {
        OptimizerState::default()
    }
    fn load_state(&mut self, _state: OptimizerState) -> Result<()> {
        Ok(())
    }
}

/// Registers `test.Hinge` and `test.PlainDescent`.
struct TestComponents;

impl Plugin for TestComponents {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("test_components")
    }
}

#[hookimpl]
impl LossHookSpec for TestComponents {
    fn register_losses(&self) -> LossRegistrations {
        Registrations::new().add("test.Hinge", |_: &Config| Ok(Box::new(Hinge) as Box<dyn Loss>))
    }
}

#[hookimpl]
impl OptimizerHookSpec for TestComponents {
    fn register_optimizers(&self) -> OptimizerRegistrations {
        Registrations::new().add("test.PlainDescent", |config: &Config| {
            let step = config.get_f64("step").ok_or_else(|| arc::Error::MissingParam {
                component: "test.PlainDescent".into(),
                param: "step".into(),
            })?;
            Ok(Box::new(PlainDescent { step: step as f32 }) as Box<dyn Optimizer>)
        })
    }
}

fn with_test_components() -> Result<PluginManager> {
    let manager = PluginManager::new();
    manager.discover_plugins()?;
    manager.register_plugin(TestComponents, "test_components")?;
    manager.refresh_registries()?;
    Ok(manager)
}

#[test]
fn the_task_comes_from_the_loss_a_plugins_included() -> Result<()> {
    let manager = with_test_components()?;
    let table = patients(120);
    // The loss reads the linear layer's logit; the target column is 0/1.
    let text = example_1("target_columns.outcome", "test.Hinge", CONFIG)
        .replace("pred: model.probability", "pred: model.logit")
        .replace(
            "    probability: sigmoid_activation.output",
            "    probability: sigmoid_activation.output\n    logit: linear_layer.output",
        );
    let trained = fit_with(&text, &table, &manager)?;
    assert_eq!(trained.history.task, Some(Task::Binary));
    let info = trained.fitted.target.expect("saved");
    assert_eq!((info.scores, info.output.as_str()), (Scores::Logits, "logit"));
    let keys: Vec<&str> = trained.history.epochs[0].metrics.keys().map(String::as_str).collect();
    assert_eq!(keys, ["accuracy", "f1", "precision", "recall", "roc_auc"]);
    Ok(())
}

#[test]
fn the_optimizers_own_learning_rate_wins_and_one_without_a_rate_still_trains() -> Result<()> {
    let table = patients(80);
    // The original's spelling in the optimizer's config, and a trainer rate beside it.
    let own = example_1("target_columns.outcome", "core.BCELoss", "{ learning_rate: 0.5, epochs: 2 }")
        .replace("    type: AdamW\n", "    type: AdamW\n    config: { learning_rate: 0.01 }\n");
    let alone = own.replace("{ learning_rate: 0.5, epochs: 2 }", "{ epochs: 2 }");
    assert_eq!(issues(&own, &table), Vec::<String>::new());
    assert_eq!(bits(&fit(&own, &table)?), bits(&fit(&alone, &table)?), "the optimizer's 0.01 wins over 0.5");
    // Without its own, the optimizer takes the trainer's.
    let trainers = alone
        .replace("    config: { learning_rate: 0.01 }\n", "")
        .replace("{ epochs: 2 }", "{ learning_rate: 0.01, epochs: 2 }");
    assert_eq!(bits(&fit(&trainers, &table)?), bits(&fit(&alone, &table)?));
    // A plugin optimizer without a learning rate is not broken by the trainer's.
    let manager = with_test_components()?;
    let plain = trainers.replace("    type: AdamW\n", "    type: test.PlainDescent\n    config: { step: 0.1 }\n");
    let trained = fit_with(&plain, &table, &manager)?;
    assert_eq!(trained.history.epochs.len(), 2);
    Ok(())
}

#[test]
fn model_inputs_read_tensors_or_columns_in_their_declared_shape() -> Result<()> {
    let table = patients(40);
    let text = "\
model_name: inputs
features:
  feature_columns: [age, bmi, glucose_level]
  target_columns: [risk]
  processors:
    - {name: g, op: transform.assemble_vector, inputs: {columns: [glucose_level]}, outputs: {tensors.glucose: output}}
model:
  inputs:
    age: {dtype: float32, shape: [null]}
    bmi: {dtype: float32, shape: [null, 1]}
    glucose: {dtype: float32, shape: [null]}
  graph:
    - {name: fc, type: Linear, params: {in_features: 1, out_features: 1}, inputs: {input: bmi}}
    - {name: age_row, type: ReLU, inputs: {input: age}}
    - {name: glucose_row, type: ReLU, inputs: {input: glucose}}
  outputs: {y: fc, age: age_row, glucose: glucose_row}
trainer:
  optimizer: {type: SGD}
  loss: {type: MSELoss, inputs: {pred: model.y, target: target_columns.risk}}
  config: {epochs: 1}
";
    assert_eq!(issues(text, &table), Vec::<String>::new());
    let spec = parse(text);
    let trained = fit(text, &table)?;
    // `age` from its column as [N]; `bmi` from its column as [N, 1]; `glucose`, a [N, 1]
    // pipeline tensor for a [null] input, squeezed.
    let bound = arc::pipeline::Pipeline::from_spec(&spec.features, pm())?.transform(&table, &trained.fitted)?;
    let fed = trained.model.feed(&bound.tensors, &table)?;
    assert_eq!((fed["age"].shape(), fed["bmi"].shape(), fed["glucose"].shape()), (&[40][..], &[40, 1][..], &[40][..]));
    assert_eq!(fed["age"].to_vec()?[..3], [20.0, 57.0, 34.0]);
    // A shape the data cannot give is an error at the input's line.
    assert_eq!(
        issues(
            &text.replace("age: {dtype: float32, shape: [null]}", "age: {dtype: float32, shape: [null, 2]}"),
            &table
        ),
        ["s.yaml:9:10: error: model input `age`: declared shape [null, 2], but the data gives [32]"]
    );
    // As is a name that is neither a pipeline tensor nor a column.
    assert_eq!(
        issues(&text.replace("    age: {dtype", "    agee: {dtype").replace("{input: age}", "{input: agee}"), &table),
        [
            "s.yaml:9:11: error: model input `agee` reads `tensors.agee`, which no processor step makes and `agee` is not \
          one of `features.feature_columns`"
        ]
    );
    Ok(())
}

#[test]
fn single_input_layers_answer_to_input_and_combining_layers_keep_yaml_order() -> Result<()> {
    let text = "\
model_name: ports
model:
  inputs: {a: [null, 2, 4], b: [null, 2, 1]}
  graph:
    - {name: enc, type: TransformerEncoderLayer, params: {d_model: 4, nhead: 2, dropout: 0.0, batch_first: true}, inputs: {input: a}}
    - {name: ba, type: Concatenate, inputs: {second: b, first: enc.output}}
    - {name: ab, type: Concatenate, inputs: {first: enc.output, second: b}}
    - {name: sum, type: Add, inputs: {x: b, y: b, z: b}}
  outputs: {ba: ba, ab: ab, sum: sum}
";
    let model = GraphModel::build(&parse(text).model, &BTreeMap::new(), pm())?;
    let a = Tensor::from_vec((0..8).map(|v| v as f32).collect(), &[1, 2, 4])?;
    let b = Tensor::from_vec(vec![10.0, 20.0], &[1, 2, 1])?;
    let out = model.forward(&BTreeMap::from([("a".to_owned(), a), ("b".to_owned(), b)]))?;
    let (ba, ab) = (out["ba"].to_vec()?, out["ab"].to_vec()?);
    // Joined in the order the YAML writes the ports: `b` first in `ba`, last in `ab`.
    assert_eq!((ba[0], ab[4]), (10.0, 10.0));
    assert_eq!(&ba[1..5], &ab[..4]);
    assert_eq!(out["sum"].to_vec()?, [30.0, 60.0]);
    // The ports as the exporters and the Predictor read them: `input` bound to `src`.
    let enc = model.nodes().next().expect("a node");
    assert_eq!(enc.inputs, [("src", "a")]);
    Ok(())
}

#[test]
fn sequence_stats_give_whole_lengths_and_a_fractional_var_is_an_error_naming_both() -> Result<()> {
    let lengths = [1, 2, 3, 4, 5, 6, 7, 8, 9, 20];
    let sequences: Vec<Option<String>> =
        lengths.iter().map(|&n| Some((0..n).map(|t| format!("t{t}")).collect::<Vec<_>>().join(" "))).collect();
    let table = Table::new(vec![Column::text("events", sequences), Column::numeric("y", vec![0.0; 10])])?;
    let text = "\
model_name: seq
features:
  feature_columns: [events]
  processors:
    - name: lengths
      op: inspect.sequence_stats
      inputs: { sequence: events }
      outputs: { vars.max_len: p95_length, vars.mean_len: mean_length, vars.p50: p50_length, vars.p99: p99_length, vars.longest: max_length }
    - name: ids
      op: transform.hash_and_pad
      inputs: { x: events, num_buckets: 100, max_length: vars.max_len }
      outputs: { tensors.ids: output }
model:
  inputs: { ids: { dtype: int64, shape: [null, vars.max_len] } }
  graph:
    - { name: emb, type: Embedding, params: { num_embeddings: 100, embedding_dim: 4 } }
    - { name: pos, type: PositionalEncoding, params: { d_model: 4, max_len: vars.max_len } }
";
    let report = validate_data(&parse(text), &table, pm())?;
    assert!(report.report.issues.is_empty(), "{:?}", report.report.issues);
    // Nearest rank over 10 rows: p50 is the 5th length, p95 and p99 the 10th.
    let vars = &report.vars;
    assert_eq!((vars["p50"], vars["max_len"], vars["p99"], vars["longest"]), (5.0, 20.0, 20.0, 20.0));
    assert_eq!(vars["mean_len"], 6.5);
    // The mean is not a whole number: as a length it is an error naming the param and the var.
    assert_eq!(
        issues(&text.replace("max_length: vars.max_len", "max_length: vars.mean_len"), &table),
        [
            "s.yaml:11:58: error: step `ids` (`transform.hash_and_pad`): transform.hash_and_pad: param `max_length` takes a \
          whole number, but `vars.mean_len` is 6.5"
        ]
    );
    assert_eq!(
        issues(&text.replace("d_model: 4, max_len: vars.max_len", "d_model: 4, max_len: vars.mean_len"), &table),
        ["s.yaml:17:77: error: node `pos`: core.PositionalEncoding: param `max_len` takes a whole number, but \
          `vars.mean_len` is 6.5"]
    );
    Ok(())
}

/// Sessions of tokens `t<k>` where each token is followed by the next one: a next-item
/// model learns it.
fn sessions(n: usize) -> Table {
    let rows = (0..n).map(|i| {
        let len = 3 + i % 5;
        Some((0..len).map(|t| format!("t{}", (i + t) % 9)).collect::<Vec<_>>().join(" "))
    });
    Table::new(vec![Column::text("events", rows.collect())]).expect("a table")
}

const NEXT_ITEM: &str = "\
model_name: next
features:
  feature_columns: [events]
  processors:
    - {name: len, op: inspect.sequence_stats, inputs: {sequence: events}, outputs: {vars.max_len: max_length}}
    - {name: ids, op: transform.hash_and_pad, inputs: {x: events, num_buckets: 16, max_length: vars.max_len}, outputs: {tensors.ids: output}}
    - {name: raw, op: transform.hash_and_pad, inputs: {x: events, num_buckets: 16, max_length: vars.max_len, fill_value: -100}, outputs: {tensors.raw: output}}
    - {name: label, op: transform.sequence_shift, inputs: {x: tensors.raw, direction: left, fill_value: -100}, outputs: {tensors.next: output}}
model:
  inputs: {ids: {dtype: int64, shape: [null, vars.max_len]}}
  graph:
    - {name: emb, type: Embedding, params: {num_embeddings: 16, embedding_dim: 8}}
    - {name: head, type: Linear, params: {in_features: 8, out_features: 16}}
  outputs: {logits: head}
trainer:
  optimizer: {type: Adam, config: {lr: 0.05}}
  loss: {type: CrossEntropyLoss, inputs: {pred: model.logits, target: tensors.next}}
  config: {epochs: 15, batch_size: 16}
";

#[test]
fn per_position_logits_train_and_metrics_skip_ignored_positions() -> Result<()> {
    let table = sessions(120);
    let trained = fit(NEXT_ITEM, &table)?;
    assert_eq!(trained.history.task, Some(Task::MulticlassPerPosition));
    let info = trained.fitted.target.clone().expect("saved");
    assert_eq!((info.class_dim, info.ignore_index), (Some(2), Some(-100)));
    assert!(trained.history.last().expect("epochs").metrics["accuracy"] > 0.95);
    // Evaluate's accuracy counts the positions whose label is not -100, as the written
    // predictions show.
    let loaded = saved("next", NEXT_ITEM, &trained);
    let evaluation = evaluate(&loaded, &table, pm())?;
    let prediction = predict(&loaded, &table, pm())?;
    assert_eq!(prediction.columns.len(), 1);
    let spec = parse(NEXT_ITEM);
    let bound = arc::pipeline::Pipeline::from_spec(&spec.features, pm())?.fit(&table)?;
    let (labels, width) = (bound.tensors["next"].to_vec_i64()?, bound.tensors["next"].shape()[1]);
    let (mut right, mut counted) = (0, 0);
    for (row, cell) in prediction.columns[0].1.iter().enumerate() {
        let ids: Vec<i64> = serde_json::from_str(cell).expect("a JSON array per row");
        assert_eq!(ids.len(), width);
        for (t, id) in ids.into_iter().enumerate() {
            let label = labels[row * width + t];
            if label != -100 {
                counted += 1;
                right += usize::from(label == id);
            }
        }
    }
    assert!(counted < labels.len(), "some positions are ignored");
    assert!((evaluation.metrics["accuracy"] - right as f64 / counted as f64).abs() < 1e-12);
    Ok(())
}

#[test]
fn square_sequences_need_the_class_dim() -> Result<()> {
    // Every session 4 long and 4 classes: [N, 4, 4] logits against [N, 4] ids fit both layouts.
    let rows = (0..40).map(|i| Some((0..4).map(|t| format!("t{}", (i + t) % 3)).collect::<Vec<_>>().join(" ")));
    let table = Table::new(vec![Column::text("events", rows.collect())])?;
    let text = NEXT_ITEM
        .replace("num_buckets: 16", "num_buckets: 4")
        .replace("num_embeddings: 16", "num_embeddings: 4")
        .replace("out_features: 16", "out_features: 4");
    assert_eq!(
        issues(&text, &table),
        ["s.yaml:17:9: error: trainer.loss: op `CrossEntropyLoss`: argument `class_dim` = unset (pred [16, 4, 4], \
          target [16, 4]) is invalid: expected the dim holding the classes, since both dim 1 and the last fit the target \
          (L == C): set the loss option `class_dim` to 1 (PyTorch's [N, C, L]) or -1 ([N, L, C])"]
    );
    let said = text.replace("{type: CrossEntropyLoss,", "{type: CrossEntropyLoss, config: {class_dim: -1},");
    assert_eq!(issues(&said, &table), Vec::<String>::new());
    assert_eq!(fit(&said, &table)?.fitted.target.and_then(|t| t.class_dim), Some(2));
    Ok(())
}

#[test]
fn without_a_predictor_section_every_output_is_returned() -> Result<()> {
    let table = patients(40);
    let text = example_1("target_columns.outcome", "core.BCELoss", CONFIG)
        .replace("predictor:\n  returns: [probability]\n", "")
        .replace(
            "    probability: sigmoid_activation.output",
            "    probability: sigmoid_activation.output\n    logit: linear_layer.output",
        );
    let trained = fit(&text, &table)?;
    let prediction = predict(&saved("all", &text, &trained), &table, pm())?;
    let names: Vec<&str> = prediction.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["probability", "outcome", "logit"]);
    Ok(())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn csv(path: &str) -> Result<Table> {
    pm().get_data_source("csv")?.create(&Config::new())?.load(&root().join(path).display().to_string())
}

fn iris_table() -> Result<Table> {
    csv("examples/data/iris.csv")
}
