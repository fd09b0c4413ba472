use arc_core::hookspec;

#[hookspec]
pub trait Spec {
    fn compute(&self, x: i32) -> i32;
}

fn main() {}
