//! Spec validation end to end: every message names the YAML line and
//! column. Static checks (refs defined before use, types, params, loss
//! inputs, shapes without vars), the checks against data (columns, numeric
//! columns, shapes with the fitted vars) and `arc validate`'s output and
//! exit codes.

use std::path::PathBuf;
use std::process::Command;

use arc::plugin::{LayerHookSpec, Plugin, PluginManager, PluginMetadata};
use arc::spec::{ArcSpec, Config};
use arc::train::validate_data;
use arc::validate::validate;
use arc::{Result, hookimpl};

const SPEC: &str = "examples/specs/iris.yaml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn iris() -> String {
    std::fs::read_to_string(root().join(SPEC)).expect("the iris spec is committed")
}

/// The issues `validate` reports for `text`, as printed.
fn issues_with(text: &str, pm: &PluginManager) -> Result<Vec<String>> {
    let spec = ArcSpec::from_yaml(text, "s.yaml")?;
    Ok(validate(&spec, pm)?.issues.iter().map(ToString::to_string).collect())
}

fn issues(text: &str) -> Result<Vec<String>> {
    issues_with(text, arc::get_plugin_manager())
}

/// The issues `validate_data` reports for `text` on `csv`.
fn data_issues(text: &str, csv: &str) -> Result<Vec<String>> {
    let spec = ArcSpec::from_yaml(text, "s.yaml")?;
    let pm = arc::get_plugin_manager();
    let path = std::env::temp_dir().join(format!("arc-spec-validation-{}-{}.csv", std::process::id(), csv.len()));
    std::fs::write(&path, csv).expect("temp csv");
    let table = pm.get_data_source("csv")?.create(&Config::new())?.load(&path.display().to_string());
    let _ = std::fs::remove_file(&path);
    Ok(validate_data(&spec, &table?, pm)?.report.issues.iter().map(ToString::to_string).collect())
}

#[test]
fn the_iris_spec_is_clean() -> Result<()> {
    assert_eq!(issues(&iris())?, Vec::<String>::new());
    Ok(())
}

#[test]
fn namespace_refs_are_defined_before_use() -> Result<()> {
    let text = iris();
    assert_eq!(
        issues(&text.replace("inputs: {x: tensors.raw}", "inputs: {x: tensors.rwa}"))?,
        ["s.yaml:17:19: error: step `scale`: `tensors.rwa` is not defined by an earlier processor step \
             (did you mean `tensors.raw`?)"]
    );
    // `stats` reads `tensors.features` before `scale` makes it: move `stats` first.
    let stats = "    - name: stats\n      op: inspect.feature_stats\n      inputs: {tensor: tensors.features}\n      \
                 outputs: {vars.n_features: n_features}\n";
    let moved = text.replace(stats, "").replace("    - name: assemble\n", &format!("{stats}    - name: assemble\n"));
    assert_eq!(
        issues(&moved)?,
        ["s.yaml:13:24: error: step `stats`: `tensors.features` is not defined by an earlier processor step"]
    );
    assert_eq!(
        issues(&text.replace("features: [null, vars.n_features]", "features: [null, vars.n_feature]"))?,
        ["s.yaml:31:22: error: model input `features`: `vars.n_feature` is not defined by any processor step \
             (did you mean `vars.n_features`?)"]
    );
    assert_eq!(
        issues(&text.replace("outputs: {tensors.features: output, state", "outputs: {tensors.scaled: output, state"))?,
        [
            "s.yaml:21:24: error: step `stats`: `tensors.features` is not defined by an earlier processor step",
            "s.yaml:31:15: error: model input `features` reads `tensors.features`, which no processor step makes \
             and `features` is not one of `features.feature_columns`",
        ]
    );
    Ok(())
}

#[test]
fn types_params_and_loss_inputs_are_checked() -> Result<()> {
    let text = iris();
    assert_eq!(
        issues(&text.replace("op: StandardNormalization", "op: StandardNormalisation"))?,
        ["s.yaml:16:11: error: step `scale`: unknown processor `StandardNormalisation` \
             (did you mean `StandardNormalization`, `core.StandardNormalization` or `MinMaxNormalization`?)"]
    );
    assert_eq!(
        issues(&text.replace("{in_features: 16, out_features: 3}", "{in_features: 16, out_feature: 3}"))?,
        ["s.yaml:41:33: error: node `fc2`: core.Linear: unknown parameter `out_feature` \
             (did you mean `out_features`?)"]
    );
    assert_eq!(
        issues(&text.replace("type: Adam", "type: Adma"))?,
        [
            "s.yaml:47:11: error: trainer.optimizer: unknown optimizer `Adma` (did you mean `Adam`, `AdamW` or `Adamax`?)"
        ]
    );
    assert_eq!(
        issues(&text.replace("target: target_columns.species", "target: target_columns.specie"))?,
        [
            "s.yaml:51:42: error: trainer.loss: `specie` is not one of `features.target_columns` (did you mean `species`?)"
        ]
    );
    assert_eq!(
        issues(&text.replace("target: target_columns.species", "target: tensors.label"))?,
        [
            "s.yaml:51:42: error: trainer.loss: `tensors.label` is not defined by any processor step (did you mean `tensors.raw`?)"
        ]
    );
    assert_eq!(
        issues(&text.replace("outputs:\n    logits: fc2", "outputs:\n    logits: fc3"))?,
        ["s.yaml:43:13: error: outputs: `fc3` is not a node or a model input (did you mean `fc1`, `fc2` or `act`?)",]
    );
    Ok(())
}

#[test]
fn named_ports_must_be_the_layers() -> Result<()> {
    let text = "model_name: m\nmodel:\n  inputs: {x: [null, 3, 4]}\n  graph:\n    - {name: a, type: ReLU, inputs: x}\n    \
                - {name: b, type: Tanh, inputs: x}\n    \
                - {name: att, type: MultiHeadAttention, params: {embed_dim: 4, num_heads: 2, batch_first: true}, \
                inputs: {qeury: a, value: b}}\n";
    assert_eq!(
        issues(text)?,
        ["s.yaml:7:111: error: node `att`: the layer has no input port `qeury` (did you mean `query`?)"]
    );
    // Fixed, the shapes infer without data; `input` stands for the first port (`query`).
    assert_eq!(issues(&text.replace("qeury", "query"))?, Vec::<String>::new());
    assert_eq!(issues(&text.replace("qeury", "input"))?, Vec::<String>::new());
    // Concatenate takes any port names, joined in the order written.
    let cat = "model_name: m\nmodel:\n  inputs: {x: [null, 2]}\n  graph:\n    - {name: a, type: ReLU, inputs: x}\n    \
               - {name: b, type: Tanh, inputs: x}\n    \
               - {name: cat, type: Concatenate, params: {dim: -1}, inputs: {user: a, item: b}}\n";
    assert_eq!(issues(cat)?, Vec::<String>::new());
    Ok(())
}

/// Rejects any `Linear` wider than 8 through `validate_layer_config`.
struct Narrow;

impl Plugin for Narrow {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("narrow")
    }
}

#[hookimpl]
impl LayerHookSpec for Narrow {
    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        (layer_type == "core.Linear").then(|| config.get_u64("out_features").is_none_or(|n| n <= 8))
    }
}

#[test]
fn plugins_validate_layer_config_is_asked() -> Result<()> {
    let pm = PluginManager::new();
    pm.discover_plugins()?;
    pm.register_plugin(Narrow, "narrow")?;
    pm.refresh_registries()?;
    let text = iris().replace("out_features: 3}", "out_features: 30}");
    assert_eq!(
        issues_with(&text, &pm)?,
        ["s.yaml:41:15: error: node `fc2`: params rejected by the plugins' validate_layer_config"]
    );
    assert_eq!(issues_with(&iris(), &pm)?, Vec::<String>::new(), "out_features 3 passes");
    Ok(())
}

#[test]
fn shapes_are_inferred_without_vars_naming_both_nodes() -> Result<()> {
    let text = iris()
        .replace("features: [null, vars.n_features]", "features: [null, 4]")
        .replace("{in_features: vars.n_features, out_features: 16}", "{in_features: 4, out_features: 16}")
        .replace("{in_features: 16, out_features: 3}", "{in_features: 32, out_features: 3}");
    assert_eq!(
        issues(&text)?,
        ["s.yaml:39:7: error: node `fc2` (`Linear`) gets [null, 16] from `act`: \
             layer `core.Linear`: expected an input [..., 32], got [?, 16]"]
    );
    Ok(())
}

const CSV: &str = "sepal_length,sepal_width,petal_length,petal_width,species\n\
                   5.1,3.5,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n6.3,3.3,6.0,2.5,virginica\n\
                   4.9,3.0,1.4,0.2,setosa\n";

#[test]
fn data_checks_columns_and_shapes_with_the_fitted_vars() -> Result<()> {
    let text = iris();
    assert_eq!(data_issues(&text, CSV)?, Vec::<String>::new());
    // The data file's name is a temporary one: compare around it.
    let issues = data_issues(&text, &CSV.replace("petal_width", "petal_widht"))?;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].starts_with("s.yaml:8:62: error: column `petal_width` is not in `"), "{issues:?}");
    assert!(issues[0].ends_with(".csv` (did you mean `petal_widht` or `sepal_width`?)"), "{issues:?}");
    let issues = data_issues(
        &text.replace("[sepal_length, sepal_width, petal_length, petal_width]", "[sepal_length, species]"),
        CSV,
    )?;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(
        issues[0].starts_with("s.yaml:13:25: error: step `assemble` (`transform.assemble_vector`) needs numbers: "),
        "{issues:?}"
    );
    assert!(issues[0].ends_with(".csv: column `species` is not numeric: row 1 holds `setosa`"), "{issues:?}");
    // With vars.n_features = 4 known, fc1 takes 4 and gives 16; fc2 wants 32.
    assert_eq!(
        data_issues(&text.replace("{in_features: 16, out_features: 3}", "{in_features: 32, out_features: 3}"), CSV)?,
        ["s.yaml:39:7: error: node `fc2` (`Linear`) gets [null, 16] from `act`: \
             layer `core.Linear`: expected an input [..., 32], got [?, 16]"]
    );
    Ok(())
}

#[test]
fn training_checks_the_columns_first() -> Result<()> {
    let spec = ArcSpec::from_yaml(&iris(), "s.yaml")?;
    let pm = arc::get_plugin_manager();
    let path = std::env::temp_dir().join(format!("arc-train-columns-{}.csv", std::process::id()));
    std::fs::write(&path, CSV.replace("petal_width", "petal_widht")).expect("temp csv");
    let table = pm.get_data_source("csv")?.create(&Config::new())?.load(&path.display().to_string());
    let _ = std::fs::remove_file(&path);
    let err = arc::train::train(&spec, spec.trainer()?, &table?, pm, &mut |_| {}).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            format!(
                "the spec has 1 error(s):\ns.yaml:8:62: error: column `petal_width` is not in `{}` \
                 (did you mean `petal_widht` or `sepal_width`?)",
                path.display()
            )
            .as_str()
        )
    );
    Ok(())
}

fn arc_validate(text: &str, data: bool) -> (Option<i32>, String, String) {
    let path = std::env::temp_dir().join(format!("arc-validate-cli-{}-{}.yaml", std::process::id(), text.len()));
    std::fs::write(&path, text).expect("temp spec");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arc"));
    cmd.current_dir(root()).arg("validate").arg(&path);
    if data {
        cmd.args(["--data", "examples/data/iris.csv"]);
    }
    let out = cmd.output().expect("arc runs");
    let _ = std::fs::remove_file(&path);
    let show = |b: &[u8]| String::from_utf8_lossy(b).replace(&path.display().to_string(), "s.yaml");
    (out.status.code(), show(&out.stdout), show(&out.stderr))
}

#[test]
fn arc_validate_prints_located_issues_and_sets_the_exit_code() {
    let (code, stdout, _) = arc_validate(&iris(), true);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "vars: vars.n_features = 4, vars.num_classes = 3\nmodel: 3 nodes (fc1 → act → fc2), 131 parameters\ns.yaml: ok\n"
    );
    let bad = iris().replace("type: ReLU", "type: ReLu").replace("pred: model.logits", "pred: model.logit");
    let (code, stdout, _) = arc_validate(&bad, false);
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout,
        "s.yaml:38:13: error: node `act`: unknown layer `ReLu` (did you mean `ReLU` or `GELU`?)\n\
         s.yaml:51:20: error: trainer.loss: `model.logit` is not a model output (did you mean `model.logits`?)\n\
         s.yaml: 2 error(s), 0 warning(s)\n"
    );
    // Warnings alone (here the built-in validator's) exit 0.
    let probe = iris().replace(
        "  outputs:\n    logits: fc2",
        "    - {name: probe, type: ReLU, inputs: fc1}\n  outputs:\n    logits: fc2",
    );
    let (code, stdout, _) = arc_validate(&probe, false);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "s.yaml:42:14: warning: node `probe` feeds no output of the graph\ns.yaml: ok, 1 warning(s)\n")
    );
    // A parse error (an unknown key) is a located error too.
    let (code, stdout, stderr) = arc_validate(&iris().replace("      type: ReLU", "      typ: ReLU"), false);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(stderr, "error: s.yaml:38:7: model.graph[1]: unknown key `typ` (did you mean `type`?)\n");
}
