//! The linking rule (DESIGN.md §3.4): plugins behind a disabled feature are
//! absent, enabled ones present; a plugin linked into this test binary is
//! found with no registration code; linked plugins register in name order.

use arc::plugin::{PluginManager, PluginOrigin};
use arc::{arc_plugin, get_plugin_manager};

/// Linked by being in this crate: no registration code anywhere.
#[arc_plugin(
    name = "zz_linked_test_plugin",
    version = "9.9.9",
    description = "Found by discover_plugins.",
    namespace = "testing"
)]
#[derive(Default)]
struct LinkedTestPlugin;

fn names(pm: &PluginManager) -> Vec<String> {
    pm.list_plugins().iter().map(|p| p.name.to_string()).collect()
}

#[test]
fn plugin_crates_follow_their_features() {
    let names = names(get_plugin_manager());
    let groups = [
        ("builtin_layers", cfg!(feature = "layers")),
        ("builtin_processors", cfg!(feature = "processors")),
        ("builtin_optimizers", cfg!(feature = "optimizers")),
        ("builtin_losses", cfg!(feature = "losses")),
        ("builtin_validators", cfg!(feature = "validators")),
        ("builtin_data_sources", cfg!(feature = "data-sources")),
        ("builtin_exporters", cfg!(feature = "exporters")),
        ("my_plugin", cfg!(feature = "example-plugin")),
        ("example", cfg!(feature = "example-plugin")),
    ];
    for (plugin, enabled) in groups {
        assert_eq!(
            names.iter().any(|n| n == plugin),
            enabled,
            "{plugin}: feature enabled = {enabled}, plugins = {names:?}"
        );
    }
}

#[test]
fn a_plugin_in_the_binary_is_discovered_with_its_metadata() {
    let pm = get_plugin_manager();
    let info =
        pm.list_plugins().into_iter().find(|p| &*p.name == "zz_linked_test_plugin").expect("linked plugin discovered");
    assert_eq!(info.origin, PluginOrigin::Linked);
    assert_eq!((&*info.metadata.version, &*info.metadata.namespace), ("9.9.9", "testing"));
    assert_eq!(info.metadata.description, "Found by discover_plugins.");
}

#[test]
fn linked_plugins_register_in_name_order() {
    let names = names(get_plugin_manager());
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn discover_skips_blocked_and_registered_names() {
    let pm = PluginManager::new();
    pm.set_blocked("zz_linked_test_plugin");
    let found = pm.discover_plugins().unwrap();
    assert!(!pm.is_registered("zz_linked_test_plugin"));
    assert_eq!(pm.discover_plugins().unwrap(), 0, "a second discovery adds nothing");
    pm.unblock("zz_linked_test_plugin");
    assert_eq!(pm.discover_plugins().unwrap(), 1);
    assert_eq!(pm.list_plugins().len(), found + 1);
}
