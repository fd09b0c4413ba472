use arc_core::plugin::{Inner, Plugin, PluginMetadata};
use arc_core::{hookimpl, hookspec};

#[hookspec]
pub trait Spec {
    #[hookspec(historic)]
    fn configure(&self, config: String) {
        let _ = config;
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
    #[hookimpl(wrapper)]
    fn configure(&self, config: String, inner: &mut Inner<'_, ()>) {
        let _ = config;
        inner.call();
    }
}

fn main() {}
