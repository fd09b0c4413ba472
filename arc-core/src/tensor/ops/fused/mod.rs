//! Fused kernels: one pass (or a few) over contiguous rows instead of a chain of ops, for
//! the layers that dominate a step: `linear`, `layer_norm`, `rms_norm`, `cross_entropy`,
//! and the optimizer updates (`sgd_update`, `adam_update`) over plain slices.

mod linear;
mod loss;
mod norm;
mod optim;

pub use loss::{CrossEntropyOptions, Reduction};
pub use optim::{AdamConfig, SgdConfig, adam_update, adam_update_tensor, sgd_update, sgd_update_tensor};
