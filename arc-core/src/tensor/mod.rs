//! Tensors and autograd.
//!
//! [`Tensor`] holds f32 data (or i64 indices and labels) on a [`Device`], shares its storage
//! between clones and views, broadcasts like NumPy, and records a define-by-run graph for
//! reverse-mode autodiff ([`Tensor::backward`]). Plugins add fused ops through [`CustomOp`].
//!
//! CPU storage is one contiguous `Vec` per dtype behind an `Arc`, addressed through a layout
//! (shape, strides, offset) so that transposes and slices are views. Kernels read it as
//! ndarray views where the indexing is general (broadcasting zips, strided copies, slice
//! assignment) and as plain slices on the hot paths: rayon above a size threshold, `gemm`
//! for matrix products, and fused row kernels compiled for SSE2, AVX2+FMA and AVX-512
//! (chosen at run time) for GELU, softmax, the norms, cross-entropy and Adam.
//!
//! ```
//! use arc_core::{tensor::Rng, Tensor};
//! # fn main() -> arc_core::Result<()> {
//! let mut rng = Rng::new(0);
//! let x = Tensor::randn(&[8, 4], &mut rng);
//! let w = Tensor::randn(&[3, 4], &mut rng).requires_grad_()?;
//! let target = Tensor::from_vec_i64(vec![0, 1, 2, 0, 1, 2, 0, 1], &[8])?;
//! let loss = x.linear(&w, None)?.cross_entropy(&target, &Default::default())?;
//! loss.backward()?;
//! assert_eq!(w.grad().map(|g| g.shape().to_vec()), Some(vec![3, 4]));
//! # Ok(()) }
//! ```

mod autograd;
mod create;
pub use create::AllocationRefused;
mod custom_op;
mod device;
pub mod gemm;
mod gradcheck;
mod math;
pub(crate) mod microkernel;
mod ops;
mod pool;
mod repr;
mod rng;
mod shape;
mod storage;

// The one switch between CUDA backends: cudarc with the `cuda` feature, else a stub whose
// storage type is uninhabited (no tensor can be on a GPU).
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
#[cfg(not(feature = "cuda"))]
pub(crate) mod cuda_stub;
#[cfg(not(feature = "cuda"))]
pub(crate) use cuda_stub as cuda;

pub use autograd::{NoGradGuard, is_grad_enabled, no_grad, set_grad_enabled};
#[cfg(feature = "cuda")]
pub use cuda::bench as cuda_bench;
#[cfg(feature = "cuda")]
pub use cuda::{KernelEntries, compile_all_kernels, compile_source, kernel_entry_points};
pub use custom_op::CustomOp;
pub use device::{DType, Device, cuda_device_count};
pub use gradcheck::gradcheck;
/// The ndarray version the tensor engine's views ([`gemm::gemm`]) use.
pub use ndarray;
pub use ops::Reduction;
pub use ops::fused;
pub use ops::fused::CrossEntropyOptions;
pub use pool::on_pool;
pub use repr::Tensor;
pub use rng::Rng;
pub use storage::num_threads;

/// Whether the CPU kernels use their AVX-512 builds: the CPU has AVX-512F and the environment
/// does not set `ARC_DISABLE_AVX512` (read once per process). A plugin's own kernels can
/// follow the same switch.
pub fn avx512_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        math::has_avx512()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
