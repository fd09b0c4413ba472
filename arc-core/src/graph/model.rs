//! [`GraphModel`]: the builder and the executor of a `model` section.

use std::collections::BTreeMap;

use super::{ModelSpec, Source, Wiring};
use crate::nn::{self, Layer, Param, ShapeSpec};
use crate::plugin::PluginManager;
use crate::spec::{Config, WiredInput};
use crate::{DType, DidYouMean, Error, Result, Tensor};

/// Where a value comes from: a model input (by index) or a node's output (by name).
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Input(usize),
    Node(String),
}

struct Node {
    name: String,
    /// The type as written.
    layer_type: String,
    /// The registered name (`core.Linear`), or `module.<name>`.
    full_type: String,
    /// The params with `vars.X` substituted.
    params: Config,
    layer: Box<dyn Layer>,
    /// (port, value), in the order the spec writes them.
    inputs: Vec<(String, Value)>,
}

/// A model input: its name, the pipeline tensor it reads, its shape and dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    /// The input's name.
    pub name: String,
    /// The pipeline tensor it reads (`tensors.<source>`).
    pub source: String,
    /// Whether `source` was written (`source: tensors.X`); when not, a table
    /// column of the input's name feeds it if no processor makes the tensor.
    pub explicit_source: bool,
    /// The declared shape with `vars.X` substituted (`None`: unknown
    /// sizes); empty when none is declared.
    pub shape: ShapeSpec,
    /// The declared element type, if any.
    pub dtype: Option<DType>,
}

/// A built node, as the exporters and the Predictor read it.
pub struct NodeView<'a> {
    /// The node's name; its parameters are `name.weight`, ...
    pub name: &'a str,
    /// The layer's registered name (`core.Linear`; legacy and short names
    /// resolved), or `module.<name>`.
    pub layer_type: &'a str,
    /// The params, `vars.X` substituted.
    pub params: &'a Config,
    /// The built layer.
    pub layer: &'a dyn Layer,
    /// (port, value name) in the order the layer receives them; a value
    /// name is a model input's or a node's.
    pub inputs: Vec<(&'a str, &'a str)>,
}

/// A model built from a spec's `model` section: layers in topological
/// order, run by [`forward`](Self::forward) on named input tensors.
pub struct GraphModel {
    inputs: Vec<ModelInput>,
    nodes: Vec<Node>,
    outputs: Vec<(String, Value)>,
}

impl GraphModel {
    /// Builds the layers of `spec` from `manager`'s layer registry, with
    /// `vars` (the fitted pipeline's) substituted for `vars.X` params and
    /// shape entries. The wiring is [`Wiring::resolve`]'s (its first
    /// problem is the error).
    ///
    /// A node of type `module.<name>` builds the sub-graph `spec.modules`
    /// names; its numeric params bind the module's `vars.X` (on top of
    /// `vars`), and its parameters are named `node.inner.weight`. A module
    /// that uses itself, directly or not, is an error naming the chain.
    pub fn build(spec: &ModelSpec, vars: &BTreeMap<String, f64>, manager: &PluginManager) -> Result<Self> {
        Self::build_with(spec, "model", &spec.modules, vars, manager, &mut Vec::new())
    }

    /// [`build`](Self::build) with the modules given apart, the YAML path
    /// of `spec`, and the chain of modules being built (for recursion).
    pub(crate) fn build_with(
        spec: &ModelSpec,
        base: &str,
        modules: &BTreeMap<String, ModelSpec>,
        vars: &BTreeMap<String, f64>,
        manager: &PluginManager,
        chain: &mut Vec<String>,
    ) -> Result<Self> {
        let wiring = Wiring::resolve(spec, base).map_err(|mut problems| problems.remove(0).error)?;
        let inputs = wiring.inputs.iter().map(|i| model_input(i, vars)).collect::<Result<Vec<_>>>()?;
        let value = |source: Source| match source {
            Source::Input(i) => Value::Input(i),
            Source::Node(i) => Value::Node(wiring.nodes[i].name.clone()),
        };
        let mut nodes = Vec::with_capacity(wiring.nodes.len());
        for &i in &wiring.order {
            let node = &wiring.nodes[i];
            let wrap = |e: Error| Error::GraphNode {
                node: node.name.clone(),
                layer_type: node.layer_type.clone(),
                source: Box::new(e),
            };
            let params = node.params.resolve_vars(vars).map_err(|r| {
                let known: Vec<String> = vars.keys().map(|k| format!("vars.{k}")).collect();
                Error::DanglingRef {
                    node: node.name.clone(),
                    hint: DidYouMean::among(&r, known.iter().map(String::as_str)),
                    reference: r,
                }
            })?;
            let (layer, full_type) = match node.layer_type.strip_prefix("module.") {
                Some(module) => {
                    let layer = super::module::build(module, &params, modules, vars, manager, chain).map_err(wrap)?;
                    (layer, node.layer_type.clone())
                }
                None => {
                    let component = manager.get_layer(&node.layer_type).map_err(wrap)?;
                    let layer = component
                        .create(&params)
                        .map_err(|e| node.params.explain_fractional_var(vars, e))
                        .map_err(wrap)?;
                    (layer, component.name().to_owned())
                }
            };
            let written: Vec<Option<&str>> = node.inputs.iter().map(|w| w.port.as_deref()).collect();
            let ports = nn::bind_ports(layer.as_ref(), &written).map_err(wrap)?;
            let mut inputs: Vec<(String, Value)> =
                ports.into_iter().zip(&node.inputs).map(|(p, w)| (p, value(w.source))).collect();
            if !layer.takes_any_inputs() {
                // The order the layer receives them: its ports' (see `nn::forward`).
                let names = layer.input_names();
                inputs.sort_by_key(|(p, _)| names.iter().position(|n| n == p).unwrap_or(usize::MAX));
            }
            nodes.push(Node {
                name: node.name.clone(),
                layer_type: node.layer_type.clone(),
                full_type,
                params,
                layer,
                inputs,
            });
        }
        let outputs = wiring.outputs.iter().map(|(name, s)| (name.clone(), value(*s))).collect();
        Ok(Self { inputs, nodes, outputs })
    }

    /// The model inputs, in declaration order.
    pub fn input_specs(&self) -> &[ModelInput] {
        &self.inputs
    }

    /// The nodes, in execution order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_>> {
        self.nodes.iter().map(|n| NodeView {
            name: &n.name,
            layer_type: &n.full_type,
            params: &n.params,
            layer: n.layer.as_ref(),
            inputs: n.inputs.iter().map(|(p, v)| (p.as_str(), self.value_name(v))).collect(),
        })
    }

    /// The outputs: (output name, value name), in the order the spec writes them.
    pub fn outputs(&self) -> Vec<(&str, &str)> {
        self.outputs.iter().map(|(n, v)| (n.as_str(), self.value_name(v))).collect()
    }

    fn value_name<'a>(&'a self, value: &'a Value) -> &'a str {
        match value {
            Value::Input(i) => &self.inputs[*i].name,
            Value::Node(n) => n,
        }
    }

    /// The model inputs: (name, pipeline tensor name, declared shape).
    pub fn inputs(&self) -> impl Iterator<Item = (&str, &str, &ShapeSpec)> {
        self.inputs.iter().map(|i| (i.name.as_str(), i.source.as_str(), &i.shape))
    }

    /// The shape of output `index` given the input shapes, when known.
    pub(crate) fn output_shape_from(&self, input_shapes: &[ShapeSpec], index: usize) -> Result<Option<ShapeSpec>> {
        let shapes = self.infer_shapes_from(input_shapes)?;
        Ok(match self.outputs.get(index) {
            Some((_, Value::Node(n))) => shapes.get(n).cloned(),
            Some((_, Value::Input(i))) => input_shapes.get(*i).cloned(),
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
        for ModelInput { name, shape, dtype, .. } in &self.inputs {
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
        let get = |s: &Value, values: &BTreeMap<&str, Tensor>| -> Result<Tensor> {
            let found = match s {
                Value::Input(i) => given.get(*i).cloned(),
                // Topological order: a node's sources ran before it.
                Value::Node(n) => values.get(n.as_str()).cloned(),
            };
            found.ok_or_else(|| Error::Spec { message: format!("graph value {s:?} is not computed") })
        };
        for node in &self.nodes {
            let args: Vec<(String, Tensor)> =
                node.inputs.iter().map(|(p, s)| Ok((p.clone(), get(s, &values)?))).collect::<Result<_>>()?;
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
        let declared: Vec<ShapeSpec> = self.inputs.iter().map(|i| i.shape.clone()).collect();
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
                    Value::Input(i) => (format!("model input `{}`", self.inputs[*i].name), input_shapes.get(*i)),
                    Value::Node(n) => (format!("`{n}`"), shapes.get(n)),
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
    /// Errors name the tensor and [`WEIGHTS_FILE`](super::WEIGHTS_FILE).
    pub fn load_state(&self, saved: &[(String, Tensor)]) -> Result<()> {
        let file = super::WEIGHTS_FILE;
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

impl crate::nn::ModelView for GraphModel {
    fn node_names(&self) -> Vec<&str> {
        GraphModel::node_names(self)
    }

    fn output_names(&self) -> Vec<&str> {
        GraphModel::output_names(self)
    }

    fn visit_params<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a Param)) {
        GraphModel::visit_params(self, visit)
    }
}

/// A model input with its shape's `vars.X` substituted.
fn model_input(input: &WiredInput, vars: &BTreeMap<String, f64>) -> Result<ModelInput> {
    let shape = crate::spec::resolve_shape(input, vars).map_err(|(name, var)| {
        let key = var.strip_prefix("vars.").unwrap_or(&var);
        match vars.get(key) {
            Some(value) => Error::Spec {
                message: format!(
                    "model input `{name}`: shape entry `{var}` is {value}, not a whole number of elements"
                ),
            },
            None => {
                let known: Vec<String> = vars.keys().map(|k| format!("vars.{k}")).collect();
                Error::DanglingRef {
                    node: format!("inputs.{name}"),
                    hint: DidYouMean::among(&var, known.iter().map(String::as_str)),
                    reference: var,
                }
            }
        }
    })?;
    Ok(ModelInput {
        name: input.name.clone(),
        source: input.source.clone().unwrap_or_else(|| input.name.clone()),
        explicit_source: input.source.is_some(),
        shape: shape.unwrap_or_default(),
        dtype: input.dtype.map(|d| d.dtype()),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Config, InputSpec, ShapeEntry};

    fn spec(yaml: &str) -> ModelSpec {
        ModelSpec::from_config(&Config::from_yaml(yaml).expect("yaml")).expect("model section")
    }

    #[test]
    fn wiring_errors_are_the_builders() {
        let s = spec("inputs: {x: [null, 2]}\ngraph: [{name: a, type: ReLU, inputs: nothing_here}]");
        let err = GraphModel::build(&s, &BTreeMap::new(), &PluginManager::new()).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("node `a`: `nothing_here` is not a node or a model input"));
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
        let vars = BTreeMap::from([("n".to_owned(), 4.0), ("half".to_owned(), 2.5)]);
        let declared = |entries: Vec<ShapeEntry>| WiredInput {
            name: "x".into(),
            source: None,
            shape: InputSpec::Shape(entries).shape().map(<[ShapeEntry]>::to_vec),
            dtype: None,
        };
        let input = model_input(&declared(vec![ShapeEntry::Any, ShapeEntry::Var("n".into())]), &vars)?;
        assert_eq!(input.shape, vec![None, Some(4)]);
        assert!(check_shape("x", &input.shape, &[10, 4]).is_ok());
        let err = check_shape("x", &input.shape, &[10, 3]).unwrap_err();
        assert_eq!(err.to_string(), "spec: model input `x`: expected shape [null, 4], got [10, 3]");
        let err = model_input(&declared(vec![ShapeEntry::Var("half".into())]), &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec: model input `x`: shape entry `vars.half` is 2.5, not a whole number of elements"
        );
        let err = model_input(&declared(vec![ShapeEntry::Var("m".into())]), &vars).unwrap_err();
        assert_eq!(err.to_string(), "node `inputs.x`: unknown input `vars.m` (did you mean `vars.n`?)");
        Ok(())
    }
}
