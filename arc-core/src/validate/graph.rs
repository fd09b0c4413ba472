//! Static checks of a `model` section (and of each `modules:` entry):
//! node names, component types, params, refs, outputs and cycles.

use std::collections::BTreeSet;

use super::ValidationIssue;
use crate::graph::find_cycle;
use crate::plugin::{ComponentKind, PluginManager, legacy_layer_name};
use crate::spec::{ArcSpec, InputSpec, ModelSpec, NodeInputs, OutputsSpec};
use crate::{DidYouMean, Error};

/// What the graph checks know from the features section.
pub(crate) struct Defined<'a> {
    /// `vars.X` names defined by processor steps.
    pub vars: &'a BTreeSet<String>,
    /// `tensors.X` names defined by processor steps.
    pub tensors: &'a BTreeSet<String>,
    /// Whether model inputs must read a defined tensor (the spec has steps).
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
        let (shape, source) = match input {
            InputSpec::Shape(s) => (Some(s), None),
            InputSpec::Full { shape, source, .. } => (shape.as_ref(), source.as_deref()),
        };
        for (k, entry) in shape.into_iter().flatten().enumerate() {
            let at = match input {
                InputSpec::Shape(_) => format!("{path}[{k}]"),
                InputSpec::Full { .. } => format!("{path}.shape[{k}]"),
            };
            match entry {
                serde_yaml::Value::Null => {}
                serde_yaml::Value::Number(n) if n.as_u64().is_some() => {}
                serde_yaml::Value::String(s) if s.starts_with("vars.") => {
                    if let Some(issue) = undefined_var(s, "vars.", defined.vars, &format!("model input `{name}`")) {
                        issues.push(issue.at(at));
                    }
                }
                other => issues.push(
                    ValidationIssue::error(format!(
                        "model input `{name}`: shape entry {} is not a size, null or vars.X",
                        show_value(other)
                    ))
                    .at(at),
                ),
            }
        }
        if is_model && defined.check_sources {
            let tensor = source.map_or(name.as_str(), |s| s.strip_prefix("tensors.").unwrap_or(s));
            if !defined.tensors.contains(tensor) {
                let known: Vec<String> = defined.tensors.iter().map(|t| format!("tensors.{t}")).collect();
                let hint = DidYouMean::among(&format!("tensors.{tensor}"), known.iter().map(String::as_str));
                issues.push(
                    ValidationIssue::error(format!(
                        "model input `{name}` reads `tensors.{tensor}`, which no processor step makes{hint}"
                    ))
                    .at(path),
                );
            }
        }
    }
    let input_names: Vec<&str> = graph.inputs.iter().map(|(n, _)| n.as_str()).collect();
    let node_names: Vec<&str> = graph.graph.iter().map(|n| n.name.as_str()).collect();
    // Nodes: names, types, params, refs.
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); graph.graph.len()];
    for (i, node) in graph.graph.iter().enumerate() {
        let path = format!("{base}.graph[{i}]");
        let who = format!("node `{}`", node.name);
        if node_names[..i].contains(&node.name.as_str()) || input_names.contains(&node.name.as_str()) {
            issues.push(ValidationIssue::error(format!("{who}: the name is used twice")).at(format!("{path}.name")));
        }
        issues.extend(check_type(spec, node, &path, defined, manager));
        // Refs.
        let refs: Vec<(String, &str)> = match &node.inputs {
            None => {
                if i == 0 && input_names.len() != 1 {
                    issues.push(
                        ValidationIssue::error(format!(
                            "{who} has no `inputs` and the graph has {} inputs: name one",
                            input_names.len()
                        ))
                        .at(path.clone()),
                    );
                } else if i > 0 {
                    deps[i].push(i - 1);
                }
                Vec::new()
            }
            Some(NodeInputs::One(r)) => vec![(format!("{path}.inputs"), r.as_str())],
            Some(NodeInputs::List(list)) => {
                list.iter().enumerate().map(|(k, r)| (format!("{path}.inputs[{k}]"), r.as_str())).collect()
            }
            Some(NodeInputs::Ports(ports)) => {
                ports.iter().map(|(p, r)| (format!("{path}.inputs.{p}"), r.as_str())).collect()
            }
        };
        for (at, r) in refs {
            match resolve(r, &input_names, &node_names) {
                Some(Target::Node(j)) => deps[i].push(j),
                Some(Target::Input) => {}
                None => issues.push(dangling(&who, r, &input_names, &node_names).at(at)),
            }
        }
    }
    if let Some(cycle) = find_cycle(&deps) {
        let mut nodes: Vec<String> = cycle.iter().map(|&i| graph.graph[i].name.clone()).collect();
        nodes.push(nodes[0].clone());
        let first = cycle[0];
        let at = if graph.graph[first].inputs.is_some() {
            format!("{base}.graph[{first}].inputs")
        } else {
            format!("{base}.graph[{first}]")
        };
        issues.push(ValidationIssue::error(Error::GraphCycle { nodes }.to_string()).at(at));
    }
    // Outputs.
    let outputs: Vec<(String, &str)> = match &graph.outputs {
        None => Vec::new(),
        Some(OutputsSpec::Named(map)) => map.iter().map(|(k, r)| (format!("{base}.outputs.{k}"), r.as_str())).collect(),
        Some(OutputsSpec::List(list)) => {
            list.iter().enumerate().map(|(k, r)| (format!("{base}.outputs[{k}]"), r.as_str())).collect()
        }
    };
    for (at, r) in outputs {
        if resolve(r, &input_names, &node_names).is_none() {
            issues.push(dangling("outputs", r, &input_names, &node_names).at(at));
        }
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
    // Building the layer names a bad param precisely; the plugins' hooks judge the rest.
    let layer = match component.create(&params) {
        Ok(layer) => layer,
        Err(e) => {
            issues.push(param_issue(spec, &who, path, &e));
            return issues;
        }
    };
    // Named ports must be the layer's.
    if let Some(NodeInputs::Ports(ports)) = &node.inputs {
        let known = layer.input_names();
        for port in ports.keys().filter(|p| !known.contains(&p.as_str())) {
            let hint = DidYouMean::among(port, known.iter().copied());
            let issue = ValidationIssue::error(format!("{who}: the layer has no input port `{port}`{hint}"));
            issues.push(at_key(spec, issue, format!("{path}.inputs.{port}")));
        }
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
fn at_key(spec: &ArcSpec, issue: ValidationIssue, path: String) -> ValidationIssue {
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

enum Target {
    Input,
    Node(usize),
}

/// A ref: a model input (`x`, `inputs.x`), a node or `node.output`.
fn resolve(r: &str, inputs: &[&str], nodes: &[&str]) -> Option<Target> {
    let bare = r.strip_prefix("inputs.").unwrap_or(r);
    if inputs.contains(&bare) {
        return Some(Target::Input);
    }
    let node = r.strip_suffix(".output").unwrap_or(r);
    nodes.iter().position(|n| *n == node).map(Target::Node)
}

fn dangling(who: &str, r: &str, inputs: &[&str], nodes: &[&str]) -> ValidationIssue {
    let hint = DidYouMean::among(r, inputs.iter().chain(nodes).copied());
    let what = if who == "outputs" { "names no node or model input" } else { "is not a node or a model input" };
    ValidationIssue::error(format!("{who}: `{r}` {what}{hint}"))
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

fn show_value(v: &serde_yaml::Value) -> String {
    serde_yaml::to_string(v).map(|s| s.trim().to_owned()).unwrap_or_else(|_| format!("{v:?}"))
}

/// Names of the model's outputs (`outputs` keys, list refs' node names, or
/// the last node).
pub(crate) fn output_names(model: &ModelSpec) -> Vec<String> {
    match &model.outputs {
        None => model.graph.last().map(|n| vec![n.name.clone()]).unwrap_or_default(),
        Some(OutputsSpec::Named(map)) => map.keys().cloned().collect(),
        Some(OutputsSpec::List(list)) => list.iter().map(|r| r.split('.').next().unwrap_or(r).to_owned()).collect(),
    }
}
