//! The [`Tensor`] handle: shared storage, a layout, and autograd bookkeeping.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::autograd::Node;
use super::device::{DType, Device};
use super::shape::Layout;
use super::storage::{CpuStorage, Storage};
use crate::{Error, Result};

/// An n-dimensional array of `f32` (or `i64` indices) on a [`Device`], with reverse-mode
/// autograd.
///
/// Cloning is cheap: clones share storage *and* gradient slot (a clone of a parameter sees the
/// gradients accumulated into the original). View ops (`transpose`, `permute`, `narrow`) share
/// storage too; kernels that need row-major data copy a view first.
///
/// ```
/// use arc_core::Tensor;
/// # fn main() -> arc_core::Result<()> {
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
/// let y = x.add(&x)?.sum_all()?;
/// assert_eq!(y.item()?, 20.0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

pub(crate) struct TensorInner {
    pub(crate) storage: Arc<Storage>,
    pub(crate) layout: Layout,
    /// Leaf flag set by `set_requires_grad`; an op output requires grad iff it has a node.
    pub(crate) requires_grad: AtomicBool,
    /// The op that produced this tensor, when it was recorded for autograd.
    pub(crate) node: Option<Arc<Node>>,
    /// Accumulated gradient of a leaf.
    pub(crate) grad: Mutex<Option<Tensor>>,
}

impl Tensor {
    /// Wraps a storage and layout; no autograd node.
    pub(crate) fn from_storage(storage: Arc<Storage>, layout: Layout) -> Tensor {
        Tensor(Arc::new(TensorInner {
            storage,
            layout,
            requires_grad: AtomicBool::new(false),
            node: None,
            grad: Mutex::new(None),
        }))
    }

    /// A contiguous f32 tensor; `data.len()` must equal the shape's element count.
    pub(crate) fn from_f32(data: Vec<f32>, shape: &[usize]) -> Tensor {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Tensor::from_storage(Arc::new(Storage::Cpu(CpuStorage::F32(data))), Layout::contiguous(shape))
    }

    /// A contiguous i64 tensor; `data.len()` must equal the shape's element count.
    pub(crate) fn from_i64(data: Vec<i64>, shape: &[usize]) -> Tensor {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Tensor::from_storage(Arc::new(Storage::Cpu(CpuStorage::I64(data))), Layout::contiguous(shape))
    }

    /// The same data under a new autograd node.
    pub(crate) fn with_node(self, node: Arc<Node>) -> Tensor {
        let inner = match Arc::try_unwrap(self.0) {
            Ok(inner) => TensorInner { node: Some(node), ..inner },
            Err(shared) => TensorInner {
                storage: shared.storage.clone(),
                layout: shared.layout.clone(),
                requires_grad: AtomicBool::new(false),
                node: Some(node),
                grad: Mutex::new(None),
            },
        };
        Tensor(Arc::new(inner))
    }

    /// A view of the same storage through another layout (no autograd node).
    pub(crate) fn view_with(&self, layout: Layout) -> Tensor {
        Tensor::from_storage(self.0.storage.clone(), layout)
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.0.layout
    }

    /// The host f32 buffer and layout, or an error naming `op` for other dtypes and devices.
    pub(crate) fn cpu_f32(&self, op: &'static str) -> Result<(&[f32], &Layout)> {
        match &*self.0.storage {
            Storage::Cpu(CpuStorage::F32(v)) => Ok((v, &self.0.layout)),
            Storage::Cpu(CpuStorage::I64(_)) => Err(Error::DTypeMismatch { op, expected: DType::F32, got: DType::I64 }),
            Storage::Cuda(_) => Err(self.host_only(op)),
        }
    }

    /// The host i64 buffer and layout, or an error naming `op`.
    pub(crate) fn cpu_i64(&self, op: &'static str) -> Result<(&[i64], &Layout)> {
        match &*self.0.storage {
            Storage::Cpu(CpuStorage::I64(v)) => Ok((v, &self.0.layout)),
            Storage::Cpu(CpuStorage::F32(_)) => Err(Error::DTypeMismatch { op, expected: DType::I64, got: DType::F32 }),
            Storage::Cuda(_) => Err(self.host_only(op)),
        }
    }

    /// The error of a host-only code path given a GPU tensor.
    pub(crate) fn host_only(&self, op: &'static str) -> Error {
        Error::DeviceMismatch { op, expected: "the cpu (this op has no CUDA kernel)".into(), got: self.device() }
    }

    /// `self` on the host: itself when it is there, else a copy (for reading values).
    pub(crate) fn on_host(&self) -> Result<Cow<'_, Tensor>> {
        Ok(if self.device().is_cpu() { Cow::Borrowed(self) } else { Cow::Owned(self.to_device(Device::Cpu)?) })
    }

    /// The f32 elements in row-major order: borrowed when contiguous, copied otherwise.
    pub(crate) fn f32_data(&self, op: &'static str) -> Result<Cow<'_, [f32]>> {
        let (data, layout) = self.cpu_f32(op)?;
        Ok(gather_contiguous(data, layout))
    }

    /// The i64 elements in row-major order.
    pub(crate) fn i64_data(&self, op: &'static str) -> Result<Cow<'_, [i64]>> {
        let (data, layout) = self.cpu_i64(op)?;
        Ok(gather_contiguous(data, layout))
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }

    /// The shape (alias of [`shape`](Self::shape), as in candle).
    pub fn dims(&self) -> &[usize] {
        self.shape()
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.layout.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }

    /// The device holding the storage.
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }

    /// Whether the elements are row-major without gaps (false for most transposed views).
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }

    /// Whether `self` and `other` are handles to the same tensor (same storage, layout and
    /// gradient slot).
    pub fn same_tensor(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The f32 elements in row-major order.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.t()?.to_vec()?, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// # Ok(()) }
    /// ```
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        Ok(self.on_host()?.f32_data("to_vec")?.into_owned())
    }

    /// The i64 elements in row-major order.
    pub fn to_vec_i64(&self) -> Result<Vec<i64>> {
        Ok(self.on_host()?.i64_data("to_vec_i64")?.into_owned())
    }

    /// The value of a one-element f32 tensor (any rank).
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// assert_eq!(Tensor::full(&[1, 1], 2.5).item()?, 2.5);
    /// assert!(Tensor::zeros(&[2]).item().is_err());
    /// # Ok(()) }
    /// ```
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::NotAScalar { shape: self.shape().to_vec() });
        }
        let host = self.on_host()?;
        let (data, layout) = host.cpu_f32("item")?;
        Ok(data[layout.offset])
    }

    /// The value of a one-element i64 tensor.
    pub fn item_i64(&self) -> Result<i64> {
        if self.numel() != 1 {
            return Err(Error::NotAScalar { shape: self.shape().to_vec() });
        }
        let host = self.on_host()?;
        let (data, layout) = host.cpu_i64("item_i64")?;
        Ok(data[layout.offset])
    }

    /// The contiguous f32 buffer, when this is a contiguous CPU f32 tensor (else `None`).
    /// Plugins' custom kernels read their inputs through this.
    pub fn as_f32_slice(&self) -> Option<&[f32]> {
        match (&*self.0.storage, self.is_contiguous()) {
            (Storage::Cpu(CpuStorage::F32(v)), true) => {
                let o = self.0.layout.offset;
                Some(&v[o..o + self.numel()])
            }
            _ => None,
        }
    }

    /// The elements of a contiguous CPU f32 tensor, mutably, when nothing else references
    /// them: no clone of this tensor, no view of its storage, no autograd graph holding it
    /// (`None` otherwise). What an optimizer writes a step into, in place.
    pub(crate) fn unique_f32_mut(&mut self) -> Option<&mut [f32]> {
        let (offset, numel, contiguous) = (self.0.layout.offset, self.numel(), self.is_contiguous());
        let inner = Arc::get_mut(&mut self.0)?;
        match (Arc::get_mut(&mut inner.storage)?, contiguous) {
            (Storage::Cpu(CpuStorage::F32(v)), true) => v.get_mut(offset..offset + numel),
            _ => None,
        }
    }

    /// An owned ndarray copy of an f32 tensor.
    pub fn to_ndarray(&self) -> Result<ndarray::ArrayD<f32>> {
        let data = self.to_vec()?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(self.shape()), data).map_err(|_| Error::ElementCountMismatch {
            op: "to_ndarray",
            shape: self.shape().to_vec(),
            expected: self.numel(),
            got: self.numel(),
        })
    }

    /// Copies the tensor to `device` (the same tensor when it is already there). The copy is
    /// contiguous and has no autograd history, like a new leaf.
    ///
    /// In a build without CUDA any `Cuda` device is [`Error::NotCompiledWithCuda`]; with CUDA
    /// but no GPU (or a missing driver library) it is [`Error::CudaUnavailable`], never a panic.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if self.device() == device {
            return Ok(self.clone());
        }
        match (device, &*self.0.storage) {
            (Device::Cpu, Storage::Cpu(_)) => Ok(self.clone()),
            (Device::Cuda(ordinal), Storage::Cpu(_)) => {
                let host = self.contiguous_raw()?;
                let (start, n) = (host.layout().offset, host.numel());
                let part = match &*host.0.storage {
                    Storage::Cpu(CpuStorage::F32(v)) => CpuStorage::F32(v[start..start + n].to_vec()),
                    Storage::Cpu(CpuStorage::I64(v)) => CpuStorage::I64(v[start..start + n].to_vec()),
                    Storage::Cuda(_) => unreachable!("contiguous_raw keeps a host tensor on the host"),
                };
                let s = super::cuda::CudaStorage::from_cpu(&part, ordinal, "to_device")?;
                Ok(Tensor::from_storage(Arc::new(Storage::Cuda(s)), super::shape::Layout::contiguous(self.shape())))
            }
            (Device::Cpu, Storage::Cuda(_)) => {
                let dense = super::cuda::contiguous(self)?;
                let Storage::Cuda(s) = &*dense.0.storage else { unreachable!("cuda::contiguous stays on the GPU") };
                let host = s.to_cpu("to_device")?;
                let (start, n) = (dense.layout().offset, dense.numel());
                let host = match host {
                    CpuStorage::F32(v) if start == 0 && v.len() == n => CpuStorage::F32(v),
                    CpuStorage::I64(v) if start == 0 && v.len() == n => CpuStorage::I64(v),
                    CpuStorage::F32(v) => CpuStorage::F32(v[start..start + n].to_vec()),
                    CpuStorage::I64(v) => CpuStorage::I64(v[start..start + n].to_vec()),
                };
                Ok(Tensor::from_storage(Arc::new(Storage::Cpu(host)), super::shape::Layout::contiguous(self.shape())))
            }
            (Device::Cuda(_), Storage::Cuda(_)) => self.to_device(Device::Cpu)?.to_device(device),
        }
    }

    pub(crate) fn leaf_requires_grad(&self) -> bool {
        self.0.requires_grad.load(Ordering::Relaxed)
    }
}

fn gather_contiguous<'a, T: Copy>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    if layout.is_contiguous() {
        Cow::Borrowed(&data[layout.offset..layout.offset + layout.numel()])
    } else {
        Cow::Owned(gather_runs(data, layout))
    }
}

/// The elements of a non-contiguous layout in row-major order. When the last dim is
/// unit-strided (a transposed batch of rows, a narrowed column block) whole rows are
/// copied at once, the outer dims walked by an odometer; otherwise element by element.
fn gather_runs<T: Copy>(data: &[T], layout: &Layout) -> Vec<T> {
    let r = layout.shape.len();
    if r < 2 || layout.strides[r - 1] != 1 {
        return layout.offsets().map(|o| data[o]).collect();
    }
    let (shape, strides, inner) = (&layout.shape[..r - 1], &layout.strides[..r - 1], layout.shape[r - 1]);
    let mut out = Vec::with_capacity(layout.numel());
    let mut index = vec![0usize; r - 1];
    let mut at = layout.offset;
    for _ in 0..shape.iter().product::<usize>() {
        out.extend_from_slice(&data[at..at + inner]);
        for d in (0..r - 1).rev() {
            index[d] += 1;
            at += strides[d];
            if index[d] < shape[d] {
                break;
            }
            at -= strides[d] * shape[d];
            index[d] = 0;
        }
    }
    out
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Tensor");
        d.field("shape", &self.shape()).field("dtype", &self.dtype());
        if let Some(node) = &self.0.node {
            d.field("grad_fn", &node.name());
        } else if self.leaf_requires_grad() {
            d.field("requires_grad", &true);
        }
        if !self.device().is_cpu() {
            d.field("device", &self.device());
        }
        const SHOWN: usize = 16;
        // A GPU tensor's values are copied to the host to be shown.
        let Ok(host) = self.on_host() else { return d.finish() };
        match self.dtype() {
            DType::F32 => {
                if let Ok(v) = host.f32_data("debug") {
                    d.field("data", &&v[..v.len().min(SHOWN)]);
                }
            }
            DType::I64 => {
                if let Ok(v) = host.i64_data("debug") {
                    d.field("data", &&v[..v.len().min(SHOWN)]);
                }
            }
        }
        d.finish()
    }
}
