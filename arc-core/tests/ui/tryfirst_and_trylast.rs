use arc_core::hookimpl;
use arc_core::plugin::{LayerHookSpec, LayerRegistrations, Plugin, PluginMetadata};

struct P;
impl Plugin for P {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("p")
    }
}

#[hookimpl]
impl LayerHookSpec for P {
    #[hookimpl(tryfirst, trylast)]
    fn register_layers(&self) -> LayerRegistrations {
        LayerRegistrations::new()
    }
}

fn main() {}
