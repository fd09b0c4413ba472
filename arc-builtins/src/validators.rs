//! Arc's standard model validator: warnings about specs that run but
//! probably do not do what their author meant.

use arc_core::plugin::ValidatorHookSpec;
use arc_core::spec::{ArcSpec, ModelSpec, Source, Wiring};
use arc_core::validate::ValidationIssue;
use arc_core::{arc_plugin, hookimpl};

/// Registers Arc's standard model validators.
///
/// Its `validate_model` hook warns about graph nodes whose output reaches
/// no model output (dead nodes: their parameters would never train), in
/// the model and in every module.
#[arc_plugin(name = "builtin_validators", description = "Registers Arc's standard model validators.")]
#[derive(Debug, Default)]
pub struct BuiltinValidatorPlugin;

#[hookimpl]
impl ValidatorHookSpec for BuiltinValidatorPlugin {
    fn validate_model(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        let mut issues = dead_nodes(&spec.model, "model");
        for (name, module) in &spec.modules {
            issues.extend(dead_nodes(module, &format!("modules.{name}")));
        }
        issues
    }
}

/// A warning for each node no output depends on (without `outputs`, the
/// last node is the output), read from the graph's [`Wiring`]. A graph whose
/// wiring does not resolve has errors already; dead nodes would be noise.
fn dead_nodes(graph: &ModelSpec, base: &str) -> Vec<ValidationIssue> {
    let Ok(wiring) = Wiring::resolve(graph, base) else { return Vec::new() };
    let node = |s: &Source| match s {
        Source::Node(i) => Some(*i),
        Source::Input(_) => None,
    };
    let mut live: Vec<usize> = wiring.outputs.iter().filter_map(|(_, s)| node(s)).collect();
    let mut seen = vec![false; wiring.nodes.len()];
    while let Some(i) = live.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            live.extend(wiring.nodes[i].inputs.iter().filter_map(|w| node(&w.source)));
        }
    }
    seen.iter()
        .enumerate()
        .filter(|(_, reached)| !**reached)
        .map(|(i, _)| {
            ValidationIssue::warning(format!("node `{}` feeds no output of the graph", wiring.nodes[i].name))
                .at(format!("{base}.graph[{i}].name"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_reaching_no_output_are_warned_about() {
        let text = "model_name: m\nmodel:\n  inputs: {x: [null, 2]}\n  graph:\n    - {name: a, type: ReLU, inputs: x}\n    \
                    - {name: side, type: Tanh, inputs: x}\n    - {name: b, type: ReLU, inputs: a.output}\n  \
                    outputs: {y: b}\n";
        let spec = ArcSpec::from_yaml(text, "m.yaml").expect("the spec parses");
        let issues = BuiltinValidatorPlugin.validate_model(&spec);
        let shown: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["warning: model.graph[1].name: node `side` feeds no output of the graph"]);
        let chained = text.replace(", inputs: a.output}", "}").replace("outputs: {y: b}", "outputs: [b]");
        let spec = ArcSpec::from_yaml(&chained, "m.yaml").expect("the spec parses");
        // `b` takes the previous node (`side`), so `a` is now the dead one.
        let shown: Vec<String> = BuiltinValidatorPlugin.validate_model(&spec).iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["warning: model.graph[0].name: node `a` feeds no output of the graph"]);
    }
}
