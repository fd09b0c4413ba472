//! Arc's core: the plugin system, the spec types, tensors and autograd.
//!
//! Plugin crates depend on this crate alone; the attribute macros
//! [`hookspec`], [`hookimpl`] and [`arc_plugin`] generate code that names
//! `::arc_core` paths only.

// Lets the macros' `::arc_core::...` paths resolve inside this crate too.
extern crate self as arc_core;

pub mod data;
pub mod distributed;
pub mod error;
pub mod export;
pub mod graph;
pub mod lower;
pub mod model_dir;
pub mod nn;
pub mod pipeline;
pub mod plugin;
pub mod predictor;
pub mod process;
pub mod spec;
pub mod tensor;
pub mod train;
pub mod types;
pub mod validate;

#[doc(hidden)]
pub mod __private;

pub use arc_macros::{arc_plugin, hookimpl, hookspec};
pub use error::{DidYouMean, Error, Result};
pub use plugin::{PluginManager, get_plugin_manager};
/// The schema derive the components' config types use ([`plugin::schema_of`]).
pub use schemars;
pub use tensor::Tensor;
pub use types::{DType, Device};
