//! The built-in feature processors and the `features.processors` pipeline,
//! through a `PluginManager` holding `BuiltinProcessorPlugin`.
//!
//! Reference values come from `scripts/reference/processors.py` (NumPy, fixed
//! seeds; fixtures under `tests/fixtures/processors/`): the scalers'
//! statistics in f64 as scikit-learn computes them, FNV-1a hashes, shifted
//! sequences, sorted categories. Scaled outputs are f32, compared to 1e-5
//! relative with an absolute floor of 1e-6 (f32 rounding of values near
//! zero); fitted statistics are f64 computed from the same f32 inputs,
//! compared to 1e-12 relative (summation order only). Codes and hashes are
//! exact.

#![cfg(all(feature = "processors", feature = "data-sources"))]

#[path = "support/mod.rs"]
mod support;

use std::path::Path;

use arc_builtins::{BuiltinDataSourcePlugin, BuiltinProcessorPlugin};
use arc_core::data::{Column, Table};
use arc_core::pipeline::{Bindings, Pipeline};
use arc_core::plugin::{ComponentKind, PluginManager};
use arc_core::process::FittedState;
use arc_core::spec::Config;
use arc_core::spec::ProcessorStep;
use arc_core::{Result, Tensor};
use serde_json::Value;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;
const STAT_RTOL: f64 = 1e-12;

fn manager() -> PluginManager {
    let manager = PluginManager::new();
    manager.register_plugin(BuiltinProcessorPlugin, "builtin_processors").expect("a fresh manager");
    manager.register_plugin(BuiltinDataSourcePlugin, "builtin_data_sources").expect("a fresh manager");
    manager.refresh_registries().expect("the builtin plugins register");
    manager
}

/// The steps of a YAML list.
fn steps(yaml: &str) -> Vec<ProcessorStep> {
    Config::from_yaml(yaml).and_then(|c| c.parse("features.processors")).expect("the test's steps parse")
}

fn pipeline(yaml: &str) -> Result<Pipeline> {
    Pipeline::new(steps(yaml), &manager())
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/processors").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().expect("a number")],
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("a list").iter().map(|s| s.as_str().expect("a string").to_owned()).collect()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec().expect("an f32 tensor").into_iter().map(f64::from).collect()
}

fn tensor<'a>(bindings: &'a Bindings, name: &str) -> &'a Tensor {
    bindings.tensor(name).unwrap_or_else(|| panic!("tensors.{name} is bound"))
}

/// A table with numeric columns `f0..fk` from row-major `rows`.
fn feature_table(rows: &Value) -> Table {
    let rows: Vec<Vec<f64>> = rows.as_array().expect("rows").iter().map(floats).collect();
    let k = rows[0].len();
    Table::new((0..k).map(|j| Column::numeric(format!("f{j}"), rows.iter().map(|r| r[j]).collect())).collect())
        .expect("equal lengths")
}

fn text_column(name: &str, values: &[&str]) -> Column {
    Column::text(name, values.iter().map(|v| Some((*v).to_owned())).collect())
}

const ASSEMBLE: &str = "- {name: assemble, op: transform.assemble_vector, inputs: {columns: [f0, f1, f2, f3]}, outputs: {tensors.raw: output}}\n";

/// Fits `op` (with `params`) on the fixture's `x`, checks the fitted
/// statistics, the fit output and the transform of `x_new` with the saved state.
fn check_scaler(op: &str, params: &str, case: &Value, keys: [&str; 2]) -> Result<()> {
    let data = fixture("scalers");
    let yaml = format!(
        "{ASSEMBLE}- {{name: scale, op: {op}, inputs: {{x: tensors.raw{params}}}, outputs: {{output: tensors.x, state: states.s}}}}"
    );
    let pipeline = pipeline(&yaml)?;
    let fitted = pipeline.fit(&feature_table(&data["x"]))?;
    let state = &fitted.states["s"];
    for key in keys {
        support::assert_close(&format!("{op} {key}"), state.numbers(op, key)?, &floats(&case[key]), STAT_RTOL, 0.0);
    }
    support::assert_close(&format!("{op} fit"), &values(tensor(&fitted, "x")), &floats(&case["fit"]), RTOL, ATOL);
    let predicted = pipeline.transform(&feature_table(&data["x_new"]), &fitted.fitted())?;
    support::assert_close(&format!("{op} new"), &values(tensor(&predicted, "x")), &floats(&case["new"]), RTOL, ATOL);
    Ok(())
}

#[test]
fn standard_normalization_matches_numpy_and_scales_constant_features_by_one() -> Result<()> {
    let case = &fixture("scalers")["standard"];
    // x[:, 3] is constant: its std is 0, so the scale is 1 and the output 0.
    assert_eq!(case["scale"][3], 1.0);
    check_scaler("StandardNormalization", "", case, ["mean", "scale"])?;
    check_scaler("ZScoreNormalization", "", case, ["mean", "scale"])
}

#[test]
fn fit_and_transform_standard_scaler_match_numpy() -> Result<()> {
    let data = fixture("scalers");
    let case = &data["standard"];
    let pipeline = pipeline(&format!(
        "{ASSEMBLE}- {{name: fit, op: fit.standard_scaler, inputs: {{x: tensors.raw}}, outputs: {{state: states.scaler}}}}\n\
         - {{name: apply, op: transform.standard_scaler, inputs: {{x: tensors.raw, state: states.scaler}}, outputs: {{output: tensors.x}}}}"
    ))?;
    let fitted = pipeline.fit(&feature_table(&data["x"]))?;
    support::assert_close(
        "mean",
        fitted.states["scaler"].numbers("t", "mean")?,
        &floats(&case["mean"]),
        STAT_RTOL,
        0.0,
    );
    support::assert_close("fit", &values(tensor(&fitted, "x")), &floats(&case["fit"]), RTOL, ATOL);
    let predicted = pipeline.transform(&feature_table(&data["x_new"]), &fitted.fitted())?;
    support::assert_close("new", &values(tensor(&predicted, "x")), &floats(&case["new"]), RTOL, ATOL);
    Ok(())
}

#[test]
fn min_max_normalization_matches_numpy_for_each_feature_range() -> Result<()> {
    for case in fixture("scalers")["minmax"].as_array().expect("cases") {
        let range = floats(&case["feature_range"]);
        let params = format!(", feature_range: [{:?}, {:?}]", range[0], range[1]);
        check_scaler("MinMaxNormalization", &params, case, ["data_min", "data_max"])?;
    }
    // The default range is [0, 1].
    check_scaler("MinMaxNormalization", "", &fixture("scalers")["minmax"][0], ["data_min", "data_max"])
}

#[test]
fn robust_normalization_matches_numpy_percentiles() -> Result<()> {
    let data = fixture("scalers");
    let cases = data["robust"].as_array().expect("cases");
    check_scaler("RobustNormalization", "", &cases[0], ["center", "scale"])?;
    check_scaler("RobustNormalization", ", quantile_range: [10, 90]", &cases[1], ["center", "scale"])
}

#[test]
fn fitted_state_round_trips_through_json_and_predicts_the_same() -> Result<()> {
    let data = fixture("scalers");
    let pipeline = pipeline(&format!(
        "{ASSEMBLE}- {{name: stats, op: inspect.feature_stats, inputs: {{tensor: tensors.raw}}, outputs: {{n_features: vars.n_features}}}}\n\
         - {{name: robust, op: RobustNormalization, inputs: {{x: tensors.raw}}, outputs: {{output: tensors.x}}}}"
    ))?;
    let fitted = pipeline.fit(&feature_table(&data["x"]))?.fitted();
    // The unbound state of a named processor is saved under `states.<step>`.
    assert_eq!(fitted.states["robust"].kind, "robust_scaler");
    assert_eq!(fitted.vars["n_features"], 4.0);
    let json = serde_json::to_string(&fitted).expect("a fitted state serializes");
    let loaded: FittedState = serde_json::from_str(&json).expect("and loads back");
    assert_eq!(loaded, fitted);
    let new = feature_table(&data["x_new"]);
    let (a, b) = (pipeline.transform(&new, &fitted)?, pipeline.transform(&new, &loaded)?);
    assert_eq!(values(tensor(&a, "x")), values(tensor(&b, "x")));
    support::assert_close("robust new", &values(tensor(&b, "x")), &floats(&data["robust"][0]["new"]), RTOL, ATOL);
    Ok(())
}

#[test]
fn transform_skips_train_only_steps_and_keeps_their_saved_vars() -> Result<()> {
    let pipeline = pipeline(
        "- {name: assemble, op: transform.assemble_vector, inputs: {columns: [a, b]}, outputs: {tensors.raw: output}}\n\
         - {name: stats, op: inspect.feature_stats, inputs: {tensor: tensors.raw}, outputs: {vars.n: n_features, tensors.mean: mean}}\n\
         - {name: target, op: LabelEncoding, train_only: true, inputs: {column: y}, outputs: {tensors.y: output}}\n\
         - {name: buckets, op: transform.hash_bucket, inputs: {x: tensors.raw, num_buckets: vars.n}, outputs: {tensors.h: output}}",
    )?;
    let train = Table::new(vec![
        Column::numeric("a", vec![1.0, 2.0]),
        Column::numeric("b", vec![3.0, 5.0]),
        text_column("y", &["no", "yes"]),
    ])?;
    let fitted = pipeline.fit(&train)?;
    assert_eq!(values(tensor(&fitted, "mean")), [1.5, 4.0]);
    assert_eq!(tensor(&fitted, "y").to_vec_i64()?, [0, 1]);
    // Prediction rows have no target column: its train-only step is skipped,
    // and `vars.n` (from the skipped inspect step) comes from the saved state.
    let rows = Table::new(vec![Column::numeric("a", vec![7.0]), Column::numeric("b", vec![8.0])])?;
    let predicted = pipeline.transform(&rows, &fitted.fitted())?;
    assert!(predicted.tensor("mean").is_none() && predicted.tensor("y").is_none());
    // Buckets of "7" and "8" among 2 (FNV-1a 64 of "7" is 0xaf63d44c8601de94, of "8" 0xaf63db4c8601ea79).
    assert_eq!(tensor(&predicted, "h").to_vec_i64()?, [0, 1]);
    // The saved label classes decode predictions.
    let label = manager().get_processor("LabelEncoding")?.create(&Config::from_yaml("column: y")?)?;
    let codes = Tensor::from_vec_i64(vec![1, 0, 1], &[3])?;
    assert_eq!(label.decode(&fitted.states["target"], &codes)?, ["yes", "no", "yes"]);
    Ok(())
}

#[test]
fn a_tensor_from_a_train_only_step_is_undefined_at_prediction() -> Result<()> {
    let pipeline = pipeline(
        "- {name: assemble, op: transform.assemble_vector, train_only: true, inputs: {columns: [a]}, outputs: {tensors.raw: output}}\n\
         - {name: scale, op: StandardNormalization, inputs: {x: tensors.raw}, outputs: {tensors.x: output}}",
    )?;
    let table = Table::new(vec![Column::numeric("a", vec![1.0, 2.0])])?;
    let fitted = pipeline.fit(&table)?.fitted();
    let err = pipeline.transform(&table, &fitted).unwrap_err();
    assert_eq!(err.to_string(), "step `scale`: `tensors.raw` is not defined");
    Ok(())
}

#[test]
fn a_step_given_a_state_reuses_it_instead_of_fitting() -> Result<()> {
    // Fit on `a`, then scale `b` with `a`'s statistics (mean 2, std 1).
    let pipeline = pipeline(
        "- {name: ta, op: transform.assemble_vector, inputs: {columns: [a]}, outputs: {tensors.a: output}}\n\
         - {name: tb, op: transform.assemble_vector, inputs: {columns: [b]}, outputs: {tensors.b: output}}\n\
         - {name: sa, op: StandardNormalization, inputs: {x: tensors.a}, outputs: {tensors.xa: output, states.s: state}}\n\
         - {name: sb, op: StandardNormalization, inputs: {x: tensors.b, state: states.s}, outputs: {tensors.xb: output}}",
    )?;
    let table = Table::new(vec![Column::numeric("a", vec![1.0, 3.0]), Column::numeric("b", vec![2.0, 5.0])])?;
    let fitted = pipeline.fit(&table)?;
    assert_eq!(values(tensor(&fitted, "xb")), [0.0, 3.0]);
    assert_eq!(fitted.states.keys().collect::<Vec<_>>(), ["s"]);
    let predicted = pipeline.transform(&table, &fitted.fitted())?;
    assert_eq!(values(tensor(&predicted, "xb")), [0.0, 3.0]);
    Ok(())
}

#[test]
fn hash_bucket_is_fnv1a_64_of_the_text() -> Result<()> {
    let data = fixture("hashing");
    let words = strings(&data["words"]);
    let word_refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let table = Table::new(vec![text_column("w", &word_refs)])?;
    let expect_buckets: Vec<i64> = floats(&data["buckets"]).into_iter().map(|b| b as i64).collect();
    let run = |buckets: &str| -> Result<Vec<i64>> {
        let yaml = format!(
            "- {{name: h, op: transform.hash_bucket, inputs: {{x: [w], num_buckets: {buckets}}}, outputs: {{output: tensors.h}}}}"
        );
        tensor(&pipeline(&yaml)?.fit(&table)?, "h").to_vec_i64()
    };
    assert_eq!(run("1000")?, expect_buckets);
    // Modulo the largest i64: the full 64-bit hash, less at most one wrap.
    let max = i64::MAX as u64;
    let hashes: Vec<i64> =
        strings(&data["hashes"]).iter().map(|h| (u64::from_str_radix(h, 16).expect("hex") % max) as i64).collect();
    assert_eq!(run(&max.to_string())?, hashes);

    // Numbers hash as their text: the column 42, 0.5, -3 and the tensor
    // [42, -3] land in the buckets of the strings "42", "0.5", "-3".
    let numbers = Table::new(vec![Column::numeric("n", vec![42.0, 0.5, -3.0])])?;
    let yaml = "- {name: h, op: transform.hash_bucket, inputs: {x: [n], num_buckets: 1000}, outputs: {tensors.h: output}}\n\
                - {name: t, op: transform.assemble_vector, inputs: {columns: [n]}, outputs: {tensors.n: output}}\n\
                - {name: ht, op: transform.hash_bucket, inputs: {x: tensors.n, num_buckets: 1000}, outputs: {tensors.ht: output}}";
    let out = pipeline(yaml)?.fit(&numbers)?;
    assert_eq!(tensor(&out, "h").to_vec_i64()?, expect_buckets[3..6]);
    assert_eq!(tensor(&out, "h").shape(), [3, 1]);
    assert_eq!(tensor(&out, "ht").to_vec_i64()?, expect_buckets[3..6]);
    Ok(())
}

#[test]
fn hash_and_pad_splits_hashes_pads_and_truncates() -> Result<()> {
    let data = fixture("hashing");
    let texts = strings(&data["texts"]);
    let mut cells: Vec<Option<String>> = texts.into_iter().map(Some).collect();
    cells.push(None); // a missing text: all padding
    let table = Table::new(vec![Column::text("text", cells)])?;
    let yaml = "- {name: tok, op: transform.hash_and_pad, inputs: {x: [text], num_buckets: 50, max_length: 4, fill_value: -1}, outputs: {tensors.ids: output}}";
    let ids = tensor(&pipeline(yaml)?.fit(&table)?, "ids").clone();
    assert_eq!(ids.shape(), [5, 4]);
    let mut want: Vec<i64> = floats(&data["padded"]).into_iter().map(|v| v as i64).collect();
    want.extend([-1; 4]);
    assert_eq!(ids.to_vec_i64()?, want);
    Ok(())
}

#[test]
fn sequence_shift_matches_numpy_in_both_directions() -> Result<()> {
    let data = fixture("sequence");
    let shape: Vec<usize> = floats(&data["shape"]).into_iter().map(|v| v as usize).collect();
    let x = floats(&data["x"]);
    let manager = manager();
    let table = Table::default();
    for case in data["cases"].as_array().expect("cases") {
        let config = Config::new()
            .with("direction", case["direction"].as_i64())?
            .with("fill_value", case["fill_value"].as_f64())?;
        let shift = manager.get_processor("transform.sequence_shift")?.create(&config)?;
        let input = Tensor::from_vec(x.iter().map(|&v| v as f32).collect(), &shape)?;
        let inputs = arc_core::process::ProcessorInputs::new("shift", &table).with_tensor("x", input);
        let out = shift.transform(&inputs)?;
        let out = out.get_tensor("output").expect("an output");
        assert_eq!(out.shape(), shape);
        assert_eq!(values(out), floats(&case["output"]), "direction {}", case["direction"]);
    }
    // A 1-D i64 sequence shifts along dim 0.
    let shift = manager.get_processor("transform.sequence_shift")?.create(&Config::from_yaml("direction: -1")?)?;
    let ids = Tensor::from_vec_i64(vec![5, 6, 7], &[3])?;
    let out = shift.transform(&arc_core::process::ProcessorInputs::new("shift", &table).with_tensor("x", ids))?;
    assert_eq!(out.get_tensor("output").expect("an output").to_vec_i64()?, [6, 7, 0]);
    Ok(())
}

fn encoding_table(data: &Value) -> Result<Table> {
    let color = strings(&data["color"]);
    let color: Vec<&str> = color.iter().map(String::as_str).collect();
    Table::new(vec![text_column("color", &color), Column::numeric("size", floats(&data["size"]))])
}

#[test]
fn categorical_encoding_sorts_categories_and_handles_unknowns() -> Result<()> {
    let data = fixture("encoding");
    let yaml = |unknown: &str| {
        format!(
            "- {{name: onehot, op: OneHotEncoding, inputs: {{columns: [color, size], handle_unknown: {unknown}}}, \
             outputs: {{output: tensors.x, n_features: vars.width}}}}"
        )
    };
    let ignore = pipeline(&yaml("ignore"))?;
    let fitted = ignore.fit(&encoding_table(&data)?)?;
    let state = &fitted.states["onehot"];
    assert_eq!(state.strings("t", "categories.color")?, strings(&data["categories_color"]));
    assert_eq!(state.strings("t", "categories.size")?, strings(&data["categories_size"]));
    assert_eq!(values(tensor(&fitted, "x")), floats(&data["one_hot"]));
    assert_eq!(tensor(&fitted, "x").shape(), [6, 7]);
    assert_eq!(fitted.vars["width"], 7.0);

    let unseen =
        Table::new(vec![text_column("color", &["green", "purple"]), Column::numeric("size", vec![3.0, 10.0])])?;
    let out = ignore.transform(&unseen, &fitted.fitted())?;
    // green -> [0, 0, 1, 0 | 0, 0, 0]; purple, size 10 -> [0, 0, 0, 0 | 0, 0, 1]
    assert_eq!(values(tensor(&out, "x")), [0., 0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 1.]);

    let strict = pipeline(&yaml("error"))?;
    let fitted = strict.fit(&encoding_table(&data)?)?.fitted();
    let unseen = Table::new(vec![text_column("color", &["green", "gren"]), Column::numeric("size", vec![2.0, 2.0])])?;
    let err = strict.transform(&unseen, &fitted).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `onehot` (`OneHotEncoding`): column `color`: unknown category `gren` (row 2) (did you mean `green`, `Red` or `red`?)"
    );
    let err = pipeline(&yaml("warn")).and_then(|p| p.fit(&encoding_table(&data)?)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `onehot` (`OneHotEncoding`): core.CategoricalEncoding: invalid config: handle_unknown: expected 'ignore' or 'error', got 'warn'"
    );
    Ok(())
}

#[test]
fn label_encoding_matches_numpy_unique_and_rejects_unknown_labels() -> Result<()> {
    let data = fixture("encoding");
    let labels = strings(&data["labels"]);
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let pipeline = pipeline(
        "- {name: target, op: LabelEncoding, inputs: {column: y}, outputs: {tensors.y: output, vars.num_classes: num_classes}}",
    )?;
    let fitted = pipeline.fit(&Table::new(vec![text_column("y", &labels)])?)?;
    assert_eq!(fitted.states["target"].strings("t", "classes")?, strings(&data["classes"]));
    let codes: Vec<i64> = floats(&data["codes"]).into_iter().map(|c| c as i64).collect();
    assert_eq!(tensor(&fitted, "y").to_vec_i64()?, codes);
    assert_eq!(fitted.vars["num_classes"], 3.0);
    let err = pipeline.transform(&Table::new(vec![text_column("y", &["a", "d"])])?, &fitted.fitted()).unwrap_err();
    assert_eq!(err.to_string(), "step `target` (`LabelEncoding`): unknown label `d` (did you mean `a`, `b` or `c`?)");
    Ok(())
}

#[test]
fn label_encoding_of_a_numeric_column_sorts_the_values_as_numbers() -> Result<()> {
    // An integer class column (wine's `class`, digits' `digit`) loads as
    // numbers. numpy.unique([10, 2, 0, 2, 0.5]) = [0, 0.5, 2, 10], so the
    // codes are [3, 2, 0, 2, 1] (by hand); text order would put 10 before 2.
    let pipeline = pipeline(
        "- {name: target, op: LabelEncoding, inputs: {column: y}, outputs: {tensors.y: output, vars.k: num_classes}}",
    )?;
    let table = Table::new(vec![Column::numeric("y", vec![10.0, 2.0, 0.0, 2.0, 0.5])])?;
    let fitted = pipeline.fit(&table)?;
    assert_eq!(fitted.states["target"].strings("t", "classes")?, ["0", "0.5", "2", "10"]);
    assert_eq!(tensor(&fitted, "y").to_vec_i64()?, [3, 2, 0, 2, 1]);
    assert_eq!(fitted.vars["k"], 4.0);
    // Decoding gives the column's own values back.
    let encoder = manager().get_processor("LabelEncoding")?.create(&Config::from_yaml("column: y")?)?;
    let decoded = encoder.decode(&fitted.states["target"], &Tensor::from_vec_i64(vec![3, 0, 1], &[3])?)?;
    assert_eq!(decoded, ["10", "0", "0.5"]);
    // The saved classes at prediction: an unseen value and a missing one are errors.
    let unseen = Table::new(vec![Column::numeric("y", vec![2.0, 7.0])])?;
    let err = pipeline.transform(&unseen, &fitted.fitted()).unwrap_err();
    assert!(err.to_string().starts_with("step `target` (`LabelEncoding`): unknown label `7`"), "{err}");
    let missing = Table::new(vec![Column::numeric("y", vec![2.0, f64::NAN])])?;
    let err = pipeline.fit(&missing).unwrap_err();
    assert_eq!(err.to_string(), "step `target` (`LabelEncoding`): column `y`: row 2 has a missing value");
    Ok(())
}

#[test]
fn pipeline_errors_name_the_step_and_what_is_wrong() -> Result<()> {
    let table = Table::new(vec![Column::numeric("a", vec![1.0, f64::NAN]), Column::numeric("b", vec![1.0, 2.0])])?;
    let run = |yaml: &str| pipeline(yaml).and_then(|p| p.fit(&table)).unwrap_err().to_string();
    let assemble =
        "- {name: asm, op: transform.assemble_vector, inputs: {columns: [b]}, outputs: {tensors.features: output}}\n";
    assert_eq!(
        run(&format!(
            "{assemble}- {{name: s, op: StandardNormalization, inputs: {{x: tensors.feature}}, outputs: {{output: tensors.x}}}}"
        )),
        "step `s`: `tensors.feature` is not defined (did you mean `tensors.features`?)"
    );
    assert_eq!(
        run("- {name: asm, op: transform.assemble_vector, inputs: {columns: [b, c]}, outputs: {tensors.x: output}}"),
        "step `asm` (`transform.assemble_vector`): no column `c` (did you mean `a` or `b`?)"
    );
    assert_eq!(
        run("- {name: asm, op: transform.assemble_vector, inputs: {columns: [b, a]}, outputs: {tensors.x: output}}"),
        "step `asm` (`transform.assemble_vector`): column `a`: row 2 has a missing value"
    );
    assert_eq!(
        run("- {name: asm, op: transform.assemble_vector, inputs: {colums: [b]}, outputs: {tensors.x: output}}"),
        "step `asm` (`transform.assemble_vector`): transform.assemble_vector: unknown parameter `colums` (did you mean `columns`?)"
    );
    assert_eq!(
        run(&format!("{assemble}- {{name: s, op: StandardNormalization, inputs: {{input: tensors.features}}}}")),
        "step `s` (`StandardNormalization`): core.StandardNormalization: no input port `input`"
    );
    assert_eq!(
        run(&format!(
            "{assemble}- {{name: s, op: StandardNormalization, inputs: {{x: tensors.features}}, outputs: {{outptu: tensors.x}}}}"
        )),
        "step `s` (`StandardNormalization`): core.StandardNormalization: no output port `outptu` (did you mean `output`?)"
    );
    assert_eq!(
        run(&format!(
            "{assemble}- {{name: s, op: StandardNormalization, inputs: {{x: tensors.features}}, outputs: {{output: vars.x}}}}"
        )),
        "step `s`: output `output` is bound to `vars.x`, but it belongs in `tensors.*`"
    );
    assert_eq!(
        run("- {name: s, op: StandardNormalisation}"),
        "step `s` (`StandardNormalisation`): unknown processor `StandardNormalisation` (did you mean `StandardNormalization`, `core.StandardNormalization` or `MinMaxNormalization`?)"
    );
    assert_eq!(run(&format!("{assemble}{assemble}")), "duplicate processor step `asm`");
    assert_eq!(
        run("- {name: s, op: StandardNormalization, inputs: {x: tensors.y}}"),
        "step `s`: `tensors.y` is not defined"
    );
    Ok(())
}

#[test]
fn a_features_section_with_an_unknown_key_is_an_error() {
    let features = Config::from_yaml("feature_column: [a]\nprocessors: []").expect("YAML");
    let err = Pipeline::from_features(&features, &manager()).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("features: unknown parameter `feature_column` (did you mean `feature_columns`?)"));
}

#[test]
fn config_validation_answers_for_processors_only() -> Result<()> {
    let manager = manager();
    let check = |name: &str, yaml: &str| {
        manager.validate_component_config(ComponentKind::Processor, name, &Config::from_yaml(yaml)?)
    };
    assert!(check("MinMaxNormalization", "feature_range: [-1, 1]")?);
    assert!(!check("MinMaxNormalization", "feature_range: [1, 1]")?);
    assert!(!check("transform.hash_bucket", "num_buckets: 0")?);
    assert!(check("OneHotEncoding", "columns: [a]")?);
    assert!(!check("LabelEncoding", "columns: [a]")?);
    let err = manager.get_processor("MinMaxNormalization")?.create(&Config::from_yaml("feature_range: [2, 1]")?).err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("core.MinMaxNormalization: invalid config: feature_range: expected [min, max] with min < max, got [2, 1]")
    );
    Ok(())
}

#[test]
fn iris_pipeline_standardizes_features_and_encodes_species() -> Result<()> {
    let manager = manager();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/iris.csv");
    let table = manager.get_data_source("csv")?.create(&Config::new())?.load(&path.to_string_lossy())?;
    let data = fixture("iris");
    // The spec's `features` section, as written in examples/iris.yaml-style specs.
    let features = Config::from_yaml(
        "feature_columns: [sepal_length, sepal_width, petal_length, petal_width]\n\
         target_columns: [species]\n\
         processors:\n\
         - {name: assemble, op: transform.assemble_vector, inputs: {columns: feature_columns}, outputs: {tensors.raw: output}}\n\
         - {name: stats, op: inspect.feature_stats, inputs: {tensor: tensors.raw}, outputs: {vars.n_features: n_features}}\n\
         - {name: fit, op: fit.standard_scaler, inputs: {x: tensors.raw}, outputs: {states.scaler: state}}\n\
         - {name: scale, op: transform.standard_scaler, inputs: {x: tensors.raw, state: states.scaler}, outputs: {tensors.features: output}}\n\
         - {name: target, op: LabelEncoding, train_only: true, inputs: {column: species}, outputs: {tensors.target: output, vars.num_classes: num_classes}}",
    )?;
    let pipeline = Pipeline::from_features(&features, &manager)?;
    assert_eq!(strings(&data["columns"]), ["sepal_length", "sepal_width", "petal_length", "petal_width"]);
    let fitted = pipeline.fit(&table)?;
    let features = tensor(&fitted, "features");
    assert_eq!(features.shape(), [150, 4]);
    support::assert_close("iris features", &values(features), &floats(&data["standardized"]), RTOL, ATOL);
    support::assert_close(
        "iris mean",
        fitted.states["scaler"].numbers("t", "mean")?,
        &floats(&data["mean"]),
        STAT_RTOL,
        0.0,
    );
    let codes: Vec<i64> = floats(&data["codes"]).into_iter().map(|c| c as i64).collect();
    assert_eq!(tensor(&fitted, "target").to_vec_i64()?, codes);
    assert_eq!((fitted.vars["n_features"], fitted.vars["num_classes"]), (4.0, 3.0));
    assert_eq!(fitted.states["target"].strings("t", "classes")?, strings(&data["classes"]));

    // Prediction on the feature columns alone reproduces the training features.
    let features_only = Table::new(table.into_columns().into_iter().filter(|c| c.name != "species").collect())?;
    let predicted = pipeline.transform(&features_only, &fitted.fitted())?;
    assert_eq!(values(tensor(&predicted, "features")), values(features));
    assert!(predicted.tensor("target").is_none());
    Ok(())
}
