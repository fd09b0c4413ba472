//! Macro misuse gets a compile error spanned on the user's token: one
//! trybuild case per message, in tests/ui/.
//!
//! Run without the `cuda` feature only: the macros' output does not depend on it, and the
//! trybuild project would build arc-core again, with cudarc, for the same messages.
#![cfg(not(feature = "cuda"))]

#[test]
fn macro_misuse_is_a_spanned_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

#[test]
fn generated_code_compiles_without_warnings() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui_pass/*.rs");
}
