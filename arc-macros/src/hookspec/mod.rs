//! `#[hookspec]`: parse and validate the trait (`parse.rs`), then expand it
//! into the trait, its `HookSpec` impl and its relay (`expand.rs`).

mod expand;
mod parse;

pub use expand::expand;
pub use parse::parse;
