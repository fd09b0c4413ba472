//! The built-in losses against PyTorch 2.15, through the plugin registry.
//!
//! The fixtures under `tests/fixtures/losses/` come from
//! `scripts/reference/losses.py` (fixed seeds): per loss, cases covering every
//! reduction and the main options, each with the inputs, PyTorch's output and
//! the gradients of `sum(output * grad_output)` with respect to the
//! predictions. Forward values must agree to 1e-5 relative, gradients to 1e-4
//! relative (with an absolute floor of 1e-6 for values near zero): f32
//! kernels that sum in a different order than PyTorch's stay well inside both.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;

use arc_builtins::BuiltinLossPlugin;
use arc_core::nn::Loss;
use arc_core::plugin::{ComponentKind, LossHookSpec, PluginManager};
use arc_core::spec::Config;
use arc_core::tensor::gradcheck;
use arc_core::{Result, Tensor};
use serde::Deserialize;

/// One fixture file: the cases of one loss.
#[derive(Deserialize)]
struct Fixture {
    loss: String,
    cases: Vec<Case>,
}

/// One call of a loss with PyTorch's answers.
#[derive(Deserialize)]
struct Case {
    label: String,
    config: serde_json::Value,
    inputs: Vec<Input>,
    output: Data,
    grad_output: Data,
    grads: Vec<Option<Data>>,
}

/// An input tensor; `differentiate` marks the predictions whose gradient is checked.
#[derive(Deserialize)]
struct Input {
    name: String,
    dtype: String,
    differentiate: bool,
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// A tensor's shape and row-major values.
#[derive(Deserialize)]
struct Data {
    shape: Vec<usize>,
    data: Vec<f64>,
}

const FORWARD_RTOL: f64 = 1e-5;
const GRAD_RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-6;

/// A manager holding only the built-in loss plugin.
fn manager() -> Result<PluginManager> {
    let manager = PluginManager::new();
    manager.register_plugin(BuiltinLossPlugin, "builtin_losses")?;
    manager.refresh_registries()?;
    Ok(manager)
}

fn build(manager: &PluginManager, name: &str, config: &Config) -> Result<Box<dyn Loss>> {
    manager.get_loss(name)?.create(config)
}

fn yaml(text: &str) -> Config {
    Config::from_yaml(text).expect("the test's YAML parses")
}

/// Runs every case of `tests/fixtures/losses/<name>.json`: output shape and
/// values, then the gradients of the differentiated inputs.
fn check_fixture(name: &str) -> Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/losses").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(fixture.loss, name);
    assert!(!fixture.cases.is_empty());
    let manager = manager()?;
    for case in &fixture.cases {
        let what = format!("{name} [{}]", case.label);
        let loss = build(&manager, name, &Config::from_value(&case.config)?)?;
        let ports: Vec<&str> = case.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(loss.input_names(), ports.as_slice(), "{what}: ports");
        let inputs: Vec<Tensor> = case
            .inputs
            .iter()
            .map(|input| match input.dtype.as_str() {
                "i64" => Tensor::from_vec_i64(input.data.iter().map(|&v| v as i64).collect(), &input.shape),
                _ => {
                    let t = Tensor::from_vec(input.data.iter().map(|&v| v as f32).collect(), &input.shape)?;
                    if input.differentiate { t.requires_grad_() } else { Ok(t) }
                }
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let out = loss.forward(&refs)?;
        assert_eq!(out.shape(), case.output.shape.as_slice(), "{what}: output shape");
        support::assert_close(&format!("{what} output"), &out.to_vec()?, &case.output.data, FORWARD_RTOL, ATOL);

        let seed: Vec<f32> = case.grad_output.data.iter().map(|&v| v as f32).collect();
        out.backward_with(&Tensor::from_vec(seed, out.shape())?)?;
        for ((input, tensor), want) in case.inputs.iter().zip(&inputs).zip(&case.grads) {
            let Some(want) = want else { continue };
            let grad = tensor.grad().unwrap_or_else(|| panic!("{what}: no gradient for `{}`", input.name));
            assert_eq!(grad.shape(), want.shape.as_slice(), "{what}: grad shape of `{}`", input.name);
            support::assert_close(&format!("{what} d/d{}", input.name), &grad.to_vec()?, &want.data, GRAD_RTOL, ATOL);
        }
    }
    Ok(())
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() -> Result<()> {
                check_fixture($name)
            }
        )*

        /// Every loss of the plugin has a fixture test above.
        const FIXTURE_LOSSES: &[&str] = &[$($name),*];
    };
}

fixture_tests! {
    mse_loss_matches_torch => "MSELoss",
    l1_loss_matches_torch => "L1Loss",
    smooth_l1_loss_matches_torch => "SmoothL1Loss",
    huber_loss_matches_torch => "HuberLoss",
    poisson_nll_loss_matches_torch => "PoissonNLLLoss",
    kl_div_loss_matches_torch => "KLDivLoss",
    cross_entropy_loss_matches_torch => "CrossEntropyLoss",
    nll_loss_matches_torch => "NLLLoss",
    bce_loss_matches_torch => "BCELoss",
    bce_with_logits_loss_matches_torch => "BCEWithLogitsLoss",
    multi_label_soft_margin_loss_matches_torch => "MultiLabelSoftMarginLoss",
    margin_ranking_loss_matches_torch => "MarginRankingLoss",
    hinge_embedding_loss_matches_torch => "HingeEmbeddingLoss",
    multi_label_margin_loss_matches_torch => "MultiLabelMarginLoss",
    multi_margin_loss_matches_torch => "MultiMarginLoss",
    triplet_margin_loss_matches_torch => "TripletMarginLoss",
    cosine_embedding_loss_matches_torch => "CosineEmbeddingLoss",
}

#[test]
fn the_plugin_registers_the_seventeen_losses_in_core() -> Result<()> {
    let manager = manager()?;
    let mut names: Vec<String> = manager.get_losses().into_iter().map(|(name, _)| name).collect();
    names.sort();
    let mut want: Vec<String> = FIXTURE_LOSSES.iter().map(|n| format!("core.{n}")).collect();
    want.sort();
    assert_eq!(names, want);
    // A name without the namespace resolves to the core loss.
    assert_eq!(manager.get_loss("MSELoss")?.name(), "core.MSELoss");
    Ok(())
}

#[test]
fn ports_follow_torch_argument_order() -> Result<()> {
    let manager = manager()?;
    let ports = |name: &str| -> Result<Vec<String>> {
        Ok(build(&manager, name, &Config::new())?.input_names().iter().map(|s| s.to_string()).collect())
    };
    assert_eq!(ports("MSELoss")?, ["pred", "target"]);
    assert_eq!(ports("MarginRankingLoss")?, ["input1", "input2", "target"]);
    assert_eq!(ports("CosineEmbeddingLoss")?, ["input1", "input2", "target"]);
    assert_eq!(ports("TripletMarginLoss")?, ["anchor", "positive", "negative"]);
    Ok(())
}

// ---- configs ---------------------------------------------------------------

/// The error message of building `name` from `config`.
fn config_error(name: &str, config: &str) -> String {
    let manager = manager().expect("the manager builds");
    match build(&manager, name, &yaml(config)) {
        Ok(_) => panic!("{name} accepted `{config}`"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_configs_give_errors_naming_the_loss_and_the_option() {
    let cases = [
        (
            "MSELoss",
            "reduction: avg",
            "core.MSELoss: invalid config: reduction: expected 'mean', 'sum' or 'none', got 'avg'",
        ),
        (
            "L1Loss",
            "reduction: batchmean",
            "core.L1Loss: invalid config: reduction: expected 'mean', 'sum' or 'none', got 'batchmean'",
        ),
        (
            "KLDivLoss",
            "reduction: avg",
            "core.KLDivLoss: invalid config: reduction: expected 'mean', 'sum', 'none' or 'batchmean', got 'avg'",
        ),
        (
            "CrossEntropyLoss",
            "label_smoothing: 1.5",
            "core.CrossEntropyLoss: invalid config: label_smoothing: expected a number in [0, 1], got 1.5",
        ),
        (
            "CrossEntropyLoss",
            "label_smoothing: -0.1",
            "core.CrossEntropyLoss: invalid config: label_smoothing: expected a number in [0, 1], got -0.1",
        ),
        (
            "CrossEntropyLoss",
            "label_smothing: 0.1",
            "core.CrossEntropyLoss: unknown parameter `label_smothing` (did you mean `label_smoothing`?)",
        ),
        (
            "TripletMarginLoss",
            "margin: -1.0",
            "core.TripletMarginLoss: invalid config: margin: expected a finite number > 0, got -1",
        ),
        ("TripletMarginLoss", "p: 0", "core.TripletMarginLoss: invalid config: p: expected a finite number > 0, got 0"),
        ("MultiMarginLoss", "p: 3", "core.MultiMarginLoss: invalid config: p: only 1 and 2 are supported, got 3"),
        ("SmoothL1Loss", "beta: -1", "core.SmoothL1Loss: invalid config: beta: expected a finite number >= 0, got -1"),
        ("HuberLoss", "delta: 0", "core.HuberLoss: invalid config: delta: expected a finite number > 0, got 0"),
        (
            "NLLLoss",
            "weight: []",
            "core.NLLLoss: invalid config: weight: expected a non-empty list of finite numbers, got []",
        ),
        (
            "BCEWithLogitsLoss",
            "pos_weight: [1.0, .nan]",
            "core.BCEWithLogitsLoss: invalid config: pos_weight: expected a non-empty list of finite numbers, got [1.0, NaN]",
        ),
        (
            "MarginRankingLoss",
            "margin: .inf",
            "core.MarginRankingLoss: invalid config: margin: expected a finite number, got inf",
        ),
        (
            "HingeEmbeddingLoss",
            "margn: 1",
            "core.HingeEmbeddingLoss: unknown parameter `margn` (did you mean `margin`?)",
        ),
    ];
    for (name, config, want) in cases {
        assert_eq!(config_error(name, config), want, "{name} with `{config}`");
    }
    // A wrongly typed value is an invalid config too.
    let message = config_error("CrossEntropyLoss", "ignore_index: two");
    assert!(message.starts_with("core.CrossEntropyLoss: invalid config:"), "{message}");
}

#[test]
fn validate_loss_config_answers_for_its_losses_only() -> Result<()> {
    let manager = manager()?;
    let validate =
        |name: &str, config: &str| manager.validate_component_config(ComponentKind::Loss, name, &yaml(config));
    for name in FIXTURE_LOSSES {
        assert!(validate(name, "reduction: sum")?, "{name}: a good config");
        assert!(!validate(name, "reduction: average")?, "{name}: a bad reduction");
        assert!(!validate(name, "no_such_option: 1")?, "{name}: an unknown option");
    }
    assert!(validate("KLDivLoss", "reduction: batchmean")?);
    assert!(validate("CrossEntropyLoss", "weight: [1, 2, 3]\nignore_index: 0\nlabel_smoothing: 0.1")?);
    assert!(!validate("CrossEntropyLoss", "label_smoothing: 2")?);
    assert!(!validate("TripletMarginLoss", "margin: 0")?);
    assert!(validate("MarginRankingLoss", "margin: -0.5")?, "PyTorch allows a negative ranking margin");
    // The hook itself leaves other components (full names, as the manager passes them) alone.
    assert_eq!(BuiltinLossPlugin.validate_loss_config("core.Linear", &Config::new()), None);
    assert_eq!(BuiltinLossPlugin.validate_loss_config("custom.MSELoss", &Config::new()), None);
    assert_eq!(BuiltinLossPlugin.validate_loss_config("core.MSELoss", &Config::new()), Some(true));
    Ok(())
}

// ---- inputs ----------------------------------------------------------------

fn f32s(shape: &[usize]) -> Tensor {
    let n = shape.iter().product::<usize>();
    Tensor::from_vec((0..n).map(|i| 0.1 + 0.8 * i as f32 / n.max(1) as f32).collect(), shape)
        .expect("the shape holds n values")
}

fn labels(values: &[i64]) -> Tensor {
    Tensor::from_vec_i64(values.to_vec(), &[values.len()]).expect("a 1-D tensor")
}

/// The error message of `name` (built from `config`) on `inputs`.
fn input_error(name: &str, config: &str, inputs: &[&Tensor]) -> String {
    let manager = manager().expect("the manager builds");
    let loss = build(&manager, name, &yaml(config)).expect("the config is good");
    match loss.forward(inputs) {
        Ok(out) => panic!("{name} accepted the inputs, giving shape {:?}", out.shape()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_inputs_give_errors_not_panics() {
    let (x43, x4, x41) = (f32s(&[4, 3]), f32s(&[4]), f32s(&[4, 1]));
    let cases: Vec<(&str, &str, Vec<&Tensor>, &str)> = vec![
        (
            "MSELoss",
            "{}",
            vec![&x43],
            "op `MSELoss`: argument `inputs` = 1 tensor(s) is invalid: expected 2 tensors: pred, target",
        ),
        ("MSELoss", "{}", vec![&x41, &x4], "op `MSELoss`: shapes [4, 1] and [4] are incompatible"),
        (
            "MarginRankingLoss",
            "{}",
            vec![&x4, &x4],
            "op `MarginRankingLoss`: argument `inputs` = 2 tensor(s) is invalid: expected 3 tensors: input1, input2, target",
        ),
        (
            "TripletMarginLoss",
            "{}",
            vec![&x4, &x4, &x41],
            "op `TripletMarginLoss`: shapes [4] and [4, 1] are incompatible",
        ),
    ];
    for (name, config, inputs, want) in &cases {
        assert_eq!(input_error(name, config, inputs), *want, "{name}");
    }

    let classes = labels(&[0, 2, 1, 5]);
    assert_eq!(
        input_error("CrossEntropyLoss", "{}", &[&x43, &classes]),
        "op `cross_entropy`: index 5 is out of range for a dimension of size 3"
    );
    assert_eq!(
        input_error("NLLLoss", "{}", &[&x43, &classes]),
        "op `NLLLoss`: index 5 is out of range for a dimension of size 3"
    );
    assert_eq!(
        input_error("MultiMarginLoss", "{}", &[&x43, &labels(&[0, 1])]),
        "op `MultiMarginLoss`: shapes [4, 3] and [2] are incompatible"
    );
    assert_eq!(
        input_error("CrossEntropyLoss", "{}", &[&x43, &labels(&[0, 1, 2])]),
        "op `CrossEntropyLoss`: shapes [4, 3] and [3] are incompatible"
    );
    assert_eq!(
        input_error("CrossEntropyLoss", "weight: [1, 2]", &[&x43, &labels(&[0, 1, 2, 0])]),
        "op `CrossEntropyLoss`: shapes [4, 3] and [2] are incompatible"
    );
    assert_eq!(
        input_error("NLLLoss", "weight: [1, 2]", &[&x43, &labels(&[0, 1, 2, 0])]),
        "op `NLLLoss`: shapes [4, 3] and [2] are incompatible"
    );
    // Probability targets must match the prediction's shape.
    assert_eq!(
        input_error("CrossEntropyLoss", "{}", &[&x43, &x4]),
        "op `CrossEntropyLoss`: shapes [4, 3] and [4] are incompatible"
    );
    // Class indices as floats where the loss needs i64, and the reverse.
    assert_eq!(input_error("NLLLoss", "{}", &[&x43, &x4]), "op `NLLLoss`: expected dtype i64, got f32");
    assert_eq!(
        input_error("MSELoss", "{}", &[&x4, &labels(&[0, 1, 2, 3])]),
        "op `MSELoss`: expected dtype f32, got i64"
    );
    assert_eq!(
        input_error("MultiLabelMarginLoss", "{}", &[&x4, &labels(&[0, 7, -1, 0])]),
        "op `MultiLabelMarginLoss`: index 7 is out of range for a dimension of size 4"
    );
    // BCELoss wants probabilities.
    let logits = Tensor::from_vec(vec![0.5, 1.5], &[2]).expect("2 values");
    assert_eq!(
        input_error("BCELoss", "{}", &[&logits, &logits]),
        "op `BCELoss`: argument `pred` = 1.5 is invalid: expected probabilities in [0, 1] (use BCEWithLogitsLoss for logits)"
    );
    assert_eq!(
        input_error("BCEWithLogitsLoss", "pos_weight: [1, 2]", &[&x43, &x43]),
        "op `BCEWithLogitsLoss`: shapes [4, 3] and [2] are incompatible"
    );
    assert_eq!(
        input_error("TripletMarginLoss", "{}", &[&f32s(&[2, 2, 2]), &f32s(&[2, 2, 2]), &f32s(&[2, 2, 2])]),
        "op `TripletMarginLoss`: expected inputs of shape [N, D] or [D], got a tensor of shape [2, 2, 2]"
    );
    assert_eq!(
        input_error("CosineEmbeddingLoss", "{}", &[&x43, &x43, &f32s(&[3])]),
        "op `CosineEmbeddingLoss`: shapes [4, 3] and [3] are incompatible"
    );
    assert_eq!(
        input_error("CrossEntropyLoss", "{}", &[&Tensor::scalar(1.0), &labels(&[0])]),
        "op `CrossEntropyLoss`: expected pred of shape [N, C, ...] or [C], got a tensor of shape []"
    );
}

// ---- special values and gradchecks -----------------------------------------

#[test]
fn nll_loss_mean_over_all_ignored_targets_is_nan_as_in_torch() -> Result<()> {
    // sum of nothing / total weight 0 = 0 / 0.
    let manager = manager()?;
    let loss = build(&manager, "NLLLoss", &Config::new())?;
    let out = loss.forward(&[&f32s(&[2, 3]), &labels(&[-100, -100])])?;
    assert!(out.item()?.is_nan());
    let sum =
        build(&manager, "NLLLoss", &yaml("reduction: sum"))?.forward(&[&f32s(&[2, 3]), &labels(&[-100, -100])])?;
    assert_eq!(sum.item()?, 0.0);
    Ok(())
}

#[test]
fn losses_gradcheck_against_finite_differences() -> Result<()> {
    // BCELoss runs a custom op with a hand-written backward for pred and target:
    // d/dx = (x - y) / (x (1 - x)),  d/dy = log(1 - x) - log(x). Inputs stay inside
    // (0.1, 0.9) so the central differences (eps 1e-3) see a smooth function; tolerance
    // 1e-2 * (1 + |numeric|) as gradcheck's docs suggest for f32.
    let manager = manager()?;
    let pred = f32s(&[3, 4]);
    let target = Tensor::from_vec((0..12).map(|i| (i % 5) as f32 / 4.0).collect(), &[3, 4])?;
    for config in ["{}", "reduction: none", "weight: [0.5, 1, 2, 1]\nreduction: sum"] {
        let bce = build(&manager, "BCELoss", &yaml(config))?;
        gradcheck(|t| bce.forward(&[&t[0], &t[1]]), &[&pred, &target], 1e-3, 1e-2)?;
    }
    // Composed losses, away from their kinks.
    let logits = Tensor::from_vec((0..12).map(|i| (i as f32 - 5.5) * 0.7).collect(), &[3, 4])?;
    let with_logits = build(&manager, "BCEWithLogitsLoss", &yaml("pos_weight: [2, 1, 0.5, 3]"))?;
    gradcheck(|t| with_logits.forward(&[&t[0], &t[1]]), &[&logits, &target], 1e-3, 1e-2)?;
    let cosine = build(&manager, "CosineEmbeddingLoss", &yaml("margin: -0.5"))?;
    let y = Tensor::from_vec(vec![1.0, -1.0, 1.0], &[3])?;
    gradcheck(|t| cosine.forward(&[&t[0], &t[1], &y]), &[&logits, &pred], 1e-3, 1e-2)?;
    // MultiLabelMarginLoss runs a custom op too; the scores lie within 1 of each other, so
    // every hinge 1 - x[j] + x[i] is positive and no kink is near.
    let multilabel = build(&manager, "MultiLabelMarginLoss", &yaml("reduction: none"))?;
    let listed = Tensor::from_vec_i64(vec![3, 0, -1, 0, 1, 1, -1, 2, 2, -1, 0, 0], &[3, 4])?;
    gradcheck(|t| multilabel.forward(&[&t[0], &listed]), &[&pred], 1e-3, 1e-2)?;
    // KLDivLoss wrt pred only: y log y has no derivative at the zero targets.
    let kl = build(&manager, "KLDivLoss", &yaml("reduction: batchmean"))?;
    gradcheck(|t| kl.forward(&[&t[0], &target]), &[&logits.log_softmax(1)?], 1e-3, 1e-2)?;
    Ok(())
}

#[test]
fn bce_loss_saturated_predictions_stay_finite() -> Result<()> {
    // A sigmoid saturates to exactly 0 or 1 in f32; PyTorch clamps the logs at -100 and the
    // gradient's denominator x (1 - x) at 1e-12, so neither the loss nor the gradient is NaN.
    let manager = manager()?;
    let pred = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4])?.requires_grad_()?;
    let target = Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0], &[4])?;
    let loss = build(&manager, "BCELoss", &yaml("reduction: sum"))?.forward(&[&pred, &target])?;
    assert_eq!(loss.item()?, 200.0);
    loss.backward()?;
    let grad = pred.grad().expect("pred requires grad").to_vec()?;
    assert_eq!(grad, [0.0, 0.0, 1e12, -1e12]);
    Ok(())
}

/// Per-position class scores `[N, L, C]` (a sequence model's) against ids `[N, L]`, the
/// classes found on the last dim, give PyTorch's `F.cross_entropy(x.permute(0, 2, 1), t)`,
/// ignored positions included. Reference (torch 2.15): `x = 2 sin(0.7 k)` for `k` in
/// `0..24`, shape `[2, 3, 4]`, `t = [[1, 3, -100], [0, 2, 2]]`.
#[test]
fn per_position_scores_match_pytorch_in_either_layout() -> Result<()> {
    let manager = manager()?;
    let values: Vec<f32> = (0..24).map(|k| (0.7 * k as f32).sin() * 2.0).collect();
    let target = Tensor::from_vec_i64(vec![1, 3, -100, 0, 2, 2], &[2, 3])?;
    let grad = [
        0.01147794,
        -0.15836827,
        0.08237869,
        0.06451166,
        0.14134501,
        0.03586138,
        0.0126553,
        -0.18986169,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.06308866,
        0.04691477,
        0.01190761,
        0.00426629,
        0.00530727,
        0.01092614,
        -0.15976737,
        0.14353397,
        0.09682685,
        0.07247222,
        -0.1755178,
        0.00621874,
    ];
    let close = |a: f32, b: f64, tol: f64| (f64::from(a) - b).abs() <= tol * b.abs().max(1e-3);
    for name in ["CrossEntropyLoss", "NLLLoss"] {
        let loss = build(&manager, name, &Config::new())?;
        let x = Tensor::from_vec(values.clone(), &[2, 3, 4])?.requires_grad_()?;
        let scores = if name == "NLLLoss" { x.log_softmax(-1)? } else { x.clone() };
        let value = loss.forward(&[&scores, &target])?;
        assert!(close(value.item()?, 1.72688889503479, FORWARD_RTOL), "{name}: {}", value.item()?);
        value.backward()?;
        let got = x.grad().expect("x requires grad").to_vec()?;
        assert!(got.iter().zip(grad).all(|(a, b)| (f64::from(*a) - b).abs() <= 1e-6), "{name}: {got:?}");
        assert_eq!(loss.class_dim(&[2, 3, 4], &[2, 3])?, 2);
        // PyTorch's own layout, [N, C, L]: the classes on dim 1.
        let nc_l = Tensor::from_vec(values.clone(), &[2, 3, 4])?.permute(&[0, 2, 1])?;
        let nc_l = if name == "NLLLoss" { nc_l.log_softmax(1)? } else { nc_l };
        assert!(close(loss.forward(&[&nc_l, &target])?.item()?, 1.72688889503479, FORWARD_RTOL), "{name}");
        assert_eq!(loss.class_dim(&[2, 4, 3], &[2, 3])?, 1);
    }
    let none = build(&manager, "CrossEntropyLoss", &yaml("reduction: none"))?;
    let per = none.forward(&[&Tensor::from_vec(values.clone(), &[2, 3, 4])?, &target])?;
    assert_eq!(per.shape(), [2, 3]);
    let want = [1.5694547891616821, 2.981995105743408, 0.0, 0.3789837658405304, 1.6036391258239746, 2.1003711223602295];
    assert!(per.to_vec()?.iter().zip(want).all(|(a, b)| close(*a, b, FORWARD_RTOL) || b == 0.0 && *a == 0.0));
    Ok(())
}

/// When `L == C` both layouts fit the target: the loss asks for `class_dim` instead of
/// guessing, and with it reads either layout.
#[test]
fn a_square_sequence_needs_class_dim() -> Result<()> {
    let manager = manager()?;
    let x = Tensor::from_vec((0..18).map(|k| (k as f32 * 0.3).cos()).collect(), &[2, 3, 3])?;
    let target = Tensor::from_vec_i64(vec![0, 1, 2, 2, 1, 0], &[2, 3])?;
    let guess = build(&manager, "CrossEntropyLoss", &Config::new())?;
    let err = guess.forward(&[&x, &target]).unwrap_err().to_string();
    assert!(err.contains("set the loss option `class_dim` to 1 (PyTorch's [N, C, L]) or -1 ([N, L, C])"), "{err}");
    assert!(guess.class_dim(&[2, 3, 3], &[2, 3]).is_err());
    let last = build(&manager, "CrossEntropyLoss", &yaml("class_dim: -1"))?;
    let first = build(&manager, "CrossEntropyLoss", &yaml("class_dim: 1"))?;
    let a = last.forward(&[&x, &target])?.item()?;
    let b = first.forward(&[&x.permute(&[0, 2, 1])?, &target])?.item()?;
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    assert_eq!((last.class_dim(&[2, 3, 3], &[2, 3])?, first.class_dim(&[2, 3, 3], &[2, 3])?), (2, 1));
    let err = build(&manager, "CrossEntropyLoss", &yaml("class_dim: 0"))?.forward(&[&x, &target]).unwrap_err();
    assert_eq!(err.to_string(), "op `CrossEntropyLoss`: dim 0 is out of range for a tensor of rank 3");
    Ok(())
}

/// What each built-in loss says it trains: the task, the scores' reading and the ignored id.
#[test]
fn losses_answer_their_task() -> Result<()> {
    use arc_core::nn::{Scores, Task};
    let manager = manager()?;
    let answer = |name: &str| -> Result<(Task, Scores, Option<i64>)> {
        let loss = build(&manager, name, &Config::new())?;
        Ok((loss.task(), loss.scores(), loss.ignore_index()))
    };
    assert_eq!(answer("CrossEntropyLoss")?, (Task::Multiclass, Scores::Logits, Some(-100)));
    assert_eq!(answer("NLLLoss")?, (Task::Multiclass, Scores::LogProbabilities, Some(-100)));
    assert_eq!(answer("BCELoss")?, (Task::Binary, Scores::Probabilities, None));
    assert_eq!(answer("BCEWithLogitsLoss")?, (Task::Binary, Scores::Logits, None));
    assert_eq!(answer("MultiMarginLoss")?, (Task::Multiclass, Scores::Values, None));
    assert_eq!(answer("MSELoss")?, (Task::Regression, Scores::Values, None));
    assert_eq!(answer("HuberLoss")?, (Task::Regression, Scores::Values, None));
    Ok(())
}
