//! Tensors and autograd.
//!
//! [`Tensor`] holds f32 data (or i64 indices and labels) on a [`Device`], shares its storage
//! between clones and views, broadcasts like NumPy, and records a define-by-run graph for
//! reverse-mode autodiff ([`Tensor::backward`]). Kernels run on the CPU over ndarray views
//! with rayon above a size threshold, gemm for matrix products, and fused row kernels for
//! GELU, softmax, the norms and cross-entropy. Plugins add fused ops through [`CustomOp`].

mod autograd;
mod create;
mod custom_op;
mod device;
mod gradcheck;
mod math;
mod ops;
mod repr;
mod rng;
mod shape;
mod storage;

// The one switch between CUDA backends. Until the GPU issue adds the real `cuda.rs`
// (cudarc), both arms build the stub, whose storage type is uninhabited.
#[cfg(not(feature = "cuda"))]
mod cuda_stub;
#[cfg(not(feature = "cuda"))]
use cuda_stub as cuda;
#[cfg(feature = "cuda")]
#[path = "cuda_stub.rs"]
mod cuda;

pub use autograd::{NoGradGuard, is_grad_enabled, no_grad};
pub use custom_op::CustomOp;
pub use device::{DType, Device};
pub use gradcheck::gradcheck;
pub use ops::Reduction;
pub use ops::fused;
pub use ops::fused::CrossEntropyOptions;
pub use repr::Tensor;
pub use rng::Rng;
pub use storage::num_threads;
