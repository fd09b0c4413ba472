//! What a data-parallel run adds to the trainer's stages: rank 0's fitted
//! state and initial weights made everyone's, and the settings of the
//! gradient all-reduce and the sharding.

use crate::distributed::{Collective, DEFAULT_BUCKET_BYTES, SingleProcess};
use crate::graph::GraphModel;
use crate::process::FittedState;
use crate::{DType, Error, Result, Tensor};

/// How a run trains across processes: its world and the knobs of DDP and
/// `DistributedSampler` (see [`crate::distributed`]).
///
/// ```
/// use arc_core::train::DataParallel;
///
/// let one = DataParallel::single();
/// assert_eq!((one.collective.world_size(), one.bucket_bytes, one.drop_last), (1, 25 << 20, false));
/// ```
#[derive(Clone, Copy)]
pub struct DataParallel<'a> {
    /// The world: rank, size and the collective operations.
    pub collective: &'a dyn Collective,
    /// Bytes of gradients per all-reduce call (DDP's `bucket_cap_mb`).
    /// Default 25 MiB.
    pub bucket_bytes: usize,
    /// Whether the shuffled rows that do not divide evenly among the ranks
    /// are dropped each epoch (`DistributedSampler(drop_last=True)`);
    /// otherwise the order is padded with its first rows. Default false.
    pub drop_last: bool,
    /// The GPU of this rank for a `cuda` run (one GPU per process); none:
    /// the first GPU.
    pub local_device: Option<usize>,
}

impl DataParallel<'static> {
    /// A world of one process: the trainer's single-process run.
    pub fn single() -> Self {
        DataParallel {
            collective: &SingleProcess,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            drop_last: false,
            local_device: None,
        }
    }
}

impl<'a> DataParallel<'a> {
    /// A run in `collective`'s world, with the default bucket size and padding.
    pub fn new(collective: &'a dyn Collective) -> Self {
        DataParallel { collective, ..DataParallel::single() }
    }

    /// The number of processes.
    pub fn world(&self) -> usize {
        self.collective.world_size()
    }
}

impl std::fmt::Debug for DataParallel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataParallel")
            .field("backend", &self.collective.backend())
            .field("rank", &self.collective.rank())
            .field("world", &self.collective.world_size())
            .field("bucket_bytes", &self.bucket_bytes)
            .field("drop_last", &self.drop_last)
            .field("local_device", &self.local_device)
            .finish()
    }
}

/// Rank 0's fitted pipeline state, on every rank: `None` when this rank's
/// own is the same (every rank fits on the whole training split, so it
/// normally is), else rank 0's, for the caller to transform with.
pub(crate) fn root_fitted(collective: &dyn Collective, mine: &FittedState) -> Result<Option<FittedState>> {
    if collective.world_size() == 1 {
        return Ok(None);
    }
    let encoded = serde_json::to_vec(mine).map_err(|e| fitted_error(e.to_string()))?;
    let mut bytes = encoded.clone();
    collective.broadcast_bytes(&mut bytes, 0)?;
    if bytes == encoded {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| fitted_error(e.to_string()))
}

fn fitted_error(message: String) -> Error {
    crate::distributed::error_of("broadcast", format!("the fitted pipeline state: {message}"))
}

/// Rank 0's parameters and f32 buffers, on every rank, in one broadcast.
pub(crate) fn broadcast_weights(collective: &dyn Collective, model: &GraphModel) -> Result<()> {
    if collective.world_size() == 1 {
        return Ok(());
    }
    let state = model.named_state();
    let mut flat = Vec::new();
    for (_, t) in state.iter().filter(|(_, t)| t.dtype() == DType::F32) {
        flat.extend_from_slice(&t.to_vec()?);
    }
    collective.broadcast(&mut flat, 0)?;
    if collective.is_root() {
        return Ok(());
    }
    let mut at = 0;
    let mut loaded = Vec::with_capacity(state.len());
    for (name, t) in state {
        if t.dtype() != DType::F32 {
            // Counters (an i64 buffer) are the same on every rank: each keeps its own.
            loaded.push((name, t));
            continue;
        }
        let n = t.numel();
        loaded.push((name, Tensor::from_vec(flat[at..at + n].to_vec(), t.shape())?));
        at += n;
    }
    model.load_state(&loaded)
}
