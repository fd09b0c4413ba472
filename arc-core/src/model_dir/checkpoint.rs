//! Checkpoints and `--resume`: a checkpoint is a model directory
//! (`checkpoints/epoch-NNNN/`) with the trainer's state beside the model —
//! the epoch, the shuffling stream, the optimizer's state and the best
//! epoch's weights when early stopping will restore them — so that a run
//! resumed from it ends with the weights an uninterrupted run ends with.
//!
//! A checkpoint is written like any model directory: into a hidden
//! temporary directory renamed into place, the manifest written last. A
//! killed run leaves at most a hidden `.epoch-NNNN.tmp-PID` directory,
//! which [`latest`] never takes and [`clean_stale`](super::clean_stale)
//! removes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{CHECKPOINTS_DIR, History, MANIFEST_FILE, dir_error, weights_from_safetensors, weights_to_safetensors};
use crate::nn::OptimizerState;
use crate::process::FittedState;
use crate::tensor::Rng;
use crate::{Result, Tensor};

/// The trainer's state file of a checkpoint.
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";
/// The optimizer's tensors (moments) of a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The best epoch's weights, when early stopping restores them at the end.
pub const BEST_WEIGHTS_FILE: &str = "best.safetensors";

/// The version of [`TRAINER_STATE_FILE`] this build writes and reads.
const TRAINER_STATE_VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainerStateFile {
    format_version: u32,
    epoch: usize,
    rng: Rng,
    order: Vec<usize>,
    optimizer_scalars: BTreeMap<String, f64>,
    has_best_weights: bool,
}

/// The trainer's state at the end of an epoch, as a checkpoint saves it.
pub struct TrainerState<'a> {
    /// The epoch just finished (1-based).
    pub epoch: usize,
    /// The shuffling stream, as the next epoch will draw from it.
    pub rng: &'a Rng,
    /// The training rows in the order the last epoch took them (each
    /// epoch shuffles the previous epoch's order).
    pub order: &'a [usize],
    /// The optimizer's state.
    pub optimizer: &'a OptimizerState,
    /// The best epoch's weights, kept for early stopping's restore.
    pub best_weights: Option<&'a [(String, Tensor)]>,
}

impl TrainerState<'_> {
    /// The files to write beside the model ([`super::SaveOptions::extra`]).
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let state = TrainerStateFile {
            format_version: TRAINER_STATE_VERSION,
            epoch: self.epoch,
            rng: self.rng.clone(),
            order: self.order.to_vec(),
            optimizer_scalars: self.optimizer.scalars.clone(),
            has_best_weights: self.best_weights.is_some(),
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| dir_error(Path::new(TRAINER_STATE_FILE), e))?;
        let tensors: Vec<(String, Tensor)> =
            self.optimizer.tensors.iter().map(|(n, t)| (n.clone(), t.clone())).collect();
        let mut files = vec![(TRAINER_STATE_FILE, json), (OPTIMIZER_FILE, weights_to_safetensors(&tensors)?)];
        if let Some(best) = self.best_weights {
            files.push((BEST_WEIGHTS_FILE, weights_to_safetensors(best)?));
        }
        Ok(files)
    }
}

/// A checkpoint read back, to resume training from.
pub struct Resume {
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// The epoch it was written after.
    pub epoch: usize,
    /// The spec it was trained from.
    pub spec_text: String,
    /// The model's weights and buffers.
    pub weights: Vec<(String, Tensor)>,
    /// The fitted pipeline.
    pub fitted: FittedState,
    /// The history up to its epoch.
    pub history: History,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
    /// The shuffling stream.
    pub rng: Rng,
    /// The training rows in the order the checkpoint's epoch took them.
    pub order: Vec<usize>,
    /// The best epoch's weights, when early stopping keeps them.
    pub best_weights: Option<Vec<(String, Tensor)>>,
}

/// The newest complete checkpoint under the model directory `out`: the
/// `checkpoints/epoch-NNNN` of highest epoch that has its manifest and
/// trainer state (a half-written one has neither under that name). `None`
/// when there is none.
pub fn latest(out: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(out.join(CHECKPOINTS_DIR)).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch: usize = name.strip_prefix("epoch-")?.parse().ok()?;
            let dir = e.path();
            (dir.join(MANIFEST_FILE).is_file() && dir.join(TRAINER_STATE_FILE).is_file()).then_some((epoch, dir))
        })
        .max_by_key(|(epoch, _)| *epoch)
        .map(|(_, dir)| dir)
}

/// Reads the checkpoint directory `dir` (one of `checkpoints/epoch-NNNN`).
pub fn load(dir: &Path) -> Result<Resume> {
    let model = super::load(dir)?;
    let read = |file: &str| std::fs::read(dir.join(file)).map_err(|e| dir_error(&dir.join(file), e));
    let state: TrainerStateFile =
        serde_json::from_slice(&read(TRAINER_STATE_FILE)?).map_err(|e| dir_error(&dir.join(TRAINER_STATE_FILE), e))?;
    if state.format_version != TRAINER_STATE_VERSION {
        return Err(dir_error(
            &dir.join(TRAINER_STATE_FILE),
            format!("format version {} (this build reads {TRAINER_STATE_VERSION})", state.format_version),
        ));
    }
    let located = |file: &str, e: crate::Error| match e {
        crate::Error::ModelDir { message, .. } => dir_error(&dir.join(file), message),
        other => other,
    };
    let tensors = weights_from_safetensors(&read(OPTIMIZER_FILE)?).map_err(|e| located(OPTIMIZER_FILE, e))?;
    let best_weights = if state.has_best_weights {
        Some(weights_from_safetensors(&read(BEST_WEIGHTS_FILE)?).map_err(|e| located(BEST_WEIGHTS_FILE, e))?)
    } else {
        None
    };
    let history: History = serde_json::from_slice(&read(super::HISTORY_FILE)?)
        .map_err(|e| dir_error(&dir.join(super::HISTORY_FILE), e))?;
    Ok(Resume {
        dir: dir.to_path_buf(),
        epoch: state.epoch,
        spec_text: model.spec_text,
        weights: model.weights,
        fitted: model.fitted,
        history,
        optimizer: OptimizerState { scalars: state.optimizer_scalars, tensors: tensors.into_iter().collect() },
        rng: state.rng,
        order: state.order,
        best_weights,
    })
}
