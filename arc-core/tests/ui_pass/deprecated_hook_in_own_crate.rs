//! A spec with a deprecated hook: the generated relay calls it without a
//! warning in the spec's own crate.
#![deny(warnings)]

use arc_core::hookspec;
use arc_core::plugin::PluginManager;

#[hookspec]
pub trait Spec {
    #[deprecated(note = "use `compute_v2`")]
    fn compute(&self) -> i32 {
        0
    }
}

fn main() {
    let pm = PluginManager::new();
    assert!(pm.hook::<dyn Spec>().compute().unwrap().is_empty());
}
