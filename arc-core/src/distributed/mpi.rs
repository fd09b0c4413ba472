//! The MPI backend (feature `mpi`): rsmpi over the system's MPI (OpenMPI,
//! MPICH), for CPU nodes started by `mpirun`, `mpiexec` or `srun`.

use std::sync::Mutex;

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use super::{Collective, ReduceOp, error};
use crate::Result;

/// `MPI_COMM_WORLD` of the job this process belongs to. Calls are
/// serialized through a lock (MPI is initialized at `MPI_THREAD_SERIALIZED`),
/// so any thread may use it. MPI's default error handler ends the job on a
/// failed call, with MPI's own message; [`abort`](Collective::abort) is
/// `MPI_Abort`. MPI is finalized when this is dropped.
pub struct MpiCollective {
    rank: usize,
    size: usize,
    inner: Mutex<Inner>,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

struct Inner {
    world: SimpleCommunicator,
    scratch: Vec<f32>,
}

// SAFETY: the communicator is a handle that MPI lets any thread use at
// `MPI_THREAD_SERIALIZED` or above, and every use goes through `inner`'s lock,
// so no two threads call MPI at once.
unsafe impl Send for Inner {}

impl MpiCollective {
    /// Initializes MPI (once per process) and joins `MPI_COMM_WORLD`.
    pub fn init() -> Result<Self> {
        let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| error("mpi", "MPI is already initialized in this process"))?;
        if matches!(threading, mpi::Threading::Single | mpi::Threading::Funneled) {
            return Err(error(
                "mpi",
                format!("this MPI gives thread support {threading:?}; Arc needs MPI_THREAD_SERIALIZED"),
            ));
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Self { rank, size, inner: Mutex::new(Inner { world, scratch: Vec::new() }), _universe: universe })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_root(&self, root: usize) -> Result<i32> {
        if root >= self.size {
            return Err(error("mpi", format!("broadcast from rank {root} in a world of {}", self.size)));
        }
        Ok(root as i32)
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.size
    }

    fn backend(&self) -> &str {
        "mpi"
    }

    fn all_reduce(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        let mut inner = self.inner();
        let Inner { world, scratch } = &mut *inner;
        scratch.clear();
        scratch.extend_from_slice(buf);
        world.all_reduce_into(&scratch[..], buf, SystemOperation::sum());
        if op == ReduceOp::Average {
            let n = self.size as f32;
            buf.iter_mut().for_each(|b| *b /= n);
        }
        Ok(())
    }

    fn all_reduce_into(&self, send: &[f32], recv: &mut [f32], op: ReduceOp) -> Result<()> {
        super::check_lengths("mpi", send, recv)?;
        self.inner().world.all_reduce_into(send, recv, SystemOperation::sum());
        if op == ReduceOp::Average {
            let n = self.size as f32;
            recv.iter_mut().for_each(|b| *b /= n);
        }
        Ok(())
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        let root = self.check_root(root)?;
        self.inner().world.process_at_rank(root).broadcast_into(buf);
        Ok(())
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        let root = self.check_root(root)?;
        let inner = self.inner();
        let process = inner.world.process_at_rank(root);
        let mut len = bytes.len() as u64;
        process.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        process.broadcast_into(&mut bytes[..]);
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.inner().world.barrier();
        Ok(())
    }

    /// `MPI_Abort` on `MPI_COMM_WORLD`: mpirun ends every rank.
    fn abort(&self, code: i32) {
        // Not through the lock: another thread may hold it, blocked in a collective call.
        mpi::topology::SimpleCommunicator::world().abort(code)
    }
}
