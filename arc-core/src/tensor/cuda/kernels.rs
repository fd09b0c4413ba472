//! The CUDA C sources of Arc's kernels, one module per op family. Each is compiled by NVRTC
//! once per process and device (see `device.rs`), after [`COMMON`] is prepended.

/// Helpers every module shares: the `Strided` layout struct, grid-stride loops, block
/// reductions.
pub(crate) const COMMON: &str = include_str!("kernels/common.cuh");

/// Every built-in module: `(name, source without COMMON)`.
pub(crate) const SOURCES: &[(&str, &str)] = &[
    ("elementwise", include_str!("kernels/elementwise.cu")),
    ("index", include_str!("kernels/index.cu")),
    ("optim", include_str!("kernels/optim.cu")),
    ("reduce", include_str!("kernels/reduce.cu")),
    ("rows", include_str!("kernels/rows.cu")),
];

/// The full source of module `name` (COMMON prepended), if there is one.
pub(crate) fn source(name: &str) -> Option<String> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| with_common(&format!("{name}.cu"), s))
}

/// `source` after [`COMMON`], with a `#line` directive so that NVRTC's messages give the line
/// numbers of `file` itself.
pub(crate) fn with_common(file: &str, source: &str) -> String {
    format!("{COMMON}\n#line 1 \"{file}\"\n{source}")
}
