use arc_core::hookimpl;
use arc_core::plugin::{LayerHookSpec, Plugin, PluginMetadata};

struct P;
impl Plugin for P {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("p")
    }
}

#[hookimpl]
impl LayerHookSpec for P {
    fn register_layer(&self) {}
}

fn main() {}
