//! The CUDA backend as seen by a build without it (candle's `dummy_cuda_backend.rs` pattern).
//!
//! `CudaStorage` is uninhabited: no value can exist, so no tensor is ever on a GPU and the
//! op layer's CUDA branches are never taken. The functions mirror the real backend's
//! signatures (`cuda/mod.rs`) so that the op layer compiles unchanged; each returns
//! [`Error::NotCompiledWithCuda`].

use super::Tensor;
use super::device::{DType, Device};
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
pub(crate) fn unary(op: &'static str, _kernel: &str, _x: &Tensor, _p: [f32; 2]) -> Result<Tensor> {
    none(op)
}
pub(crate) fn binary(op: &'static str, _kernel: &str, _a: &Tensor, _b: &Tensor, _p: [f32; 2]) -> Result<Tensor> {
    none(op)
}
pub(crate) fn compare(op: &'static str, _a: &Tensor, _b: &Tensor) -> Result<Tensor> {
    none(op)
}
pub(crate) fn cast(_t: &Tensor, _dtype: DType) -> Result<Tensor> {
    none("to_dtype")
}
pub(crate) fn matmul(_a: &Tensor, _b: &Tensor) -> Result<Tensor> {
    none("matmul")
}
pub(crate) fn linear(_x: &Tensor, _w: &Tensor, _bias: Option<&Tensor>) -> Result<Tensor> {
    none("linear")
}
pub(crate) fn sum_rows(_g: &Tensor) -> Result<Tensor> {
    none("linear")
}
pub(crate) fn index_select(_x: &Tensor, _dim: usize, _index: &Tensor) -> Result<Tensor> {
    none("index_select")
}
pub(crate) fn index_select_backward(_g: &Tensor, _index: &Tensor, _dim: usize, _shape: &[usize]) -> Result<Tensor> {
    none("index_select")
}
pub(crate) fn gather(_x: &Tensor, _dim: usize, _index: &Tensor) -> Result<Tensor> {
    none("gather")
}
pub(crate) fn gather_backward(_g: &Tensor, _index: &Tensor, _dim: usize, _shape: &[usize]) -> Result<Tensor> {
    none("gather")
}
pub(crate) fn where_cond(_cond: &Tensor, _a: &Tensor, _b: &Tensor) -> Result<Tensor> {
    none("where_cond")
}
pub(crate) fn concat(_tensors: &[&Tensor], _dim: usize, _shape: &[usize]) -> Result<Tensor> {
    none("concat")
}
pub(crate) fn narrow_backward(_g: &Tensor, _shape: &[usize], _dim: usize, _start: usize) -> Result<Tensor> {
    none("narrow")
}
pub(crate) fn full_on(_ordinal: usize, _shape: &[usize], _dtype: DType, _value: f64) -> Result<Tensor> {
    none("full_on")
}
pub(crate) fn reduce(op: &'static str, _x: &Tensor, _mask: &[bool], _max: bool) -> Result<Tensor> {
    none(op)
}
pub(crate) fn arg_extreme(op: &'static str, _x: &Tensor, _d: usize, _is_min: bool) -> Result<Tensor> {
    none(op)
}
pub(crate) fn one_hot(_labels: &Tensor, _num_classes: usize) -> Result<Tensor> {
    none("one_hot")
}
pub(crate) fn softmax(_x: &Tensor, _d: usize, log: bool) -> Result<Tensor> {
    none(if log { "log_softmax" } else { "softmax" })
}
pub(crate) fn softmax_backward(_g: &Tensor, _y: &Tensor, _d: usize, log: bool) -> Result<Tensor> {
    none(if log { "log_softmax" } else { "softmax" })
}
pub(crate) fn norm_forward(
    _x: &Tensor,
    _weight: Option<&Tensor>,
    _bias: Option<&Tensor>,
    _eps: f32,
    centered: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    none(if centered { "layer_norm" } else { "rms_norm" })
}
pub(crate) fn norm_backward(
    _x: &Tensor,
    _weight: Option<&Tensor>,
    _g: &Tensor,
    _mean: &Tensor,
    _rstd: &Tensor,
    centered: bool,
    _need_wb: bool,
) -> Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
    none(if centered { "layer_norm" } else { "rms_norm" })
}

/// What the CUDA cross-entropy saves for its backward. Uninhabited in this build.
#[derive(Clone)]
pub(crate) enum CeSaved {}

pub(crate) fn cross_entropy(
    _x: &Tensor,
    _target: &Tensor,
    _weight: Option<&Tensor>,
    _ignore_index: i64,
    _label_smoothing: f32,
    _reduction: super::Reduction,
) -> Result<(Tensor, CeSaved)> {
    none("cross_entropy")
}
pub(crate) fn cross_entropy_backward(
    _x: &Tensor,
    _weight: Option<&Tensor>,
    saved: &CeSaved,
    _g: &Tensor,
    _ignore_index: i64,
    _label_smoothing: f32,
    _reduction: super::Reduction,
) -> Result<Tensor> {
    match *saved {}
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
