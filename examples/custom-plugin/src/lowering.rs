//! The example layers' capabilities: a row kernel for the Predictor's
//! allocation-free plan and an ONNX lowering each, written against
//! `arc_core::lower` alone (see `docs/PLUGINS.md`).

use arc_core::Result;
use arc_core::lower::{Attr, OnnxGraph, OnnxLowering, OnnxNode, RowInputs, RowKernel, kernels, onnx};

/// `example.GELU` over one row (the tanh form, computed in f64 like the
/// built-in GELU's row kernel).
#[derive(Debug)]
pub(crate) struct GeluTanhRow;

impl RowKernel for GeluTanhRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        for (y, &x) in output.iter_mut().zip(inputs.first()) {
            *y = kernels::gelu_tanh(x);
        }
    }
}

/// `example.GELU` in ONNX: `Gelu(approximate = "tanh")` from opset 20; below
/// it `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
#[derive(Debug)]
pub(crate) struct GeluTanhOnnx;

impl OnnxLowering for GeluTanhOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let (x, name, out) = (node.input()?, node.name, node.output);
        if g.opset() >= 20 {
            g.node("Gelu", name, vec![x], out, vec![Attr::text("approximate", "tanh")]);
            return Ok(());
        }
        // Below opset 20: the tanh formula, from arc-core's lowering helpers.
        onnx::gelu_formula(g, name, x, out, true);
        Ok(())
    }
}

/// `example.RMSNorm` over one row: `x / sqrt(mean(x^2) + eps) * weight`,
/// in f32 as the tensor op computes it.
#[derive(Debug)]
pub(crate) struct RmsNormRow {
    pub weight: Option<Vec<f32>>,
    pub eps: f32,
}

impl RowKernel for RmsNormRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        let x = inputs.first();
        let mean_square = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        let rstd = 1.0 / (mean_square + self.eps).sqrt();
        match &self.weight {
            Some(w) => output.iter_mut().zip(x).zip(w).for_each(|((y, &x), &w)| *y = x * rstd * w),
            None => output.iter_mut().zip(x).for_each(|(y, &x)| *y = x * rstd),
        }
    }
}

/// `example.RMSNorm` in ONNX (RMSNormalization is opset 23):
/// `x * Reciprocal(Sqrt(ReduceMean(x * x, last axis) + eps)) * weight`.
#[derive(Debug)]
pub(crate) struct RmsNormOnnx {
    pub affine: bool,
    pub eps: f32,
}

impl OnnxLowering for RmsNormOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let (x, name) = (node.input()?, node.name);
        let square = g.op("Mul", name, vec![x.clone(), x.clone()], Vec::new());
        // ReduceMean takes its axes as an attribute up to opset 17, as an input from 18.
        let mean = if g.opset() >= 18 {
            let axes = g.constant_i64(&format!("{name}.axes"), &[1], &[-1]);
            g.op("ReduceMean", name, vec![square, axes], vec![Attr::int("keepdims", 1)])
        } else {
            g.op("ReduceMean", name, vec![square], vec![Attr::ints("axes", vec![-1]), Attr::int("keepdims", 1)])
        };
        let eps = g.scalar(name, self.eps);
        let shifted = g.op("Add", name, vec![mean, eps], Vec::new());
        let root = g.op("Sqrt", name, vec![shifted], Vec::new());
        let rstd = g.op("Reciprocal", name, vec![root], Vec::new());
        if self.affine {
            let normed = g.op("Mul", name, vec![x, rstd], Vec::new());
            let weight = g.weight(&node.weight_name("weight"))?;
            g.node("Mul", name, vec![normed, weight], node.output, Vec::new());
        } else {
            g.node("Mul", name, vec![x, rstd], node.output, Vec::new());
        }
        Ok(())
    }
}

/// `example.SwiGLU` over one row: `silu(a) * b` for the halves `a | b`.
#[derive(Debug)]
pub(crate) struct SwiGluRow;

impl RowKernel for SwiGluRow {
    fn run(&self, inputs: RowInputs<'_>, output: &mut [f32]) {
        let (a, b) = inputs.first().split_at(output.len());
        for ((y, &a), &b) in output.iter_mut().zip(a).zip(b) {
            *y = a * (1.0 / (1.0 + (-a).exp())) * b;
        }
    }
}

/// `example.SwiGLU` in ONNX: `Split` into halves on the last axis, then
/// `Mul(Mul(a, Sigmoid(a)), b)`.
#[derive(Debug)]
pub(crate) struct SwiGluOnnx;

impl OnnxLowering for SwiGluOnnx {
    fn lower(&self, node: &OnnxNode<'_>, g: &mut dyn OnnxGraph) -> Result<()> {
        let (x, name) = (node.input()?, node.name);
        // Equal halves: by default up to opset 17, by `num_outputs` from 18.
        let mut attrs = vec![Attr::int("axis", -1)];
        if g.opset() >= 18 {
            attrs.push(Attr::int("num_outputs", 2));
        }
        let halves = g.op_outputs("Split", name, vec![x], 2, attrs);
        let [a, b] = [halves[0].clone(), halves[1].clone()];
        let gate = g.op("Sigmoid", name, vec![a.clone()], Vec::new());
        let silu = g.op("Mul", name, vec![a, gate], Vec::new());
        g.node("Mul", name, vec![silu, b], node.output, Vec::new());
        Ok(())
    }
}
