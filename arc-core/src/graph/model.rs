//! [`GraphModel`]: the builder and the executor of a `model` section.

use std::collections::BTreeMap;

use super::{InputSpec, ModelSpec, NodeInputs, OutputsSpec};
use crate::nn::{self, Layer, Param, ShapeSpec};
use crate::plugin::PluginManager;
use crate::{DidYouMean, Error, Result, Tensor};

/// Where a value comes from: a model input or a node's output.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Input(usize),
    Node(String),
}

/// A node input: (port, source); the port is `None` for a single unnamed input.
type Wire = (Option<String>, Source);

struct Node {
    name: String,
    layer_type: String,
    layer: Box<dyn Layer>,
    /// (port, source); the port is `None` for a single unnamed input.
    inputs: Vec<Wire>,
}

/// A model built from a spec's `model` section: layers in topological
/// order, run by [`forward`](Self::forward) on named input tensors.
pub struct GraphModel {
    /// (input name, source tensor name in the pipeline, shape).
    inputs: Vec<(String, String, ShapeSpec)>,
    /// Each input's declared element type, if any.
    input_dtypes: Vec<Option<crate::DType>>,
    nodes: Vec<Node>,
    outputs: Vec<(String, Source)>,
}

impl GraphModel {
    /// Builds the layers of `spec` from `manager`'s layer registry, with
    /// `vars` (the fitted pipeline's) substituted for `vars.X` params and
    /// shape entries.
    ///
    /// A node of type `module.<name>` builds the sub-graph `spec.modules`
    /// names; its numeric params bind the module's `vars.X` (on top of
    /// `vars`), and its parameters are named `node.inner.weight`. A module
    /// that uses itself, directly or not, is an error naming the chain.
    pub fn build(spec: &ModelSpec, vars: &BTreeMap<String, f64>, manager: &PluginManager) -> Result<Self> {
        Self::build_with(spec, &spec.modules, vars, manager, &mut Vec::new())
    }

    /// [`build`](Self::build) with the modules given apart, and the chain
    /// of modules being built (for recursion).
    pub(crate) fn build_with(
        spec: &ModelSpec,
        modules: &BTreeMap<String, ModelSpec>,
        vars: &BTreeMap<String, f64>,
        manager: &PluginManager,
        chain: &mut Vec<String>,
    ) -> Result<Self> {
        let inputs = spec
            .inputs
            .iter()
            .map(|(name, input)| Ok((name.clone(), input_source(name, input), input_shape(name, input, vars)?)))
            .collect::<Result<Vec<_>>>()?;
        let input_names: Vec<&str> = inputs.iter().map(|(n, _, _)| n.as_str()).collect();
        // Resolve every node's refs (declaration order).
        let mut declared: Vec<(usize, Vec<Wire>)> = Vec::new();
        for (i, node) in spec.graph.iter().enumerate() {
            if spec.graph[..i].iter().any(|n| n.name == node.name) || input_names.contains(&node.name.as_str()) {
                return Err(Error::Spec { message: format!("node name `{}` is used twice", node.name) });
            }
            let resolve = |r: &str| resolve_ref(&node.name, r, &input_names, spec);
            let refs = match &node.inputs {
                None if i == 0 => match input_names.as_slice() {
                    [_] => vec![(None, Source::Input(0))],
                    _ => {
                        return Err(Error::Spec {
                            message: format!(
                                "node `{}` has no `inputs` and the model has {} inputs: name one",
                                node.name,
                                input_names.len()
                            ),
                        });
                    }
                },
                None => vec![(None, Source::Node(spec.graph[i - 1].name.clone()))],
                Some(NodeInputs::One(r)) => vec![(None, resolve(r)?)],
                Some(NodeInputs::List(list)) => {
                    list.iter().map(|r| Ok((None, resolve(r)?))).collect::<Result<Vec<_>>>()?
                }
                Some(NodeInputs::Ports(ports)) => {
                    ports.iter().map(|(p, r)| Ok((Some(p.clone()), resolve(r)?))).collect::<Result<Vec<_>>>()?
                }
            };
            declared.push((i, refs));
        }
        // Kahn's algorithm, the lowest declaration index first.
        let mut done = vec![false; spec.graph.len()];
        let mut order = Vec::with_capacity(spec.graph.len());
        while order.len() < spec.graph.len() {
            let ready = declared.iter().find(|(i, refs)| {
                !done[*i]
                    && refs.iter().all(|(_, s)| match s {
                        Source::Input(_) => true,
                        Source::Node(n) => spec.graph.iter().position(|g| &g.name == n).is_some_and(|j| done[j]),
                    })
            });
            let Some((i, _)) = ready else {
                let deps: Vec<Vec<usize>> = declared
                    .iter()
                    .map(|(_, refs)| {
                        refs.iter()
                            .filter_map(|(_, s)| match s {
                                Source::Node(n) => spec.graph.iter().position(|g| &g.name == n),
                                Source::Input(_) => None,
                            })
                            .collect()
                    })
                    .collect();
                let cycle = super::find_cycle(&deps).unwrap_or_default();
                let mut nodes: Vec<String> = cycle.iter().map(|&i| spec.graph[i].name.clone()).collect();
                if let Some(first) = nodes.first().cloned() {
                    nodes.push(first);
                }
                return Err(Error::GraphCycle { nodes });
            };
            done[*i] = true;
            order.push(*i);
        }
        let mut nodes = Vec::with_capacity(order.len());
        for i in order {
            let node = &spec.graph[i];
            let wrap = |e: Error| Error::GraphNode {
                node: node.name.clone(),
                layer_type: node.layer_type.clone(),
                source: Box::new(e),
            };
            let params = node.params.clone().unwrap_or_default().resolve_vars(vars).map_err(|r| {
                let known: Vec<String> = vars.keys().map(|k| format!("vars.{k}")).collect();
                Error::DanglingRef {
                    node: node.name.clone(),
                    hint: DidYouMean::among(&r, known.iter().map(String::as_str)),
                    reference: r,
                }
            })?;
            let layer = match node.layer_type.strip_prefix("module.") {
                Some(module) => super::module::build(module, &params, modules, vars, manager, chain).map_err(wrap)?,
                None => manager.get_layer(&node.layer_type).and_then(|c| c.create(&params)).map_err(wrap)?,
            };
            let mut refs = declared[i].1.clone();
            if refs.len() > 1 && refs.iter().all(|(p, _)| p.is_none()) {
                let ports = layer.input_names();
                if ports.len() < refs.len() {
                    return Err(wrap(Error::Spec {
                        message: format!("{} inputs given, the layer has ports {ports:?}", refs.len()),
                    }));
                }
                for (slot, port) in refs.iter_mut().zip(ports) {
                    slot.0 = Some((*port).to_owned());
                }
            }
            nodes.push(Node { name: node.name.clone(), layer_type: node.layer_type.clone(), layer, inputs: refs });
        }
        let outputs = match &spec.outputs {
            None => match nodes.last() {
                Some(last) => vec![(last.name.clone(), Source::Node(last.name.clone()))],
                None => Vec::new(),
            },
            Some(OutputsSpec::Named(map)) => map
                .iter()
                .map(|(k, r)| Ok((k.clone(), resolve_ref("outputs", r, &input_names, spec)?)))
                .collect::<Result<_>>()?,
            Some(OutputsSpec::List(list)) => list
                .iter()
                .map(|r| {
                    Ok((r.split('.').next().unwrap_or(r).to_owned(), resolve_ref("outputs", r, &input_names, spec)?))
                })
                .collect::<Result<_>>()?,
        };
        let input_dtypes = spec
            .inputs
            .iter()
            .map(|(_, i)| match i {
                InputSpec::Full { dtype: Some(d), .. } => Some(d.dtype()),
                _ => None,
            })
            .collect();
        Ok(Self { inputs, input_dtypes, nodes, outputs })
    }

    /// The model inputs: (name, pipeline tensor name, declared shape).
    pub fn inputs(&self) -> impl Iterator<Item = (&str, &str, &ShapeSpec)> {
        self.inputs.iter().map(|(n, s, shape)| (n.as_str(), s.as_str(), shape))
    }

    /// The shape of output `index` given the input shapes, when known.
    pub(crate) fn output_shape_from(&self, input_shapes: &[ShapeSpec], index: usize) -> Result<Option<ShapeSpec>> {
        let shapes = self.infer_shapes_from(input_shapes)?;
        Ok(match self.outputs.get(index) {
            Some((_, Source::Node(n))) => shapes.get(n).cloned(),
            Some((_, Source::Input(i))) => input_shapes.get(*i).cloned(),
            None => None,
        })
    }

    /// The output names.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The node names, in execution order.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// Runs the graph on the inputs (by model input name); returns every
    /// output by name. Errors name the node that failed.
    pub fn forward(&self, inputs: &BTreeMap<String, Tensor>) -> Result<BTreeMap<String, Tensor>> {
        let mut given = Vec::with_capacity(self.inputs.len());
        for ((name, _, shape), dtype) in self.inputs.iter().zip(&self.input_dtypes) {
            let t =
                inputs.get(name).ok_or_else(|| Error::Spec { message: format!("model input `{name}` not given") })?;
            check_shape(name, shape, t.shape())?;
            if let Some(want) = dtype
                && t.dtype() != *want
            {
                return Err(Error::Spec {
                    message: format!("model input `{name}` is declared {want:?} but receives {:?}", t.dtype()),
                });
            }
            given.push(t.clone());
        }
        let mut values: BTreeMap<&str, Tensor> = BTreeMap::new();
        let get = |s: &Source, values: &BTreeMap<&str, Tensor>| -> Result<Tensor> {
            let found = match s {
                Source::Input(i) => given.get(*i).cloned(),
                // Topological order: a node's sources ran before it.
                Source::Node(n) => values.get(n.as_str()).cloned(),
            };
            found.ok_or_else(|| Error::Spec { message: format!("graph value {s:?} is not computed") })
        };
        for node in &self.nodes {
            let args: Vec<(String, Tensor)> = node
                .inputs
                .iter()
                .map(|(p, s)| Ok((p.clone().unwrap_or_else(|| "input".to_owned()), get(s, &values)?)))
                .collect::<Result<_>>()?;
            let routed: Vec<(&str, &Tensor)> = args.iter().map(|(p, t)| (p.as_str(), t)).collect();
            let out = nn::forward(node.layer.as_ref(), &node.name, &routed).map_err(|e| Error::GraphNode {
                node: node.name.clone(),
                layer_type: node.layer_type.clone(),
                source: Box::new(e),
            })?;
            values.insert(&node.name, out);
        }
        self.outputs.iter().map(|(name, s)| Ok((name.clone(), get(s, &values)?))).collect()
    }

    /// Infers every node's output shape from the declared input shapes,
    /// in execution order (`None` entries are unknown sizes; an input
    /// declared without a shape leaves what depends on it unknown and
    /// unchecked). A node whose layer rejects its input shapes is
    /// [`Error::GraphShape`], naming the node, the nodes (or model inputs)
    /// feeding it and their shapes.
    pub fn infer_shapes(&self) -> Result<BTreeMap<String, ShapeSpec>> {
        let declared: Vec<ShapeSpec> = self.inputs.iter().map(|(_, _, s)| s.clone()).collect();
        self.infer_shapes_from(&declared)
    }

    /// [`infer_shapes`](Self::infer_shapes) from the given input shapes
    /// (one per model input, in order; empty for unknown).
    pub(crate) fn infer_shapes_from(&self, input_shapes: &[ShapeSpec]) -> Result<BTreeMap<String, ShapeSpec>> {
        let mut shapes: BTreeMap<String, ShapeSpec> = BTreeMap::new();
        for node in &self.nodes {
            let mut given = Vec::with_capacity(node.inputs.len());
            for (_, source) in &node.inputs {
                let (from, shape) = match source {
                    Source::Input(i) => (format!("model input `{}`", self.inputs[*i].0), input_shapes.get(*i)),
                    Source::Node(n) => (format!("`{n}`"), shapes.get(n)),
                };
                match shape {
                    Some(shape) if !shape.is_empty() => given.push((from, shape.clone())),
                    _ => break,
                }
            }
            if given.len() < node.inputs.len() {
                continue;
            }
            let inputs: Vec<ShapeSpec> = given.iter().map(|(_, s)| s.clone()).collect();
            match node.layer.output_shape(&inputs) {
                Ok(out) => {
                    shapes.insert(node.name.clone(), out);
                }
                Err(e) => {
                    let gets = given.iter().map(|(from, s)| format!("{} from {from}", show_shape(s))).collect();
                    return Err(Error::GraphShape {
                        node: node.name.clone(),
                        layer_type: node.layer_type.clone(),
                        gets,
                        error: Box::new(e),
                    });
                }
            }
        }
        Ok(shapes)
    }

    /// Calls `visit` with every parameter under `node.param` names.
    pub fn visit_params<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a Param)) {
        self.visit_params_under("", visit);
    }

    /// [`visit_params`](Self::visit_params) with names under `prefix`.
    pub(crate) fn visit_params_under<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        for node in &self.nodes {
            node.layer.visit_params(&nn::join_name(prefix, &node.name), visit);
        }
    }

    /// Calls `visit` with every buffer (non-trainable state) under `prefix`.
    pub(crate) fn visit_buffers_under(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Tensor)) {
        for node in &self.nodes {
            node.layer.visit_buffers(&nn::join_name(prefix, &node.name), visit);
        }
    }

    /// [`load_state`](Self::load_state)'s buffer half, with names under `prefix`.
    pub(crate) fn load_buffers_under(&self, prefix: &str, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<()> {
        for node in &self.nodes {
            node.layer.load_buffers(&nn::join_name(prefix, &node.name), get)?;
        }
        Ok(())
    }

    /// Every parameter's (name, value), in execution order.
    pub fn named_values(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit_params(&mut |n, p| out.push((n.to_owned(), p.value())));
        out
    }

    /// Every buffer's (name, value) (batch norm's running statistics), in
    /// execution order.
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit_buffers_under("", &mut |n, t| out.push((n.to_owned(), t.clone())));
        out
    }

    /// What a model directory saves: the parameters, then the buffers.
    pub fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut out = self.named_values();
        out.extend(self.named_buffers());
        out
    }

    /// Loads saved state (from [`named_state`](Self::named_state)): every
    /// parameter must be there with its shape; a buffer that is absent
    /// keeps its initial value (directories saved before buffers were).
    /// Errors name the tensor and [`WEIGHTS_FILE`](crate::model_dir::WEIGHTS_FILE).
    pub fn load_state(&self, saved: &[(String, Tensor)]) -> Result<()> {
        let file = crate::model_dir::WEIGHTS_FILE;
        let saved: BTreeMap<&str, &Tensor> = saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut result = Ok(());
        self.visit_params(&mut |name, p| {
            if result.is_err() {
                return;
            }
            result = match saved.get(name) {
                Some(w) if w.shape() == p.shape().as_slice() => p.set((*w).clone()),
                Some(w) => Err(Error::ModelDir {
                    path: file.into(),
                    message: format!("`{name}` has shape {:?}, the model wants {:?}", w.shape(), p.shape()),
                }),
                None => Err(Error::ModelDir { path: file.into(), message: format!("no weights for `{name}`") }),
            };
        });
        result?;
        self.load_buffers_under("", &mut |name| saved.get(name).map(|t| (*t).clone()))
            .map_err(|e| Error::ModelDir { path: file.into(), message: e.to_string() })
    }

    /// Moves every parameter and buffer to `device` (a copy each; those already there stay).
    /// Parameters are replaced through [`Param::set`] (their gradients are dropped) and buffers
    /// through the layers' `load_buffers`, so every layer that names its state moves with no
    /// code of its own.
    pub fn to_device(&self, device: crate::Device) -> Result<()> {
        let mut result = Ok(());
        self.visit_params(&mut |_, p| {
            if result.is_ok() {
                result = p.to_device(device);
            }
        });
        result?;
        let moved: BTreeMap<String, Tensor> =
            self.named_buffers().into_iter().map(|(n, t)| Ok((n, t.to_device(device)?))).collect::<Result<_>>()?;
        self.load_buffers_under("", &mut |name| moved.get(name).cloned())
    }

    /// Switches every layer between training and evaluation.
    pub fn set_training(&mut self, training: bool) {
        for node in &mut self.nodes {
            node.layer.set_training(training);
        }
    }
}

fn input_source(name: &str, input: &InputSpec) -> String {
    match input {
        InputSpec::Full { source: Some(s), .. } => s.strip_prefix("tensors.").unwrap_or(s).to_owned(),
        _ => name.to_owned(),
    }
}

fn input_shape(name: &str, input: &InputSpec, vars: &BTreeMap<String, f64>) -> Result<ShapeSpec> {
    let entries = match input {
        InputSpec::Shape(s) | InputSpec::Full { shape: Some(s), .. } => s,
        InputSpec::Full { shape: None, .. } => return Ok(Vec::new()),
    };
    let bad = |v: &serde_yaml::Value| Error::Spec {
        message: format!("model input `{name}`: shape entry {v:?} is not a size, null or vars.X"),
    };
    entries
        .iter()
        .map(|v| match v {
            serde_yaml::Value::Null => Ok(None),
            serde_yaml::Value::Number(n) => n.as_u64().map(|n| Some(n as usize)).ok_or_else(|| bad(v)),
            serde_yaml::Value::String(s) => match s.strip_prefix("vars.").and_then(|k| vars.get(k)) {
                Some(x) if x.fract() == 0.0 && *x >= 0.0 => Ok(Some(*x as usize)),
                Some(_) => Err(bad(v)),
                None => {
                    let known: Vec<String> = vars.keys().map(|k| format!("vars.{k}")).collect();
                    Err(Error::DanglingRef {
                        node: format!("inputs.{name}"),
                        reference: s.clone(),
                        hint: DidYouMean::among(s, known.iter().map(String::as_str)),
                    })
                }
            },
            _ => Err(bad(v)),
        })
        .collect()
}

/// `[null, 4]`.
pub(crate) fn show_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("null".into(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

fn check_shape(name: &str, want: &ShapeSpec, got: &[usize]) -> Result<()> {
    if want.is_empty() {
        return Ok(());
    }
    let fits = want.len() == got.len() && want.iter().zip(got).all(|(w, g)| w.is_none_or(|w| w == *g));
    if fits {
        return Ok(());
    }
    let want: Vec<String> = want.iter().map(|w| w.map_or("null".into(), |w| w.to_string())).collect();
    Err(Error::Spec { message: format!("model input `{name}`: expected shape [{}], got {got:?}", want.join(", ")) })
}

/// `r` (an input name, `inputs.X`, a node name or `node.output`) as a source.
fn resolve_ref(holder: &str, r: &str, input_names: &[&str], spec: &ModelSpec) -> Result<Source> {
    let bare = r.strip_prefix("inputs.").unwrap_or(r);
    if let Some(i) = input_names.iter().position(|n| *n == bare) {
        return Ok(Source::Input(i));
    }
    let node = r.strip_suffix(".output").unwrap_or(r);
    if spec.graph.iter().any(|n| n.name == node) && node != holder {
        return Ok(Source::Node(node.to_owned()));
    }
    if node == holder && spec.graph.iter().any(|n| n.name == node) {
        return Err(Error::GraphCycle { nodes: vec![holder.to_owned(), holder.to_owned()] });
    }
    let known: Vec<&str> = input_names.iter().copied().chain(spec.graph.iter().map(|n| n.name.as_str())).collect();
    Err(Error::DanglingRef { node: holder.to_owned(), reference: r.to_owned(), hint: DidYouMean::among(r, known) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Config;

    fn spec(yaml: &str) -> ModelSpec {
        ModelSpec::from_config(&Config::from_yaml(yaml).expect("yaml")).expect("model section")
    }

    #[test]
    fn refs_resolve_and_errors_name_nodes() {
        let s = spec(
            "inputs: {x: [null, 2]}\ngraph: [{name: a, type: Linear, inputs: [b]}, {name: b, type: ReLU, inputs: a}]",
        );
        let names = ["x"];
        assert_eq!(resolve_ref("a", "b.output", &names, &s).ok(), Some(Source::Node("b".into())));
        assert_eq!(resolve_ref("a", "inputs.x", &names, &s).ok(), Some(Source::Input(0)));
        let err = resolve_ref("a", "nothing_here", &names, &s).unwrap_err();
        assert_eq!(err.to_string(), "node `a`: unknown input `nothing_here`");
        assert_eq!(resolve_ref("a", "a", &names, &s).unwrap_err().to_string(), "model graph has a cycle: a → a");
    }

    #[test]
    fn a_cycle_is_named_whole_in_data_flow_order() {
        // `head` is outside the cycle; b → c → d → b, declared out of order.
        let s = spec(
            "inputs: {x: [null, 2]}\ngraph: [{name: a, type: ReLU, inputs: x}, {name: c, type: ReLU, inputs: b}, \
             {name: d, type: ReLU, inputs: c}, {name: b, type: ReLU, inputs: d}, {name: head, type: ReLU, inputs: b}]",
        );
        let err = GraphModel::build(&s, &BTreeMap::new(), &PluginManager::new()).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("model graph has a cycle: c → d → b → c"));
    }

    #[test]
    fn shapes_read_vars_and_check_tensors() -> Result<()> {
        let vars = BTreeMap::from([("n".to_owned(), 4.0)]);
        let shape = input_shape("x", &InputSpec::Shape(vec![serde_yaml::Value::Null, "vars.n".into()]), &vars)?;
        assert_eq!(shape, vec![None, Some(4)]);
        assert!(check_shape("x", &shape, &[10, 4]).is_ok());
        let err = check_shape("x", &shape, &[10, 3]).unwrap_err();
        assert_eq!(err.to_string(), "spec: model input `x`: expected shape [null, 4], got [10, 3]");
        Ok(())
    }
}
