//! The memory budget: a spec whose model would not fit is an error before anything is
//! allocated, in `arc validate` (with or without data) and `arc train` alike, naming the
//! largest nodes, their bytes, the total and the budget. The tests set the budget
//! (`trainer.config.memory_budget_mb`, `--memory-budget-mb`), so they do not depend on the
//! machine's memory.

use std::process::{Command, Output};

#[path = "support/iris.rs"]
mod iris;

fn arc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arc")).current_dir(iris::root()).args(args).output().expect("arc runs")
}

fn stderr_of(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A path in the temp folder that nothing is at.
fn fresh(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("arc-budget-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path.display().to_string()
}

fn write(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("arc-budget-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("written");
    path.display().to_string()
}

/// The iris spec with `fc1` `width` wide and `extra` lines in `trainer.config`.
fn iris_spec(width: usize, extra: &str) -> String {
    iris::with_config(2, extra)
        .replace("out_features: 16}", &format!("out_features: {width}}}"))
        .replace("in_features: 16,", &format!("in_features: {width},"))
}

#[test]
fn a_model_over_the_budget_is_refused_before_anything_is_built() {
    // fc1: 4 × 10^8 + 10^8 floats = 1.9 GiB, fc2: 3 × 10^8 + 3 = 1.1 GiB; Adam keeps 4 copies.
    let spec = write("wide.yaml", &iris_spec(100_000_000, "memory_budget_mb: 64"));
    let expected = "the model needs about 11.9 GiB (parameters 3.0 GiB ×4 for their gradients and the optimizer's \
                    state), more than the memory budget of 64.0 MiB (trainer.config.memory_budget_mb); the largest \
                    nodes: `fc1` 1.9 GiB, `fc2` 1.1 GiB. Set trainer.config.memory_budget_mb (or `arc train \
                    --memory-budget-mb`) if the machine has the memory";
    let validated = arc(&["validate", &spec, "--data", iris::DATA]);
    let said = stdout_of(&validated);
    assert!(said.contains(&format!("{spec}:33:7: error: {expected}")), "{said}");
    let trained = arc(&["train", &spec, "--data", iris::DATA, "--out", &fresh("wide-out")]);
    let stderr = stderr_of(&trained);
    assert!(stderr.contains(&format!("{spec}:33:7: error: {expected}")), "{stderr}");
    // A budget that fits lets it through the check (the CLI flag overrides the spec).
    let fits = write("narrow.yaml", &iris_spec(16, "memory_budget_mb: 0.001"));
    let refused = stderr_of(&arc(&["train", &fits, "--data", iris::DATA, "--out", &fresh("narrow-out")]));
    assert!(refused.contains("more than the memory budget of 1.0 KiB"), "{refused}");
    let out = std::env::temp_dir().join(format!("arc-budget-{}-fits", std::process::id()));
    let ok = arc(&["train", &fits, "--data", iris::DATA, "--out", out.to_str().unwrap(), "--memory-budget-mb", "64"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn one_batchs_activations_count_too() {
    // Parameters 131 floats (524 B), ×4 with Adam = 2 096 B; activations of a batch of 16:
    // (16 + 16 + 3) × 16 values and gradients = 4 480 B. A budget of 4 KiB takes the first,
    // not both.
    let spec = write("activations.yaml", &iris_spec(16, "memory_budget_mb: 0.00390625"));
    let stderr = stderr_of(&arc(&["train", &spec, "--data", iris::DATA, "--out", &fresh("act-out")]));
    assert!(
        stderr.contains(
            "the model needs about 6.4 KiB (parameters 524 B ×4 for their gradients and the optimizer's state, plus \
             4.4 KiB of activations for a batch of 16), more than the memory budget of 4.0 KiB"
        ),
        "{stderr}"
    );
}

#[test]
fn a_budget_that_is_not_a_positive_size_is_a_spec_error() {
    let spec = write("bad-budget.yaml", &iris_spec(16, "memory_budget_mb: -5"));
    let said = stdout_of(&arc(&["validate", &spec]));
    assert!(
        said.contains(":57:23: error: trainer.config.memory_budget_mb must be a positive number of MiB, got -5"),
        "{said}"
    );
}

#[test]
fn a_huge_or_overflowing_layer_is_an_error_not_an_abort() {
    let graph = |inputs: &str, params: &str| {
        format!(
            "model_name: m\nfeatures: {{feature_columns: [x]}}\nmodel:\n  inputs: {{x: [null, {inputs}]}}\n  graph:\n    \
             - {{name: fc, type: Linear, params: {{{params}}}}}\n"
        )
    };
    // 10^12 outputs: 3.6 TiB of weights, over any machine's budget; validate allocates nothing.
    let huge = write("huge.yaml", &graph("4", "in_features: 4, out_features: 1000000000000"));
    let said = stdout_of(&arc(&["validate", &huge]));
    assert!(
        said.contains(&format!(
            "{huge}:6:7: error: the model needs about 18.2 TiB (parameters 18.2 TiB), more than the memory budget of "
        )),
        "{said}"
    );
    assert!(said.contains("the largest nodes: `fc` 18.2 TiB"), "{said}");
    // 2^32 × 2^32 elements wrap to 0 in unchecked arithmetic: here an error, not "ok".
    let wrap =
        write("wrap.yaml", &graph("4294967296", "in_features: 4294967296, out_features: 4294967296, bias: false"));
    let said = stdout_of(&arc(&["validate", &wrap]));
    assert!(
        said.contains(&format!(
            "{wrap}:6:40: error: node `fc`: layer `core.Linear`: a tensor of shape [4294967296, 4294967296] has more \
             elements than memory can address"
        )),
        "{said}"
    );
}
