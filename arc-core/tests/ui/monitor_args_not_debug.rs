use arc_core::hookspec;

pub struct Opaque;

#[hookspec]
pub trait Spec {
    #[hookspec(monitor_args)]
    fn seen(&self, x: i32, opaque: &Opaque) {
        let _ = (x, opaque);
    }
}

fn main() {}
