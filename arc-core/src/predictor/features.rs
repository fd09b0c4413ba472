//! The compiled feature plan: the prediction-time steps of
//! `features.processors` as row transforms
//! ([`Processor::row_transform`](crate::process::Processor::row_transform))
//! over fixed arena slots, with the saved states read once at load.
//!
//! The steps are [`Pipeline::prediction_steps`]: those
//! [`Pipeline::transform`](crate::pipeline::Pipeline::transform) runs. A step
//! whose processor has no row transform, or whose output is not a
//! `tensors.X`, makes [`compile`] answer `None` (the generic path).

use std::collections::BTreeMap;

use super::load::state_error;
use super::row::{RowSource, Value};
use crate::Result;
use crate::lower::{RowColumns, RowInputs, RowTransformKernel, Slot};
use crate::pipeline::PredictionStep;
use crate::process::RowTransformContext;
use crate::spec::{Namespace, StepInput};

/// One step of the plan: a processor's row transform and its places.
#[derive(Debug)]
struct Step {
    /// The transform's columns, as indices into the plan's column list.
    columns: Vec<usize>,
    inputs: Vec<Slot>,
    output: Slot,
    kernel: Box<dyn RowTransformKernel>,
}

/// The feature steps as row transforms.
#[derive(Debug)]
pub(crate) struct FeaturePlan {
    /// The input columns, in the order they are first read.
    pub columns: Vec<String>,
    steps: Vec<Step>,
    /// `tensors.X` slots.
    pub tensors: BTreeMap<String, Slot>,
    /// The arena size the plan needs (it starts at 0).
    pub arena_end: usize,
}

/// Compiles the prediction-time steps; `None` when a step has no row form.
/// A state that does not fit its step is an error naming the step.
pub(crate) fn compile(steps: &[PredictionStep<'_>]) -> Result<Option<FeaturePlan>> {
    let mut plan = FeaturePlan { columns: Vec::new(), steps: Vec::new(), tensors: BTreeMap::new(), arena_end: 0 };
    for s in steps {
        let step = s.step;
        let Some(output) = step.outputs.get("output").filter(|r| r.namespace == Namespace::Tensors) else {
            return Ok(None);
        };
        let mut bound: Vec<(&str, Slot)> = Vec::new();
        for (port, input) in &step.inputs {
            if let StepInput::Ref(r) = input
                && r.namespace == Namespace::Tensors
            {
                let Some(slot) = plan.tensors.get(&r.name) else { return Ok(None) };
                bound.push((port.as_str(), *slot));
            }
        }
        let widths: Vec<(&str, usize)> = bound.iter().map(|(p, s)| (*p, s.len)).collect();
        let context = RowTransformContext { state: s.state, input_widths: &widths };
        let transform = s.processor.row_transform(&context).map_err(|e| state_error(step, &e.to_string()))?;
        let Some(transform) = transform else { return Ok(None) };
        let mut inputs = Vec::with_capacity(transform.inputs.len());
        for port in &transform.inputs {
            let Some((_, slot)) = bound.iter().find(|(p, _)| p == port) else { return Ok(None) };
            inputs.push(*slot);
        }
        let columns = transform.columns.iter().map(|c| plan.column(c)).collect();
        let slot = plan.alloc(transform.width);
        plan.steps.push(Step { columns, inputs, output: slot, kernel: transform.kernel });
        plan.tensors.insert(output.name.clone(), slot);
    }
    Ok(Some(plan))
}

impl FeaturePlan {
    fn column(&mut self, name: &str) -> usize {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.columns.push(name.to_owned());
                self.columns.len() - 1
            }
        }
    }

    fn alloc(&mut self, len: usize) -> Slot {
        let slot = Slot { offset: self.arena_end, len };
        self.arena_end += len;
        slot
    }

    /// A row every transform accepts, for the load-time cross-check: the
    /// value each transform offers for a column ([`RowTransformKernel::probe`]),
    /// else 0.
    pub(crate) fn probe_row(&self) -> Vec<Value<'_>> {
        let mut row = vec![Value::Number(0.0); self.columns.len()];
        for step in &self.steps {
            for (k, &c) in step.columns.iter().enumerate() {
                if let Some(v) = step.kernel.probe(k) {
                    row[c] = v;
                }
            }
        }
        row
    }

    /// Runs the transforms on one row into `arena`. A bad value is an
    /// error naming its column.
    pub(crate) fn run(&self, row: &dyn RowSource, arena: &mut [f32]) -> Result<()> {
        for step in &self.steps {
            let columns = StepColumns { row, indices: &step.columns, names: &self.columns };
            // Outputs are allocated after every slot that exists when they are.
            let (head, tail) = arena.split_at_mut(step.output.offset);
            step.kernel.run(&columns, RowInputs::new(head, &step.inputs), &mut tail[..step.output.len])?;
        }
        Ok(())
    }
}

/// One step's columns of the row being predicted.
struct StepColumns<'a> {
    row: &'a dyn RowSource,
    indices: &'a [usize],
    names: &'a [String],
}

impl RowColumns for StepColumns<'_> {
    fn value(&self, k: usize) -> Result<Value<'_>> {
        let c = self.indices[k];
        self.row.value(c, &self.names[c])
    }

    fn name(&self, k: usize) -> &str {
        &self.names[self.indices[k]]
    }
}
