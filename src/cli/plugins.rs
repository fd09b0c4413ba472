//! `arc plugins [--json]`.

use std::io::{self, Write};
use std::process::ExitCode;

use arc::plugin::{ComponentKind, PluginInfo};
use serde_json::{Map, Value, json};

use super::args::PluginsArgs;

pub fn run(args: &PluginsArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let registries = pm.registries();
    let plugins = pm.list_plugins();
    let components = |plugin: &PluginInfo, kind: ComponentKind| -> Vec<String> {
        registries
            .components(kind)
            .into_iter()
            .filter(|(_, owner)| *owner == &*plugin.name)
            .map(|(name, _)| name.to_owned())
            .collect()
    };
    let mut out = io::stdout().lock();
    if args.json {
        let list: Vec<Value> = plugins
            .iter()
            .map(|p| {
                let mut by_kind = Map::new();
                for kind in ComponentKind::ALL {
                    by_kind.insert(kind.as_str().to_owned(), json!(components(p, kind)));
                }
                json!({
                    "name": &*p.name,
                    "version": p.metadata.version,
                    "description": p.metadata.description,
                    "namespace": p.metadata.namespace,
                    "origin": p.origin.as_str(),
                    "components": by_kind,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &json!({ "plugins": list }))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{} plugin{}", plugins.len(), if plugins.len() == 1 { "" } else { "s" })?;
    for p in &plugins {
        let version = if p.metadata.version.is_empty() { String::new() } else { format!(" {}", p.metadata.version) };
        writeln!(out, "\n{}{version}  [{}, namespace `{}`]", p.name, p.origin.as_str(), p.metadata.namespace)?;
        if !p.metadata.description.is_empty() {
            writeln!(out, "  {}", p.metadata.description)?;
        }
        let mut any = false;
        for kind in ComponentKind::ALL {
            let names = components(p, kind);
            if !names.is_empty() {
                any = true;
                writeln!(out, "  {kind}s: {}", names.join(", "))?;
            }
        }
        if !any {
            writeln!(out, "  (registers no components)")?;
        }
    }
    for warning in pm.registry_warnings() {
        writeln!(out, "\nwarning: {warning}")?;
    }
    Ok(ExitCode::SUCCESS)
}
