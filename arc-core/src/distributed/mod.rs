//! Data-parallel training over existing engines: the [`Collective`] seam
//! the trainer talks to, and its backends.
//!
//! A run of `N` processes (one per node or GPU, started by `mpirun`, `srun`
//! or a torchrun-style launcher) trains one model: rank 0's initial
//! parameters and fitted pipeline state are broadcast, every rank takes its
//! shard of each epoch's seeded shuffle ([`shard`], PyTorch's
//! `DistributedSampler`), gradients are averaged after each backward pass
//! ([`GradientBuckets`], DDP's bucketed all-reduce), the epoch's numbers are
//! reduced, and only rank 0 writes. A single process uses [`SingleProcess`],
//! which does nothing, so the trainer has one code path.
//!
//! Backends: [`SingleProcess`]; [`LocalWorld`] (threads of one process, for
//! tests and for trying the semantics without a launcher); `MpiCollective`
//! (feature `mpi`, rsmpi over the system's MPI); `NcclCollective` (feature
//! `nccl`, cudarc's NCCL, one process per GPU). [`launch`] picks one from the
//! launcher's environment.

mod buckets;
mod launch;
mod local;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;
pub mod rendezvous;
mod shard;

/// rsmpi itself (feature `mpi`), for callers that want MPI directly beside
/// [`MpiCollective`] (the data-parallel benchmark times the raw all-reduce with it).
#[cfg(feature = "mpi")]
pub use ::mpi as rsmpi;
pub use buckets::{DEFAULT_BUCKET_BYTES, GradientBuckets};
pub use launch::{Launcher, World, launch, launcher_world};
pub use local::LocalWorld;
#[cfg(feature = "mpi")]
pub use mpi::MpiCollective;
#[cfg(feature = "nccl")]
pub use nccl::NcclCollective;
pub use shard::shard;

use crate::Result;

/// How [`Collective::all_reduce`] combines the ranks' buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// The element-wise sum.
    Sum,
    /// The element-wise mean over the ranks (the sum divided by the world size).
    Average,
}

/// The collective operations a data-parallel run needs, over `f32` host
/// buffers. Every rank must call the same operations in the same order
/// with buffers of the same length; a backend reports a failed call as
/// [`Error::Distributed`](crate::Error::Distributed).
///
/// ```
/// use arc_core::distributed::{Collective, ReduceOp, SingleProcess};
///
/// let one = SingleProcess;
/// let mut grads = [1.0f32, 2.0];
/// one.all_reduce(&mut grads, ReduceOp::Average)?;
/// assert_eq!((one.rank(), one.world_size(), grads), (0, 1, [1.0, 2.0]));
/// # Ok::<(), arc_core::Error>(())
/// ```
pub trait Collective: Send + Sync {
    /// This process's rank, `0..world_size()`.
    fn rank(&self) -> usize;

    /// The number of processes in the run.
    fn world_size(&self) -> usize;

    /// The backend's name (`single`, `local`, `mpi`, `nccl`), for messages.
    fn backend(&self) -> &str;

    /// Combines `buf` across the ranks; every rank ends with the result.
    fn all_reduce(&self, buf: &mut [f32], op: ReduceOp) -> Result<()>;

    /// Combines the ranks' `send` buffers into every rank's `recv` (of the
    /// same length). The default copies `send` into `recv` and reduces in
    /// place; a backend with a two-buffer call (MPI) saves that copy.
    fn all_reduce_into(&self, send: &[f32], recv: &mut [f32], op: ReduceOp) -> Result<()> {
        check_lengths(self.backend(), send, recv)?;
        recv.copy_from_slice(send);
        self.all_reduce(recv, op)
    }

    /// Copies `root`'s `buf` into every rank's.
    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()>;

    /// Waits until every rank has called it.
    fn barrier(&self) -> Result<()>;

    /// Copies `root`'s bytes into every rank's `bytes` (resized). The
    /// default sends the length, then the bytes packed four to an `f32`
    /// bit pattern, through [`broadcast`](Self::broadcast) (which copies
    /// bits, never arithmetic); a backend may send bytes natively.
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let len = bytes.len() as u64;
        let mut header = [f32::from_bits(len as u32), f32::from_bits((len >> 32) as u32)];
        self.broadcast(&mut header, root)?;
        let len = (u64::from(header[0].to_bits()) | (u64::from(header[1].to_bits()) << 32)) as usize;
        let mut words: Vec<f32> = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                f32::from_bits(u32::from_le_bytes(w))
            })
            .collect();
        words.resize(len.div_ceil(4), 0.0);
        self.broadcast(&mut words, root)?;
        bytes.clear();
        bytes.extend(words.iter().flat_map(|w| w.to_bits().to_le_bytes()));
        bytes.truncate(len);
        Ok(())
    }

    /// Ends the whole run after an error on this rank, so that no other
    /// rank waits forever in a collective call (MPI's `MPI_Abort`). The
    /// default does nothing: a backend without peers in other processes
    /// has nobody to stop.
    fn abort(&self, _code: i32) {}

    /// Whether this is rank 0, the rank that writes and prints.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// The world of one process: every operation leaves its buffer as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn world_size(&self) -> usize {
        1
    }

    fn backend(&self) -> &str {
        "single"
    }

    fn all_reduce(&self, _buf: &mut [f32], _op: ReduceOp) -> Result<()> {
        Ok(())
    }

    fn broadcast(&self, _buf: &mut [f32], _root: usize) -> Result<()> {
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        Ok(())
    }

    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>, _root: usize) -> Result<()> {
        Ok(())
    }
}

/// `all_reduce_into`'s buffers must have one length.
pub(crate) fn check_lengths(backend: &str, send: &[f32], recv: &[f32]) -> Result<()> {
    if send.len() != recv.len() {
        return Err(error(backend, format!("all_reduce_into from {} values into {}", send.len(), recv.len())));
    }
    Ok(())
}

/// The error of a failed collective call.
pub(crate) fn error(backend: &str, message: impl Into<String>) -> crate::Error {
    crate::Error::Distributed { backend: backend.to_owned(), message: message.into() }
}

/// The error of a failed step of a data-parallel run, for the trainer.
pub(crate) fn error_of(backend: &str, message: String) -> crate::Error {
    error(backend, message)
}
