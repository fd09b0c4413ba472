//! `trainer.config.device` → the device training runs on.
//!
//! The CUDA backend arrives with the GPU issue: until then `tensor::cuda`
//! is a stub in every build, so `cuda` is a clear error and `auto` picks
//! the CPU and says why.

use crate::spec::DeviceChoice;
use crate::{Device, Error, Result};

/// The device for `choice`, with a note when `auto` chose it.
///
/// ```
/// use arc_core::spec::DeviceChoice;
/// use arc_core::train::resolve_device;
/// use arc_core::Device;
///
/// assert_eq!(resolve_device(DeviceChoice::Cpu)?, (Device::Cpu, None));
/// let (device, note) = resolve_device(DeviceChoice::Auto)?;
/// assert_eq!(device, Device::Cpu);
/// assert!(note.unwrap().starts_with("device auto: "));
/// assert!(resolve_device(DeviceChoice::Cuda).is_err());
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn resolve_device(choice: DeviceChoice) -> Result<(Device, Option<String>)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, None)),
        DeviceChoice::Auto => {
            Ok((Device::Cpu, Some(format!("device auto: {}; training on the cpu", no_cuda_reason()))))
        }
        DeviceChoice::Cuda => Err(Error::DeviceUnavailable {
            requested: "cuda".into(),
            reason: format!("{}; use `device: cpu` or `auto`", no_cuda_reason()),
        }),
    }
}

/// Why this build cannot train on a GPU.
fn no_cuda_reason() -> &'static str {
    if cfg!(feature = "cuda") {
        "this build's CUDA backend is a stub (the GPU kernels are not implemented yet)"
    } else {
        "this build has no CUDA support (the `cuda` feature is off)"
    }
}
