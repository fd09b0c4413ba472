use arc_core::hookimpl;

struct P;

#[hookimpl]
impl P {
    fn register_layers(&self) {}
}

fn main() {}
