//! What a model directory saves of the fitted data contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ProcessorState;
use crate::nn::TargetInfo;

/// What a model directory saves of the fitted data contract: the
/// pipeline's vars and states, which [`Pipeline::transform`](crate::pipeline::Pipeline::transform) reads back
/// unchanged, and how the trained loss reads its target (the task, the
/// class names, the class dim).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedState {
    /// `vars.X` values, by name.
    #[serde(default)]
    pub vars: BTreeMap<String, f64>,
    /// `states.X` values, by name.
    #[serde(default)]
    pub states: BTreeMap<String, ProcessorState>,
    /// The trained loss's reading of its target; none before training (and
    /// in model directories written before it was saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetInfo>,
}
