//! Registration rules and component registries: blocked and taken names,
//! the same instance twice, namespaces, aliases, duplicates, the legacy
//! table, config validation.

use std::sync::Arc;

use arc_core::nn::Layer;
use arc_core::plugin::{
    ComponentKind, LayerHookSpec, LayerRegistrations, Plugin, PluginManager, PluginMetadata, Registrations,
};
use arc_core::spec::Config;
use arc_core::{Error, Result, hookimpl};

struct Dense;
impl Layer for Dense {
    fn output_shape(&self, inputs: &[arc_core::nn::ShapeSpec]) -> Result<arc_core::nn::ShapeSpec> {
        Ok(inputs[0].clone())
    }
}

fn dense(_: &Config) -> Result<Box<dyn Layer>> {
    Ok(Box::new(Dense))
}

/// Registers the given names in its namespace; rejects configs without
/// `units` for its own layers.
struct Pack {
    namespace: &'static str,
    names: &'static [&'static str],
}

impl Plugin for Pack {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("pack").with_namespace(self.namespace)
    }
}

#[hookimpl]
impl LayerHookSpec for Pack {
    fn register_layers(&self) -> LayerRegistrations {
        self.names.iter().fold(Registrations::new(), |r, n| r.add(*n, dense))
    }

    fn validate_layer_config(&self, layer_type: &str, config: &Config) -> Option<bool> {
        let mine = self.names.iter().any(|n| layer_type == format!("{}.{n}", self.namespace) || layer_type == *n);
        mine.then(|| config.contains_key("units"))
    }
}

fn pack(namespace: &'static str, names: &'static [&'static str]) -> Pack {
    Pack { namespace, names }
}

#[test]
fn a_taken_name_is_refused() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("a", &[]), "p").unwrap();
    let err = pm.register_plugin(pack("b", &[]), "p").unwrap_err();
    assert!(matches!(err, Error::PluginNameTaken { ref name } if name == "p"));
    assert_eq!(err.to_string(), "plugin name `p` is already taken by a registered plugin");
}

#[test]
fn a_blocked_name_is_refused_until_unblocked() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("a", &["X"]), "p").unwrap();
    pm.set_blocked("p");
    assert!(pm.is_blocked("p"));
    assert!(!pm.is_registered("p"), "blocking unregisters");
    let err = pm.register_plugin(pack("a", &[]), "p").unwrap_err();
    assert_eq!(err.to_string(), "plugin `p` is blocked; `unblock` it first");
    assert!(pm.unblock("p"));
    assert!(!pm.unblock("p"));
    pm.register_plugin(pack("a", &[]), "p").unwrap();
    assert!(pm.is_registered("p"));
}

#[test]
fn the_same_instance_twice_is_refused() {
    let pm = PluginManager::new();
    let shared = Arc::new(pack("a", &[]));
    pm.register_shared(shared.clone(), "first").unwrap();
    let err = pm.register_shared(shared, "second").unwrap_err();
    assert_eq!(err.to_string(), "cannot register plugin `second`: this instance is already registered as `first`");
    assert!(!pm.is_registered("second"));
}

#[test]
fn unregister_and_metadata() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("ns", &[]), "p").unwrap();
    assert_eq!(pm.get_plugin_metadata("p").unwrap().namespace, "ns");
    assert_eq!(pm.unregister("p").unwrap().unwrap().name, "pack");
    let err = pm.unregister("p").unwrap_err();
    assert_eq!(err.to_string(), "no plugin named `p` is registered");
    pm.register_plugin(pack("ns", &[]), "plugin_one").unwrap();
    let err = pm.get_plugin_metadata("plugin_on").unwrap_err();
    assert_eq!(err.to_string(), "no plugin named `plugin_on` is registered (did you mean `plugin_one`?)");
}

#[test]
fn names_without_a_dot_get_the_namespace_and_both_resolve() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("core", &["Linear"]), "core_layers").unwrap();
    pm.refresh_registries().unwrap();
    assert_eq!(pm.get_layers(), [("core.Linear".to_owned(), "core_layers".to_owned())]);
    assert_eq!(pm.get_layer("Linear").unwrap().name(), "core.Linear");
    assert_eq!(pm.get_layer("core.Linear").unwrap().name(), "core.Linear");
}

struct Seed;
impl Plugin for Seed {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("my_plugin").with_namespace("custom")
    }
}
#[hookimpl]
impl LayerHookSpec for Seed {
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new().add("custom.MyLayer", dense).alias("MyLayer").alias("Mine")
    }
}

#[test]
fn aliases_resolve() {
    let pm = PluginManager::new();
    pm.register_plugin(Seed, "my_plugin").unwrap();
    pm.refresh_registries().unwrap();
    for name in ["custom.MyLayer", "MyLayer", "Mine"] {
        let entry = pm.get_layer(name).unwrap();
        assert_eq!((entry.name(), &*entry.plugin().name), ("custom.MyLayer", "my_plugin"));
        assert!(entry.create(&Config::new()).is_ok());
    }
}

#[test]
fn an_unknown_component_suggests_close_names() {
    let pm = PluginManager::new();
    pm.register_plugin(Seed, "my_plugin").unwrap();
    pm.refresh_registries().unwrap();
    let err = pm.get_layer("MyLayr").unwrap_err();
    assert!(matches!(err, Error::UnknownComponent { kind: ComponentKind::Layer, .. }));
    assert_eq!(err.to_string(), "unknown layer `MyLayr` (did you mean `MyLayer`?)");
    assert_eq!(pm.get_loss("MSELoss").unwrap_err().to_string(), "unknown loss `MSELoss`");
}

#[test]
fn on_a_duplicate_name_the_later_registered_plugin_wins_with_a_warning() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("core", &["Linear", "ReLU"]), "builtin").unwrap();
    pm.register_plugin(pack("core", &["Linear"]), "override").unwrap();
    pm.refresh_registries().unwrap();
    assert_eq!(&*pm.get_layer("Linear").unwrap().plugin().name, "override");
    assert_eq!(&*pm.get_layer("core.Linear").unwrap().plugin().name, "override");
    assert_eq!(&*pm.get_layer("ReLU").unwrap().plugin().name, "builtin");
    let warnings: Vec<String> = pm.registry_warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "layer `core.Linear` is registered by plugins `builtin` and `override`; `override` (registered later) wins",
            "layer `Linear` is registered by plugins `builtin` and `override`; `override` (registered later) wins",
        ]
    );
    assert_eq!(pm.get_layers().len(), 2);
}

#[test]
fn a_short_name_taken_by_another_namespace_goes_to_the_later_plugin() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("core", &["Linear"]), "builtin").unwrap();
    pm.register_plugin(pack("fast", &["Linear"]), "fast").unwrap();
    pm.refresh_registries().unwrap();
    assert_eq!(pm.get_layer("Linear").unwrap().name(), "fast.Linear");
    assert_eq!(pm.get_layer("core.Linear").unwrap().name(), "core.Linear");
    assert_eq!(pm.registry_warnings().len(), 1);
}

#[test]
fn legacy_torch_names_resolve_before_plugin_names() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("core", &["Linear"]), "builtin").unwrap();
    // A plugin that registers the legacy name itself does not take it over.
    pm.register_plugin(pack("torch", &["torch.nn.Linear"]), "hijack").unwrap();
    pm.refresh_registries().unwrap();
    let entry = pm.get_layer("torch.nn.Linear").unwrap();
    assert_eq!((entry.name(), &*entry.plugin().name), ("core.Linear", "builtin"));
}

#[test]
fn validate_component_config_is_false_if_any_plugin_says_so() {
    let pm = PluginManager::new();
    pm.register_plugin(pack("core", &["Dense"]), "a").unwrap();
    pm.refresh_registries().unwrap();
    let good = Config::from_yaml("units: 3").unwrap();
    let bad = Config::from_yaml("unit: 3").unwrap();
    assert!(pm.validate_component_config(ComponentKind::Layer, "Dense", &good).unwrap());
    assert!(!pm.validate_component_config(ComponentKind::Layer, "Dense", &bad).unwrap());
    // A second plugin that owns no such layer answers None and changes nothing.
    pm.register_plugin(pack("other", &["Conv"]), "b").unwrap();
    assert!(pm.validate_component_config(ComponentKind::Layer, "core.Dense", &good).unwrap());
    let err = pm.validate_component_config(ComponentKind::Layer, "Dens", &good).unwrap_err();
    assert_eq!(err.to_string(), "unknown layer `Dens` (did you mean `Dense`?)");
}

#[test]
fn runtime_registration_then_refresh_shows_components() {
    let pm = PluginManager::new();
    pm.refresh_registries().unwrap();
    assert!(pm.get_layer("MyLayer").is_err());
    pm.register_plugin(Seed, "my_plugin").unwrap();
    assert!(pm.get_layer("MyLayer").is_err(), "components appear on refresh");
    pm.refresh_registries().unwrap();
    assert!(pm.get_layer("MyLayer").is_ok());
    pm.unregister("my_plugin").unwrap();
    pm.refresh_registries().unwrap();
    assert!(pm.get_layer("MyLayer").is_err());
}

#[test]
fn the_manager_is_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PluginManager>();
    let pm = Arc::new(PluginManager::new());
    let names: [&'static [&'static str]; 4] = [&["A"], &["B"], &["C"], &["D"]];
    let threads: Vec<_> = names
        .into_iter()
        .enumerate()
        .map(|(i, layer_names)| {
            let pm = pm.clone();
            std::thread::spawn(move || {
                pm.register_plugin(pack("core", layer_names), &format!("p{i}")).unwrap();
                // Hook calls from every thread while others register.
                pm.hook::<dyn LayerHookSpec>().register_layers().unwrap().len()
            })
        })
        .collect();
    for t in threads {
        assert!((1..=4).contains(&t.join().unwrap()));
    }
    pm.refresh_registries().unwrap();
    let mut layers: Vec<String> = pm.get_layers().into_iter().map(|(n, _)| n).collect();
    layers.sort();
    assert_eq!(layers, ["core.A", "core.B", "core.C", "core.D"]);
}
