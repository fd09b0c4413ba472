//! Arc's core: the plugin system, the spec types, tensors and autograd.
//!
//! Plugin crates depend on this crate alone; the attribute macros
//! [`hookspec`], [`hookimpl`] and [`arc_plugin`] generate code that names
//! `::arc_core` paths only.

// Lets the macros' `::arc_core::...` paths resolve inside this crate too.
extern crate self as arc_core;

pub mod error;
pub mod tensor;

pub use error::{Error, Result};
pub use tensor::{DType, Device, Tensor};
