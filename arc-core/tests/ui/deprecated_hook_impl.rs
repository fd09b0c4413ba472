#![deny(deprecated)]

use arc_core::plugin::{Plugin, PluginMetadata};
use arc_core::{hookimpl, hookspec};

#[hookspec]
pub trait Spec {
    #[deprecated(note = "use `compute_v2`")]
    fn compute(&self) -> i32 {
        0
    }

    fn compute_v2(&self) -> i32 {
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
    fn compute(&self) -> i32 {
        1
    }

    fn compute_v2(&self) -> i32 {
        2
    }
}

fn main() {}
