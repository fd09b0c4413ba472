//! `trainer.config.device` → the device training runs on.
//!
//! `cuda` is the first GPU ([`Device::cuda`]`(0)`): an [`Error::DeviceUnavailable`] carrying
//! the driver probe's reason when this build or machine has none. `auto` picks the GPU when
//! one can be used and otherwise the CPU, with a note saying why.

use crate::spec::DeviceChoice;
use crate::tensor::cuda_device_count;
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
/// assert!(note.unwrap().starts_with("device auto: "));
/// match arc_core::tensor::cuda_device_count() {
///     Ok(_) => assert_eq!(device, Device::Cuda(0)),
///     Err(_) => {
///         assert_eq!(device, Device::Cpu);
///         assert!(resolve_device(DeviceChoice::Cuda).is_err());
///     }
/// }
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn resolve_device(choice: DeviceChoice) -> Result<(Device, Option<String>)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, None)),
        DeviceChoice::Auto => Ok(match cuda_device_count() {
            Ok(_) => (Device::Cuda(0), Some("device auto: training on cuda:0".to_owned())),
            Err(reason) => (Device::Cpu, Some(format!("device auto: {reason}; training on the cpu"))),
        }),
        DeviceChoice::Cuda => Device::cuda(0).map(|d| (d, None)).map_err(|e| {
            let reason = match e {
                Error::CudaUnavailable { reason, .. } => reason,
                other => other.to_string(),
            };
            Error::DeviceUnavailable {
                requested: "cuda".into(),
                reason: format!("{reason}; use `device: cpu` or `auto`"),
            }
        }),
    }
}
