//! The memory budget: before anything is allocated, a run's memory — the
//! parameters (from each layer's [`StateSize`](crate::plugin::StateSize),
//! worked out from its config), their gradients, the optimizer's state and
//! one batch's activations (from the inferred shapes) — is held against
//! `trainer.config.memory_budget_mb`, or 80% of the memory the machine has
//! available. Over budget is an error naming the largest nodes, their
//! bytes, the total and the budget; nothing is built.

use std::collections::BTreeMap;

use crate::nn::ShapeSpec;
use crate::plugin::PluginManager;
use crate::spec::{ArcSpec, TrainerSpec};
use crate::types::{ValidationIssue, human_bytes};

/// The budget, in bytes, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Bytes.
    pub bytes: u128,
    /// Where it came from, for the message.
    pub source: String,
}

impl Budget {
    /// `trainer.config.memory_budget_mb` when set; else the environment's
    /// `ARC_MEMORY_BUDGET_MB` (a container's limit, the fuzz targets' 1 GiB);
    /// else 80% of the machine's `MemAvailable` (`/proc/meminfo`); `None`
    /// where none is known (no check).
    pub fn for_run(trainer: Option<&TrainerSpec>) -> Option<Budget> {
        let mib = |mb: f64| (mb * 1024.0 * 1024.0) as u128;
        let positive = |mb: &f64| mb.is_finite() && *mb > 0.0;
        if let Some(mb) = trainer.and_then(|t| t.config.memory_budget_mb).filter(positive) {
            return Some(Budget { bytes: mib(mb), source: "trainer.config.memory_budget_mb".into() });
        }
        let env = std::env::var("ARC_MEMORY_BUDGET_MB").ok().and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(mb) = env.filter(positive) {
            return Some(Budget { bytes: mib(mb), source: "ARC_MEMORY_BUDGET_MB".into() });
        }
        let available = available_memory()?;
        Some(Budget {
            bytes: available / 5 * 4,
            source: format!("80% of the {} this machine has available", human_bytes(available)),
        })
    }
}

/// Whether one layer of `elements` is over the budget of `spec`'s run on its own: then
/// nothing builds it to check its params (the budget check reports it).
pub(crate) fn over_alone(spec: &ArcSpec, elements: u64) -> bool {
    Budget::for_run(spec.trainer.as_ref()).is_some_and(|b| u128::from(elements) * 4 > b.bytes)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One node's parameters and buffers, in bytes.
#[derive(Clone, Debug)]
struct NodeBytes {
    name: String,
    index: usize,
    bytes: u128,
}

/// The model's state, estimated from the layers' configs.
#[derive(Debug, Default)]
pub(crate) struct Estimate {
    nodes: Vec<NodeBytes>,
    /// Nodes whose layer gives no size (a module, a plugin's layer without one).
    unknown: Vec<String>,
}

impl Estimate {
    /// Sizes each node of `spec`'s model with `vars` resolved; a size that
    /// overflows is an issue at the node's params.
    pub(crate) fn of(
        spec: &ArcSpec,
        vars: &BTreeMap<String, f64>,
        manager: &PluginManager,
    ) -> (Self, Vec<ValidationIssue>) {
        let mut estimate = Estimate::default();
        let mut issues = Vec::new();
        for (index, node) in spec.model.graph.iter().enumerate() {
            let Ok(component) = manager.get_layer(&node.layer_type) else {
                estimate.unknown.push(node.name.clone());
                continue;
            };
            let config = match &node.params {
                Some(params) => match params.resolve_vars(vars) {
                    Ok(config) => config,
                    Err(_) => continue,
                },
                None => Default::default(),
            };
            match component.state_size(&config) {
                Some(Ok(elements)) => {
                    estimate.nodes.push(NodeBytes { name: node.name.clone(), index, bytes: u128::from(elements) * 4 });
                }
                // A size that overflows; a config that does not parse is left to the other checks.
                Some(Err(e @ crate::Error::TooLarge { .. })) => issues.push(
                    ValidationIssue::error(format!("node `{}`: {e}", node.name))
                        .at(format!("model.graph[{index}].params")),
                ),
                Some(Err(_)) => {}
                None => estimate.unknown.push(node.name.clone()),
            }
        }
        (estimate, issues)
    }

    fn parameter_bytes(&self) -> u128 {
        self.nodes.iter().map(|n| n.bytes).sum()
    }

    /// An error when the parameters (× `copies`: values, gradients, the
    /// optimizer's state) and `activations` exceed `budget`.
    pub(crate) fn check(
        &self,
        copies: u128,
        activations: Option<(u128, usize)>,
        budget: &Budget,
    ) -> Option<ValidationIssue> {
        let parameters = self.parameter_bytes();
        let total = parameters.saturating_mul(copies).saturating_add(activations.map_or(0, |(a, _)| a));
        if total <= budget.bytes {
            return None;
        }
        let mut largest = self.nodes.clone();
        largest.sort_by_key(|n| std::cmp::Reverse(n.bytes));
        let named: Vec<String> = largest
            .iter()
            .filter(|n| n.bytes > 0)
            .take(3)
            .map(|n| format!("`{}` {}", n.name, human_bytes(n.bytes)))
            .collect();
        let copies_note = match copies {
            1 => String::new(),
            2 => " ×2 for their gradients".to_owned(),
            n => format!(" ×{n} for their gradients and the optimizer's state"),
        };
        let activations_note = activations
            .map(|(a, batch)| format!(", plus {} of activations for a batch of {batch}", human_bytes(a)))
            .unwrap_or_default();
        let unknown = if self.unknown.is_empty() {
            String::new()
        } else {
            format!("; not counted (no size estimate): `{}`", self.unknown.join("`, `"))
        };
        let message = format!(
            "the model needs about {} (parameters {}{copies_note}{activations_note}), more than the memory budget \
             of {} ({}); the largest nodes: {}{unknown}. Set trainer.config.memory_budget_mb (or `arc train \
             --memory-budget-mb`) if the machine has the memory",
            human_bytes(total),
            human_bytes(parameters),
            human_bytes(budget.bytes),
            budget.source,
            named.join(", "),
        );
        let at = largest.first().map_or_else(|| "model.graph".to_owned(), |n| format!("model.graph[{}]", n.index));
        Some(ValidationIssue::error(message).at(at))
    }
}

/// How many copies of the parameters a run keeps: the values; with a
/// trainer, their gradients and the optimizer's state per element.
pub(crate) fn copies(trainer: Option<&TrainerSpec>, manager: &PluginManager) -> u128 {
    let Some(trainer) = trainer else { return 1 };
    let spec = &trainer.optimizer;
    let state = manager
        .get_optimizer(&spec.component_type)
        .and_then(|c| c.create(&spec.config.clone().unwrap_or_default()))
        .map_or(2, |o| o.state_per_parameter());
    2 + state as u128
}

/// One batch's activations: every node output (the value and its
/// gradient), with the batch dim at `batch` and other unknown dims at 1.
pub(crate) fn activation_bytes(shapes: &BTreeMap<String, ShapeSpec>, batch: usize) -> u128 {
    shapes
        .values()
        .map(|shape| {
            let mut dims = shape.iter();
            let first = match dims.next() {
                Some(None) => batch as u128,
                Some(Some(d)) => *d as u128,
                None => 1,
            };
            dims.fold(first, |n, d| n.saturating_mul(d.unwrap_or(1) as u128))
        })
        .fold(0u128, |sum, n| sum.saturating_add(n.saturating_mul(8)))
}
