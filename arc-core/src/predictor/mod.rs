//! [`Predictor`]: a trained model directory, loaded once, predicting one row
//! at a time in microseconds — the path a binary that embeds Arc calls.
//!
//! # Design
//!
//! [`Predictor::load`] reads the directory `arc train` wrote and checks it
//! fully: `spec.yaml` parses and builds, every parameter in
//! `model.safetensors` has the built model's name and shape (and no weight
//! is left over), and every prediction-time step of `features.processors`
//! finds its state in `processors.json`. Each error names the file.
//!
//! Then it compiles two plans over one flat `f32` scratch arena whose slots
//! are laid out at load:
//!
//! - the *feature plan*: the transform steps as row transforms with their
//!   saved states read once (`transform.assemble_vector`, the standard /
//!   min-max / robust scalers, one-hot encoding with `handle_unknown`);
//! - the *model plan*: the graph as plain kernels over one row (Linear as
//!   a row-major `[out, in]` dot product per output, ReLU, Sigmoid, Tanh,
//!   GELU, Softmax, LayerNorm, Add, Concatenate; Dropout and Flatten are
//!   the identity at inference).
//!
//! The plans read layers and processors by their registered names and
//! params, so at load one probe row runs through both the plans and the
//! generic path below; should they disagree, the plans are dropped (with a
//! warning) and the generic path serves.
//!
//! A prediction fills the arena (a per-thread buffer, grown on first use
//! and reused after), runs both plans, and turns the outputs into an
//! [`Output`]: the decoded label and the class probabilities (softmax) for
//! a multiclass model, the label and the positive class's probability for a
//! binary one, the answered outputs' raw values otherwise;
//! [`Predictor::answer_row`] names them as `arc predict` does. No autograd
//! graph is recorded,
//! no lock is taken, and [`Predictor::predict_row_into`] allocates nothing.
//! The predictor is immutable, so one `Arc<Predictor>` serves any number
//! of threads.
//!
//! A model using anything else (another layer or processor, a
//! `BatchNorm1d`, shapes beyond `[batch, width]`) runs the *generic* path: a
//! one-row table through [`Pipeline::transform`](crate::pipeline::Pipeline::transform)
//! and [`GraphModel::forward`](crate::graph::GraphModel::forward) under
//! [`no_grad`]. It gives the same results and allocates;
//! [`Predictor::is_allocation_free`] says which path a model got.
//!
//! A bad row — a missing column, a missing or NaN value, text where a
//! number belongs, an unknown category — is an error naming the column;
//! it touches nothing shared, so the next row predicts as usual.
//!
//! ```no_run
//! use arc_core::predictor::{Predictor, Value};
//!
//! let predictor = Predictor::load_with("target/iris-model".as_ref(), arc_core::get_plugin_manager())?;
//! let row = [
//!     ("sepal_length", Value::Number(5.1)),
//!     ("sepal_width", Value::Number(3.5)),
//!     ("petal_length", Value::Number(1.4)),
//!     ("petal_width", Value::Number(0.2)),
//! ];
//! let out = predictor.predict_row(&row[..])?;
//! println!("{:?} {:?}", out.label, out.values);
//! # Ok::<(), arc_core::Error>(())
//! ```

mod features;
mod load;
mod plan;
mod row;
mod serve;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

pub use row::{Output, Row, Value};
pub use serve::serve_json_lines;

use crate::data::{Column, Table};
use crate::graph::GraphModel;
use crate::lower::Slot;
use crate::nn::Scores;
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::tensor::no_grad;
use crate::train::answer::{Answer, Cell, RowValues};
use crate::{Error, Result, Tensor};
use features::FeaturePlan;
use load::Head;
use plan::ModelPlan;
use row::{Cells, RowSource};

/// A loaded model directory that predicts rows; see the [module docs](self).
pub struct Predictor {
    dir: PathBuf,
    columns: Vec<String>,
    fast: Option<(FeaturePlan, ModelPlan)>,
    model: GraphModel,
    pipeline: Pipeline,
    fitted: FittedState,
    head: Head,
    answer: Answer,
    output_len: usize,
    arena_len: usize,
}

/// Rows at which [`Predictor::predict_batch`] goes parallel.
const PARALLEL_BATCH: usize = 64;

thread_local! {
    /// Each thread's scratch arena, grown to the largest plan it ran.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Predictor {
    /// Loads the model directory `dir` with the global plugin manager
    /// ([`get_plugin_manager`](crate::get_plugin_manager)); see
    /// [`load_with`](Self::load_with).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(dir.as_ref(), crate::get_plugin_manager())
    }

    /// Loads and checks the model directory `dir`, its layers and
    /// processors resolved in `manager`; an error names the file at fault.
    pub fn load_with(dir: &Path, manager: &PluginManager) -> Result<Self> {
        let read = load::read(dir, manager)?;
        // A processor that cannot be built here fails the generic path too, with its error.
        let steps = read.pipeline.prediction_steps(&read.fitted).ok();
        let feature_plan = match &steps {
            Some(steps) => features::compile(steps).map_err(|e| in_dir(dir, e))?,
            None => None,
        };
        let fast = feature_plan.and_then(|feature_plan| {
            let widths = |name: &str| feature_plan.tensors.get(name).map(|s| s.len);
            let start = feature_plan.arena_end;
            plan::compile(&read.model, &widths, start).map(|model_plan| (feature_plan, model_plan))
        });
        let (columns, arena_len) = match &fast {
            Some((f, m)) => (f.columns.clone(), m.arena_end),
            None => (load::input_columns(&read.features), 0),
        };
        let mut predictor = Self {
            dir: dir.to_path_buf(),
            columns,
            fast,
            model: read.model,
            pipeline: read.pipeline,
            fitted: read.fitted,
            head: read.head,
            answer: read.answer,
            output_len: 0,
            arena_len,
        };
        predictor.output_len = match (&predictor.head, &predictor.fast) {
            (Head::Classifier { classes, .. }, _) => classes.len(),
            (Head::Binary { .. }, _) => 1,
            (Head::Values { outputs }, Some((_, m))) => {
                m.outputs.iter().filter(|(n, _)| outputs.contains(n)).map(|(_, s)| s.len).sum()
            }
            // The generic path learns its output widths from a run.
            (Head::Values { .. }, None) => 0,
        };
        if let (Head::Classifier { output, classes, .. }, Some((_, m))) = (&predictor.head, &predictor.fast) {
            let width = m.outputs.iter().find(|(n, _)| n == output).map(|(_, s)| s.len);
            if width != Some(classes.len()) {
                let message =
                    format!("output `{output}` has width {width:?}, the target has {} classes", classes.len());
                return Err(Error::PredictorLoad {
                    file: dir.join(crate::model_dir::SPEC_FILE).display().to_string(),
                    message,
                });
            }
        }
        predictor.cross_check();
        Ok(predictor)
    }

    /// Runs one probe row through both paths; if the compiled one does not
    /// give the generic one's values (to 1e-4), the compiled plans are
    /// dropped with a warning: a layer or processor whose behaviour the
    /// plans misread costs speed, never correctness. A probe the generic
    /// path rejects leaves the plans as they are.
    fn cross_check(&mut self) {
        let Some((features, _)) = &self.fast else { return };
        let values = features.probe_row();
        let cells: Vec<(&str, Value<'_>)> = self.columns.iter().map(String::as_str).zip(values).collect();
        let row = Row::Named(&cells);
        let Ok(generic) = self.predict_generic(&row) else { return };
        let mut fast = vec![0.0; self.output_len];
        let agrees = match self.run_fast(&row, &mut fast) {
            Ok(_) => {
                fast.len() == generic.values.len()
                    && fast.iter().zip(&generic.values).all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs()))
            }
            Err(_) => false,
        };
        if !agrees {
            tracing::warn!(
                "{}: the compiled plan disagrees with the model on a probe row; using the generic path",
                self.dir.display()
            );
            self.fast = None;
        }
    }

    /// The directory the predictor was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The columns a row must hold; a [`Row::Features`] slice gives one
    /// number per column, in this order.
    pub fn input_columns(&self) -> &[String] {
        &self.columns
    }

    /// A classifier's class names, in probability order; empty otherwise.
    pub fn classes(&self) -> &[Arc<str>] {
        match &self.head {
            Head::Classifier { classes, .. } => classes,
            Head::Binary { classes, .. } => classes,
            Head::Values { .. } => &[],
        }
    }

    /// The number of values a prediction gives (the classes, or the output
    /// width); 0 for a regression model on the generic path, which learns
    /// it from the first prediction.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// Whether the compiled, allocation-free path runs this model (`false`:
    /// the generic Tensor path; see the [module docs](self)).
    pub fn is_allocation_free(&self) -> bool {
        self.fast.is_some()
    }

    /// Predicts one row.
    pub fn predict_row<'a>(&self, row: impl Into<Row<'a>>) -> Result<Output> {
        let row = row.into();
        match &self.fast {
            Some(_) => {
                let mut values = vec![0.0; self.output_len];
                let class_index = self.run_fast(&row, &mut values)?;
                Ok(self.output(class_index, values))
            }
            None => self.predict_generic(&row),
        }
    }

    /// Predicts one row given as one number per
    /// [`input_column`](Self::input_columns), writing the probabilities
    /// (or the output values) into `out`, which must hold
    /// [`output_len`](Self::output_len) values; returns a classifier's
    /// class index. On the compiled path this allocates nothing.
    pub fn predict_row_into(&self, features: &[f32], out: &mut [f32]) -> Result<Option<usize>> {
        let row = Row::Features(features);
        if self.fast.is_some() {
            if out.len() != self.output_len {
                return Err(Error::PredictorInput {
                    message: format!("an output buffer of {} values, the model gives {}", out.len(), self.output_len),
                });
            }
            return self.run_fast(&row, out);
        }
        let output = self.predict_generic(&row)?;
        if output.values.len() != out.len() {
            return Err(Error::PredictorInput {
                message: format!("an output buffer of {} values, the model gives {}", out.len(), output.values.len()),
            });
        }
        out.copy_from_slice(&output.values);
        Ok(output.class_index)
    }

    /// Predicts many rows, each on its own: a bad row's error does not
    /// affect the others. Big batches run in parallel (rayon).
    pub fn predict_batch(&self, rows: &[Row<'_>]) -> Vec<Result<Output>> {
        if rows.len() >= PARALLEL_BATCH {
            rows.par_iter().map(|r| self.predict_row(*r)).collect()
        } else {
            rows.iter().map(|r| self.predict_row(*r)).collect()
        }
    }

    fn output(&self, class_index: Option<usize>, values: Vec<f32>) -> Output {
        let label = match (&self.head, class_index) {
            (Head::Classifier { classes, .. }, Some(i)) => classes.get(i).cloned(),
            (Head::Binary { classes, .. }, Some(i)) => classes.get(i).cloned(),
            _ => None,
        };
        Output { label, class_index, values }
    }

    /// The compiled path: both plans over this thread's arena.
    fn run_fast(&self, row: &Row<'_>, out: &mut [f32]) -> Result<Option<usize>> {
        let Some((features, model)) = &self.fast else {
            unreachable!("run_fast is called only when the plans compiled")
        };
        let cells = Cells { row, columns: &self.columns };
        cells.check()?;
        let mut run = |arena: &mut [f32]| -> Result<Option<usize>> {
            features.run(&cells as &dyn RowSource, arena)?;
            for (_, source, slot) in &model.inputs {
                let from = features.tensors[source.as_str()];
                arena.copy_within(from.offset..from.offset + from.len, slot.offset);
            }
            model.run(arena);
            Ok(self.write_outputs(&model.outputs, arena, out))
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < self.arena_len {
                    buf.resize(self.arena_len, 0.0);
                }
                run(&mut buf[..self.arena_len])
            }
            // Re-entered on this thread (a callback predicting): a fresh arena.
            Err(_) => run(&mut vec![0.0; self.arena_len]),
        })
    }

    /// Writes the head's values into `out`; a classifier's class.
    fn write_outputs(&self, outputs: &[(String, Slot)], arena: &[f32], out: &mut [f32]) -> Option<usize> {
        let slot = |name: &str| outputs.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        match &self.head {
            Head::Classifier { output, scores, .. } => {
                let slot = slot(output)?;
                let logits = &arena[slot.offset..slot.offset + slot.len];
                class_scores(*scores, logits, out);
                Some(argmax(logits))
            }
            Head::Binary { output, scores, .. } => {
                let slot = slot(output)?;
                out[0] = positive_probability(arena[slot.offset], *scores);
                Some(usize::from(out[0] >= 0.5))
            }
            Head::Values { outputs: answered } => {
                let mut at = 0;
                for name in answered {
                    let Some(slot) = slot(name) else { continue };
                    out[at..at + slot.len].copy_from_slice(&arena[slot.offset..slot.offset + slot.len]);
                    at += slot.len;
                }
                None
            }
        }
    }

    /// The named answer to one row: the fields `arc predict` writes for it
    /// (see [`answer`](crate::train::answer)), each under its name, as a
    /// JSON object's entries. It allocates; the numbers are those of
    /// [`predict_row`](Self::predict_row).
    pub fn answer_row<'a>(&self, row: impl Into<Row<'a>>) -> Result<Vec<(String, Cell)>> {
        let outputs = self.run_outputs(&row.into())?;
        Ok(self.answer.row(&|name: &str| outputs.get(name).cloned()))
    }

    /// Every answered output's values for one row, with their shapes
    /// without the batch dim.
    fn run_outputs(&self, row: &Row<'_>) -> Result<BTreeMap<String, RowValues>> {
        if let Some((_, model)) = &self.fast {
            let cells = Cells { row, columns: &self.columns };
            cells.check()?;
            let (features, _) = self.fast.as_ref().expect("checked above");
            let mut arena = vec![0.0; self.arena_len];
            features.run(&cells as &dyn RowSource, &mut arena)?;
            for (_, source, slot) in &model.inputs {
                let from = features.tensors[source.as_str()];
                arena.copy_within(from.offset..from.offset + from.len, slot.offset);
            }
            model.run(&mut arena);
            return Ok(model
                .outputs
                .iter()
                .map(|(n, s)| (n.clone(), (arena[s.offset..s.offset + s.len].to_vec(), vec![s.len])))
                .collect());
        }
        let outputs = self.forward_generic(row)?;
        outputs
            .into_iter()
            .map(|(n, t)| {
                Ok((n, (t.to_dtype(crate::DType::F32)?.to_vec()?, t.shape().get(1..).unwrap_or(&[]).to_vec())))
            })
            .collect()
    }

    /// The generic path's model outputs for one row.
    fn forward_generic(&self, row: &Row<'_>) -> Result<BTreeMap<String, Tensor>> {
        let cells = Cells { row, columns: &self.columns };
        cells.check()?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, name) in self.columns.iter().enumerate() {
            columns.push(match cells.value(i, name)? {
                Value::Number(v) => Column::numeric(name.clone(), vec![v]),
                Value::Text(t) => Column::text(name.clone(), vec![Some(t.to_owned())]),
                Value::Missing => Column::text(name.clone(), vec![None]),
            });
        }
        let table = Table::new(columns)?;
        let _guard = no_grad();
        let bindings = self.pipeline.transform(&table, &self.fitted)?;
        let inputs = self.model.feed(&bindings.tensors, &table)?;
        self.model.forward(&inputs)
    }

    /// The generic path: a one-row table through the pipeline and the
    /// Tensor model, without autograd.
    fn predict_generic(&self, row: &Row<'_>) -> Result<Output> {
        let outputs = self.forward_generic(row)?;
        let get = |name: &str| -> Result<Vec<f32>> {
            let t = outputs.get(name).ok_or_else(|| Error::Spec { message: format!("no model output `{name}`") })?;
            t.to_dtype(crate::DType::F32)?.to_vec()
        };
        match &self.head {
            Head::Classifier { output, scores, .. } => {
                let logits = get(output)?;
                let mut probs = vec![0.0; logits.len()];
                class_scores(*scores, &logits, &mut probs);
                Ok(self.output(Some(argmax(&logits)), probs))
            }
            Head::Binary { output, scores, .. } => {
                let p = positive_probability(get(output)?[0], *scores);
                Ok(self.output(Some(usize::from(p >= 0.5)), vec![p]))
            }
            Head::Values { outputs: answered } => {
                let mut values = Vec::new();
                for name in answered {
                    values.extend(get(name)?);
                }
                Ok(self.output(None, values))
            }
        }
    }
}

/// A classifier's per-class values from its scores: softmax of logits,
/// exp of log-probabilities, probabilities and plain scores as they are.
fn class_scores(scores: Scores, values: &[f32], out: &mut [f32]) {
    match scores {
        Scores::Logits => crate::lower::kernels::softmax(values, out),
        Scores::LogProbabilities => out.iter_mut().zip(values).for_each(|(o, v)| *o = v.exp()),
        Scores::Probabilities | Scores::Values => out.copy_from_slice(values),
    }
}

use crate::train::answer::{argmax, positive_probability};

/// Names `dir`'s file in a load error made without it.
fn in_dir(dir: &Path, error: Error) -> Error {
    match error {
        Error::PredictorLoad { file, message } => {
            Error::PredictorLoad { file: dir.join(file).display().to_string(), message }
        }
        other => other,
    }
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("dir", &self.dir)
            .field("input_columns", &self.columns)
            .field("classes", &self.classes())
            .field("allocation_free", &self.is_allocation_free())
            .finish_non_exhaustive()
    }
}
