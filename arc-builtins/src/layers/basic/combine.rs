//! The multi-input layers `Concatenate` and `Add`.
//!
//! Their ports are numbered: a `num_inputs: k` config gives ports `input_0`
//! ... `input_{k-1}`, wired in a spec as `inputs: {input_0: a, input_1: b}`;
//! the inputs are combined in port order. With `num_inputs: 1` the layer
//! takes its one input like any single-input layer and returns it.

use std::sync::Mutex;

use arc_core::nn::{Layer, LayerInputs, ShapeSpec};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, invalid, normalize_dim, show};

fn two() -> usize {
    2
}

fn last_dim() -> isize {
    -1
}

/// The port names `input_0 .. input_{n-1}`, each name allocated once per
/// process (ports are `&'static str` so that `input_names` can lend them).
fn port_names(n: usize) -> Vec<&'static str> {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    while names.len() < n {
        let name: &'static str = Box::leak(format!("input_{}", names.len()).into_boxed_str());
        names.push(name);
    }
    names[..n].to_vec()
}

fn check_num_inputs(component: &str, n: usize) -> Result<()> {
    if n == 0 { Err(invalid(component, "`num_inputs` must be at least 1")) } else { Ok(()) }
}

/// One input is the whole input only for a one-port layer.
fn check_single(layer: &str, ports: &[&str]) -> Result<()> {
    if ports.len() == 1 { Ok(()) } else { Err(bad_input(layer, format!("ports {ports:?}"), "one input")) }
}

/// The input shapes, one per port.
fn per_port<'a>(layer: &str, ports: &[&str], inputs: &'a [ShapeSpec]) -> Result<&'a [ShapeSpec]> {
    if inputs.len() == ports.len() {
        Ok(inputs)
    } else {
        Err(bad_input(layer, format!("{} input shapes (ports {ports:?})", ports.len()), format!("{}", inputs.len())))
    }
}

/// Params of `core.Concatenate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcatenateConfig {
    /// The dim joined along; negative counts from the end. Default `-1`.
    #[serde(default = "last_dim")]
    pub dim: isize,
    /// How many inputs (ports `input_0`, `input_1`, ...), at least 1. Default `2`.
    #[serde(default = "two")]
    pub num_inputs: usize,
}

impl LayerConfig for ConcatenateConfig {
    const NAME: &'static str = "core.Concatenate";

    fn check(&self) -> Result<()> {
        check_num_inputs(Self::NAME, self.num_inputs)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Concatenate { dim: self.dim, ports: port_names(self.num_inputs) }))
    }
}

/// Joins its inputs along `dim` (`torch.cat`), in port order.
///
/// # Shapes
/// inputs of one rank, equal outside `dim`; the output's `dim` is the sum of
/// theirs.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let cat = create("Concatenate", "dim: -1")?;
/// assert_eq!(cat.input_names(), ["input_0", "input_1"]);
/// let (a, b) = (Tensor::ones(&[2, 3]), Tensor::zeros(&[2, 1]));
/// let y = nn::forward(&*cat, "cat", &[("input_1", &b), ("input_0", &a)])?;
/// assert_eq!(y.to_vec()?, [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
/// assert_eq!(cat.output_shape(&[vec![None, Some(3)], vec![None, Some(1)]])?, [None, Some(4)]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Concatenate {
    dim: isize,
    ports: Vec<&'static str>,
}

impl Layer for Concatenate {
    fn input_names(&self) -> &[&str] {
        &self.ports
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        check_single(ConcatenateConfig::NAME, &self.ports)?;
        Ok(input.clone())
    }

    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        let tensors: Vec<&Tensor> = inputs.iter().map(|(_, t)| *t).collect();
        let first = tensors.first().ok_or_else(|| bad_input(ConcatenateConfig::NAME, "inputs", "none"))?;
        normalize_dim(ConcatenateConfig::NAME, self.dim, first.rank())?;
        Tensor::concat(&tensors, self.dim)
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let name = ConcatenateConfig::NAME;
        let inputs = per_port(name, &self.ports, inputs)?;
        let mut out = inputs[0].clone();
        let d = normalize_dim(name, self.dim, out.len())?;
        for shape in &inputs[1..] {
            let fits = shape.len() == out.len()
                && shape.iter().zip(&out).enumerate().all(|(i, (a, b))| i == d || a.is_none() || b.is_none() || a == b);
            if !fits {
                let want = format!("shapes equal outside dim {} (like {})", self.dim, show(&out));
                return Err(bad_input(name, want, show(shape)));
            }
            for (i, (o, s)) in out.iter_mut().zip(shape).enumerate() {
                *o = if i == d { o.zip(*s).map(|(a, b)| a + b) } else { o.or(*s) };
            }
        }
        Ok(out)
    }
}

/// Params of `core.Add`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddConfig {
    /// How many inputs (ports `input_0`, `input_1`, ...), at least 1. Default `2`.
    #[serde(default = "two")]
    pub num_inputs: usize,
}

impl LayerConfig for AddConfig {
    const NAME: &'static str = "core.Add";

    fn check(&self) -> Result<()> {
        check_num_inputs(Self::NAME, self.num_inputs)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Add { ports: port_names(self.num_inputs) }))
    }
}

/// The elementwise sum of its inputs, `((input_0 + input_1) + ...)`,
/// broadcasting as NumPy does (residual connections).
///
/// # Shapes
/// inputs that broadcast together; the output has the broadcast shape.
///
/// ```
/// # use arc_builtins::BuiltinLayerPlugin;
/// # use arc_core::{nn, plugin::PluginManager, spec::Config, Tensor};
/// # let pm = PluginManager::new();
/// # pm.register_plugin(BuiltinLayerPlugin, "builtin_layers")?;
/// # pm.refresh_registries()?;
/// # let create = |name: &str, yaml: &str| pm.get_layer(name)?.create(&Config::from_yaml(yaml)?);
/// let add = create("Add", "num_inputs: 3")?;
/// let (a, b) = (Tensor::ones(&[2, 2]), Tensor::from_vec(vec![1.0, 2.0], &[2])?);
/// let y = nn::forward(&*add, "sum", &[("input_0", &a), ("input_1", &b), ("input_2", &a)])?;
/// assert_eq!(y.to_vec()?, [3.0, 4.0, 3.0, 4.0]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Add {
    ports: Vec<&'static str>,
}

/// Broadcasts two shape specs (`None` is unknown: against 1 it stays
/// unknown, against `k > 1` it must be `k`).
fn broadcast(a: &[Option<usize>], b: &[Option<usize>]) -> Option<ShapeSpec> {
    let rank = a.len().max(b.len());
    let at = |s: &[Option<usize>], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { Some(1) };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (Some(1), other) | (other, Some(1)) => Some(other),
            (None, other) | (other, None) => Some(other),
            (Some(x), Some(y)) => (x == y).then_some(Some(x)),
        })
        .collect()
}

impl Layer for Add {
    fn input_names(&self) -> &[&str] {
        &self.ports
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        check_single(AddConfig::NAME, &self.ports)?;
        Ok(input.clone())
    }

    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        let (first, rest) = inputs.split_first().ok_or_else(|| bad_input(AddConfig::NAME, "inputs", "none"))?;
        rest.iter().try_fold(first.1.clone(), |sum, (_, t)| sum.add(t))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let inputs = per_port(AddConfig::NAME, &self.ports, inputs)?;
        inputs[1..].iter().try_fold(inputs[0].clone(), |acc, shape| {
            broadcast(&acc, shape).ok_or_else(|| {
                bad_input(AddConfig::NAME, format!("shapes that broadcast with {}", show(&acc)), show(shape))
            })
        })
    }
}
