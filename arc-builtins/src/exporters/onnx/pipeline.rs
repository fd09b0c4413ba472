//! The processor steps in front of a model input, as ONNX ops.
//!
//! Walking back from the pipeline tensor a model input reads, each step that
//! made it is lowered by its processor ([`Processor::onnx`](arc_core::process::Processor::onnx)):
//! a step whose processor computes in the graph (`OnnxProcessor::Lowering`,
//! the scalers) is lowered after the steps making its inputs, down to one
//! step whose output is raw numeric columns (`OnnxProcessor::RawColumns`,
//! `transform.assemble_vector`), which the graph input then takes. When any
//! step on the way has no ONNX form (hashing, one-hot, sequence ops), or the
//! chain reaches two sets of raw columns, the input takes the pipeline
//! tensor itself, and nothing of the chain is added.

use arc_core::Result;
use arc_core::export::{ExportInput, ExportModel};
use arc_core::lower::OnnxGraph;
use arc_core::process::{OnnxProcessor, OnnxStep};

use super::Builder;

/// A model input fed raw columns and processed in the graph.
pub(crate) struct Processed {
    /// The processed value's name.
    pub value: String,
    /// The raw columns, in order.
    pub columns: Vec<String>,
    /// The input's doc string.
    pub doc: String,
}

/// One step of the chain, in the order to lower it.
struct Planned<'a> {
    step: &'a arc_core::export::ExportStep,
    /// The chain's value names of its tensor inputs (port order).
    args: Vec<String>,
    output: String,
}

/// Adds the ops of the steps making `input`'s pipeline tensor if each has
/// an ONNX form, or returns `None`.
pub(crate) fn prepend(b: &mut Builder<'_>, model: &ExportModel, input: &ExportInput) -> Result<Option<Processed>> {
    let mut planned = Vec::new();
    let mut columns = None;
    let Some(value) = plan(model, &input.source, &input.name, &mut planned, &mut columns) else { return Ok(None) };
    let Some(columns) = columns else { return Ok(None) };
    for p in &planned {
        let Some(OnnxProcessor::Lowering { lowering, .. }) = &p.step.onnx else { continue };
        let step = OnnxStep {
            name: &p.step.name,
            component: &p.step.component,
            inputs: &p.args,
            output: &p.output,
            state: p.step.state.as_ref(),
        };
        lowering.lower(&step, b as &mut dyn OnnxGraph)?;
    }
    let names: Vec<String> = planned
        .iter()
        .filter(|p| matches!(p.step.onnx, Some(OnnxProcessor::Lowering { .. })))
        .map(|p| format!("`{}`", p.step.name))
        .collect();
    let doc = if names.is_empty() {
        format!("raw feature columns [{}] as float32, in this order", columns.join(", "))
    } else {
        format!(
            "raw feature columns [{}] as float32, in this order; processed in the graph by step {}",
            columns.join(", "),
            names.join(", then ")
        )
    };
    Ok(Some(Processed { value, columns, doc }))
}

/// Plans the steps making `tensor` (inputs first); returns the value name
/// holding it, or `None` when some step has no ONNX form.
fn plan<'a>(
    model: &'a ExportModel,
    tensor: &str,
    graph_input: &str,
    planned: &mut Vec<Planned<'a>>,
    columns: &mut Option<Vec<String>>,
) -> Option<String> {
    let step = model.producer(tensor)?;
    if let Some(done) = planned.iter().find(|p| std::ptr::eq(p.step, step)) {
        return Some(done.output.clone());
    }
    match step.onnx.as_ref()? {
        OnnxProcessor::RawColumns(raw) => {
            if columns.as_ref().is_some_and(|c| c != raw) {
                return None;
            }
            *columns = Some(raw.clone());
            Some(graph_input.to_owned())
        }
        OnnxProcessor::Lowering { ports, .. } => {
            let mut args = Vec::with_capacity(ports.len());
            for port in ports {
                let (_, source) = step.tensor_inputs.iter().find(|(p, _)| p == port)?;
                args.push(plan(model, source, graph_input, planned, columns)?);
            }
            let output = format!("processors.{}.output", step.name);
            planned.push(Planned { step, args, output: output.clone() });
            Some(output)
        }
    }
}
