use arc_core::hookspec;

#[hookspec]
pub trait Spec {
    #[hookspec(firstresult)]
    fn pick(&self, x: i32) -> i32 {
        x
    }
}

fn main() {}
