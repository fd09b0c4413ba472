//! (filled by the layers work)

use arc_core::plugin::LayerRegistrations;
use arc_core::spec::Config;

/// Adds this family's layers.
pub fn register(registrations: LayerRegistrations) -> LayerRegistrations {
    registrations
}

/// Checks a config of this family's layers; `None` for other layers.
pub fn validate(layer_type: &str, config: &Config) -> Option<bool> {
    let _ = (layer_type, config);
    None
}
