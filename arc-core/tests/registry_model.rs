//! `Registry::build` against a plain model of its rules: names without a
//! dot get the namespace, short names and aliases resolve, a name
//! registered twice goes to the later-registered plugin with a warning when
//! the plugins differ, and `entries` keeps the components whose full name
//! still resolves to them.

use std::collections::HashMap;
use std::sync::Arc;

use arc_core::Result;
use arc_core::nn::Layer;
use arc_core::plugin::{ComponentKind, PluginInfo, PluginMetadata, Registrations, Registry, RegistryWarning};
use arc_core::spec::Config;
use proptest::prelude::*;

fn never(_: &Config) -> Result<Box<dyn Layer>> {
    unreachable!("not built")
}

/// One plugin's answer: (plugin name, namespace, [(name, aliases)]).
type Answer = (String, String, Vec<(String, Vec<String>)>);

fn names() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "x.a",
        "y.b",
        "y.a",
        "x",
        "ab",
        "a.b.c",
        "c",
        "a_longer_layer_name",
        "x.a_longer_layer_name",
        "a_name_with.a_late_dot",
    ])
    .prop_map(str::to_owned)
}

fn answers() -> impl Strategy<Value = Vec<Answer>> {
    let reg = (names(), prop::collection::vec(names(), 0..3));
    let answer = (
        prop::sample::select(vec!["p", "q", "r"]).prop_map(str::to_owned),
        prop::sample::select(vec!["x", "y", "a", "a.b"]).prop_map(str::to_owned),
        prop::collection::vec(reg, 0..5),
    );
    prop::collection::vec(answer, 0..5)
}

struct Model {
    /// (full name, plugin, short name and aliases), in registration order.
    slots: Vec<(String, String, Vec<String>)>,
    index: HashMap<String, usize>,
    warnings: Vec<RegistryWarning>,
}

/// `answers` in registration order, as `build` takes them.
fn model(answers: &[Answer]) -> Model {
    let mut m = Model { slots: Vec::new(), index: HashMap::new(), warnings: Vec::new() };
    for (plugin, namespace, regs) in answers.iter() {
        for (name, aliases) in regs {
            let slot = m.slots.len();
            let full = if name.contains('.') { name.clone() } else { format!("{namespace}.{name}") };
            let short = (!name.contains('.')).then(|| name.clone());
            let aliases: Vec<String> = short.into_iter().chain(aliases.iter().cloned()).collect();
            m.slots.push((full.clone(), plugin.clone(), aliases.clone()));
            for key in std::iter::once(full).chain(aliases) {
                if let Some(old) = m.index.insert(key.clone(), slot)
                    && old != slot
                    && m.slots[old].1 != *plugin
                {
                    m.warnings.push(RegistryWarning {
                        kind: ComponentKind::Layer,
                        name: key,
                        winner: plugin.clone(),
                        loser: m.slots[old].1.clone(),
                    });
                }
            }
        }
    }
    m
}

fn build(answers: &[Answer]) -> (Registry<dyn Layer>, Vec<RegistryWarning>) {
    let answers = answers
        .iter()
        .map(|(plugin, namespace, regs)| {
            let info = PluginInfo::runtime(plugin, PluginMetadata::named("model").with_namespace(namespace.clone()));
            let regs = regs.iter().fold(Registrations::new(), |r, (name, aliases)| {
                aliases.iter().fold(r.add(name.clone(), never), |r, a| r.alias(a.clone()))
            });
            (Arc::new(info), regs)
        })
        .collect();
    let mut warnings = Vec::new();
    (Registry::build(ComponentKind::Layer, answers, &mut warnings), warnings)
}

proptest! {
    #[test]
    fn build_follows_the_model(answers in answers()) {
        let m = model(&answers);
        let (registry, warnings) = build(&answers);
        prop_assert_eq!(warnings, m.warnings);
        for (key, &slot) in &m.index {
            let got = registry.get(key).expect("every model key resolves");
            prop_assert_eq!(got.name(), &m.slots[slot].0);
            prop_assert_eq!(&*got.plugin().name, &m.slots[slot].1);
            prop_assert_eq!(got.aliases(), m.slots[slot].2.iter().map(String::as_str).collect::<Vec<_>>());
        }
        // Names no component has resolve to nothing.
        for name in ["z", "z.a", "x.z", "a.b", "a.b.b", "x.c", "b.a", "a.", ".a", "", "x.x.a", "a_longer_layer"] {
            if !m.index.contains_key(name) {
                prop_assert!(registry.get(name).is_none(), "{name} resolves");
            }
        }
        let mut keys: Vec<&str> = registry.keys().collect();
        keys.sort_unstable();
        let mut model_keys: Vec<&str> = m.index.keys().map(|k| k.as_str()).collect();
        model_keys.sort_unstable();
        prop_assert_eq!(keys, model_keys);
        let entries: Vec<(&str, &str)> = registry.entries().map(|e| (e.name(), &*e.plugin().name)).collect();
        let model_entries: Vec<(&str, &str)> = m
            .slots
            .iter()
            .enumerate()
            .filter(|(s, (full, _, _))| m.index[full] == *s)
            .map(|(_, (full, plugin, _))| (full.as_str(), plugin.as_str()))
            .collect();
        prop_assert_eq!(registry.len(), model_entries.len());
        prop_assert_eq!(entries, model_entries);
        prop_assert_eq!(registry.is_empty(), m.slots.is_empty());
    }
}
