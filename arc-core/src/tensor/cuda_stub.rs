//! The CUDA backend as seen by a build without it (candle's `dummy_cuda_backend.rs` pattern).
//!
//! `CudaStorage` is uninhabited: no value can exist, so no tensor is ever on a GPU and the
//! op layer's CUDA branches are never taken. The functions mirror the real backend's
//! signatures (`cuda/mod.rs`) so that the op layer compiles unchanged; each returns
//! [`Error::NotCompiledWithCuda`].

use super::Tensor;
use super::device::{DType, Device};
use super::shape::Layout;
use super::storage::CpuStorage;
use crate::{Error, Result};

/// Device memory on a CUDA GPU. Uninhabited in this build.
#[derive(Debug)]
pub(crate) enum CudaStorage {}

/// A device buffer of one dtype. Uninhabited in this build.
pub(crate) enum CudaData {}

impl CudaStorage {
    /// Copies host data to the GPU `ordinal`: always an error in this build.
    pub(crate) fn from_cpu(_data: &CpuStorage, _ordinal: usize, op: &'static str) -> Result<Self> {
        Err(Error::NotCompiledWithCuda { op })
    }

    pub(crate) fn to_cpu(&self, _op: &'static str) -> Result<CpuStorage> {
        match *self {}
    }

    pub(crate) fn device(&self) -> Device {
        match *self {}
    }

    pub(crate) fn dtype(&self) -> DType {
        match *self {}
    }
}

/// Why there is no CUDA device: this build has no backend.
pub(crate) fn probe() -> std::result::Result<usize, String> {
    Err("this build has no CUDA support (the `cuda` feature is off)".into())
}

fn none<T>(op: &'static str) -> Result<T> {
    Err(Error::NotCompiledWithCuda { op })
}

pub(crate) fn contiguous(_t: &Tensor) -> Result<Tensor> {
    none("contiguous")
}
pub(crate) fn expand(_t: &Tensor, _shape: &[usize]) -> Result<Tensor> {
    none("broadcast_as")
}
pub(crate) fn copy_into(_src: &Tensor, dst: &mut CudaData, _dst_layout: &Layout) -> Result<()> {
    match *dst {}
}
pub(crate) fn unary(op: &'static str, _kernel: &str, _x: &Tensor, _p: [f32; 2]) -> Result<Tensor> {
    none(op)
}
pub(crate) fn binary(op: &'static str, _kernel: &str, _a: &Tensor, _b: &Tensor, _p: [f32; 2]) -> Result<Tensor> {
    none(op)
}
pub(crate) fn compare(op: &'static str, _a: &Tensor, _b: &Tensor) -> Result<Tensor> {
    none(op)
}
pub(crate) fn fill(_like: &Tensor, _shape: &[usize], _dtype: DType, _value: f64) -> Result<Tensor> {
    none("fill")
}
pub(crate) fn cast(_t: &Tensor, _dtype: DType) -> Result<Tensor> {
    none("to_dtype")
}
pub(crate) fn sgd_step(
    _param: &Tensor,
    _grad: &Tensor,
    _buf: Option<&Tensor>,
    _c: &super::fused::SgdConfig,
    _first_step: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    none("sgd_update")
}
pub(crate) fn adam_step(
    _param: &Tensor,
    _grad: &Tensor,
    _m: &Tensor,
    _v: &Tensor,
    _c: &super::fused::AdamConfig,
    _step_size: f32,
    _inv_sqrt_bc2: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    none("adam_update")
}
pub(crate) fn custom_forward(_op: &dyn super::CustomOp, _source: &str, _inputs: &[&Tensor]) -> Result<Tensor> {
    none("custom op")
}
