//! Static checks of a `model` section (and of each `modules:` entry):
//! node names, component types, params, refs, outputs and cycles.

use std::collections::BTreeSet;

use super::ValidationIssue;
use crate::plugin::{ComponentKind, PluginManager, legacy_layer_name};
use crate::spec::find_cycle;
use crate::spec::{ArcSpec, InputSpec, ModelSpec, ShapeEntry, Wiring};
use crate::{DidYouMean, Error};

/// What the graph checks know from the features section.
pub(crate) struct Defined<'a> {
    /// `vars.X` names defined by processor steps.
    pub vars: &'a BTreeSet<String>,
    /// `tensors.X` names defined by processor steps.
    pub tensors: &'a BTreeSet<String>,
    /// The feature columns, which feed model inputs of their name.
    pub columns: &'a [String],
    /// Whether model inputs must read a defined tensor or column (the spec
    /// has a `features` section).
    pub check_sources: bool,
}

/// The issues of one graph (`base` is `model` or `modules.<name>`).
pub(crate) fn check_graph(
    spec: &ArcSpec,
    graph: &ModelSpec,
    base: &str,
    defined: &Defined<'_>,
    manager: &PluginManager,
) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let is_model = base == "model";
    // Inputs: shapes and sources.
    for (name, input) in &graph.inputs {
        let path = format!("{base}.inputs.{name}");
        for (k, entry) in input.shape().into_iter().flatten().enumerate() {
            let at = match input {
                InputSpec::Shape(_) => format!("{path}[{k}]"),
                InputSpec::Full { .. } => format!("{path}.shape[{k}]"),
            };
            if let ShapeEntry::Var(var) = entry
                && let Some(issue) =
                    undefined_var(&format!("vars.{var}"), "vars.", defined.vars, &format!("model input `{name}`"))
            {
                issues.push(issue.at(at));
            }
        }
        if is_model && defined.check_sources {
            let tensor = input.source().unwrap_or(name);
            let from_column = input.source().is_none() && defined.columns.contains(name);
            if !defined.tensors.contains(tensor) && !from_column {
                let known: Vec<String> = defined.tensors.iter().map(|t| format!("tensors.{t}")).collect();
                let hint = DidYouMean::among(&format!("tensors.{tensor}"), known.iter().map(String::as_str));
                let column = if input.source().is_none() {
                    format!(" and `{name}` is not one of `features.feature_columns`")
                } else {
                    String::new()
                };
                issues.push(
                    ValidationIssue::error(format!(
                        "model input `{name}` reads `tensors.{tensor}`, which no processor step makes{column}{hint}"
                    ))
                    .at(path),
                );
            }
        }
    }
    // Refs, ports in order, cycles, outputs: the one wiring resolution.
    let wiring = match Wiring::resolve(graph, base) {
        Ok(wiring) => Some(wiring),
        Err(problems) => {
            issues.extend(problems.into_iter().map(|p| ValidationIssue::error(p.error.to_string()).at(p.path)));
            None
        }
    };
    for (i, node) in graph.graph.iter().enumerate() {
        let written: Vec<(Option<&str>, String)> = match &wiring {
            Some(w) => w.nodes[i].inputs.iter().map(|w| (w.port.as_deref(), w.path.clone())).collect(),
            None => Vec::new(),
        };
        issues.extend(check_type(spec, node, &format!("{base}.graph[{i}]"), &written, defined, manager));
    }
    if graph.graph.is_empty() && is_model {
        issues.push(ValidationIssue::error("the model graph has no nodes").at(format!("{base}.graph")));
    }
    issues
}

/// The node's type is a known layer or module, and its params pass.
fn check_type(
    spec: &ArcSpec,
    node: &crate::spec::NodeSpec,
    path: &str,
    ports: &[(Option<&str>, String)],
    defined: &Defined<'_>,
    manager: &PluginManager,
) -> Vec<ValidationIssue> {
    let who = format!("node `{}`", node.name);
    let mut issues = Vec::new();
    let params = node.params.clone().unwrap_or_default();
    let var_refs = params.var_refs();
    for (key, var) in &var_refs {
        if let Some(issue) = undefined_var(&format!("vars.{var}"), "vars.", defined.vars, &who) {
            issues.push(issue.at(format!("{path}.params.{key}")));
        }
    }
    if let Some(module) = node.layer_type.strip_prefix("module.") {
        if !spec.modules.contains_key(module) {
            let hint = DidYouMean::among(module, spec.modules.keys().map(String::as_str));
            issues.push(
                ValidationIssue::error(format!("{who}: unknown module `{module}`{hint}")).at(format!("{path}.type")),
            );
        }
        return issues;
    }
    let component = match manager.get_layer(&node.layer_type) {
        Ok(c) => c,
        Err(e) => {
            issues.push(ValidationIssue::error(format!("{who}: {e}")).at(format!("{path}.type")));
            return issues;
        }
    };
    // Params with unresolved vars are checked once the vars are known.
    if !var_refs.is_empty() {
        return issues;
    }
    // A size that overflows is an error here; a layer over the memory budget is not built
    // here (the budget check names it, with the others, before anything is allocated).
    match component.state_size(&params) {
        Some(Err(e @ Error::TooLarge { .. })) => {
            issues.push(param_issue(spec, &who, path, &e));
            return issues;
        }
        Some(Ok(elements)) if super::budget::over_alone(spec, elements) => return issues,
        _ => {}
    }
    // Building the layer names a bad param precisely; the plugins' hooks judge the rest.
    let layer = match component.create(&params) {
        Ok(layer) => layer,
        Err(e) => {
            issues.push(param_issue(spec, &who, path, &e));
            return issues;
        }
    };
    // Named ports must be the layer's (`input` standing for its first).
    let written: Vec<Option<&str>> = ports.iter().map(|(p, _)| *p).collect();
    if let Err(e) = crate::nn::bind_ports(layer.as_ref(), &written) {
        let issue = match &e {
            Error::UnknownPort { port, hint, .. } => {
                let at = ports.iter().find(|(p, _)| *p == Some(port.as_str())).map(|(_, at)| at.clone());
                let issue = ValidationIssue::error(format!("{who}: the layer has no input port `{port}`{hint}"));
                match at {
                    Some(at) => at_key(spec, issue, at),
                    None => issue.at(format!("{path}.inputs")),
                }
            }
            _ => ValidationIssue::error(format!("{who}: {e}")).at(format!("{path}.inputs")),
        };
        issues.push(issue);
    }
    let name = legacy_layer_name(&node.layer_type).unwrap_or(&node.layer_type);
    match manager.validate_component_config(ComponentKind::Layer, name, &params) {
        Ok(true) => {}
        Ok(false) => issues.push(
            ValidationIssue::error(format!("{who}: params rejected by the plugins' validate_layer_config"))
                .at(format!("{path}.params")),
        ),
        Err(e) => issues.push(ValidationIssue::error(format!("{who}: {e}")).at(format!("{path}.params"))),
    }
    issues
}

/// A layer that does not build from its params, at the offending key.
fn param_issue(spec: &ArcSpec, who: &str, path: &str, e: &Error) -> ValidationIssue {
    let issue = ValidationIssue::error(format!("{who}: {e}"));
    match e {
        Error::UnknownParam { param, .. } => at_key(spec, issue, format!("{path}.params.{param}")),
        _ => issue.at(format!("{path}.params")),
    }
}

/// `issue` about the key at `path` (not its value): an unknown name.
pub(crate) fn at_key(spec: &ArcSpec, issue: ValidationIssue, path: String) -> ValidationIssue {
    match spec.source_map().and_then(|m| m.key(&path)) {
        Some(key) => issue.at(path).located(key),
        None => issue.at(path),
    }
}

/// An issue if `reference` (`vars.X`) is not among `defined`.
pub(crate) fn undefined_var(
    reference: &str,
    prefix: &str,
    defined: &BTreeSet<String>,
    who: &str,
) -> Option<ValidationIssue> {
    let name = reference.strip_prefix(prefix).unwrap_or(reference);
    if defined.contains(name) {
        return None;
    }
    let known: Vec<String> = defined.iter().map(|v| format!("{prefix}{v}")).collect();
    let hint = DidYouMean::among(reference, known.iter().map(String::as_str));
    Some(ValidationIssue::error(format!("{who}: `{reference}` is not defined by any processor step{hint}")))
}

/// Module names used by each module (`type: module.X`), for recursion checks.
pub(crate) fn module_cycle(spec: &ArcSpec) -> Option<Vec<String>> {
    let names: Vec<&String> = spec.modules.keys().collect();
    let deps: Vec<Vec<usize>> = spec
        .modules
        .values()
        .map(|m| {
            m.graph
                .iter()
                .filter_map(|n| n.layer_type.strip_prefix("module."))
                .filter_map(|u| names.iter().position(|n| n.as_str() == u))
                .collect()
        })
        .collect();
    // Here `deps[a]` holds the modules `a` uses; report in use order.
    find_cycle(&deps).map(|mut c| {
        c.reverse();
        let first = c.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(k, _)| k);
        c.rotate_left(first);
        let mut out: Vec<String> = c.iter().map(|&i| names[i].clone()).collect();
        out.push(out[0].clone());
        out
    })
}

/// Names of the model's outputs (`outputs` keys, list refs' node names, or
/// the last node).
pub(crate) fn output_names(model: &ModelSpec) -> Vec<String> {
    crate::spec::output_names(model)
}
