//! `modules:` sub-graphs used as `module.<name>`, and `torch.nn.*` type
//! names: a block used twice trains, its parameters are named
//! `node.inner.weight`, and the forward pass is exactly the composed ops.

use std::collections::BTreeMap;

use arc::graph::GraphModel;
use arc::spec::ArcSpec;
use arc::validate::validate;
use arc::{Result, Tensor};

#[path = "support/iris.rs"]
mod iris;

use iris::table;

/// Iris through a stem, the same block twice (own weights each) and a head.
const SPEC: &str = "\
model_name: iris_blocks
features:
  feature_columns: [sepal_length, sepal_width, petal_length, petal_width]
  target_columns: [species]
  processors:
    - {name: assemble, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.raw: output}}
    - {name: scale, op: StandardNormalization, inputs: {x: tensors.raw}, outputs: {tensors.features: output}}
    - {name: stats, op: inspect.feature_stats, inputs: {tensor: tensors.features}, outputs: {vars.n_features: n_features}}
    - {name: label, op: LabelEncoding, train_only: true, inputs: {column: species}, outputs: {tensors.species: output}}
modules:
  block:
    inputs: {x: [null, vars.width]}
    graph:
      - {name: fc, type: Linear, params: {in_features: vars.width, out_features: vars.width}}
      - {name: act, type: torch.nn.ReLU}
    outputs: {y: act}
model:
  inputs: {features: [null, vars.n_features]}
  graph:
    - {name: stem, type: torch.nn.Linear, params: {in_features: vars.n_features, out_features: 8}}
    - {name: block1, type: module.block, params: {width: 8}}
    - {name: block2, type: module.block, params: {width: 8}}
    - {name: head, type: Linear, params: {in_features: 8, out_features: 3}}
  outputs: {logits: head}
trainer:
  optimizer: {type: Adam, config: {lr: 0.02}}
  loss: {type: CrossEntropyLoss, inputs: {pred: model.logits, target: target_columns.species}}
  config: {epochs: 40, batch_size: 16, validation_split: 0.2, seed: 42}
";

#[test]
fn a_block_used_twice_trains_with_its_own_named_parameters() -> Result<()> {
    let spec = ArcSpec::from_yaml(SPEC, "blocks.yaml")?;
    let pm = arc::get_plugin_manager();
    assert_eq!(validate(&spec, pm)?.issues, []);
    let trained = arc::train::train(&spec, spec.trainer()?, &table()?, pm, &mut |_| {})?;
    let values = trained.model.named_values();
    let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "stem.weight",
            "stem.bias",
            "block1.fc.weight",
            "block1.fc.bias",
            "block2.fc.weight",
            "block2.fc.bias",
            "head.weight",
            "head.bias"
        ]
    );
    let shapes: Vec<Vec<usize>> = values.iter().map(|(_, t)| t.shape().to_vec()).collect();
    assert_eq!(shapes, [vec![8, 4], vec![8], vec![8, 8], vec![8], vec![8, 8], vec![8], vec![3, 8], vec![3]]);
    assert_ne!(values[2].1.to_vec()?, values[4].1.to_vec()?, "each use of the block has its own weights");
    let epochs = &trained.history.epochs;
    assert!(epochs[epochs.len() - 1].train_loss < 0.5 * epochs[0].train_loss, "{:?}", trained.history);
    assert!(epochs[epochs.len() - 1].metrics["accuracy"] >= 0.9, "{:?}", epochs.last());

    // The forward pass is the composed ops: head(relu(fc2(relu(fc1(stem(x)))))).
    let x = Tensor::from_vec(vec![0.5, -1.0, 1.5, 0.0, -0.3, 0.2, 0.1, 0.9], &[2, 4])?;
    let p = |i: usize| &values[i].1;
    let expect = x
        .linear(p(0), Some(p(1)))?
        .linear(p(2), Some(p(3)))?
        .relu()?
        .linear(p(4), Some(p(5)))?
        .relu()?
        .linear(p(6), Some(p(7)))?;
    let out = trained.model.forward(&BTreeMap::from([("features".to_owned(), x)]))?;
    assert_eq!(out["logits"].to_vec()?, expect.to_vec()?);
    assert_eq!(trained.model.infer_shapes()?["block2"], [None, Some(8)]);
    Ok(())
}

#[test]
fn module_errors_are_located() -> Result<()> {
    let pm = arc::get_plugin_manager();
    let issues = |text: &str| -> Result<Vec<String>> {
        let spec = ArcSpec::from_yaml(text, "blocks.yaml")?;
        Ok(validate(&spec, pm)?.issues.iter().map(ToString::to_string).collect())
    };
    assert_eq!(
        issues(&SPEC.replace(
            "type: module.block, params: {width: 8}}\n    - {name: block2",
            "type: module.blok, params: {width: 8}}\n    - {name: block2"
        ))?,
        ["blocks.yaml:21:28: error: node `block1`: unknown module `blok` (did you mean `block`?)"]
    );
    // A module that uses itself.
    assert_eq!(
        issues(
            &SPEC.replace("{name: act, type: torch.nn.ReLU}", "{name: act, type: module.block, params: {width: 8}}")
        )?,
        ["blocks.yaml:12:5: error: module `block` uses itself: block → block"]
    );
    // A var the module needs but the node does not bind.
    assert_eq!(
        issues(&SPEC.replace("out_features: vars.width}", "out_features: vars.widht}"))?,
        [
            "blocks.yaml:14:82: error: node `fc`: `vars.widht` is not defined by any processor step (did you mean `vars.width`?)"
        ]
    );
    let spec = ArcSpec::from_yaml(
        &SPEC.replace("{name: act, type: torch.nn.ReLU}", "{name: act, type: module.block, params: {width: 8}}"),
        "blocks.yaml",
    )?;
    let vars = BTreeMap::from([("n_features".to_owned(), 4.0)]);
    let err = GraphModel::build(&spec.model, &vars, pm).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "node `block1` (`module.block`): node `act` (`module.block`): spec: module `block` uses itself: \
             block → block"
        )
    );
    Ok(())
}
