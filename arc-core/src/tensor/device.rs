//! Where a tensor lives ([`Device`]) and what it holds ([`DType`]).

use std::fmt;

/// The element type of a tensor.
///
/// `F32` is the type every differentiable op works on; `I64` holds indices and class labels
/// (for `index_select`, `gather`, `one_hot`, `cross_entropy` targets, `argmax` results).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
        })
    }
}

/// The device a tensor's storage lives on.
///
/// `Cpu` always works. `Cuda(ordinal)` names a GPU; in a build without the CUDA backend every
/// attempt to place data there returns [`Error::NotCompiledWithCuda`](crate::Error::NotCompiledWithCuda).
///
/// ```
/// use arc_core::{Device, Tensor};
/// let t = Tensor::zeros(&[2]);
/// assert_eq!(t.device(), Device::Cpu);
/// assert!(t.to_device(Device::Cuda(0)).is_err()); // built without CUDA
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory; kernels use ndarray, rayon and gemm.
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal.
    Cuda(usize),
}

impl Device {
    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// Whether this is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// `Cuda(0)` when a CUDA device can be used, else `Cpu` (never an error, never a panic).
    ///
    /// ```
    /// use arc_core::Device;
    /// let d = Device::auto();
    /// assert!(d.is_cpu() || d == Device::Cuda(0));
    /// ```
    pub fn auto() -> Device {
        if cuda_device_count().is_ok() { Device::Cuda(0) } else { Device::Cpu }
    }

    /// `Cuda(ordinal)` if that GPU exists, else an error saying why not.
    pub fn cuda(ordinal: usize) -> crate::Result<Device> {
        let count = cuda_device_count()
            .map_err(|reason| crate::Error::CudaUnavailable { device: format!("cuda:{ordinal}"), reason })?;
        if ordinal >= count {
            return Err(crate::Error::CudaUnavailable {
                device: format!("cuda:{ordinal}"),
                reason: format!("the machine has {count} CUDA device(s), numbered from 0"),
            });
        }
        Ok(Device::Cuda(ordinal))
    }
}

/// How many CUDA devices can be used, or why none can (no `cuda` feature, no driver library,
/// no device). The driver is probed once per process, checking that `libcuda` loads before
/// any driver call (cudarc panics on a missing library; Arc never reaches that panic).
///
/// ```
/// match arc_core::tensor::cuda_device_count() {
///     Ok(n) => println!("{n} GPU(s)"),
///     Err(why) => println!("cpu only: {why}"),
/// }
/// ```
pub fn cuda_device_count() -> std::result::Result<usize, String> {
    super::cuda::probe()
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
