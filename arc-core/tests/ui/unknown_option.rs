use arc_core::plugin::{Plugin, PluginMetadata};
use arc_core::{hookimpl, hookspec};

#[hookspec]
pub trait Spec {
    #[hookspec(lastresult)]
    fn compute(&self) -> i32 {
        0
    }
}

struct P;
impl Plugin for P {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("p")
    }
}

#[hookimpl]
impl Spec for P {
    #[hookimpl(tryfirts)]
    fn compute(&self) -> i32 {
        1
    }
}

fn main() {}
