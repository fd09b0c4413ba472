//! Which devices this build and machine can use: [`cuda_device_count`], and
//! [`Device::auto`] / [`Device::cuda`] over it.

pub use crate::types::{DType, Device};

impl Device {
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
