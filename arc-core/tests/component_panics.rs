//! A component factory that panics (`Component::create`) is an error naming
//! the plugin and the component, and through the graph builder the node and
//! its YAML line; the manager stays usable.

use arc_core::data::{Column, Table};
use arc_core::nn::{Layer, ShapeSpec};
use arc_core::plugin::{LayerHookSpec, LayerRegistrations, Plugin, PluginManager, PluginMetadata, Registrations};
use arc_core::spec::{ArcSpec, Config};
use arc_core::{Error, Result, hookimpl};

struct Same;
impl Layer for Same {
    fn output_shape(&self, inputs: &[ShapeSpec]) -> Result<ShapeSpec> {
        Ok(inputs[0].clone())
    }
}

fn boom(config: &Config) -> Result<Box<dyn Layer>> {
    if config.contains_key("fine") {
        return Ok(Box::new(Same));
    }
    panic!("out of cheese")
}

struct Boom;
impl Plugin for Boom {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("boom").with_namespace("custom")
    }
}

#[hookimpl]
impl LayerHookSpec for Boom {
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new().add("Boom", boom)
    }
}

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(Boom, "boom").expect("registers");
    pm.refresh_registries().expect("refreshes");
    pm
}

#[test]
fn a_panicking_factory_is_an_error_naming_plugin_and_component() {
    let pm = manager();
    let err = pm.get_layer("Boom").expect("registered").create(&Config::new()).err().expect("an error");
    assert!(matches!(err, Error::ComponentPanicked { .. }), "{err:?}");
    assert_eq!(err.to_string(), "plugin `boom` panicked building layer `custom.Boom`: out of cheese");
    // The manager goes on working.
    let fine = Config::from_yaml("fine: true").expect("yaml");
    assert!(pm.get_layer("custom.Boom").expect("still there").create(&fine).is_ok());
}

#[test]
fn validation_and_building_name_the_node_and_its_line() {
    let pm = manager();
    let text = "model_name: m\nfeatures: {feature_columns: [x]}\nmodel:\n  inputs: {x: [null, 1]}\n  graph:\n    - {name: ok, type: Boom, params: {fine: true}}\n    - {name: bad, type: Boom}\n";
    let spec = ArcSpec::from_yaml(text, "m.yaml").expect("parses");
    let table = Table::new(vec![Column::numeric("x", vec![1.0, 2.0])]).expect("a table");
    let report = arc_core::train::validate_data(&spec, &table, &pm).expect("no hook failed").report;
    let errors: Vec<String> = report.issues.iter().filter(|i| i.is_error()).map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["m.yaml:7:7: error: node `bad`: plugin `boom` panicked building layer `custom.Boom`: out of cheese"]
    );
    let built = arc_core::graph::GraphModel::build_spec(&spec, &Default::default(), &pm).err().expect("an error");
    assert_eq!(
        built.to_string(),
        "m.yaml:7:7: node `bad` (`Boom`): plugin `boom` panicked building layer `custom.Boom`: out of cheese"
    );
}
