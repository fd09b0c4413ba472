//! The CUDA backend as seen by a build without it (candle's `dummy_cuda_backend.rs` pattern).
//!
//! `CudaStorage` is uninhabited: no value can exist, so every `match` arm on it is
//! `match *s {}` and the compiler proves those paths unreachable. The only way to get CUDA
//! storage is [`CudaStorage::from_cpu`], which returns [`Error::NotCompiledWithCuda`].

use super::device::Device;
use super::storage::CpuStorage;
use crate::{Error, Result};

/// Device memory on a CUDA GPU. Uninhabited in this build.
#[derive(Debug)]
pub(crate) enum CudaStorage {}

impl CudaStorage {
    /// Copies host data to the GPU `ordinal`: always an error in this build.
    pub(crate) fn from_cpu(_data: &CpuStorage, _ordinal: usize, op: &'static str) -> Result<Self> {
        Err(Error::NotCompiledWithCuda { op })
    }

    /// The device holding this storage.
    pub(crate) fn device(&self) -> Device {
        match *self {}
    }
}
