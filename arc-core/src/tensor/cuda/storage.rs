//! Device buffers, host <-> device copies, and the `Strided` layout argument of kernels.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaView, DeviceRepr};

use super::device::{self, CudaDev, cuda_err};
use crate::tensor::Tensor;
use crate::tensor::device::{DType, Device};
use crate::tensor::shape::Layout;
use crate::tensor::storage::{CpuStorage, Storage};
use crate::{Error, Result};

/// Device memory of one dtype on one GPU.
pub(crate) struct CudaStorage {
    pub(crate) dev: Arc<CudaDev>,
    pub(crate) data: CudaData,
}

pub(crate) enum CudaData {
    F32(CudaSlice<f32>),
    I64(CudaSlice<i64>),
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaStorage({:?}, {} elements of {})", self.dev, self.len(), self.dtype())
    }
}

impl CudaStorage {
    /// Copies host data to the GPU `ordinal`.
    pub(crate) fn from_cpu(data: &CpuStorage, ordinal: usize, op: &'static str) -> Result<Self> {
        let dev = device::get(ordinal)?;
        // cuMemAlloc refuses zero bytes: an empty tensor gets a one-element buffer.
        let data = match data {
            CpuStorage::F32(v) if v.is_empty() => CudaData::F32(zeros_f32(&dev, 1, op)?),
            CpuStorage::I64(v) if v.is_empty() => {
                CudaData::I64(dev.stream.alloc_zeros::<i64>(1).map_err(cuda_err(op))?)
            }
            CpuStorage::F32(v) => CudaData::F32(dev.stream.clone_htod(v.as_slice()).map_err(cuda_err(op))?),
            CpuStorage::I64(v) => CudaData::I64(dev.stream.clone_htod(v.as_slice()).map_err(cuda_err(op))?),
        };
        Ok(CudaStorage { dev, data })
    }

    /// Copies the whole buffer back to the host.
    pub(crate) fn to_cpu(&self, op: &'static str) -> Result<CpuStorage> {
        Ok(match &self.data {
            CudaData::F32(s) => CpuStorage::F32(self.dev.stream.clone_dtoh(s).map_err(cuda_err(op))?),
            CudaData::I64(s) => CpuStorage::I64(self.dev.stream.clone_dtoh(s).map_err(cuda_err(op))?),
        })
    }

    pub(crate) fn device(&self) -> Device {
        Device::Cuda(self.dev.ordinal)
    }

    pub(crate) fn dtype(&self) -> DType {
        match self.data {
            CudaData::F32(_) => DType::F32,
            CudaData::I64(_) => DType::I64,
        }
    }

    fn len(&self) -> usize {
        match &self.data {
            CudaData::F32(s) => s.len(),
            CudaData::I64(s) => s.len(),
        }
    }
}

/// The CUDA storage behind `t`, or an error naming `op` when `t` is on the host.
pub(crate) fn cuda_of<'a>(t: &'a Tensor, op: &'static str) -> Result<&'a CudaStorage> {
    match &*t.0.storage {
        Storage::Cuda(s) => Ok(s),
        Storage::Cpu(_) => Err(Error::DeviceMismatch { op, expected: "a CUDA device".into(), got: Device::Cpu }),
    }
}

/// The f32 device buffer of `t` (all of it; read it through `t.layout()`).
pub(crate) fn f32_slice<'a>(t: &'a Tensor, op: &'static str) -> Result<(&'a CudaStorage, &'a CudaSlice<f32>)> {
    let s = cuda_of(t, op)?;
    match &s.data {
        CudaData::F32(v) => Ok((s, v)),
        CudaData::I64(_) => Err(Error::DTypeMismatch { op, expected: DType::F32, got: DType::I64 }),
    }
}

/// The i64 device buffer of `t`.
pub(crate) fn i64_slice<'a>(t: &'a Tensor, op: &'static str) -> Result<(&'a CudaStorage, &'a CudaSlice<i64>)> {
    let s = cuda_of(t, op)?;
    match &s.data {
        CudaData::I64(v) => Ok((s, v)),
        CudaData::F32(_) => Err(Error::DTypeMismatch { op, expected: DType::I64, got: DType::F32 }),
    }
}

/// The row-major elements of a contiguous f32 tensor as a device view (offset applied).
/// Call [`super::contiguous`] first for a strided tensor.
pub(crate) fn f32_view<'a>(t: &'a Tensor, op: &'static str) -> Result<CudaView<'a, f32>> {
    debug_assert!(t.is_contiguous());
    let (_, s) = f32_slice(t, op)?;
    let o = t.layout().offset;
    Ok(s.slice(o..o + t.numel()))
}

/// The row-major elements of a contiguous i64 tensor as a device view.
pub(crate) fn i64_view<'a>(t: &'a Tensor, op: &'static str) -> Result<CudaView<'a, i64>> {
    debug_assert!(t.is_contiguous());
    let (_, s) = i64_slice(t, op)?;
    let o = t.layout().offset;
    Ok(s.slice(o..o + t.numel()))
}

/// Wraps a fresh contiguous device buffer as a tensor.
pub(crate) fn tensor_f32(dev: &Arc<CudaDev>, data: CudaSlice<f32>, shape: &[usize]) -> Tensor {
    let s = CudaStorage { dev: dev.clone(), data: CudaData::F32(data) };
    Tensor::from_storage(Arc::new(Storage::Cuda(s)), Layout::contiguous(shape))
}

/// Wraps a fresh contiguous i64 device buffer as a tensor.
pub(crate) fn tensor_i64(dev: &Arc<CudaDev>, data: CudaSlice<i64>, shape: &[usize]) -> Tensor {
    let s = CudaStorage { dev: dev.clone(), data: CudaData::I64(data) };
    Tensor::from_storage(Arc::new(Storage::Cuda(s)), Layout::contiguous(shape))
}

/// An uninitialised f32 buffer of `n` elements (every kernel writing it covers all of it).
pub(crate) fn alloc_f32(dev: &CudaDev, n: usize, op: &'static str) -> Result<CudaSlice<f32>> {
    // SAFETY: callers launch a kernel that writes all `n` elements before anyone reads them.
    unsafe { dev.stream.alloc::<f32>(n.max(1)) }.map_err(cuda_err(op))
}

/// An uninitialised i64 buffer of `n` elements.
pub(crate) fn alloc_i64(dev: &CudaDev, n: usize, op: &'static str) -> Result<CudaSlice<i64>> {
    // SAFETY: as in `alloc_f32`.
    unsafe { dev.stream.alloc::<i64>(n.max(1)) }.map_err(cuda_err(op))
}

/// A zeroed f32 buffer of `n` elements.
pub(crate) fn zeros_f32(dev: &CudaDev, n: usize, op: &'static str) -> Result<CudaSlice<f32>> {
    dev.stream.alloc_zeros::<f32>(n.max(1)).map_err(cuda_err(op))
}

/// Both tensors on the same GPU; returns its device.
pub(crate) fn same_device(op: &'static str, tensors: &[&Tensor]) -> Result<Arc<CudaDev>> {
    let first = cuda_of(tensors[0], op)?;
    for t in &tensors[1..] {
        if t.device() != first.device() {
            return Err(Error::DeviceMismatch { op, expected: first.device().to_string(), got: t.device() });
        }
    }
    Ok(first.dev.clone())
}

/// Maximum rank a kernel's [`Strided`] argument holds.
pub(crate) const MAX_DIMS: usize = 8;

/// A layout as the kernels' `struct Strided` (see `kernels/common.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided {
    rank: i32,
    pad: i32,
    shape: [i64; MAX_DIMS],
    strides: [i64; MAX_DIMS],
    offset: i64,
}

// SAFETY: plain old data with the C layout the kernels declare.
unsafe impl DeviceRepr for Strided {}

impl Strided {
    /// `layout` read through `shape` (the layout's shape, or a broadcast of it: dims the
    /// layout lacks or has as 1 get stride 0).
    pub(crate) fn broadcast(op: &'static str, layout: &Layout, shape: &[usize]) -> Result<Strided> {
        if shape.len() > MAX_DIMS {
            return Err(Error::BadRank { op, expected: "at most 8 dims on a CUDA device", shape: shape.to_vec() });
        }
        let mut s =
            Strided { rank: shape.len() as i32, pad: 0, shape: [1; MAX_DIMS], strides: [0; MAX_DIMS], offset: 0 };
        s.offset = layout.offset as i64;
        let lead = shape.len() - layout.shape.len();
        for (d, &n) in shape.iter().enumerate() {
            s.shape[d] = n as i64;
            if d >= lead && layout.shape[d - lead] != 1 {
                s.strides[d] = layout.strides[d - lead] as i64;
            }
        }
        Ok(s)
    }

    /// `layout` as it is.
    pub(crate) fn of(op: &'static str, layout: &Layout) -> Result<Strided> {
        Strided::broadcast(op, layout, &layout.shape)
    }
}
