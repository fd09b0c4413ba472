//! The JSON Schema (draft 2020-12) of a spec, from the registered plugins:
//! what `arc schema` prints, for editors (yaml-language-server) and CI.
//!
//! Each component's params come from its registration's
//! [`ParamsSchema`](crate::plugin::ParamsSchema) (derived from its config
//! type), made here on demand. Wherever a param takes a number, a
//! `vars.X` reference is accepted too. A node's `type` accepts every name
//! that resolves to a layer: full names, short names, aliases, `torch.nn.*`
//! names, and `module.<name>`.

use serde_json::{Map, Value, json};

use crate::plugin::{ComponentRef, PluginManager, Registry, legacy_names_of};

/// `vars.X`, as a string.
const VAR_REF: &str = r"^vars\.[A-Za-z_][A-Za-z0-9_]*$";
/// A `tensors.X`, `states.X` or `vars.X` reference.
const ANY_REF: &str = r"^(tensors|states|vars)\.[A-Za-z_][A-Za-z0-9_.]*$";

/// The params schema of `component` with its `$ref`s inlined and numbers
/// accepting `vars.X`; `{}` (anything) when its plugin gave none.
pub fn component_params_schema<C: ?Sized>(component: &ComponentRef<'_, C>) -> Value {
    match component.params_schema() {
        Some(schema) => with_var_refs(inline_refs(schema)),
        None => json!({}),
    }
}

/// The JSON Schema of a spec whose components are `manager`'s.
pub fn spec_schema(manager: &PluginManager) -> Value {
    let registries = manager.registries();
    let layer_names = |c: &ComponentRef<'_, dyn crate::nn::Layer>| {
        let mut names = resolving_names(&registries.layers, c);
        names.extend(legacy_names_of(c.name()).map(str::to_owned));
        names
    };
    let layers: Vec<(Vec<String>, Value)> =
        registries.layers.entries().map(|c| (layer_names(&c), component_params_schema(&c))).collect();
    let processors = cases(&registries.processors);
    let optimizers = cases(&registries.optimizers);
    let losses = cases(&registries.losses);

    let all = |cases: &[(Vec<String>, Value)]| -> Vec<String> { cases.iter().flat_map(|(n, _)| n.clone()).collect() };
    let layer_type = json!({
        "description": "A registered layer: full name, short name, alias, `torch.nn.*` name, or `module.<name>`.",
        "anyOf": [{"enum": all(&layers)}, {"type": "string", "pattern": r"^module\.[A-Za-z_][A-Za-z0-9_]*$"}]
    });
    let node = json!({
        "type": "object",
        "required": ["name", "type"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "description": "The node's name (its weights are `name.weight`, ...)."},
            "type": layer_type,
            "params": {"type": ["object", "null"]},
            "inputs": {
                "description": "One value, a list, or port: value.",
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "object", "additionalProperties": {"type": "string"}}]
            }
        },
        "allOf": selected(&layers, "type", "params", false)
    });
    let model = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "inputs": {
                "type": "object",
                "description": "Model inputs: a shape (`[null, vars.n_features]`) or {shape, dtype, source}.",
                "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}, {"type": "null"}]}
            },
            "graph": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            "outputs": {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "array", "items": {"type": "string"}}, {"type": "string"}]}
        }
    });
    let step = json!({
        "type": "object",
        "required": ["name", "op"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string"},
            "op": {"enum": all(&processors), "description": "A registered processor."},
            "train_only": {"type": "boolean"},
            "inputs": {"type": "object"},
            "outputs": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "allOf": selected(&processors, "op", "inputs", true)
    });
    let component = |cases: &[(Vec<String>, Value)], extra: Value| {
        let mut properties = json!({
            "type": {"enum": all(cases)},
            "config": {"type": ["object", "null"]},
            "params": {"type": ["object", "null"]}
        });
        if let (Some(p), Value::Object(extra)) = (properties.as_object_mut(), extra) {
            p.extend(extra);
        }
        let mut selectors = selected(cases, "type", "config", false);
        selectors.extend(selected(cases, "type", "params", false));
        json!({"type": "object", "required": ["type"], "additionalProperties": false, "properties": properties, "allOf": selectors})
    };
    let number = || json!({"type": "number"});
    let count = || json!({"type": "integer", "minimum": 0});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Arc-Graph spec",
        "description": "An Arc-Graph spec, with the parameters of every component registered in this `arc`.",
        "type": "object",
        "required": ["model_name", "model"],
        "additionalProperties": false,
        "properties": {
            "version": {"type": ["string", "number"]},
            "model_name": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "features": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "feature_columns": {"type": "array", "items": {"type": "string"}},
                    "target_columns": {"type": "array", "items": {"type": "string"}},
                    "processors": {"type": "array", "items": step}
                }
            },
            "modules": {"type": "object", "additionalProperties": {"$ref": "#/$defs/model"}},
            "model": {"$ref": "#/$defs/model"},
            "trainer": {
                "type": "object",
                "required": ["optimizer", "loss"],
                "additionalProperties": false,
                "properties": {
                    "optimizer": component(&optimizers, json!({})),
                    "loss": component(&losses, json!({"inputs": {"type": "object", "additionalProperties": {"type": "string"}}})),
                    "config": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "epochs": count(), "batch_size": count(), "learning_rate": number(),
                            "validation_split": number(), "seed": count(), "shuffle": {"type": "boolean"},
                            "early_stopping": {"type": ["object", "null"]}, "gradient_clip": {"type": ["object", "null"]},
                            "checkpoint_every": {"type": ["integer", "null"]},
                            "device": {"type": "string"}, "memory_budget_mb": {"type": ["number", "null"]}
                        }
                    }
                }
            },
            "predictor": {"type": ["object", "null"]}
        },
        "$defs": {"model": model, "node": node}
    })
}

/// (names that resolve to it, params schema) of every component of `registry`.
fn cases<C: ?Sized>(registry: &Registry<C>) -> Vec<(Vec<String>, Value)> {
    registry.entries().map(|c| (resolving_names(registry, &c), component_params_schema(&c))).collect()
}

/// The component's full name, short name and aliases that resolve to it (a
/// short name another plugin took later resolves to that one).
fn resolving_names<C: ?Sized>(registry: &Registry<C>, component: &ComponentRef<'_, C>) -> Vec<String> {
    std::iter::once(component.name())
        .chain(component.aliases())
        .filter(|n| registry.resolve(n).is_ok_and(|r| r.name() == component.name()))
        .map(str::to_owned)
        .collect()
}

/// `if <key> is one of a component's names then <field> follows its params
/// schema`, one per component. `refs_too`: other keys may be references
/// (a processor step's ports).
fn selected(cases: &[(Vec<String>, Value)], key: &str, field: &str, refs_too: bool) -> Vec<Value> {
    cases
        .iter()
        .filter(|(names, schema)| !names.is_empty() && schema.as_object().is_some_and(|o| !o.is_empty()))
        .map(|(names, schema)| {
            let mut schema = schema.clone();
            if refs_too && let Some(o) = schema.as_object_mut() {
                o.insert("additionalProperties".into(), json!({"type": "string", "pattern": ANY_REF}));
            }
            json!({
                "if": {"properties": {key: {"enum": names}}, "required": [key]},
                "then": {"properties": {field: {"if": {"type": "object"}, "then": schema}}}
            })
        })
        .collect()
}

/// `schema` with `#/$defs/X` references replaced by the definitions (config
/// types are not recursive), without `$defs` and `$schema`.
fn inline_refs(mut schema: Value) -> Value {
    let defs = schema.as_object_mut().and_then(|o| o.remove("$defs")).unwrap_or(Value::Null);
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
    }
    fn walk(v: &mut Value, defs: &Value, depth: usize) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref")
                    && let Some(name) = r.strip_prefix("#/$defs/")
                    && let Some(def) = defs.get(name)
                    && depth < 16
                {
                    let mut def = def.clone();
                    o.remove("$ref");
                    walk(&mut def, defs, depth + 1);
                    if let Value::Object(d) = def {
                        for (k, val) in d {
                            o.entry(k).or_insert(val);
                        }
                    }
                }
                o.values_mut().for_each(|x| walk(x, defs, depth));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, defs, depth)),
            _ => {}
        }
    }
    walk(&mut schema, &defs, 0);
    schema
}

/// `schema` with every numeric schema also accepting a `vars.X` string.
fn with_var_refs(mut schema: Value) -> Value {
    fn numeric(o: &Map<String, Value>) -> bool {
        let is_num = |t: &Value| matches!(t.as_str(), Some("integer" | "number"));
        match o.get("type") {
            Some(Value::String(_)) => is_num(&o["type"]),
            Some(Value::Array(ts)) => ts.iter().any(is_num),
            _ => false,
        }
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for (key, child) in o.iter_mut() {
                    // Property names are not schemas; every value under them is.
                    if key != "required" && key != "enum" && key != "const" && key != "default" && key != "examples" {
                        walk(child);
                    }
                }
                if numeric(o) {
                    // The doc and the default stay outside, where editors show them.
                    let kept: Vec<(String, Value)> = ["description", "default"]
                        .iter()
                        .filter_map(|k| o.remove(*k).map(|v| ((*k).to_owned(), v)))
                        .collect();
                    let inner = Value::Object(std::mem::take(o));
                    o.insert("anyOf".into(), json!([inner, {"type": "string", "pattern": VAR_REF}]));
                    o.extend(kept);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Value::Object(o) = &mut schema {
        for child in o.values_mut() {
            walk(child);
        }
    }
    schema
}
