use arc_core::hookspec;

#[hookspec]
pub trait NothingToCall {}

fn main() {}
