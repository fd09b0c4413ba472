//! Everything before the first training step, in named stages, shared by
//! [`train`](super::train) and [`validate_data`] (`arc validate --data`),
//! so that both reject exactly the same specs (the one contract):
//!
//! 1. the static checks ([`validate_with`]) and the columns the spec names
//!    against the data ([`check_columns`]);
//! 2. the seeded split, and the pipeline fitted on the training rows;
//! 3. the layers whose params read `vars.X`, built with the fitted vars;
//!    the model, built and its shapes inferred;
//! 4. the model's inputs fed from the pipeline's tensors or the table;
//! 5. with a trainer: the loss's target (a tensor, a label encoder's output
//!    or the column read straight from the table), one forward pass and the
//!    loss on the first batch (no gradient, no randomness drawn), the class
//!    count and class dim, the validation split, the optimizer, the device
//!    and early stopping.
//!
//! Each stage reports every problem it finds, each at its YAML line; a
//! stage whose input failed does not run.

use std::collections::BTreeMap;

use super::target::{ColumnTarget, TargetSource, target_source, target_step};
use super::{EarlyStopper, loss_value, pipeline, pred_output, shuffle};
use crate::data::Table;
use crate::distributed::{Collective, SingleProcess};
use crate::graph::GraphModel;
use crate::nn::{Loss, Optimizer, TargetInfo, Task, init};
use crate::pipeline::{Bindings, Pipeline};
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::{ArcSpec, StepInput, TrainerSpec};
use crate::tensor::{Rng, no_grad};
use crate::validate::{Report, ValidationIssue, check_columns, validate_with};
use crate::{Device, Error, Result, Tensor};

/// The prepared tensors of one split: model inputs by name and the target.
pub(crate) struct Split {
    pub inputs: BTreeMap<String, Tensor>,
    pub target: Tensor,
    pub rows: usize,
}

impl Split {
    /// The split on `device` (the same tensors when already there).
    pub fn to_device(&self, device: Device) -> Result<Split> {
        let inputs = self.inputs.iter().map(|(k, t)| Ok((k.clone(), t.to_device(device)?))).collect::<Result<_>>()?;
        Ok(Split { inputs, target: self.target.to_device(device)?, rows: self.rows })
    }

    /// The rows at these indices.
    pub fn select(&self, rows: &[usize]) -> Result<Split> {
        let index = Tensor::from_vec_i64(rows.iter().map(|&r| r as i64).collect(), &[rows.len()])?;
        let inputs =
            self.inputs.iter().map(|(k, t)| Ok((k.clone(), t.index_select(0, &index)?))).collect::<Result<_>>()?;
        Ok(Split { inputs, target: self.target.index_select(0, &index)?, rows: rows.len() })
    }
}

/// What the epoch loop needs, prepared.
pub(crate) struct Run {
    pub fitted: FittedState,
    pub train: Split,
    pub val: Option<Split>,
    pub loss: Box<dyn Loss>,
    pub optimizer: Box<dyn Optimizer>,
    pub info: TargetInfo,
    pub device: Device,
    pub device_note: Option<String>,
    pub stopper: Option<EarlyStopper>,
    /// The seeded stream that drew the split; shuffling goes on from it.
    pub rng: Rng,
}

/// What the stages found and built.
pub(crate) struct Preparation {
    /// Every issue, located; training runs only without errors.
    pub issues: Vec<ValidationIssue>,
    /// The fitted pipeline's vars (empty when it did not run).
    pub vars: BTreeMap<String, f64>,
    /// The built model, when it builds.
    pub model: Option<GraphModel>,
    /// Set when every stage passed and the spec has a trainer.
    pub run: Option<Run>,
}

/// What [`validate_data`] found and built.
pub struct DataReport {
    /// Every issue, static and with the data, as in [`Report`].
    pub report: Report,
    /// The fitted pipeline's vars (empty when the pipeline did not run).
    pub vars: BTreeMap<String, f64>,
    /// The model, built with those vars, when it builds.
    pub model: Option<GraphModel>,
}

/// Checks `spec` against `table` as `arc train` would before its first
/// step (`arc validate --data`): every static check, the columns, the
/// pipeline fitted on the seeded training split, the model built with the
/// fitted vars and its shapes, its inputs from the data, and (with a
/// trainer) the target, one forward pass and the loss on the first batch,
/// the optimizer, the device and early stopping. What this accepts,
/// training accepts up to its first step, and the other way round.
///
/// ```
/// use arc_core::{data::{Column, Table}, spec::ArcSpec, train::validate_data};
///
/// let text = "model_name: m\nfeatures: {feature_columns: [x]}\nmodel:\n  inputs: {y: [null, 1]}\n  graph: [{name: a, type: ReLU}]\n";
/// let table = Table::new(vec![Column::numeric("x", vec![1.0, 2.0])])?;
/// let report = validate_data(&ArcSpec::from_yaml(text, "m.yaml")?, &table, arc_core::get_plugin_manager())?.report;
/// assert_eq!(
///     report.issues[0].to_string(),
///     "m.yaml:4:15: error: model input `y` reads `tensors.y`, which no processor step makes and `y` is not one of `features.feature_columns`"
/// );
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn validate_data(spec: &ArcSpec, table: &Table, manager: &PluginManager) -> Result<DataReport> {
    let preparation = prepare(spec, spec.trainer.as_ref(), table, manager, &SingleProcess)?;
    Ok(DataReport { report: Report { issues: preparation.issues }, vars: preparation.vars, model: preparation.model })
}

/// Runs the stages; see the [module docs](self). `Err` only for a hook
/// that fails; everything about the spec or the data is an issue.
pub(crate) fn prepare(
    spec: &ArcSpec,
    trainer: Option<&TrainerSpec>,
    table: &Table,
    manager: &PluginManager,
    collective: &dyn Collective,
) -> Result<Preparation> {
    let mut p = Preparation { issues: Vec::new(), vars: BTreeMap::new(), model: None, run: None };
    p.issues = validate_with(spec, trainer, manager)?.issues;
    p.issues.extend(check_columns(spec, table, manager));
    if p.has_errors() {
        return Ok(p);
    }
    let config = trainer.map(|t| t.config.clone()).unwrap_or_default();
    let split = if trainer.is_some() { config.validation_split } else { 0.0 };
    let mut rng = Rng::new(config.seed);
    let (train_rows, val_rows) = split_rows(table.num_rows(), split, &mut rng);
    if train_rows.is_empty() {
        let message = format!("no training rows: the data has {} rows", table.num_rows());
        p.push(spec, ValidationIssue::error(message).at("trainer.config.validation_split"));
        return Ok(p);
    }
    let train_table = table.select_rows(&train_rows)?;
    let pipeline = pipeline(&spec.features, manager, false)?;
    let bindings = match pipeline.fit(&train_table) {
        Ok(bindings) => bindings,
        Err(e) => {
            p.push(spec, step_issue(spec, &e));
            return Ok(p);
        }
    };
    // A data-parallel run: every rank fitted on the whole training split; rank 0's state is
    // everyone's (a rank whose own differs transforms again with it).
    let bindings = match super::parallel::root_fitted(collective, &bindings.fitted())? {
        None => bindings,
        Some(root) => match super::pipeline(&spec.features, manager, true)?.transform(&train_table, &root) {
            Ok(bindings) => bindings,
            Err(e) => {
                p.push(spec, step_issue(spec, &e));
                return Ok(p);
            }
        },
    };
    p.vars = bindings.vars.clone();
    // Held against the memory budget before any layer is built.
    let budget = crate::validate::Budget::for_run(trainer);
    let (estimate, issues) = crate::validate::Estimate::of(spec, &p.vars, manager);
    let copies = crate::validate::copies(trainer, manager);
    let over = budget.as_ref().and_then(|b| estimate.check(copies, None, b));
    if !issues.is_empty() || over.is_some() {
        issues.into_iter().chain(over).for_each(|issue| p.push(spec, issue));
        return Ok(p);
    }
    check_var_params(spec, &p.vars, manager, &mut p.issues);
    if p.has_errors() {
        return Ok(p);
    }
    // Initialisation draws from the seed; nothing above drew from it.
    init::manual_seed(config.seed);
    let mut model = match GraphModel::build_spec(spec, &p.vars, manager) {
        Ok(model) => model,
        Err(e) => {
            p.push(spec, crate::validate::model_issue(spec, e));
            return Ok(p);
        }
    };
    // In evaluation mode: the checks below draw no dropout randomness.
    model.set_training(false);
    let shapes = match model.infer_shapes() {
        Ok(shapes) => shapes,
        Err(e) => {
            p.push(spec, crate::validate::model_issue(spec, e));
            p.model = Some(model);
            return Ok(p);
        }
    };
    // With the shapes known, one batch's activations too, before the first forward pass.
    if let (Some(budget), Some(t)) = (&budget, trainer) {
        // A batch is at most the training rows.
        let batch = t.config.batch_size.clamp(1, train_rows.len().max(1));
        let activations = crate::validate::activation_bytes(&shapes, batch);
        if let Some(issue) = estimate.check(copies, Some((activations, batch)), budget) {
            p.push(spec, issue);
            p.model = Some(model);
            return Ok(p);
        }
    }
    let inputs = match model.feed(&bindings.tensors, &train_table) {
        Ok(inputs) => inputs,
        Err(e) => {
            p.push(spec, input_issue(e));
            p.model = Some(model);
            return Ok(p);
        }
    };
    let Some(trainer) = trainer else {
        p.model = Some(model);
        return Ok(p);
    };
    let stages = Stages { spec, trainer, table, manager, model: &model, pipeline: &pipeline };
    let run = stages.run(inputs, &bindings, &train_table, &val_rows, rng);
    match run {
        Ok(run) => p.run = Some(run),
        Err(issue) => p.push(spec, issue),
    }
    p.model = Some(model);
    Ok(p)
}

impl Preparation {
    fn has_errors(&self) -> bool {
        self.issues.iter().any(ValidationIssue::is_error)
    }

    fn push(&mut self, spec: &ArcSpec, issue: ValidationIssue) {
        self.issues.push(issue.locate_in(spec));
    }
}

/// The trainer's stages, over a built model and the fitted training split.
struct Stages<'a> {
    spec: &'a ArcSpec,
    trainer: &'a TrainerSpec,
    table: &'a Table,
    manager: &'a PluginManager,
    model: &'a GraphModel,
    pipeline: &'a Pipeline,
}

impl Stages<'_> {
    fn run(
        &self,
        inputs: BTreeMap<String, Tensor>,
        bindings: &Bindings,
        train_table: &Table,
        val_rows: &[usize],
        rng: Rng,
    ) -> std::result::Result<Run, ValidationIssue> {
        let config = &self.trainer.config;
        let loss = self.loss()?;
        let plan = self.target_plan(loss.as_ref())?;
        let rows = inputs.values().next().and_then(|t| t.shape().first().copied()).unwrap_or(0);
        let first: Vec<usize> = (0..rows.min(config.batch_size.max(1))).collect();
        let pred = self.first_forward(&inputs, &first)?;
        let target = plan.make(&bindings.tensors, train_table, pred.shape()).map_err(at_target)?;
        let info = self.reading(loss.as_ref(), &pred, &target, &first, bindings)?;
        let info = TargetInfo { classes: plan.classes().or(info.classes), ..info };
        let train = Split { inputs, target, rows };
        let val = self.validation_split(val_rows, bindings, &plan, pred.shape())?;
        let optimizer = self.optimizer()?;
        let (device, device_note) =
            config.device.resolve().map_err(|e| ValidationIssue::error(e.to_string()).at("trainer.config.device"))?;
        let stopper = config
            .early_stopping
            .as_ref()
            .map(|es| EarlyStopper::new(es, info.task, val.is_some()))
            .transpose()
            .map_err(|e| ValidationIssue::error(e.to_string()).at("trainer.config.early_stopping"))?;
        let mut fitted = bindings.fitted();
        fitted.target = Some(info.clone());
        Ok(Run { fitted, train, val, loss, optimizer, info, device, device_note, stopper, rng })
    }

    /// The loss, built from its config.
    fn loss(&self) -> std::result::Result<Box<dyn Loss>, ValidationIssue> {
        let spec = &self.trainer.loss;
        let built = self
            .manager
            .get_loss(&spec.component_type)
            .and_then(|c| c.create(&spec.config.clone().unwrap_or_default()));
        built.map_err(|e| at_loss(self.trainer, e))
    }

    /// Where the target comes from, and how a target column is encoded.
    fn target_plan(&self, loss: &dyn Loss) -> std::result::Result<TargetPlan, ValidationIssue> {
        let source = target_source(self.trainer, &self.spec.features).map_err(at_target)?;
        let column = match &source {
            TargetSource::Column(c) => {
                let name = &self.trainer.loss.component_type;
                Some(ColumnTarget::plan(self.table, c, loss.task(), name).map_err(at_target)?)
            }
            TargetSource::Tensor(_) => None,
        };
        Ok(TargetPlan { source, column })
    }

    /// The loss's prediction for the `first` rows, in evaluation mode and
    /// without gradients: training's first forward pass, done ahead.
    fn first_forward(
        &self,
        inputs: &BTreeMap<String, Tensor>,
        first: &[usize],
    ) -> std::result::Result<Tensor, ValidationIssue> {
        let pred_name = pred_output(self.trainer, self.model).map_err(|e| at_loss(self.trainer, e))?;
        let batch = select_rows(inputs, first).map_err(input_issue)?;
        let _guard = no_grad();
        let outputs = self.model.forward(&batch).map_err(|e| crate::validate::model_issue(self.spec, e))?;
        Ok(outputs[&pred_name].clone())
    }

    /// How the loss reads `pred` against `target`: its task (per position
    /// for rank-3 scores), class dim and ignored id, checked on the first
    /// rows (the class count fits the output, the loss computes); the class
    /// names a label-encoding target step knows.
    fn reading(
        &self,
        loss: &dyn Loss,
        pred: &Tensor,
        target: &Tensor,
        first: &[usize],
        bindings: &Bindings,
    ) -> std::result::Result<TargetInfo, ValidationIssue> {
        let at_loss = |e: Error| at_loss(self.trainer, e);
        let pred_name = pred_output(self.trainer, self.model).map_err(at_loss)?;
        let index = Tensor::from_vec_i64(first.iter().map(|&r| r as i64).collect(), &[first.len()]).map_err(at_loss)?;
        let batch_target = target.index_select(0, &index).map_err(at_target)?;
        let mut info = TargetInfo::new(loss.task(), loss.scores(), pred_name.clone());
        if info.task == Task::Multiclass {
            let dim = loss.class_dim(pred.shape(), batch_target.shape()).map_err(at_loss)?;
            info.class_dim = Some(dim);
            info.ignore_index = loss.ignore_index();
            if pred.rank() >= 3 {
                info.task = Task::MulticlassPerPosition;
            }
            check_class_count(pred, dim, target, info.ignore_index, &pred_name).map_err(at_loss)?;
        }
        let _guard = no_grad();
        loss_value(loss, self.trainer, pred, &batch_target).map_err(at_loss)?;
        info.classes = self.step_classes(bindings, target).map_err(at_target)?;
        Ok(info)
    }

    /// The held-out rows, transformed with the training split's fitted
    /// state (target steps included), their inputs and target.
    fn validation_split(
        &self,
        rows: &[usize],
        bindings: &Bindings,
        plan: &TargetPlan,
        pred_shape: &[usize],
    ) -> std::result::Result<Option<Split>, ValidationIssue> {
        if rows.is_empty() {
            return Ok(None);
        }
        let table = self.table.select_rows(rows).map_err(at_target)?;
        let fitted = bindings.fitted();
        let bound = pipeline(&self.spec.features, self.manager, true)
            .and_then(|p| p.transform(&table, &fitted))
            .map_err(|e| step_issue(self.spec, &e))?;
        let inputs = self.model.feed(&bound.tensors, &table).map_err(input_issue)?;
        let target = plan.make(&bound.tensors, &table, pred_shape).map_err(at_target)?;
        Ok(Some(Split { inputs, target, rows: rows.len() }))
    }

    /// The optimizer, built from its own config; the trainer's learning
    /// rate reaches it through [`Optimizer::use_trainer_learning_rate`].
    fn optimizer(&self) -> std::result::Result<Box<dyn Optimizer>, ValidationIssue> {
        let spec = &self.trainer.optimizer;
        let mut optimizer = self
            .manager
            .get_optimizer(&spec.component_type)
            .and_then(|c| c.create(&spec.config.clone().unwrap_or_default()))
            .map_err(|e| ValidationIssue::error(format!("trainer.optimizer: {e}")).at("trainer.optimizer"))?;
        if let Some(lr) = self.trainer.config.learning_rate {
            optimizer.use_trainer_learning_rate(lr);
        }
        Ok(optimizer)
    }

    /// The class names a label-encoding target step decodes its codes to
    /// (codes `0..` up to the largest the training target holds); none for
    /// a target that is not a step's, or a step that cannot decode.
    fn step_classes(&self, bindings: &Bindings, target: &Tensor) -> Result<Option<Vec<String>>> {
        let Some(spec_target) = self.trainer.loss.inputs.get("target") else { return Ok(None) };
        let Some(step) = target_step(&self.spec.features, spec_target) else { return Ok(None) };
        let Some(state) = bindings.states.get(&step.state_ref().name) else { return Ok(None) };
        if target.dtype() != crate::DType::I64 {
            return Ok(None);
        }
        let count = target.to_vec_i64()?.into_iter().max().map_or(0, |m| m.max(-1) + 1) as usize;
        let processor = self.pipeline.processor(step, &bindings.fitted())?;
        let codes = Tensor::from_vec_i64((0..count as i64).collect(), &[count])?;
        match processor.decode(state, &codes) {
            Ok(names) => Ok(Some(names)),
            Err(Error::NoDecode { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where the loss's target comes from, and the encoding of a target column.
struct TargetPlan {
    source: TargetSource,
    column: Option<ColumnTarget>,
}

impl TargetPlan {
    /// The target of a run of the pipeline that bound `tensors` on `table`:
    /// a float target shaped as the prediction (`pred_shape`).
    fn make(&self, tensors: &BTreeMap<String, Tensor>, table: &Table, pred_shape: &[usize]) -> Result<Tensor> {
        match (&self.source, &self.column) {
            (TargetSource::Tensor(name), _) => tensors.get(name).cloned().ok_or_else(|| Error::Spec {
                message: format!("the loss target `tensors.{name}` is made by no processor step"),
            }),
            (TargetSource::Column(_), Some(plan)) => plan.encode(table, pred_shape),
            (TargetSource::Column(c), None) => {
                Err(Error::Spec { message: format!("target column `{c}` has no encoding") })
            }
        }
    }

    /// The class names of a target column's classes.
    fn classes(&self) -> Option<Vec<String>> {
        self.column.as_ref()?.classes().map(<[String]>::to_vec)
    }
}

/// The seeded split: a shuffle drawn from `rng`, the first
/// `round(rows * fraction)` held out; each side in row order.
fn split_rows(rows: usize, fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..rows).collect();
    shuffle(&mut order, rng);
    let n_val = (rows as f64 * fraction).round() as usize;
    let (val, train) = order.split_at(n_val.min(rows));
    let (mut val, mut train) = (val.to_vec(), train.to_vec());
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

fn select_rows(inputs: &BTreeMap<String, Tensor>, rows: &[usize]) -> Result<BTreeMap<String, Tensor>> {
    let index = Tensor::from_vec_i64(rows.iter().map(|&r| r as i64).collect(), &[rows.len()])?;
    inputs.iter().map(|(k, t)| Ok((k.clone(), t.index_select(0, &index)?))).collect()
}

/// A classifier's output must have a score per class the targets hold.
fn check_class_count(pred: &Tensor, dim: usize, target: &Tensor, ignore: Option<i64>, name: &str) -> Result<()> {
    let labels = target.to_vec_i64()?;
    let Some(top) = labels.into_iter().filter(|l| Some(*l) != ignore).max() else { return Ok(()) };
    let width = pred.shape().get(dim).copied().unwrap_or(0);
    if top >= 0 && top as usize >= width {
        return Err(Error::Spec {
            message: format!(
                "the target has {} classes but model output `{name}` gives {width} scores: set the last \
                 layer's output size to {} (e.g. `vars.num_classes` from the label encoder)",
                top + 1,
                top + 1
            ),
        });
    }
    Ok(())
}

/// A problem of the loss, at its config (or the loss).
fn at_loss(trainer: &TrainerSpec, e: Error) -> ValidationIssue {
    let path = if trainer.loss.config.is_some() { "trainer.loss.config" } else { "trainer.loss" };
    ValidationIssue::error(format!("trainer.loss: {}", text(&e))).at(path)
}

fn at_target(e: Error) -> ValidationIssue {
    ValidationIssue::error(format!("trainer.loss: target: {}", text(&e))).at("trainer.loss.inputs.target")
}

/// An error's message, without the `spec: ` of a plain spec error.
fn text(e: &Error) -> String {
    match e {
        Error::Spec { message } => message.clone(),
        other => other.to_string(),
    }
}

/// A model input that its data cannot feed, at the input.
fn input_issue(e: Error) -> ValidationIssue {
    match &e {
        Error::ModelInput { input, .. } => ValidationIssue::error(e.to_string()).at(format!("model.inputs.{input}")),
        _ => ValidationIssue::error(e.to_string()).at("model.inputs"),
    }
}

/// A `vars.X` param of a node that its value does not fit (a fraction for
/// a size, a size the layer rejects): each node built with the fitted vars,
/// every problem reported at its param.
fn check_var_params(
    spec: &ArcSpec,
    vars: &BTreeMap<String, f64>,
    manager: &PluginManager,
    issues: &mut Vec<ValidationIssue>,
) {
    for (i, node) in spec.model.graph.iter().enumerate() {
        let Some(params) = &node.params else { continue };
        if params.var_refs().is_empty() || node.layer_type.starts_with("module.") {
            continue;
        }
        let Ok(resolved) = params.resolve_vars(vars) else { continue };
        let Ok(component) = manager.get_layer(&node.layer_type) else { continue };
        if let Err(e) = component.create(&resolved) {
            let e = params.explain_fractional_var(vars, e);
            let path = match &e {
                Error::FractionalVar { param, .. } => format!("model.graph[{i}].params.{param}"),
                _ => format!("model.graph[{i}].params"),
            };
            issues.push(ValidationIssue::error(format!("node `{}`: {e}", node.name)).at(path).locate_in(spec));
        }
    }
}

/// A pipeline error as an issue at its step, and at the input it is
/// about when it names one (a missing column, a fractional var, a ref).
pub(crate) fn step_issue(spec: &ArcSpec, e: &Error) -> ValidationIssue {
    let issue = ValidationIssue::error(e.to_string());
    let (step, source) = match e {
        Error::ProcessorStep { step, source, .. } => (step, Some(&**source)),
        Error::DuplicateStep { step } | Error::UndefinedRef { step, .. } => (step, None),
        _ => return issue.at("features"),
    };
    let Some(i) = spec.features.processors.iter().position(|s| &s.name == step) else {
        return issue.at("features");
    };
    let s = &spec.features.processors[i];
    let mentions = |port: &str| format!("features.processors[{i}].inputs.{port}");
    let column_port = |column: &str| {
        s.inputs.iter().find_map(|(port, input)| {
            let named = match input {
                StepInput::Columns(c) => c.iter().any(|c| c == column),
                StepInput::Literal(l) => match l.as_str() {
                    Some("feature_columns") => spec.features.feature_columns.iter().any(|c| c == column),
                    Some("target_columns") => spec.features.target_columns.iter().any(|c| c == column),
                    other => other == Some(column),
                },
                StepInput::Ref(_) => false,
            };
            named.then(|| mentions(port))
        })
    };
    let unwrap = |e: &'_ Error| -> Option<String> {
        let inner = match e {
            Error::InDataFile { error, .. } => &**error,
            other => other,
        };
        match inner {
            Error::MissingColumn { column, .. } => column_port(column),
            Error::FractionalVar { param, .. } | Error::UnknownParam { param, .. } => Some(mentions(param)),
            Error::UnknownPort { direction: "input", port, .. } => Some(mentions(port)),
            Error::UnknownPort { port, .. } => {
                let key = s.outputs.get(port).map(ToString::to_string).filter(|_| !s.reversed_outputs.contains(port));
                Some(format!("features.processors[{i}].outputs.{}", key.as_deref().unwrap_or(port)))
            }
            _ => None,
        }
    };
    let path = match (e, source) {
        (Error::UndefinedRef { reference, .. }, _) => s.inputs.iter().find_map(|(port, input)| match input {
            StepInput::Ref(r) if r.to_string() == *reference => Some(mentions(port)),
            _ => None,
        }),
        (_, Some(source)) => unwrap(source),
        _ => None,
    };
    issue.at(path.unwrap_or_else(|| format!("features.processors[{i}]")))
}
