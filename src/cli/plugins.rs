//! `arc plugins [--json]`.

use std::io::{self, Write};
use std::process::ExitCode;

use arc::plugin::{ComponentKind, PluginInfo, Registries, Registry};
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
                let mut params = Map::new();
                for kind in ComponentKind::ALL {
                    for name in components(p, kind) {
                        if let Some(schema) = params_schema(&registries, kind, &name) {
                            params.insert(name, schema);
                        }
                    }
                }
                json!({
                    "name": &*p.name,
                    "version": p.metadata.version,
                    "description": p.metadata.description,
                    "namespace": p.metadata.namespace,
                    "origin": p.origin.as_str(),
                    "components": by_kind,
                    "params": params,
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
                writeln!(out, "  {}: {}", plural(kind), names.join(", "))?;
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

/// The heading of `kind`'s components in the text listing: `layers`,
/// `losses`, `data_sources`, ...
fn plural(kind: ComponentKind) -> String {
    match kind {
        ComponentKind::Loss => "losses".to_owned(),
        _ => format!("{}s", kind.as_str()),
    }
}

/// The params schema of the component `name` of `kind` (its `$ref`s
/// inlined, numbers accepting `vars.X`), when its plugin gave one.
fn params_schema(registries: &Registries, kind: ComponentKind, name: &str) -> Option<Value> {
    fn of<C: ?Sized>(registry: &Registry<C>, name: &str) -> Option<Value> {
        let component = registry.resolve(name).ok()?;
        component.params_schema().map(|_| arc::validate::component_params_schema(&component))
    }
    match kind {
        ComponentKind::Layer => of(&registries.layers, name),
        ComponentKind::Processor => of(&registries.processors, name),
        ComponentKind::Optimizer => of(&registries.optimizers, name),
        ComponentKind::Loss => of(&registries.losses, name),
        ComponentKind::Validator => of(&registries.validators, name),
        ComponentKind::DataSource => of(&registries.data_sources, name),
        ComponentKind::Exporter => of(&registries.exporters, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_an_english_plural() {
        let plurals: Vec<String> = ComponentKind::ALL.into_iter().map(plural).collect();
        assert_eq!(
            plurals,
            ["layers", "processors", "optimizers", "losses", "validators", "data_sources", "exporters"]
        );
    }
}
