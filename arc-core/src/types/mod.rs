//! Plain value types that every layer of arc-core shares, the errors
//! included: what a tensor holds and where ([`DType`], [`Device`]), the kinds
//! of component ([`ComponentKind`]), a place in a spec ([`Location`]) and a
//! problem found in one ([`ValidationIssue`]), the namespaces of a
//! pipeline's values ([`Namespace`]). This module imports nothing
//! of arc-core: see `docs/ARCHITECTURE.md` for the layers.

mod device;
mod issue;
mod kind;
mod location;
mod namespace;

pub use device::{DType, Device};
pub use issue::{Severity, ValidationIssue, count_errors, render};
pub use kind::ComponentKind;
pub use location::Location;
pub use namespace::Namespace;

/// A byte count for people: `512 B`, `1.5 KiB`, `3.0 GiB`, `16.0 TiB`.
///
/// ```
/// assert_eq!(arc_core::types::human_bytes(1536), "1.5 KiB");
/// assert_eq!(arc_core::types::human_bytes(4_000_000_000_000), "3.6 TiB");
/// ```
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
