//! The seed document's "Creating a Custom Plugin", in Rust. Linked, the
//! plugin is found by `discover_plugins()`; it can also be registered at run
//! time:
//!
//! ```
//! use arc_core::plugin::{ComponentKind, PluginManager};
//! use arc_core::spec::Config;
//! use arc_example_plugin::MyPlugin;
//!
//! let pm = PluginManager::new();
//! pm.register_plugin(MyPlugin, "my_plugin")?;
//! pm.refresh_registries()?;
//! assert_eq!(pm.get_layer("MyLayer")?.name(), "custom.MyLayer");
//! let config = Config::from_yaml("custom_param: 3")?;
//! assert!(pm.validate_component_config(ComponentKind::Layer, "MyLayer", &config)?);
//! assert!(!pm.validate_component_config(ComponentKind::Layer, "MyLayer", &Config::new())?);
//!
//! // Built from its config, it multiplies its input by `custom_param`.
//! let layer = pm.get_layer("MyLayer")?.create(&config)?;
//! let x = arc_core::Tensor::from_vec(vec![1.0, -2.0], &[2])?;
//! assert_eq!(layer.forward_single(&x)?.to_vec()?, [3.0, -6.0]);
//! let err = pm.get_layer("MyLayer")?.create(&Config::from_yaml("custom_parm: 3")?).err().unwrap();
//! assert_eq!(err.to_string(), "custom.MyLayer: unknown parameter `custom_parm` (did you mean `custom_param`?)");
//! # Ok::<(), arc_core::Error>(())
//! ```

use arc_core::Tensor;
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::plugin::{LayerHookSpec, LayerRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{Result, arc_plugin, hookimpl};
use serde::Deserialize;

/// Multiplies its input by `custom_param`.
#[derive(Clone, Debug, PartialEq)]
pub struct MyCustomLayer {
    /// The factor.
    pub custom_param: f32,
}

/// [`MyCustomLayer`]'s config.
#[derive(Debug, Deserialize, arc_core::schemars::JsonSchema)]
#[schemars(crate = "arc_core::schemars")]
#[serde(deny_unknown_fields)]
struct MyCustomLayerConfig {
    /// The factor (required).
    custom_param: f32,
}

impl MyCustomLayer {
    /// Builds the layer from its spec params.
    pub fn from_config(config: &Config) -> Result<Box<dyn Layer>> {
        let MyCustomLayerConfig { custom_param } = config.parse("custom.MyLayer")?;
        Ok(Box::new(Self { custom_param }))
    }
}

impl Layer for MyCustomLayer {
    fn forward_single(&self, input: &Tensor) -> Result<Tensor> {
        input.mul_scalar(self.custom_param)
    }

    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(inputs[0].clone())
    }
}

/// Registers `custom.MyLayer` (alias `MyLayer`) and checks its config.
#[arc_plugin(name = "my_plugin", version = "1.0.0", description = "My custom Arc plugin", namespace = "custom")]
#[derive(Debug, Default)]
pub struct MyPlugin;

#[hookimpl]
impl LayerHookSpec for MyPlugin {
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new()
            .add("custom.MyLayer", MyCustomLayer::from_config)
            .params_schema(arc_core::plugin::schema_of::<MyCustomLayerConfig>)
            .alias("MyLayer")
    }

    /// Runs before other plugins' checks; answers only for its own layer.
    #[hookimpl(tryfirst)]
    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        (layer_type == "custom.MyLayer").then(|| config.contains_key("custom_param"))
    }
}
