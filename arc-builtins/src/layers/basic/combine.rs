//! The multi-input layers `Concatenate` and `Add`.
//!
//! They take any number of inputs under any port names, combined in the
//! order the spec writes them: `inputs: {user: a, item: b}`, a list
//! `inputs: [a, b]`, or the numbered ports of Arc's earlier form
//! (`input_0`, `input_1`, ...). `num_inputs: k`, when given, requires
//! exactly `k` inputs. One input is returned as it is.

use std::sync::{Arc, Mutex};

use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode, RowInputs, RowKernel, RowOp};
use arc_core::nn::{Layer, LayerInputs, ShapeSpec};
use arc_core::{Result, Tensor};
use serde::Deserialize;

use super::{LayerConfig, bad_input, invalid, normalize_dim, show};

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

fn check_num_inputs(component: &str, n: Option<usize>) -> Result<()> {
    if n == Some(0) { Err(invalid(component, "`num_inputs` must be at least 1")) } else { Ok(()) }
}

/// The numbered ports shown for a layer of `num_inputs` (default 2).
fn ports_of(num_inputs: Option<usize>) -> Vec<&'static str> {
    port_names(num_inputs.unwrap_or(2))
}

/// Checks the number of inputs: at least one, and `num_inputs` when given.
fn check_count(layer: &str, num_inputs: Option<usize>, got: usize) -> Result<()> {
    match num_inputs {
        Some(n) if n != got => Err(bad_input(layer, format!("{n} inputs (`num_inputs: {n}`)"), got.to_string())),
        _ if got == 0 => Err(bad_input(layer, "at least one input", "none")),
        _ => Ok(()),
    }
}

/// Params of `core.Concatenate`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcatenateConfig {
    /// The dim joined along; negative counts from the end. Default `-1`.
    #[serde(default = "last_dim")]
    pub dim: isize,
    /// How many inputs the layer requires, at least 1. Default: any number.
    #[serde(default)]
    pub num_inputs: Option<usize>,
}

impl LayerConfig for ConcatenateConfig {
    const NAME: &'static str = "core.Concatenate";

    fn check(&self) -> Result<()> {
        check_num_inputs(Self::NAME, self.num_inputs)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Concatenate { dim: self.dim, num_inputs: self.num_inputs, ports: ports_of(self.num_inputs) }))
    }
}

/// Joins its inputs along `dim` (`torch.cat`), in the order the spec writes them.
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
/// // Any port names; the order given is the order joined.
/// let y = nn::forward(&*cat, "cat", &[("user", &a), ("item", &b)])?;
/// assert_eq!(y.to_vec()?, [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
/// let y = nn::forward(&*cat, "cat", &[("item", &b), ("user", &a)])?;
/// assert_eq!(y.to_vec()?, [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
/// assert_eq!(cat.output_shape(&[vec![None, Some(3)], vec![None, Some(1)]])?, [None, Some(4)]);
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Concatenate {
    dim: isize,
    num_inputs: Option<usize>,
    ports: Vec<&'static str>,
}

impl Layer for Concatenate {
    fn input_names(&self) -> &[&str] {
        &self.ports
    }

    fn takes_any_inputs(&self) -> bool {
        true
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        check_count(ConcatenateConfig::NAME, self.num_inputs, 1)?;
        Ok(input.clone())
    }

    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        check_count(ConcatenateConfig::NAME, self.num_inputs, inputs.len())?;
        let tensors: Vec<&Tensor> = inputs.iter().map(|(_, t)| *t).collect();
        let first = tensors.first().ok_or_else(|| bad_input(ConcatenateConfig::NAME, "inputs", "none"))?;
        normalize_dim(ConcatenateConfig::NAME, self.dim, first.rank())?;
        Tensor::concat(&tensors, self.dim)
    }

    /// Rows join along dim 1 (or -1).
    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let counted = check_count(ConcatenateConfig::NAME, self.num_inputs, input_widths.len()).is_ok();
        if !counted || input_widths.len() < 2 || !(self.dim == -1 || self.dim == 1) {
            return None;
        }
        Some(RowOp::kernel(input_widths.iter().sum(), ConcatRow))
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(ConcatOnnx { dim: self.dim }))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        let name = ConcatenateConfig::NAME;
        check_count(name, self.num_inputs, inputs.len())?;
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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddConfig {
    /// How many inputs the layer requires, at least 1. Default: any number.
    #[serde(default)]
    pub num_inputs: Option<usize>,
}

impl LayerConfig for AddConfig {
    const NAME: &'static str = "core.Add";

    fn check(&self) -> Result<()> {
        check_num_inputs(Self::NAME, self.num_inputs)
    }

    fn build(self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Add { num_inputs: self.num_inputs, ports: ports_of(self.num_inputs) }))
    }
}

/// The elementwise sum of its inputs, `((first + second) + ...)` in the
/// order the spec writes them, broadcasting as NumPy does (residual
/// connections).
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
    num_inputs: Option<usize>,
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

    fn takes_any_inputs(&self) -> bool {
        true
    }

    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        check_count(AddConfig::NAME, self.num_inputs, 1)?;
        Ok(input.clone())
    }

    fn forward_multi(&self, inputs: &LayerInputs<'_>) -> Result<Tensor> {
        check_count(AddConfig::NAME, self.num_inputs, inputs.len())?;
        let (first, rest) = inputs.split_first().ok_or_else(|| bad_input(AddConfig::NAME, "inputs", "none"))?;
        rest.iter().try_fold(first.1.clone(), |sum, (_, t)| sum.add(t))
    }

    /// Rows of one width, summed in spec order.
    fn row_op(&self, input_widths: &[usize]) -> Option<RowOp> {
        let counted = check_count(AddConfig::NAME, self.num_inputs, input_widths.len()).is_ok();
        match input_widths {
            [first, rest @ ..] if counted && !rest.is_empty() && rest.iter().all(|w| w == first) => {
                Some(RowOp::kernel(*first, AddRow))
            }
            _ => None,
        }
    }

    fn onnx(&self) -> Option<Arc<dyn OnnxLowering>> {
        Some(Arc::new(AddOnnx))
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        check_count(AddConfig::NAME, self.num_inputs, inputs.len())?;
        inputs[1..].iter().try_fold(inputs[0].clone(), |acc, shape| {
            broadcast(&acc, shape).ok_or_else(|| {
                bad_input(AddConfig::NAME, format!("shapes that broadcast with {}", show(&acc)), show(shape))
            })
        })
    }
}

/// Rows one after the other.
#[derive(Debug)]
struct ConcatRow;

impl RowKernel for ConcatRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        let mut at = 0;
        for x in inputs.iter() {
            output[at..at + x.len()].copy_from_slice(x);
            at += x.len();
        }
    }
}

/// ONNX `Concat(axis = dim)`.
#[derive(Debug)]
struct ConcatOnnx {
    dim: isize,
}

impl OnnxLowering for ConcatOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let attrs = vec![Attr::int("axis", self.dim as i64)];
        g.node("Concat", node.name, node.inputs.to_vec(), node.output, attrs);
        Ok(())
    }
}

/// The sum of same-width rows, `((first + second) + ...)`.
#[derive(Debug)]
struct AddRow;

impl RowKernel for AddRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        output.copy_from_slice(inputs.first());
        for x in inputs.iter().skip(1) {
            output.iter_mut().zip(x).for_each(|(y, &x)| *y += x);
        }
    }
}

/// ONNX: a chain of `Add`s in spec order.
#[derive(Debug)]
struct AddOnnx;

impl OnnxLowering for AddOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let [first, rest @ ..] = node.inputs else { return Err(node.unsupported("Add needs two inputs")) };
        if rest.is_empty() {
            return Err(node.unsupported("Add needs two inputs"));
        }
        let mut acc = first.clone();
        for (k, next) in rest.iter().enumerate() {
            acc = if k + 1 == rest.len() {
                g.node("Add", node.name, vec![acc, next.clone()], node.output, Vec::new())
            } else {
                g.op("Add", node.name, vec![acc, next.clone()], Vec::new())
            };
        }
        Ok(())
    }
}
