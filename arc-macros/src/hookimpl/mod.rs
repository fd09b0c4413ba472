//! `#[hookimpl]`: parse and validate the impl block (`parse.rs`), then
//! expand it into the block and its link-time record (`expand.rs`).

mod expand;
mod parse;

pub use expand::expand;
pub use parse::parse;
