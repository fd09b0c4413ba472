//! Every built-in CUDA kernel module compiles with NVRTC, with no GPU, without an error or a
//! warning. CI installs NVRTC from PyPI (`nvidia-cuda-nvrtc`) and sets
//! `ARC_REQUIRE_NVRTC=1`; elsewhere, without the library, the tests print why they skip.
#![cfg(feature = "cuda")]

use arc_core::Error;

mod common;

use arc_core::tensor::{compile_all_kernels, compile_source};
use common::nvrtc_or_skip;

/// The oldest architecture CUDA 13's NVRTC accepts, and the H100's.
const ARCHES: [&str; 2] = ["compute_75", "compute_90"];

#[test]
fn every_builtin_kernel_module_compiles_without_warnings() {
    if !nvrtc_or_skip("every_builtin_kernel_module_compiles_without_warnings") {
        return;
    }
    for arch in ARCHES {
        let modules = compile_all_kernels(arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert!(!modules.is_empty());
        for (name, log) in modules {
            assert!(log.is_empty(), "{arch}: module `{name}` compiled with warnings:\n{log}");
            println!("{arch}: {name}: ok");
        }
    }
}

/// The CUDA sources that plugins in this workspace ship for their custom ops (compiled the
/// way `CustomOp::cuda_source` is: the shared header prepended).
const SHIPPED_CUSTOM_OP_SOURCES: [&str; 2] =
    ["../arc-builtins/src/losses/binary_cross_entropy.cu", "../examples/custom-plugin/src/swiglu.cu"];

#[test]
fn the_custom_op_sources_plugins_ship_compile_without_warnings() {
    if !nvrtc_or_skip("the_custom_op_sources_plugins_ship_compile_without_warnings") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in SHIPPED_CUSTOM_OP_SOURCES {
        let path = root.join(rel);
        let Ok(source) = std::fs::read_to_string(&path) else {
            // arc-core checked out without its workspace siblings; never where NVRTC is required.
            assert!(
                std::env::var_os("ARC_REQUIRE_NVRTC").is_none(),
                "ARC_REQUIRE_NVRTC is set, but `{rel}` is missing"
            );
            eprintln!("skipping {}: not found", path.display());
            continue;
        };
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("custom");
        for arch in ARCHES {
            let log = compile_source(name, &source, arch).unwrap_or_else(|e| panic!("{arch}: {rel}: {e}"));
            assert!(log.is_empty(), "{arch}: `{rel}` compiled with warnings:\n{log}");
        }
        println!("{rel}: ok");
    }
}

#[test]
fn a_broken_kernel_is_a_compile_error_with_nvrtcs_log() {
    if !nvrtc_or_skip("a_broken_kernel_is_a_compile_error_with_nvrtcs_log") {
        return;
    }
    let broken = "extern \"C\" __global__ void k(float* y) { y[0] = undefined_name; }";
    let err = compile_source("broken", broken, "compute_75").unwrap_err();
    let Error::CudaCompile { kernel, log } = &err else { panic!("expected CudaCompile, got {err}") };
    assert_eq!(kernel, "broken");
    assert!(log.contains("undefined_name"), "{log}");
}

#[test]
fn a_warning_is_reported_in_the_log() {
    if !nvrtc_or_skip("a_warning_is_reported_in_the_log") {
        return;
    }
    let warns = "extern \"C\" __global__ void k(float* y) { int unused_variable = 3; y[0] = 1.0f; }";
    let log = compile_source("warns", warns, "compute_75").expect("a warning is not an error");
    assert!(log.contains("unused_variable"), "expected a warning, got log: {log:?}");
}
