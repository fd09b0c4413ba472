//! `modules:` sub-graphs used as `type: module.<name>`: a built module is
//! a [`Layer`] wrapping its own [`GraphModel`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::GraphModel;
use crate::nn::{Layer, LayerInputs, Param, ShapeSpec};
use crate::plugin::PluginManager;
use crate::spec::{Config, ModelSpec};
use crate::{DidYouMean, Error, Result, Tensor};

/// A module instance: its graph, its input ports in declaration order.
struct ModuleLayer {
    graph: GraphModel,
    ports: Vec<&'static str>,
}

/// Builds module `name` for a node with `params`: the numeric params bind
/// the module's `vars.X`, over `vars`.
pub(crate) fn build(
    name: &str,
    params: &Config,
    modules: &BTreeMap<String, ModelSpec>,
    vars: &BTreeMap<String, f64>,
    manager: &PluginManager,
    chain: &mut Vec<String>,
) -> Result<Box<dyn Layer>> {
    let Some(spec) = modules.get(name) else {
        let hint = DidYouMean::among(name, modules.keys().map(String::as_str));
        return Err(Error::Spec { message: format!("unknown module `{name}`{hint}") });
    };
    if chain.iter().any(|m| m == name) {
        let mut cycle = chain.clone();
        cycle.push(name.to_owned());
        return Err(Error::Spec { message: format!("module `{name}` uses itself: {}", cycle.join(" → ")) });
    }
    let mut bound = vars.clone();
    for key in params.keys() {
        match params.get_f64(key) {
            Some(value) => {
                bound.insert(key.to_owned(), value);
            }
            None => {
                return Err(Error::InvalidConfig {
                    component: format!("module.{name}"),
                    message: format!("param `{key}` must be a number (it binds `vars.{key}` in the module)"),
                });
            }
        }
    }
    chain.push(name.to_owned());
    let graph = GraphModel::build_with(spec, &format!("modules.{name}"), modules, &bound, manager, chain);
    chain.pop();
    let graph = graph?;
    let ports = graph.inputs().map(|(n, _, _)| intern(n)).collect();
    Ok(Box::new(ModuleLayer { graph, ports }))
}

/// A `'static` copy of a port name, made once per distinct name (the
/// [`Layer::input_names`] signature borrows from the layer).
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = names.get(name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

impl ModuleLayer {
    fn run(&self, inputs: BTreeMap<String, Tensor>) -> Result<Tensor> {
        let mut outputs = self.graph.forward(&inputs)?;
        let first = self.graph.output_names().first().map(|n| (*n).to_owned());
        first.and_then(|n| outputs.remove(&n)).ok_or_else(|| Error::Spec { message: "the module has no output".into() })
    }
}

impl Layer for ModuleLayer {
    fn input_names(&self) -> &[&str] {
        &self.ports
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        let port = self.ports.first().copied().unwrap_or("input");
        self.run(BTreeMap::from([(port.to_owned(), input.clone())]))
    }

    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        self.run(inputs.iter().map(|(p, t)| ((*p).to_owned(), (*t).clone())).collect())
    }

    fn visit_params<'a>(&'a self, prefix: &str, visit: &mut dyn FnMut(&str, &'a Param)) {
        self.graph.visit_params_under(prefix, visit);
    }

    fn visit_buffers(&self, prefix: &str, visit: &mut dyn FnMut(&str, &Tensor)) {
        self.graph.visit_buffers_under(prefix, visit);
    }

    fn load_buffers(&self, prefix: &str, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<()> {
        self.graph.load_buffers_under(prefix, get)
    }

    fn set_training(&mut self, training: bool) {
        self.graph.set_training(training);
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(self.graph.output_shape_from(inputs, 0)?.unwrap_or_default())
    }
}
