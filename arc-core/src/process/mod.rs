//! Feature processors: plugins that turn a [`Table`](crate::data::Table)'s
//! columns into tensors, the values they read and make, and the semantics
//! of the [`Pipeline`](crate::pipeline::Pipeline) that runs the spec's
//! `features.processors` steps.
//!
//! # Design
//!
//! A step is `{name, op, train_only, inputs, outputs}` ([`ProcessorStep`](crate::spec::ProcessorStep)).
//! Values flow between steps through three namespaces:
//!
//! - `tensors.X`: a [`Tensor`] (f32 features, i64 codes);
//! - `vars.X`: a scalar (`f64`), such as `vars.n_features`, which the model
//!   section reads for its shapes;
//! - `states.X`: a fitted [`ProcessorState`] (a scaler's means, an
//!   encoder's categories), plain named vectors that serialize to JSON.
//!
//! An input that is a ref to `tensors.X` or `states.X` is handed to the
//! processor as an input port ([`ProcessorInputs`]). Everything else is a
//! *param* and goes into the [`Config`](crate::spec::Config) the processor's
//! factory is built from: literals, column lists (`columns: [a, b]`, or the
//! name of a column list given to [`Pipeline::with_column_list`](crate::pipeline::Pipeline::with_column_list), such as
//! `feature_columns`), and `vars.X` refs, whose value is substituted (so
//! `num_buckets: vars.n` works). A processor is thus built per run, once
//! the vars it reads are known.
//!
//! [`Pipeline::fit`](crate::pipeline::Pipeline::fit) runs every step on the training table. For each step
//! it calls [`Processor::fit`]; a state it returns is bound to the step's
//! `state` output (or to `states.<step name>` when the step names none)
//! and is passed to [`Processor::transform`] as the input `state`. Then
//! `transform`'s outputs are bound to the step's `outputs` refs. The result
//! is the [`Bindings`](crate::pipeline::Bindings) (tensors, vars, states); its [`FittedState`] (vars
//! and states) is what a model directory saves. A step whose inputs bind
//! `state` to a `states.X` ref is not fitted: it reuses that state (one
//! scaler fitted once, applied to two tensors).
//!
//! [`Pipeline::transform`](crate::pipeline::Pipeline::transform) runs at prediction, from a saved
//! [`FittedState`]: train-only steps are skipped (`train_only: true`, ops
//! named `inspect.*` or `fit.*`, and processors whose
//! [`is_train_only`](Processor::is_train_only) says so); the other steps run
//! `transform` only, a named processor receiving its saved state as the
//! input `state`. A step whose inputs need something a skipped step made
//! fails with [`Error::UndefinedRef`], naming the
//! step and the ref. Target-column steps (label encoding) are marked
//! `train_only: true`, so prediction does not need the target column, and
//! their state is still saved for decoding predictions.
//!
//! ```
//! use arc_core::data::{Column, Table};
//! use arc_core::process::{Processor, ProcessorInputs, ProcessorOutputs};
//!
//! /// Doubles its input tensor `x` into output `output`.
//! struct Double;
//!
//! impl Processor for Double {
//!     fn name(&self) -> &str { "example.double" }
//!     fn input_ports(&self) -> &[&str] { &["x"] }
//!     fn output_ports(&self) -> &[&str] { &["output"] }
//!     fn transform(&self, inputs: &ProcessorInputs<'_>) -> arc_core::Result<ProcessorOutputs> {
//!         Ok(ProcessorOutputs::new().tensor("output", inputs.tensor("x")?.mul_scalar(2.0)?))
//!     }
//! }
//!
//! let table = Table::new(vec![Column::numeric("a", vec![1.0, 2.0])])?;
//! let x = table.to_tensor(&["a"])?;
//! let inputs = ProcessorInputs::new("example.double", &table).with_tensor("x", x);
//! let out = Double.transform(&inputs)?;
//! assert_eq!(out.get_tensor("output").unwrap().to_vec()?, [2.0, 4.0]);
//! # Ok::<(), arc_core::Error>(())
//! ```

mod fitted;
mod lower;
mod value;

pub use self::lower::{OnnxProcessor, OnnxStep, ProcessorLowering, RowTransformContext};
pub use fitted::FittedState;
pub use value::{InputValue, OutputValue, ProcessorInputs, ProcessorOutputs, ProcessorState};

use crate::lower::RowTransform;
use crate::{Error, Result, Tensor};

/// A feature processor (an `op` of the spec's `features.processors`),
/// registered by `ProcessorHookSpec::register_processors` and built by a
/// `fn(&Config) -> Result<Box<dyn Processor>>` factory from the step's
/// params. See the [module docs](self) for how a pipeline calls it.
pub trait Processor: Send + Sync {
    /// The op's full name (`transform.assemble_vector`,
    /// `core.StandardNormalization`), used in error messages.
    fn name(&self) -> &str;

    /// The input ports that take `tensors.X` / `states.X` refs (`x`,
    /// `state`). A step binding a ref to another port is an error.
    fn input_ports(&self) -> &[&str];

    /// The output ports a step may bind (`output`, `state`, `n_features`).
    fn output_ports(&self) -> &[&str];

    /// The table columns the op reads (`columns: [a, b]`, `x: country`);
    /// none by default. The pipeline checks them against the table before
    /// the op runs, so a missing one is an error naming the step, the input
    /// and the column, with did-you-mean among the table's columns.
    fn input_columns(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Whether the table columns it reads ([`input_columns`](Self::input_columns)
    /// and the column lists of its params) must be numeric; default
    /// `false`. `arc validate --data` then reports a text column at the
    /// step's line, before anything runs.
    fn needs_numeric_columns(&self) -> bool {
        false
    }

    /// Whether the op runs at training only (`inspect.*`, `fit.*`); default
    /// `false`. The pipeline also honours a step's `train_only: true`.
    fn is_train_only(&self) -> bool {
        false
    }

    /// Fits a state on the training inputs; `None` (the default) for a
    /// stateless op. Called at training only, before
    /// [`transform`](Self::transform).
    fn fit(&self, inputs: &ProcessorInputs<'_>) -> Result<Option<ProcessorState>> {
        let _ = inputs;
        Ok(None)
    }

    /// Computes the outputs; a fitted op finds its state in the input
    /// `state`. The default produces no outputs (a fit-only op).
    fn transform(&self, inputs: &ProcessorInputs<'_>) -> Result<ProcessorOutputs> {
        let _ = inputs;
        Ok(ProcessorOutputs::new())
    }

    /// Maps codes back to the values they encode (a label encoder's class
    /// names), with a state this op fitted. The default is an error naming
    /// the op: most ops cannot be inverted.
    fn decode(&self, state: &ProcessorState, codes: &Tensor) -> Result<Vec<String>> {
        let _ = (state, codes);
        Err(Error::NoDecode { component: self.name().to_owned() })
    }

    /// The op over one row, for the Predictor's allocation-free plan, with
    /// the step's fitted state. Called once per loaded model for each
    /// prediction-time step. Default `None`: the Predictor then runs the
    /// pipeline on its generic path. A state that does not fit is an error.
    fn row_transform(&self, context: &RowTransformContext<'_>) -> Result<Option<RowTransform>> {
        let _ = context;
        Ok(None)
    }

    /// The op's ONNX form, for an exporter that puts the pipeline in the
    /// graph. Default `None`: a model input made by this op takes the
    /// pipeline tensor itself.
    fn onnx(&self) -> Option<OnnxProcessor> {
        None
    }
}
