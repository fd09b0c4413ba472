//! The world a launcher started this process in, read from its
//! environment, and the backend that serves it.

use super::{Collective, SingleProcess, error};
use crate::Result;

/// The launcher that started this process, as its environment tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// No launcher, or a world of one.
    Alone,
    /// An MPI launcher (`mpirun`, `mpiexec`, `srun`): the world comes from MPI.
    Mpi {
        /// The variable that told (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `SLURM_STEP_NUM_TASKS`).
        variable: &'static str,
        /// The world size it gives.
        size: usize,
        /// This process's index among those on its node, when the launcher says.
        local_rank: Option<usize>,
    },
    /// torchrun-style variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
    /// `MASTER_ADDR`, `MASTER_PORT`).
    Torchrun {
        /// `RANK`.
        rank: usize,
        /// `WORLD_SIZE`.
        size: usize,
        /// `LOCAL_RANK` (the GPU of this process), or the rank.
        local_rank: usize,
        /// `MASTER_ADDR:MASTER_PORT`, where rank 0 serves the NCCL id.
        master: String,
    },
}

impl Launcher {
    /// The world size the launcher gives (1 when alone).
    pub fn size(&self) -> usize {
        match self {
            Launcher::Alone => 1,
            Launcher::Mpi { size, .. } | Launcher::Torchrun { size, .. } => *size,
        }
    }
}

/// Reads the launcher from the environment. MPI's variables win over
/// torchrun's (an `mpirun` job may export `WORLD_SIZE` for other tools).
/// A malformed number is an error naming the variable.
pub fn launcher_world() -> Result<Launcher> {
    launcher_from(&|name| std::env::var(name).ok())
}

pub(crate) fn launcher_from(env: &dyn Fn(&str) -> Option<String>) -> Result<Launcher> {
    let number = |name: &'static str| -> Result<Option<usize>> {
        env(name)
            .map(|v| {
                v.trim().parse::<usize>().map_err(|_| error("launcher", format!("{name}=`{v}` is not a whole number")))
            })
            .transpose()
    };
    let local = || -> Result<Option<usize>> {
        for name in ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"] {
            if let Some(v) = number(name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    };
    for variable in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"] {
        if let Some(size) = number(variable)?
            && size > 1
        {
            return Ok(Launcher::Mpi { variable, size, local_rank: local()? });
        }
    }
    let Some(size) = number("WORLD_SIZE")? else { return Ok(Launcher::Alone) };
    if size <= 1 {
        return Ok(Launcher::Alone);
    }
    let missing = |name: &str| error("launcher", format!("WORLD_SIZE={size} is set but {name} is not"));
    let rank = number("RANK")?.ok_or_else(|| missing("RANK"))?;
    if rank >= size {
        return Err(error("launcher", format!("RANK={rank} is not below WORLD_SIZE={size}")));
    }
    let addr = env("MASTER_ADDR").ok_or_else(|| missing("MASTER_ADDR"))?;
    let port = number("MASTER_PORT")?.ok_or_else(|| missing("MASTER_PORT"))?;
    let local_rank = number("LOCAL_RANK")?.unwrap_or(rank);
    Ok(Launcher::Torchrun { rank, size, local_rank, master: format!("{addr}:{port}") })
}

/// The world this process trains in: its collective, and the GPU ordinal
/// of this process (one GPU per process) when the backend sets one.
pub struct World {
    /// The collective operations.
    pub collective: Box<dyn Collective>,
    /// The GPU this rank trains on (`LOCAL_RANK`), for a `cuda` device.
    pub local_device: Option<usize>,
}

impl World {
    /// A world of one process.
    pub fn single() -> Self {
        World { collective: Box::new(SingleProcess), local_device: None }
    }
}

/// Joins the world the launcher started (see [`launcher_world`]); `gpu`
/// says whether the run trains on a GPU (NCCL carries a GPU run's
/// gradients when the `nccl` feature is built in).
///
/// - alone: [`SingleProcess`];
/// - an MPI launcher: MPI (feature `mpi`), with NCCL for a GPU run
///   (feature `nccl`, rank 0's id broadcast over MPI);
/// - torchrun-style variables: NCCL (feature `nccl`, a GPU run), the id
///   served by rank 0 on `MASTER_ADDR:MASTER_PORT`.
///
/// A world larger than one that this build cannot join is an error at
/// start, naming the variable and the feature to build, so that `N`
/// copies never train alone and race to write one output directory.
pub fn launch(gpu: bool) -> Result<World> {
    match launcher_world()? {
        Launcher::Alone => Ok(World::single()),
        Launcher::Mpi { variable, size, local_rank } => mpi_world(variable, size, local_rank, gpu),
        Launcher::Torchrun { rank, size, local_rank, master } => torchrun_world(rank, size, local_rank, &master, gpu),
    }
}

#[cfg(feature = "mpi")]
fn mpi_world(_variable: &str, _size: usize, local_rank: Option<usize>, gpu: bool) -> Result<World> {
    let mpi = super::MpiCollective::init()?;
    #[cfg(feature = "nccl")]
    if gpu {
        let local = local_rank.unwrap_or(mpi.rank());
        let nccl = super::NcclCollective::with_mpi(mpi, local)?;
        return Ok(World { collective: Box::new(nccl), local_device: Some(local) });
    }
    let local_device = if gpu { local_rank } else { None };
    Ok(World { collective: Box::new(mpi), local_device })
}

#[cfg(not(feature = "mpi"))]
fn mpi_world(variable: &str, size: usize, _local_rank: Option<usize>, _gpu: bool) -> Result<World> {
    Err(error(
        "launcher",
        format!(
            "started by an MPI launcher ({variable}={size}), but this arc was built without the `mpi` feature: \
             the {size} processes would each train alone and race to write one output directory. \
             Rebuild with `--features mpi` (see docs/DISTRIBUTED.md)"
        ),
    ))
}

#[cfg(feature = "nccl")]
fn torchrun_world(rank: usize, size: usize, local_rank: usize, master: &str, gpu: bool) -> Result<World> {
    if !gpu {
        return Err(cpu_torchrun(size));
    }
    let nccl = super::NcclCollective::over_tcp(rank, size, local_rank, master)?;
    Ok(World { collective: Box::new(nccl), local_device: Some(local_rank) })
}

#[cfg(not(feature = "nccl"))]
fn torchrun_world(_rank: usize, size: usize, _local_rank: usize, _master: &str, gpu: bool) -> Result<World> {
    if !gpu {
        return Err(cpu_torchrun(size));
    }
    Err(error(
        "launcher",
        format!(
            "WORLD_SIZE={size} (a torchrun-style launch), but this arc was built without the `nccl` feature: \
             the {size} processes would each train alone and race to write one output directory. \
             Rebuild with `--features nccl` (see docs/DISTRIBUTED.md)"
        ),
    ))
}

fn cpu_torchrun(size: usize) -> crate::Error {
    error(
        "launcher",
        format!(
            "WORLD_SIZE={size} (a torchrun-style launch) on the cpu: torchrun-style variables start NCCL, \
             which trains on GPUs (`--device cuda`). Launch CPU processes with `mpirun` and a build with the \
             `mpi` feature (see docs/DISTRIBUTED.md)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Launcher> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        launcher_from(&|name| map.get(name).cloned())
    }

    #[test]
    fn each_launcher_is_read_from_its_variables() {
        assert_eq!(from(&[]).unwrap(), Launcher::Alone);
        assert_eq!(from(&[("OMPI_COMM_WORLD_SIZE", "1")]).unwrap(), Launcher::Alone);
        assert_eq!(
            from(&[("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("WORLD_SIZE", "8")]).unwrap(),
            Launcher::Mpi { variable: "OMPI_COMM_WORLD_SIZE", size: 2, local_rank: Some(1) }
        );
        assert_eq!(from(&[("PMI_SIZE", "4")]).unwrap().size(), 4);
        assert_eq!(
            from(&[("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "10.0.0.1"), ("MASTER_PORT", "29500")]).unwrap(),
            Launcher::Torchrun { rank: 1, size: 2, local_rank: 1, master: "10.0.0.1:29500".into() }
        );
    }

    #[test]
    fn a_bad_or_incomplete_launch_names_the_variable() {
        let e = |pairs: &[(&str, &str)]| from(pairs).unwrap_err().to_string();
        assert_eq!(e(&[("PMI_SIZE", "two")]), "distributed (launcher): PMI_SIZE=`two` is not a whole number");
        assert_eq!(e(&[("WORLD_SIZE", "2")]), "distributed (launcher): WORLD_SIZE=2 is set but RANK is not");
        assert_eq!(
            e(&[("WORLD_SIZE", "2"), ("RANK", "2"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1")]),
            "distributed (launcher): RANK=2 is not below WORLD_SIZE=2"
        );
    }
}
