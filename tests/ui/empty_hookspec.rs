use arc::hookspec;

#[hookspec]
pub trait NothingToCall {}

fn main() {}
