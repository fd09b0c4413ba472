//! The CUDA backend (feature `cuda`): cudarc device memory, NVRTC-compiled kernels and cuBLAS.
//!
//! Storage is one `CudaSlice` per tensor buffer, addressed through the same [`Layout`] as host
//! storage, so views (transpose, narrow) stay views on the GPU. Kernels take contiguous inputs
//! unless they say otherwise; [`contiguous`] makes a strided view row-major with one kernel.
//! Every entry point returns an error, never panics, when a device, library or kernel is
//! missing; the op layer (`ops/`) calls these functions whenever an input lives on a GPU.

pub mod bench;
mod custom;
mod device;
mod elementwise;
mod index;
mod kernels;
mod matmul;
mod optim;
mod reduce;
mod rows;
mod storage;

pub(crate) use custom::custom_forward;
pub(crate) use device::probe;
pub(crate) use elementwise::{binary, cast, compare, contiguous, copy_into, expand, fill, unary};
pub(crate) use index::{
    concat, full_on, gather, gather_backward, index_select, index_select_backward, narrow_backward, where_cond,
};
pub(crate) use matmul::{linear, matmul, sum_rows};
pub(crate) use optim::{adam_step, sgd_step};
pub(crate) use reduce::{arg_extreme, one_hot, reduce};
pub(crate) use rows::{cross_entropy, cross_entropy_backward, norm_backward, norm_forward, softmax, softmax_backward};
pub(crate) use storage::CudaStorage;

/// Compiles every built-in kernel module for `arch` (`compute_XY`) with no device, returning
/// `(module, NVRTC log)` for each; the first compile error is returned as an error.
pub fn compile_all_kernels(arch: &'static str) -> crate::Result<Vec<(&'static str, String)>> {
    kernels::SOURCES
        .iter()
        .map(|(name, _)| {
            let src = kernels::source(name).unwrap_or_default();
            device::compile(name, &src, arch).map(|(_, log)| (*name, log))
        })
        .collect()
}

/// The kernels of every built-in module as NVRTC compiles them for `arch`, with no device:
/// `(module, [(kernel, parameter count)])`, read from the PTX `.entry` declarations (a struct
/// argument such as `Strided` counts as one parameter). Tests check the Rust launch sites
/// against it.
pub fn kernel_entry_points(arch: &'static str) -> crate::Result<Vec<(&'static str, KernelEntries)>> {
    kernels::SOURCES
        .iter()
        .map(|(name, _)| {
            let src = kernels::source(name).unwrap_or_default();
            let (ptx, _) = device::compile(name, &src, arch)?;
            Ok((*name, ptx_entries(&ptx.to_src())))
        })
        .collect()
}

/// The kernels of one module: `(name, parameter count)`.
pub type KernelEntries = Vec<(String, usize)>;

/// `(name, parameter count)` of each `.entry` in PTX text.
fn ptx_entries(ptx: &str) -> KernelEntries {
    let mut out = Vec::new();
    let mut lines = ptx.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix(".visible .entry ") else { continue };
        let name = rest.split('(').next().unwrap_or_default().trim().to_owned();
        let mut params = 0;
        if !rest.contains("()") {
            for l in lines.by_ref() {
                if l.contains("_param_") {
                    params += 1;
                }
                if l.trim_start().starts_with(')') {
                    break;
                }
            }
        }
        out.push((name, params));
    }
    out
}

/// Compiles one CUDA C source (COMMON prepended) for `arch`, returning NVRTC's log.
pub fn compile_source(name: &str, source: &str, arch: &'static str) -> crate::Result<String> {
    device::compile(name, &kernels::with_common(&format!("{name}.cu"), source), arch).map(|(_, log)| log)
}
