//! Tensor ops, one file per family. Each op's backward sits next to its forward.

mod activation;
mod elementwise;
pub mod fused;
mod index;
mod matmul;
mod nograd;
mod reduce;
mod select;
mod shape;
#[cfg(target_arch = "x86_64")]
mod softmax_avx512;
mod unary;

pub(crate) use elementwise::{map2, sum_to_shape};
pub use fused::Reduction;
