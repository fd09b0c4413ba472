//! Static checks of the `features`, `trainer` and `predictor` sections:
//! refs in the three namespaces are defined before they are used, the
//! components exist, and the loss reads real outputs and targets.

use std::collections::BTreeSet;

use super::ValidationIssue;
use super::graph::{output_names, undefined_var};
use crate::DidYouMean;
use crate::plugin::PluginManager;
use crate::spec::{ArcSpec, TrainerSpec};
use crate::spec::{Namespace, StepInput};

/// The names each namespace holds after the processor steps.
#[derive(Default)]
pub(crate) struct Namespaces {
    /// `tensors.X`.
    pub tensors: BTreeSet<String>,
    /// `vars.X`.
    pub vars: BTreeSet<String>,
    /// `states.X`.
    pub states: BTreeSet<String>,
}

impl Namespaces {
    fn of(&mut self, namespace: Namespace) -> &mut BTreeSet<String> {
        match namespace {
            Namespace::Tensors => &mut self.tensors,
            Namespace::Vars => &mut self.vars,
            Namespace::States => &mut self.states,
        }
    }
}

/// Walks the processor steps in order: each step's op is known, its name
/// is unique, and every ref it reads was bound by an earlier step.
pub(crate) fn check_features(spec: &ArcSpec, manager: &PluginManager, issues: &mut Vec<ValidationIssue>) -> Namespaces {
    let mut defined = Namespaces::default();
    let steps = &spec.features.processors;
    for (i, step) in steps.iter().enumerate() {
        let path = format!("features.processors[{i}]");
        let who = format!("step `{}`", step.name);
        if steps[..i].iter().any(|s| s.name == step.name) {
            issues.push(ValidationIssue::error(format!("{who}: the name is used twice")).at(format!("{path}.name")));
        }
        if let Err(e) = manager.get_processor(&step.op) {
            issues.push(ValidationIssue::error(format!("{who}: {e}")).at(format!("{path}.op")));
        }
        for (port, input) in &step.inputs {
            let StepInput::Ref(r) = input else { continue };
            let name = r.to_string();
            let prefix = format!("{}.", r.namespace.as_str());
            if let Some(issue) = undefined_var(&name, &prefix, defined.of(r.namespace), &who) {
                let issue = ValidationIssue {
                    message: issue.message.replace("not defined by any", "not defined by an earlier"),
                    ..issue
                };
                issues.push(issue.at(format!("{path}.inputs.{port}")));
            }
        }
        for port in &step.reversed_outputs {
            let global = &step.outputs[port];
            let issue = ValidationIssue::warning(format!(
                "{who}: `{port}: {global}` is Arc's earlier reversed form; the original schema writes \
                 `{global}: {port}` (global name: operator output)"
            ));
            issues.push(super::graph::at_key(spec, issue, format!("{path}.outputs.{port}")));
        }
        for r in step.outputs.values() {
            defined.of(r.namespace).insert(r.name.clone());
        }
        let state = step.state_ref();
        defined.of(state.namespace).insert(state.name);
    }
    defined
}

/// The trainer's settings are in range and its device is there; the
/// optimizer and loss exist and build; early stopping watches one of the
/// loss's task's values; the loss's `pred` names a model output and its
/// `target` a tensor or a target column.
pub(crate) fn check_trainer(
    spec: &ArcSpec,
    trainer: &TrainerSpec,
    defined: &Namespaces,
    manager: &PluginManager,
    issues: &mut Vec<ValidationIssue>,
) {
    let config = &trainer.config;
    if config.batch_size == 0 {
        issues.push(
            ValidationIssue::error("trainer.config.batch_size must be at least 1, got 0")
                .at("trainer.config.batch_size"),
        );
    }
    if !(0.0..1.0).contains(&config.validation_split) {
        issues.push(
            ValidationIssue::error(format!(
                "trainer.config.validation_split must be in [0, 1), got {}",
                config.validation_split
            ))
            .at("trainer.config.validation_split"),
        );
    }
    if let Some(mb) = config.memory_budget_mb
        && !(mb.is_finite() && mb > 0.0)
    {
        issues.push(
            ValidationIssue::error(format!(
                "trainer.config.memory_budget_mb must be a positive number of MiB, got {mb}"
            ))
            .at("trainer.config.memory_budget_mb"),
        );
    }
    if config.checkpoint_every == Some(0) {
        issues.push(
            ValidationIssue::error("trainer.config.checkpoint_every must be at least 1, got 0")
                .at("trainer.config.checkpoint_every"),
        );
    }
    if let Err(e) = config.device.resolve() {
        issues.push(ValidationIssue::error(e.to_string()).at("trainer.config.device"));
    }
    let optimizer = &trainer.optimizer;
    // The optimizer's own config; `trainer.config.learning_rate` reaches it
    // through `Optimizer::use_trainer_learning_rate` once built.
    let own = optimizer.config.clone().unwrap_or_default();
    if let Err(e) = manager.get_optimizer(&optimizer.component_type).and_then(|c| c.create(&own).map(drop)) {
        let at = match e {
            crate::Error::UnknownComponent { .. } => "trainer.optimizer.type",
            _ if optimizer.config.is_some() => "trainer.optimizer.config",
            _ => "trainer.optimizer",
        };
        issues.push(ValidationIssue::error(format!("trainer.optimizer: {e}")).at(at));
    }
    let loss = &trainer.loss;
    let loss_config = loss.config.clone().unwrap_or_default();
    match manager.get_loss(&loss.component_type).and_then(|c| c.create(&loss_config)) {
        Err(e) => {
            let at = match e {
                crate::Error::UnknownComponent { .. } => "trainer.loss.type",
                _ if loss.config.is_some() => "trainer.loss.config",
                _ => "trainer.loss",
            };
            issues.push(ValidationIssue::error(format!("trainer.loss: {e}")).at(at));
        }
        Ok(built) => {
            if let Some(es) = &config.early_stopping
                && let Err(e) = es.check(built.task(), config.validation_split > 0.0)
            {
                let message = match e {
                    crate::Error::Spec { message } => message,
                    other => other.to_string(),
                };
                issues.push(ValidationIssue::error(message).at("trainer.config.early_stopping"));
            }
        }
    }
    let outputs = output_names(&spec.model);
    match loss.inputs.get("pred").or_else(|| loss.inputs.get("input")) {
        None => issues.push(ValidationIssue::error("trainer.loss: `inputs` has no `pred`").at("trainer.loss.inputs")),
        Some(pred) => {
            let port = if loss.inputs.contains_key("pred") { "pred" } else { "input" };
            let name = pred.strip_prefix("model.").unwrap_or(pred);
            if !outputs.iter().any(|o| o == name) {
                let known: Vec<String> = outputs.iter().map(|o| format!("model.{o}")).collect();
                let hint = DidYouMean::among(pred, known.iter().map(String::as_str));
                issues.push(
                    ValidationIssue::error(format!("trainer.loss: `{pred}` is not a model output{hint}"))
                        .at(format!("trainer.loss.inputs.{port}")),
                );
            }
        }
    }
    match loss.inputs.get("target") {
        None => issues.push(ValidationIssue::error("trainer.loss: `inputs` has no `target`").at("trainer.loss.inputs")),
        Some(target) => {
            let at = "trainer.loss.inputs.target";
            if target.starts_with("tensors.") {
                if let Some(issue) = undefined_var(target, "tensors.", &defined.tensors, "trainer.loss") {
                    issues.push(issue.at(at));
                }
            } else if let Some(column) = target.strip_prefix("target_columns.") {
                let columns = &spec.features.target_columns;
                if !columns.iter().any(|c| c == column) {
                    let hint = DidYouMean::among(column, columns.iter().map(String::as_str));
                    issues.push(
                        ValidationIssue::error(format!(
                            "trainer.loss: `{column}` is not one of `features.target_columns`{hint}"
                        ))
                        .at(at),
                    );
                }
            } else {
                issues.push(
                    ValidationIssue::error(format!(
                        "trainer.loss: target `{target}` must be `tensors.X` or `target_columns.X`"
                    ))
                    .at(at),
                );
            }
        }
    }
    for port in loss.inputs.keys().filter(|p| !matches!(p.as_str(), "pred" | "input" | "target")) {
        issues.push(
            ValidationIssue::warning(format!(
                "trainer.loss: input `{port}` is not used (only `pred` and `target` are)"
            ))
            .at(format!("trainer.loss.inputs.{port}")),
        );
    }
}

/// The predictor returns real outputs and decodes with defined states.
pub(crate) fn check_predictor(spec: &ArcSpec, defined: &Namespaces, issues: &mut Vec<ValidationIssue>) {
    let Some(predictor) = &spec.predictor else { return };
    let outputs = output_names(&spec.model);
    let mut check_output = |r: &str, at: String| {
        let name = r.strip_prefix("model.").unwrap_or(r);
        if !outputs.iter().any(|o| o == name) {
            let hint = DidYouMean::among(name, outputs.iter().map(String::as_str));
            issues.push(ValidationIssue::error(format!("predictor: `{r}` is not a model output{hint}")).at(at));
        }
    };
    for (k, r) in predictor.returns.iter().enumerate() {
        check_output(r, format!("predictor.returns[{k}]"));
    }
    for (column, r) in &predictor.outputs {
        check_output(r, format!("predictor.outputs.{column}"));
    }
    for (column, r) in &predictor.decode {
        if let Some(issue) = undefined_var(r, "states.", &defined.states, "predictor") {
            issues.push(issue.at(format!("predictor.decode.{column}")));
        }
    }
}
