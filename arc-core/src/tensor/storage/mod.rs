//! Tensor storage: one enum over devices; code above it never names a backend's cfg.

mod cpu;

pub use cpu::num_threads;
pub(crate) use cpu::{CpuStorage, build_f32, map_f32, par_rows, par_rows_with, should_par, view_f32, zip_map_f32};

use super::cuda::CudaStorage;
use super::device::{DType, Device};

/// The buffer behind one or more tensors (views share it through an `Arc`).
#[derive(Debug)]
pub(crate) enum Storage {
    Cpu(CpuStorage),
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))] // the stub never builds one
    Cuda(CudaStorage),
}

impl Storage {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(c) => c.dtype(),
            Storage::Cuda(s) => s.dtype(),
        }
    }

    pub(crate) fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            Storage::Cuda(s) => s.device(),
        }
    }
}
