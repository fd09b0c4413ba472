//! The compiled model plan: the graph's layers as plain-f32 kernels over one
//! row ([`Layer::row_op`](crate::nn::Layer::row_op)), each reading and
//! writing fixed slots of a scratch arena sized at load. A layer without a
//! row op makes [`compile`] answer `None` and the predictor runs the
//! generic Tensor path.

use std::collections::BTreeMap;

use crate::graph::GraphModel;
use crate::lower::{RowInputs, RowKernel, RowOp, Slot};

/// One kernel of the plan: a layer's row kernel and its slots.
#[derive(Debug)]
struct Step {
    kernel: Box<dyn RowKernel>,
    inputs: Vec<Slot>,
    output: Slot,
}

/// The model as kernels: inputs (model input name, pipeline tensor, slot),
/// kernels in execution order, outputs (name, slot) sorted by name.
#[derive(Debug)]
pub(crate) struct ModelPlan {
    pub inputs: Vec<(String, String, Slot)>,
    steps: Vec<Step>,
    pub outputs: Vec<(String, Slot)>,
    /// The arena size this plan needs from `arena_start`.
    pub arena_end: usize,
}

/// Compiles the built `model` for rows, its arena starting at
/// `arena_start`. `input_widths` gives each pipeline tensor's width. `None`
/// when some layer, shape or wiring has no kernel here.
pub(crate) fn compile(
    model: &GraphModel,
    input_widths: &dyn Fn(&str) -> Option<usize>,
    arena_start: usize,
) -> Option<ModelPlan> {
    let mut end = arena_start;
    let mut alloc = |len: usize| {
        let slot = Slot { offset: end, len };
        end += len;
        slot
    };
    let mut values: BTreeMap<String, Slot> = BTreeMap::new();
    let mut inputs = Vec::new();
    for input in model.input_specs() {
        let width = input_widths(&input.source)?;
        // Rows only: a declared shape must be [batch, width].
        match input.shape.as_slice() {
            [] => {}
            [_, Some(w)] if *w == width => {}
            _ => return None,
        }
        let slot = alloc(width);
        values.insert(input.name.clone(), slot);
        inputs.push((input.name.clone(), input.source.clone(), slot));
    }
    let mut steps = Vec::new();
    for node in model.nodes() {
        let mut srcs = Vec::with_capacity(node.inputs.len());
        for (_, source) in &node.inputs {
            let slot = values.get(*source)?;
            srcs.push(*slot);
        }
        let widths: Vec<usize> = srcs.iter().map(|s| s.len).collect();
        let out = match node.layer.row_op(&widths) {
            Some(RowOp::Identity) if !srcs.is_empty() => srcs[0],
            Some(RowOp::Kernel { width, kernel }) => {
                let output = alloc(width);
                steps.push(Step { kernel, inputs: srcs, output });
                output
            }
            _ => return None,
        };
        values.insert(node.name.to_owned(), out);
    }
    let mut outputs = Vec::new();
    for (name, source) in model.outputs() {
        let slot = values.get(source)?;
        outputs.push((name.to_owned(), *slot));
    }
    // The generic model returns its outputs in a map, sorted by name.
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(ModelPlan { inputs, steps, outputs, arena_end: end })
}

impl ModelPlan {
    /// Runs the kernels over `arena`, whose input slots are filled.
    pub(crate) fn run(&self, arena: &mut [f32]) {
        for step in &self.steps {
            // Outputs are allocated after every slot that exists when they are: the inputs
            // lie before the output.
            let (head, tail) = arena.split_at_mut(step.output.offset);
            step.kernel.run(RowInputs::new(head, &step.inputs), &mut tail[..step.output.len]);
        }
    }
}
