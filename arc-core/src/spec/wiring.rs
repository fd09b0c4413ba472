//! The graph's wiring, resolved once: which value feeds each node's ports,
//! the execution order, and what each model output is.
//!
//! [`Wiring::resolve`] reads a `model` section (or a `modules:` entry) and
//! gives typed values that the validator, the builder, the exporters and
//! the Predictor all use: a ref is a model input (`x`, `inputs.x`), a node
//! (`fc1`) or a node's output (`fc1.output`); a node without `inputs` takes
//! the previous node's output (the first node, the model's only input);
//! nodes run in topological order, declaration order breaking ties.
//! Every problem is reported, each with the YAML path it is about.

use std::collections::BTreeMap;

use super::{Config, InputDType, ModelSpec, NodeInputs, OutputsSpec, ShapeEntry};
use crate::{DidYouMean, Error};

/// Where a graph value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Model input `i` (declaration order).
    Input(usize),
    /// Node `i` (declaration order).
    Node(usize),
}

/// One ref feeding a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    /// The port as written (`{query: x}`); `None` for a positional ref (a
    /// lone ref, or an item of a list, bound to the layer's ports in order).
    pub port: Option<String>,
    /// The value.
    pub source: Source,
    /// The YAML path of the ref (`model.graph[2].inputs.query`).
    pub path: String,
}

/// A model input as declared.
#[derive(Clone, Debug, PartialEq)]
pub struct WiredInput {
    /// Its name.
    pub name: String,
    /// The pipeline tensor `source:` names (without `tensors.`); `None`:
    /// `tensors.<name>`, else the table column `<name>`.
    pub source: Option<String>,
    /// The declared shape.
    pub shape: Option<Vec<ShapeEntry>>,
    /// The declared element type.
    pub dtype: Option<InputDType>,
}

/// A node with its refs resolved.
#[derive(Clone, Debug)]
pub struct WiredNode {
    /// Its name.
    pub name: String,
    /// The layer type as written (`Linear`, `torch.nn.Linear`, `module.block`).
    pub layer_type: String,
    /// Its params as written (`vars.X` not yet substituted).
    pub params: Config,
    /// Its inputs, in the order the YAML writes them.
    pub inputs: Vec<Wire>,
}

/// A `model` section's wiring, resolved once: a ref is a model input (`x`,
/// `inputs.x`), a node (`fc1`) or a node's output (`fc1.output`); a node
/// without `inputs` takes the previous node's output (the first node, the
/// model's only input); nodes run in topological order, declaration order
/// breaking ties. The validator, the builder, the exporters and the
/// Predictor all read this.
///
/// ```
/// use arc_core::spec::{Config, ModelSpec, Source, Wiring};
///
/// let model = ModelSpec::from_config(&Config::from_yaml(
///     "inputs: {x: [null, 4]}\ngraph: [{name: b, type: ReLU, inputs: a.output}, {name: a, type: Tanh, inputs: x}]\noutputs: {y: b}",
/// )?)?;
/// let wiring = Wiring::resolve(&model, "model").map_err(|mut p| p.remove(0).error)?;
/// assert_eq!(wiring.order, [1, 0]); // `a` runs first: `b` reads it
/// assert_eq!(wiring.nodes[0].inputs[0].source, Source::Node(1));
/// assert_eq!(wiring.outputs, [("y".to_owned(), Source::Node(0))]);
/// let bad = ModelSpec::from_config(&Config::from_yaml("inputs: {x: [null]}\ngraph: [{name: a, type: ReLU, inputs: z}]")?)?;
/// let problems = Wiring::resolve(&bad, "model").unwrap_err();
/// assert_eq!(problems[0].path, "model.graph[0].inputs");
/// assert_eq!(problems[0].error.to_string(), "node `a`: `z` is not a node or a model input (did you mean `a` or `x`?)");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Wiring {
    /// The model inputs, in declaration order.
    pub inputs: Vec<WiredInput>,
    /// The nodes, in declaration order (`model.graph[i]`).
    pub nodes: Vec<WiredNode>,
    /// The execution order: node indices, each after the nodes it reads.
    pub order: Vec<usize>,
    /// The outputs `(name, value)`, in the order the YAML writes them;
    /// without `outputs`, the last node under its own name.
    pub outputs: Vec<(String, Source)>,
}

/// One wiring problem: the error and the YAML path it is about.
#[derive(Debug)]
pub struct WiringProblem {
    /// Where (`model.graph[1].inputs`).
    pub path: String,
    /// What.
    pub error: Error,
}

impl Wiring {
    /// Resolves `model`'s refs; `base` is its YAML path (`model`,
    /// `modules.block`). `Err` lists every problem: duplicate names, a
    /// first node without `inputs` in a model of several inputs, refs to
    /// nothing (with did-you-mean), cycles (named whole).
    pub fn resolve(model: &ModelSpec, base: &str) -> Result<Self, Vec<WiringProblem>> {
        let mut problems = Vec::new();
        let inputs: Vec<WiredInput> = model
            .inputs
            .iter()
            .map(|(name, input)| WiredInput {
                name: name.clone(),
                source: input.source().map(str::to_owned),
                shape: input.shape().map(<[ShapeEntry]>::to_vec),
                dtype: input.dtype(),
            })
            .collect();
        let input_names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        let node_names: Vec<&str> = model.graph.iter().map(|n| n.name.as_str()).collect();
        let mut nodes = Vec::with_capacity(model.graph.len());
        for (i, node) in model.graph.iter().enumerate() {
            let path = format!("{base}.graph[{i}]");
            if node_names[..i].contains(&node.name.as_str()) || input_names.contains(&node.name.as_str()) {
                let error = Error::Spec { message: format!("node `{}`: the name is used twice", node.name) };
                problems.push(WiringProblem { path: format!("{path}.name"), error });
            }
            let refs: Vec<(Option<String>, &str, String)> = match &node.inputs {
                None => Vec::new(),
                Some(NodeInputs::One(r)) => vec![(None, r.as_str(), format!("{path}.inputs"))],
                Some(NodeInputs::List(list)) => {
                    list.iter().enumerate().map(|(k, r)| (None, r.as_str(), format!("{path}.inputs[{k}]"))).collect()
                }
                Some(NodeInputs::Ports(ports)) => {
                    ports.iter().map(|(p, r)| (Some(p.clone()), r.as_str(), format!("{path}.inputs.{p}"))).collect()
                }
            };
            let mut wires = Vec::with_capacity(refs.len().max(1));
            if node.inputs.is_none() {
                match (i, input_names.len()) {
                    (0, 1) => wires.push(Wire { port: None, source: Source::Input(0), path: path.clone() }),
                    (0, n) => {
                        let message =
                            format!("node `{}` has no `inputs` and the graph has {n} inputs: name one", node.name);
                        problems.push(WiringProblem { path: path.clone(), error: Error::Spec { message } });
                    }
                    _ => wires.push(Wire { port: None, source: Source::Node(i - 1), path: path.clone() }),
                }
            }
            for (port, r, at) in refs {
                match resolve_ref(r, &input_names, &node_names) {
                    Some(Source::Node(j)) if j == i => problems.push(WiringProblem {
                        path: at,
                        error: Error::GraphCycle { nodes: vec![node.name.clone(); 2] },
                    }),
                    Some(source) => wires.push(Wire { port, source, path: at }),
                    None => problems
                        .push(WiringProblem { path: at, error: dangling(&node.name, r, &input_names, &node_names) }),
                }
            }
            nodes.push(WiredNode {
                name: node.name.clone(),
                layer_type: node.layer_type.clone(),
                params: node.params.clone().unwrap_or_default(),
                inputs: wires,
            });
        }
        let outputs = resolve_outputs(model, base, &input_names, &node_names, &mut problems);
        let order = match execution_order(&nodes) {
            Ok(order) => order,
            Err(cycle) => {
                let first = cycle[0];
                let path = match model.graph[first].inputs {
                    Some(_) => format!("{base}.graph[{first}].inputs"),
                    None => format!("{base}.graph[{first}]"),
                };
                let mut names: Vec<String> = cycle.iter().map(|&i| nodes[i].name.clone()).collect();
                names.push(names[0].clone());
                problems.push(WiringProblem { path, error: Error::GraphCycle { nodes: names } });
                Vec::new()
            }
        };
        if problems.is_empty() { Ok(Self { inputs, nodes, order, outputs }) } else { Err(problems) }
    }

    /// The name of a value: the model input's or the node's.
    pub fn name_of(&self, source: Source) -> &str {
        match source {
            Source::Input(i) => &self.inputs[i].name,
            Source::Node(i) => &self.nodes[i].name,
        }
    }
}

/// A ref: a model input (`x`, `inputs.x`), a node or `node.output`.
fn resolve_ref(r: &str, inputs: &[&str], nodes: &[&str]) -> Option<Source> {
    let bare = r.strip_prefix("inputs.").unwrap_or(r);
    if let Some(i) = inputs.iter().position(|n| *n == bare) {
        return Some(Source::Input(i));
    }
    let node = r.strip_suffix(".output").unwrap_or(r);
    nodes.iter().position(|n| *n == node).map(Source::Node)
}

fn dangling(holder: &str, r: &str, inputs: &[&str], nodes: &[&str]) -> Error {
    let holder = if holder == "outputs" { holder.to_owned() } else { format!("node `{holder}`") };
    Error::UnknownRef {
        holder,
        reference: r.to_owned(),
        hint: DidYouMean::among(r, inputs.iter().chain(nodes).copied()),
    }
}

fn resolve_outputs(
    model: &ModelSpec,
    base: &str,
    inputs: &[&str],
    nodes: &[&str],
    problems: &mut Vec<WiringProblem>,
) -> Vec<(String, Source)> {
    let written: Vec<(String, &str, String)> = match &model.outputs {
        None => {
            return nodes.last().map(|n| vec![((*n).to_owned(), Source::Node(nodes.len() - 1))]).unwrap_or_default();
        }
        Some(OutputsSpec::Named(map)) => {
            map.iter().map(|(k, r)| (k.clone(), r.as_str(), format!("{base}.outputs.{k}"))).collect()
        }
        Some(OutputsSpec::List(list)) => list
            .iter()
            .enumerate()
            .map(|(k, r)| (r.split('.').next().unwrap_or(r).to_owned(), r.as_str(), format!("{base}.outputs[{k}]")))
            .collect(),
    };
    let mut outputs: Vec<(String, Source)> = Vec::with_capacity(written.len());
    for (name, r, path) in written {
        match resolve_ref(r, inputs, nodes) {
            _ if outputs.iter().any(|(n, _)| *n == name) => {
                let error = Error::Spec { message: format!("outputs: the name `{name}` is used twice") };
                problems.push(WiringProblem { path, error });
            }
            Some(source) => outputs.push((name, source)),
            None => problems.push(WiringProblem { path, error: dangling("outputs", r, inputs, nodes) }),
        }
    }
    outputs
}

/// Kahn's algorithm, the lowest declaration index first; `Err` with a cycle
/// (node indices in data-flow order) when there is one.
fn execution_order(nodes: &[WiredNode]) -> Result<Vec<usize>, Vec<usize>> {
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            n.inputs
                .iter()
                .filter_map(|w| match w.source {
                    Source::Node(j) => Some(j),
                    Source::Input(_) => None,
                })
                .collect()
        })
        .collect();
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let ready = (0..nodes.len()).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]));
        match ready {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => return Err(super::find_cycle(&deps).unwrap_or_default()),
        }
    }
    Ok(order)
}

/// The names of the outputs of `model` as written (for checks that need
/// no full resolution): `outputs` keys, list refs' node names, or the last
/// node.
pub fn output_names(model: &ModelSpec) -> Vec<String> {
    match &model.outputs {
        None => model.graph.last().map(|n| vec![n.name.clone()]).unwrap_or_default(),
        Some(OutputsSpec::Named(map)) => map.iter().map(|(k, _)| k.clone()).collect(),
        Some(OutputsSpec::List(list)) => list.iter().map(|r| r.split('.').next().unwrap_or(r).to_owned()).collect(),
    }
}

/// Each model input's declared shape with `vars` substituted: `None`
/// entries for `null`; `Err` with the input's name and the missing or
/// fractional var.
pub fn resolve_shape(
    input: &WiredInput,
    vars: &BTreeMap<String, f64>,
) -> Result<Option<Vec<Option<usize>>>, (String, String)> {
    let Some(shape) = &input.shape else { return Ok(None) };
    shape
        .iter()
        .map(|e| e.resolve(vars).map_err(|var| (input.name.clone(), var)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> ModelSpec {
        ModelSpec::from_config(&Config::from_yaml(yaml).expect("yaml")).expect("model section")
    }

    fn problems(yaml: &str) -> Vec<(String, String)> {
        match Wiring::resolve(&model(yaml), "model") {
            Ok(_) => Vec::new(),
            Err(p) => p.into_iter().map(|p| (p.path, p.error.to_string())).collect(),
        }
    }

    #[test]
    fn ports_keep_yaml_order_and_defaults_chain() {
        let w = Wiring::resolve(
            &model(
                "inputs: {x: [null, 2]}\ngraph: [{name: a, type: ReLU}, {name: b, type: ReLU}, \
                 {name: cat, type: Concatenate, inputs: {zeta: b, alpha: a.output, mid: inputs.x}}]",
            ),
            "model",
        )
        .expect("wires");
        assert_eq!(w.nodes[0].inputs[0].source, Source::Input(0));
        assert_eq!(w.nodes[1].inputs[0].source, Source::Node(0));
        let ports: Vec<_> = w.nodes[2].inputs.iter().map(|w| (w.port.clone().unwrap_or_default(), w.source)).collect();
        assert_eq!(
            ports,
            [("zeta".into(), Source::Node(1)), ("alpha".into(), Source::Node(0)), ("mid".into(), Source::Input(0))]
        );
        assert_eq!(w.nodes[2].inputs[1].path, "model.graph[2].inputs.alpha");
        assert_eq!(w.outputs, [("cat".to_owned(), Source::Node(2))]);
        assert_eq!(w.order, [0, 1, 2]);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let found = problems(
            "inputs: {x: [null], y: [null]}\ngraph: [{name: a, type: ReLU}, {name: a, type: ReLU, inputs: [x, nope]}, \
             {name: c, type: ReLU, inputs: c}]\noutputs: {out: zz}",
        );
        assert_eq!(
            found,
            [
                (
                    "model.graph[0]".to_owned(),
                    "spec: node `a` has no `inputs` and the graph has 2 inputs: name one".into()
                ),
                ("model.graph[1].name".into(), "spec: node `a`: the name is used twice".into()),
                ("model.graph[1].inputs[1]".into(), "node `a`: `nope` is not a node or a model input".into()),
                ("model.graph[2].inputs".into(), "model graph has a cycle: c → c".into()),
                (
                    "model.outputs.out".into(),
                    "outputs: `zz` is not a node or a model input (did you mean `a`, `c` or `x`?)".into()
                ),
            ]
        );
    }

    #[test]
    fn a_cycle_is_named_whole_in_data_flow_order() {
        let found = problems(
            "inputs: {x: [null, 2]}\ngraph: [{name: a, type: ReLU, inputs: x}, {name: c, type: ReLU, inputs: b}, \
             {name: d, type: ReLU, inputs: c}, {name: b, type: ReLU, inputs: d}, {name: head, type: ReLU, inputs: b}]",
        );
        assert_eq!(found, [("model.graph[1].inputs".to_owned(), "model graph has a cycle: c → d → b → c".into())]);
    }
}
