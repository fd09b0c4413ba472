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
