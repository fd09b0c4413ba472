//! Spec validation: the built-in static checks, the plugins' validators
//! and `validate_model` hooks, and the checks against data.
//!
//! [`validate`] calls the `pre_validation` lifecycle hook, runs every
//! check, then `post_validation` with the issues found. Each issue names
//! the YAML path it is about and, for a spec parsed from text, the file,
//! line and column:
//!
//! ```
//! use arc_core::{PluginManager, spec::ArcSpec, validate::validate};
//!
//! let text = "model_name: m\nmodel:\n  inputs: {x: [null, 2]}\n  graph:\n    - {name: a, type: Nope}\n";
//! let spec = ArcSpec::from_yaml(text, "m.yaml")?;
//! let report = validate(&spec, &PluginManager::new())?;
//! assert_eq!(report.issues[0].to_string(), "m.yaml:5:23: error: node `a`: unknown layer `Nope`");
//! # Ok::<(), arc_core::Error>(())
//! ```

mod budget;
mod data;
mod graph;
mod schema;
mod sections;

pub use crate::spec::Validator;
pub use crate::types::{Severity, ValidationIssue, count_errors, render};
pub use budget::Budget;
pub(crate) use budget::{Estimate, activation_bytes, copies};
pub use data::check_columns;
pub use schema::{component_params_schema, spec_schema};

use crate::plugin::{LifecycleHookSpec, PluginManager, ValidatorHookSpec};
use crate::spec::{ArcSpec, Config, TrainerSpec};
use crate::{Error, Result};

/// What [`validate`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Every issue, errors and warnings, in check order: features, modules,
    /// model, trainer, predictor, then the plugins'.
    pub issues: Vec<ValidationIssue>,
}

impl Report {
    /// Whether any issue is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(ValidationIssue::is_error)
    }

    /// `Ok(self)` without errors (warnings allowed), else
    /// [`Error::InvalidSpec`] listing every issue.
    pub fn into_result(self) -> Result<Self> {
        if self.has_errors() { Err(Error::InvalidSpec { issues: self.issues }) } else { Ok(self) }
    }
}

/// Validates `spec` against `manager`'s components: `pre_validation`, the
/// static checks, every registered validator, the `validate_model` hooks,
/// then `post_validation` with all the issues.
///
/// The static checks: processor ops are known and step refs
/// (`tensors.`/`vars.`/`states.`) are bound by an earlier step; model
/// input shapes and node params use defined `vars`; node names are unique;
/// layer and module types are known (did-you-mean); params pass the
/// plugins' `validate_layer_config` and build the layer (checked once vars
/// are known when they use `vars.X`); node and output refs exist; the graph
/// has no cycle (the error names it whole); modules do not use themselves;
/// the optimizer and loss are known and the loss reads a model output and
/// a defined target; the predictor returns model outputs.
pub fn validate(spec: &ArcSpec, manager: &PluginManager) -> Result<Report> {
    validate_with(spec, spec.trainer.as_ref(), manager)
}

/// [`validate`] with `trainer` in place of the spec's trainer section (the
/// one `arc train` runs, after its command-line overrides).
pub fn validate_with(spec: &ArcSpec, trainer: Option<&TrainerSpec>, manager: &PluginManager) -> Result<Report> {
    let lifecycle = manager.hook::<dyn LifecycleHookSpec>();
    lifecycle.pre_validation(spec)?;
    let mut issues = check_spec_with(spec, trainer, manager);
    for (name, _) in manager.get_validators() {
        let validator = manager.get_validator(&name)?.create(&Config::new())?;
        issues.extend(validator.validate(spec));
    }
    for found in manager.hook::<dyn ValidatorHookSpec>().validate_model(spec)? {
        issues.extend(found);
    }
    let issues: Vec<ValidationIssue> = issues.into_iter().map(|i| i.locate_in(spec)).collect();
    lifecycle.post_validation(spec, &issues)?;
    Ok(Report { issues })
}

/// The built-in static checks alone (no hooks).
pub fn check_spec(spec: &ArcSpec, manager: &PluginManager) -> Vec<ValidationIssue> {
    check_spec_with(spec, spec.trainer.as_ref(), manager)
}

fn check_spec_with(spec: &ArcSpec, trainer: Option<&TrainerSpec>, manager: &PluginManager) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let defined = sections::check_features(spec, manager, &mut issues);
    let features = &spec.features;
    let known = graph::Defined {
        vars: &defined.vars,
        tensors: &defined.tensors,
        columns: &features.feature_columns,
        check_sources: !features.processors.is_empty() || !features.feature_columns.is_empty(),
    };
    if let Some(cycle) = graph::module_cycle(spec) {
        issues.push(
            ValidationIssue::error(format!("module `{}` uses itself: {}", cycle[0], cycle.join(" → ")))
                .at(format!("modules.{}", cycle[0])),
        );
    }
    for (name, module) in &spec.modules {
        // A module's `vars.X` may also be bound by the params of the nodes using it.
        let mut vars = defined.vars.clone();
        let graphs = std::iter::once(&spec.model).chain(spec.modules.values());
        for node in graphs.flat_map(|g| &g.graph).filter(|n| n.layer_type == format!("module.{name}")) {
            vars.extend(node.params.iter().flat_map(|p| p.keys()).map(str::to_owned));
        }
        let known = graph::Defined { vars: &vars, ..known };
        issues.extend(graph::check_graph(spec, module, &format!("modules.{name}"), &known, manager));
    }
    issues.extend(graph::check_graph(spec, &spec.model, "model", &known, manager));
    if let Some(trainer) = trainer {
        sections::check_trainer(spec, trainer, &defined, manager, &mut issues);
    }
    sections::check_predictor(spec, &defined, &mut issues);
    if !issues.iter().any(ValidationIssue::is_error) {
        issues.extend(static_shapes(spec, trainer, manager));
    }
    issues
}

/// Shape inference without data: possible when the model (and the modules
/// it uses) names no `vars.X`; otherwise shapes are checked by
/// `train::validate_data` and at the start of training.
fn static_shapes(spec: &ArcSpec, trainer: Option<&TrainerSpec>, manager: &PluginManager) -> Vec<ValidationIssue> {
    let graphs = std::iter::once(&spec.model).chain(spec.modules.values());
    let uses_vars =
        graphs.clone().flat_map(|g| &g.graph).any(|n| n.params.as_ref().is_some_and(|p| !p.var_refs().is_empty()))
            || graphs.flat_map(|g| &g.inputs).any(|(_, input)| {
                input.shape().is_some_and(|shape| shape.iter().any(|e| matches!(e, crate::spec::ShapeEntry::Var(_))))
            });
    if uses_vars {
        return Vec::new();
    }
    // Held against the memory budget before anything is built.
    let budget = Budget::for_run(trainer);
    let (estimate, issues) = Estimate::of(spec, &Default::default(), manager);
    let copies = copies(trainer, manager);
    let over = budget.as_ref().and_then(|b| estimate.check(copies, None, b));
    if !issues.is_empty() || over.is_some() {
        return issues.into_iter().chain(over).collect();
    }
    let shapes = match crate::graph::GraphModel::build(&spec.model, &Default::default(), manager)
        .and_then(|model| model.infer_shapes())
    {
        Ok(shapes) => shapes,
        Err(e) => return vec![model_issue(spec, e)],
    };
    let batch = trainer.map_or(1, |t| t.config.batch_size.max(1));
    let activations = trainer.map(|_| (activation_bytes(&shapes, batch), batch));
    budget.and_then(|b| estimate.check(copies, activations, &b)).into_iter().collect()
}

/// An error from building or running the model as an issue, at the node
/// it is about.
pub(crate) fn model_issue(spec: &ArcSpec, e: Error) -> ValidationIssue {
    let located = crate::graph::locate_error(spec, e);
    let location = located.location().cloned();
    let message = match located {
        Error::Located { error, .. } => error.to_string(),
        other => other.to_string(),
    };
    let issue = ValidationIssue::error(message).at("model");
    match location {
        Some(at) => issue.located(at),
        None => issue,
    }
}
