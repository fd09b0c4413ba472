//! `arc schema`: the JSON Schema of a spec from the registered plugins,
//! checked with a JSON Schema validator (the `jsonschema` crate): every
//! committed spec passes, a misspelled param and a wrong type do not.
#![cfg(feature = "builtins")]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn schema() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_arc")).arg("schema").output().expect("arc runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("arc schema prints JSON")
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema).expect("a valid draft 2020-12 schema")
}

/// A YAML spec as the JSON value a YAML-aware editor checks.
fn spec_json(yaml: &str) -> Value {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::to_value(value).expect("JSON")
}

/// The validator's messages for `yaml`, empty when it passes.
fn errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    validator.iter_errors(&spec_json(yaml)).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn every_committed_spec_follows_the_schema() {
    let schema = schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let validator = validator(&schema);
    let mut checked = 0;
    for dir in ["examples/specs", "tests/fixtures/specs"] {
        for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("a directory") {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            if path.extension().is_none_or(|e| e != "yaml")
                || (text.contains("example.") && cfg!(not(feature = "example-plugin")))
            {
                continue;
            }
            let problems = errors(&validator, &text);
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} specs checked");
}

#[test]
fn a_misspelled_param_a_wrong_type_and_an_unknown_layer_are_flagged() {
    let validator = validator(&schema());
    let spec = |node: &str| {
        format!("model_name: m\nmodel:\n  inputs: {{x: [null, 4]}}\n  graph:\n    - {node}\n  outputs: {{y: fc}}\n")
    };
    let good = spec("{name: fc, type: Linear, params: {in_features: vars.n, out_features: 3, bias: false}}");
    assert_eq!(errors(&validator, &good), Vec::<String>::new());
    let legacy = spec("{name: fc, type: torch.nn.Linear, params: {in_features: 4, out_features: 3}}");
    assert_eq!(errors(&validator, &legacy), Vec::<String>::new());

    let misspelled = errors(&validator, &spec("{name: fc, type: Linear, params: {in_features: 4, out_feature: 3}}"));
    assert!(misspelled.iter().any(|e| e.contains("'out_feature' was unexpected")), "{misspelled:#?}");
    let wrong_type =
        errors(&validator, &spec("{name: fc, type: Linear, params: {in_features: 4, out_features: 3, bias: maybe}}"));
    assert!(
        wrong_type.iter().any(|e| e.contains("\"maybe\" is not of type \"boolean\"") && e.ends_with("/bias")),
        "{wrong_type:#?}"
    );
    let not_a_var = errors(&validator, &spec("{name: fc, type: Linear, params: {in_features: n, out_features: 3}}"));
    assert!(!not_a_var.is_empty(), "`n` is neither a number nor `vars.X`");
    let unknown = errors(&validator, &spec("{name: fc, type: Linaer, params: {}}"));
    assert!(unknown.iter().any(|e| e.contains("\"Linaer\"") && e.ends_with("/type")), "{unknown:#?}");
    let trainer = "trainer:\n  optimizer: {type: Adam, config: {lr: 0.01, betas: [0.9, 0.999], momentum: 0.9}}\n  loss: {type: MSELoss, inputs: {pred: model.y, target: tensors.t}}\n";
    let optimizer = errors(&validator, &format!("{}{trainer}", spec("{name: fc, type: ReLU}")));
    assert!(optimizer.iter().any(|e| e.contains("'momentum' was unexpected")), "{optimizer:#?}");
}

#[test]
fn plugins_json_lists_each_components_params() {
    let out = Command::new(env!("CARGO_BIN_EXE_arc")).args(["plugins", "--json"]).output().expect("arc runs");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let layers =
        json["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "builtin_layers").expect("the layers");
    let linear = &layers["params"]["core.Linear"];
    assert_eq!(linear["required"], serde_json::json!(["in_features", "out_features"]));
    assert_eq!(linear["properties"]["bias"]["default"], true);
    assert_eq!(
        linear["properties"]["bias"]["description"],
        "Whether the layer learns an additive bias. Default `true`."
    );
}
