//! One contract: `arc validate SPEC --data FILE` rejects exactly what `arc train` rejects
//! before its first step. A corpus of good and bad specs (the example specs, and each with
//! one thing wrong: trainer settings, targets, shapes against the data, components,
//! columns, vars) runs through both, and they must agree on every one: validation finds an
//! error if and only if training stops before its first batch.

use std::path::PathBuf;

use arc::Result;
use arc::data::Table;
use arc::spec::{ArcSpec, Config};
use arc::train::{TrainObserver, TrainStart, train_with, validate_data};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path} is committed: {e}"))
}

fn table(path: &str) -> Result<Table> {
    let pm = arc::get_plugin_manager();
    pm.get_data_source("csv")?.create(&Config::new())?.load(&root().join(path).display().to_string())
}

/// Notes whether training reached its first step.
#[derive(Default)]
struct Started(bool);

impl TrainObserver for Started {
    fn on_train_start(&mut self, _: &TrainStart) {
        self.0 = true;
    }
}

/// A corpus case: a name, the spec's text, the data, whether it is good.
struct Case {
    name: &'static str,
    text: String,
    data: &'static str,
    good: bool,
}

fn case(name: &'static str, base: &str, data: &'static str, edits: &[(&str, &str)], good: bool) -> Case {
    let mut text = read(base);
    for (from, to) in edits {
        assert!(text.contains(from), "{name}: `{from}` is in {base}");
        text = text.replacen(from, to, 1);
    }
    Case { name, text, data, good }
}

const IRIS: &str = "examples/specs/iris.yaml";
const IRIS_DATA: &str = "examples/data/iris.csv";
const DIABETES: &str = "examples/specs/diabetes.yaml";
const DIABETES_DATA: &str = "examples/data/diabetes.csv";
const NEXT: &str = "examples/specs/next_item.yaml";
const SESSIONS: &str = "examples/data/sessions.csv";
const LABEL: &str = "    - name: label\n      op: LabelEncoding\n      train_only: true\n      inputs: {column: species}\n      \
                     outputs: {tensors.species: output, vars.num_classes: num_classes}\n";

fn corpus() -> Vec<Case> {
    let gpu = arc::tensor::cuda_device_count().is_ok();
    vec![
        // Good specs, as committed and with the variations users write.
        case("iris", IRIS, IRIS_DATA, &[], true),
        case("wine", "examples/specs/wine.yaml", "examples/data/wine.csv", &[], true),
        case("digits", "examples/specs/digits.yaml", "examples/data/digits.csv", &[], true),
        case("wine alcohol", "examples/specs/wine_alcohol.yaml", "examples/data/wine_alcohol.csv", &[], true),
        case("example 1", DIABETES, DIABETES_DATA, &[], true),
        case("next item", NEXT, SESSIONS, &[], true),
        case("reversed outputs", IRIS, IRIS_DATA, &[("{tensors.raw: output}", "{output: tensors.raw}")], true),
        case("direct target", IRIS, IRIS_DATA, &[(LABEL, ""), ("  decode: {species: states.label}\n", "")], true),
        case(
            "early stopping",
            IRIS,
            IRIS_DATA,
            &[("seed: 42", "seed: 42\n    early_stopping: {monitor: accuracy}")],
            true,
        ),
        case("clip", IRIS, IRIS_DATA, &[("seed: 42", "seed: 42\n    gradient_clip: {max_norm: 1.0}")], true),
        case(
            "both rates",
            DIABETES,
            DIABETES_DATA,
            &[("type: \"AdamW\"", "type: AdamW\n    config: {learning_rate: 0.01}")],
            true,
        ),
        case("logits", DIABETES, DIABETES_DATA, &[("core.BCELoss", "core.BCEWithLogitsLoss")], true),
        // The trainer's settings.
        case("batch 0", IRIS, IRIS_DATA, &[("batch_size: 16", "batch_size: 0")], false),
        case("split 1", IRIS, IRIS_DATA, &[("validation_split: 0.2", "validation_split: 1.0")], false),
        case("checkpoint 0", IRIS, IRIS_DATA, &[("seed: 42", "seed: 42\n    checkpoint_every: 0")], false),
        case("device cuda", IRIS, IRIS_DATA, &[("seed: 42", "seed: 42\n    device: cuda")], gpu),
        case("betas", IRIS, IRIS_DATA, &[("config: {lr: 0.01}", "config: {lr: 0.01, betas: [1.5, 0.9]}")], false),
        case(
            "both lr keys",
            IRIS,
            IRIS_DATA,
            &[("config: {lr: 0.01}", "config: {lr: 0.01, learning_rate: 0.1}")],
            false,
        ),
        case("optimizer", IRIS, IRIS_DATA, &[("type: Adam", "type: Adamm")], false),
        case("loss", IRIS, IRIS_DATA, &[("type: CrossEntropyLoss", "type: CrossEntropy")], false),
        case("monitor", IRIS, IRIS_DATA, &[("seed: 42", "seed: 42\n    early_stopping: {monitor: roc_auc}")], false),
        case(
            "val_loss, no split",
            IRIS,
            IRIS_DATA,
            &[("validation_split: 0.2", "validation_split: 0.0\n    early_stopping: {}")],
            false,
        ),
        // Targets.
        case(
            "target column",
            IRIS,
            IRIS_DATA,
            &[("target: target_columns.species", "target: target_columns.label")],
            false,
        ),
        case("target tensor", IRIS, IRIS_DATA, &[("target: target_columns.species", "target: tensors.labels")], false),
        case(
            "regression on text",
            IRIS,
            IRIS_DATA,
            &[(LABEL, ""), ("  decode: {species: states.label}\n", ""), ("type: CrossEntropyLoss", "type: MSELoss")],
            false,
        ),
        case(
            "binary on 3 classes",
            IRIS,
            IRIS_DATA,
            &[
                (LABEL, ""),
                ("  decode: {species: states.label}\n", ""),
                ("type: CrossEntropyLoss", "type: BCEWithLogitsLoss"),
            ],
            false,
        ),
        case("too few classes", IRIS, IRIS_DATA, &[("out_features: 3}", "out_features: 2}")], false),
        // Shapes against the data.
        case("input shape", IRIS, IRIS_DATA, &[("features: [null, vars.n_features]", "features: [null, 5]")], false),
        case("in_features", IRIS, IRIS_DATA, &[("in_features: 16", "in_features: 15")], false),
        case(
            "input dtype",
            IRIS,
            IRIS_DATA,
            &[("features: [null, vars.n_features]", "features: {dtype: int64, shape: [null, vars.n_features]}")],
            false,
        ),
        case(
            "square sequence",
            NEXT,
            SESSIONS,
            &[
                ("num_buckets: 512, max_length", "num_buckets: 12, max_length"),
                ("num_embeddings: 512", "num_embeddings: 12"),
                ("out_features: 512", "out_features: 12"),
                ("p95_length", "max_length"),
            ],
            false,
        ),
        // Components, columns and vars.
        case("processor op", IRIS, IRIS_DATA, &[("op: StandardNormalization", "op: StandardNormalisation")], false),
        case("feature column", IRIS, IRIS_DATA, &[("petal_width]", "petal_widht]")], false),
        case(
            "bare column",
            NEXT,
            SESSIONS,
            &[("{ x: country, num_buckets: 50 }", "{ x: countries, num_buckets: 50 }")],
            false,
        ),
        case(
            "fractional var",
            NEXT,
            SESSIONS,
            &[("{ vars.max_len: p95_length }", "{ vars.max_len: mean_length }")],
            false,
        ),
        case("layer type", IRIS, IRIS_DATA, &[("type: ReLU", "type: Relu")], false),
        case("dangling ref", IRIS, IRIS_DATA, &[("inputs: [features]", "inputs: [feature]")], false),
    ]
}

#[test]
fn validate_with_data_rejects_exactly_what_training_rejects() -> Result<()> {
    let corpus = corpus();
    assert!(corpus.len() >= 25, "a corpus of at least 25 specs");
    assert!(corpus.iter().filter(|c| c.good).count() >= 10 && corpus.iter().filter(|c| !c.good).count() >= 15);
    let pm = arc::get_plugin_manager();
    for case in &corpus {
        let spec = ArcSpec::from_yaml(&case.text, case.name)?;
        let data = table(case.data)?;
        let report = validate_data(&spec, &data, pm)?.report;
        let mut trainer = spec.trainer.clone().expect("a trainer section");
        // One epoch: what matters here is whether training starts.
        trainer.config.epochs = 1;
        let mut started = Started::default();
        let trained = train_with(&spec, &trainer, &data, pm, &mut started);
        let rejected = report.has_errors();
        assert_eq!(
            rejected,
            !started.0,
            "{}: validate {:?}, train {:?}",
            case.name,
            report.issues,
            trained.as_ref().err()
        );
        assert_eq!(rejected, trained.is_err(), "{}", case.name);
        assert_eq!(!rejected, case.good, "{}: {:?}", case.name, report.issues);
        if let Err(e) = &trained {
            // Training's error lists the same issues as validation, each with its line.
            let shown = e.to_string();
            for issue in report.issues.iter().filter(|i| i.is_error()) {
                assert!(shown.contains(&issue.to_string()), "{}: {shown} lacks {issue}", case.name);
                assert!(issue.location.is_some(), "{}: {issue} has a place", case.name);
            }
        }
    }
    Ok(())
}

/// The commands agree as the library does: `arc validate --data` fails (exit 1) on what
/// `arc train` refuses, printing the same located issue, and `arc train` writes nothing.
#[test]
fn the_commands_agree() {
    let dir = std::env::temp_dir().join(format!("arc-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    for case in corpus().into_iter().filter(|c| ["iris", "split 1", "input shape", "bare column"].contains(&c.name)) {
        let spec = dir.join(format!("{}.yaml", case.name.replace(' ', "_")));
        std::fs::write(&spec, &case.text).expect("spec written");
        let out = dir.join(format!("{}-model", case.name.replace(' ', "_")));
        let arc = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_arc")).current_dir(root()).args(args).output().expect("arc")
        };
        let spec_arg = spec.to_str().expect("utf-8");
        let validated = arc(&["validate", spec_arg, "--data", case.data]);
        let trained =
            arc(&["train", spec_arg, "--data", case.data, "--out", out.to_str().expect("utf-8"), "--epochs", "1"]);
        assert_eq!(validated.status.success(), case.good, "{}", case.name);
        assert_eq!(trained.status.success(), case.good, "{}", case.name);
        assert_eq!(out.exists(), case.good, "{}: a refused run writes nothing", case.name);
        if !case.good {
            let printed = String::from_utf8_lossy(&validated.stdout);
            let first = printed.lines().find(|l| l.contains(": error: ")).expect("an error line").to_owned();
            assert!(String::from_utf8_lossy(&trained.stderr).contains(&first), "{}: {first}", case.name);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
