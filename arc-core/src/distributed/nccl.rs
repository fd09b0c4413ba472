//! The NCCL backend (feature `nccl`): cudarc's NCCL, loaded at run time,
//! one process per GPU. The ranks find each other through MPI (rank 0's id
//! broadcast) or through torchrun-style variables (rank 0 serves the id on
//! `MASTER_ADDR:MASTER_PORT`, see [`rendezvous`](super::rendezvous)).
//!
//! Buffers are staged through the host: the trainer hands [`Collective`]
//! host slices, copied to this rank's GPU, reduced there by NCCL and copied
//! back.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cudarc::driver::{CudaContext, CudaStream};
use cudarc::nccl::{Comm, Id, ReduceOp as NcclOp};

use super::rendezvous::{self, ID_BYTES};
use super::{Collective, ReduceOp, error};
use crate::Result;

/// How long the ranks wait for each other at the rendezvous.
const RENDEZVOUS_TIMEOUT: Duration = Duration::from_secs(300);

/// One GPU's rank of an NCCL world.
pub struct NcclCollective {
    rank: usize,
    size: usize,
    inner: Mutex<Inner>,
    /// The MPI world the ranks met through (kept for `MPI_Abort`).
    #[cfg(feature = "mpi")]
    mpi: Option<super::MpiCollective>,
}

struct Inner {
    comm: Comm,
    stream: Arc<CudaStream>,
}

// SAFETY: an NCCL communicator may be used from any thread as long as calls
// on it do not overlap; every use goes through `inner`'s lock.
unsafe impl Send for Inner {}

fn nccl_error(what: &str, e: impl std::fmt::Debug) -> crate::Error {
    error("nccl", format!("{what}: {e:?}"))
}

/// Runs a cudarc call that may panic when the library cannot be loaded.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".to_owned());
        Err(error("nccl", format!("{what}: {reason} (is libnccl.so.2 installed and on LD_LIBRARY_PATH?)")))
    })
}

impl NcclCollective {
    /// Rank `rank` of `size` on GPU `ordinal`, joining with rank 0's `id`.
    fn join(rank: usize, size: usize, ordinal: usize, id: [u8; ID_BYTES]) -> Result<(usize, usize, Mutex<Inner>)> {
        guarded("joining the NCCL world", || {
            let ctx = CudaContext::new(ordinal).map_err(|e| nccl_error(&format!("GPU {ordinal}"), e))?;
            let stream = ctx.default_stream();
            let id = Id::uninit(id.map(|b| b as std::ffi::c_char));
            let comm = Comm::from_rank(stream.clone(), rank, size, id)
                .map_err(|e| nccl_error(&format!("rank {rank} of {size} on GPU {ordinal}"), e))?;
            Ok((rank, size, Mutex::new(Inner { comm, stream })))
        })
    }

    fn new_id() -> Result<[u8; ID_BYTES]> {
        guarded("creating the NCCL id", || {
            let id = Id::new().map_err(|e| nccl_error("ncclGetUniqueId", e))?;
            Ok(id.internal().map(|c| c as u8))
        })
    }

    /// Joins through MPI, keeping it for [`abort`](Collective::abort): rank
    /// 0 creates the id and broadcasts it over MPI.
    #[cfg(feature = "mpi")]
    pub fn with_mpi(mpi: super::MpiCollective, ordinal: usize) -> Result<Self> {
        let mut bytes = if mpi.is_root() { Self::new_id()?.to_vec() } else { Vec::new() };
        mpi.broadcast_bytes(&mut bytes, 0)?;
        let id: [u8; ID_BYTES] =
            bytes.try_into().map_err(|_| error("nccl", "rank 0 sent an NCCL id of the wrong size"))?;
        let (rank, size, inner) = Self::join(mpi.rank(), mpi.world_size(), ordinal, id)?;
        Ok(Self { rank, size, inner, mpi: Some(mpi) })
    }

    /// Joins through torchrun-style variables: rank 0 serves the id on
    /// `master` (`MASTER_ADDR:MASTER_PORT`), the others fetch it.
    pub fn over_tcp(rank: usize, size: usize, ordinal: usize, master: &str) -> Result<Self> {
        let id = if rank == 0 {
            let id = Self::new_id()?;
            let listener = std::net::TcpListener::bind(master)
                .map_err(|e| error("rendezvous", format!("rank 0 cannot listen on {master}: {e}")))?;
            rendezvous::serve(listener, size, &id, RENDEZVOUS_TIMEOUT)?;
            id
        } else {
            rendezvous::fetch(master, rank, RENDEZVOUS_TIMEOUT)?
        };
        let (rank, size, inner) = Self::join(rank, size, ordinal, id)?;
        Ok(Self {
            rank,
            size,
            inner,
            #[cfg(feature = "mpi")]
            mpi: None,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `f` over a device copy of `buf`, copied back.
    fn staged(
        &self,
        what: &str,
        buf: &mut [f32],
        f: impl FnOnce(&Comm, &mut cudarc::driver::CudaSlice<f32>) -> Result<()>,
    ) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let inner = self.inner();
        let mut device = inner.stream.clone_htod(&*buf).map_err(|e| nccl_error(what, e))?;
        f(&inner.comm, &mut device)?;
        inner.stream.memcpy_dtoh(&device, buf).map_err(|e| nccl_error(what, e))?;
        inner.stream.synchronize().map_err(|e| nccl_error(what, e))
    }
}

impl Collective for NcclCollective {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.size
    }

    fn backend(&self) -> &str {
        "nccl"
    }

    fn all_reduce(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        let op = match op {
            ReduceOp::Sum => NcclOp::Sum,
            ReduceOp::Average => NcclOp::Avg,
        };
        self.staged("all_reduce", buf, |comm, device| {
            comm.all_reduce_in_place(device, &op).map(|_| ()).map_err(|e| nccl_error("all_reduce", e))
        })
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        if root >= self.size {
            return Err(error("nccl", format!("broadcast from rank {root} in a world of {}", self.size)));
        }
        self.staged("broadcast", buf, |comm, device| {
            comm.broadcast_in_place(device, root as i32).map(|_| ()).map_err(|e| nccl_error("broadcast", e))
        })
    }

    /// A one-value all-reduce: NCCL has no barrier of its own.
    fn barrier(&self) -> Result<()> {
        self.all_reduce(&mut [0.0], ReduceOp::Sum)
    }

    /// `MPI_Abort` when the ranks met through MPI; under torchrun, the
    /// launcher ends the other ranks when this one exits with an error.
    fn abort(&self, code: i32) {
        #[cfg(feature = "mpi")]
        if let Some(mpi) = &self.mpi {
            mpi.abort(code);
        }
        let _ = code;
    }
}
