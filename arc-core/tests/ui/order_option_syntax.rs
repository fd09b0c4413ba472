use arc_core::plugin::{Plugin, PluginMetadata};
use arc_core::{hookimpl, hookspec};

#[hookspec]
pub trait Spec {
    fn a(&self) {}
    fn b(&self) {}
    fn c(&self) {}
    fn d(&self) {}
}

struct P;
impl Plugin for P {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("p")
    }
}

#[hookimpl(tryfirst)]
impl Spec for P {
    #[hookimpl(before = 3)]
    fn a(&self) {}

    #[hookimpl(after = "")]
    fn b(&self) {}

    #[hookimpl(before = "x", after = ["y", "x"])]
    fn c(&self) {}

    #[hookimpl(before)]
    fn d(&self) {}
}

fn main() {}
