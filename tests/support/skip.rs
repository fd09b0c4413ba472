//! Skipping a test that needs hardware this machine lacks, visibly: the note goes straight to
//! the terminal (libtest hides a passing test's captured output), and `ARC_REQUIRE_GPU=1`
//! turns the skip into a failure (for a GPU machine's CI), as `ARC_REQUIRE_NVRTC` does for
//! the kernel compile checks.
#![allow(dead_code)]

use std::io::Write;

/// Reports that `test` skips because `why`; panics instead when `ARC_REQUIRE_GPU` is set.
pub fn skip_gpu_test(test: &str, why: &str) {
    assert!(std::env::var_os("ARC_REQUIRE_GPU").is_none(), "ARC_REQUIRE_GPU is set, but {test} found {why}");
    // Not `eprintln!`: libtest would capture it and show nothing for a passing test.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}
