//! `trainer.config.device` → the device training runs on.
//!
//! `cuda` is the first GPU ([`Device::cuda`]`(0)`): an [`Error::DeviceUnavailable`] carrying
//! the driver probe's reason when this build or machine has none. `auto` picks the GPU when
//! one can be used and otherwise the CPU, with a note saying why.

use crate::spec::DeviceChoice;
use crate::{Device, Result};

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
    choice.resolve()
}
