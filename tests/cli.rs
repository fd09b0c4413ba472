//! `arc plugins` and `arc plugins --json` on the built binary.

use std::process::Command;

fn arc(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arc")).args(args).output().expect("the arc binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugins_json_lists_each_plugin_with_metadata_origin_and_components() {
    let (ok, stdout, stderr) = arc(&["plugins", "--json"]);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let plugins = doc["plugins"].as_array().expect("a plugin list");
    let names: Vec<&str> = plugins.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.contains(&"builtin_layers"), cfg!(feature = "layers"));
    for p in plugins {
        for key in ["version", "description", "namespace"] {
            assert!(p[key].is_string(), "{key} of {p}");
        }
        assert_eq!(p["origin"], "linked");
        let kinds: Vec<&String> = p["components"].as_object().unwrap().keys().collect();
        // In `ComponentKind` order (JSON objects keep their insertion order).
        assert_eq!(kinds, ["layer", "processor", "optimizer", "loss", "validator", "data_source", "exporter"]);
    }
}

#[test]
fn plugins_text_names_each_plugin() {
    let (ok, stdout, _) = arc(&["plugins"]);
    assert!(ok);
    let count = arc::get_plugin_manager().list_plugins().len();
    assert!(stdout.starts_with(&format!("{count} plugin")), "{stdout}");
    if cfg!(feature = "layers") {
        assert!(stdout.contains("builtin_layers 0.1.0  [linked, namespace `core`]"), "{stdout}");
    }
}

#[test]
fn an_unknown_subcommand_fails_with_usage() {
    let (ok, _, stderr) = arc(&["plugns"]);
    assert!(!ok);
    assert!(stderr.contains("unrecognized subcommand 'plugns'"), "{stderr}");
}
