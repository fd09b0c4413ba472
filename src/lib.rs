//! Arc: neural networks declared in YAML, every component a plugin.
pub use arc_core::*;
