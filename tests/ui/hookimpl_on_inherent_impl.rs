use arc::hookimpl;

struct P;

#[hookimpl]
impl P {
    fn register_layers(&self) {}
}

fn main() {}
