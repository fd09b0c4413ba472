//! What a tensor holds ([`DType`]) and where it lives ([`Device`]).

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
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}
