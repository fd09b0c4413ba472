//! arc-core's top-level modules import one another one way only: no import
//! cycle between them, and each imports only modules of lower layers (the
//! layers `docs/ARCHITECTURE.md` draws). Every path into the crate counts:
//! `use crate::...` lines, inline `crate::x::y` paths, `crate::{a, b::c}`
//! groups, `super::super::x` climbing to the root, and names re-exported at
//! the crate root (`crate::Error` is `error`, `crate::Tensor` is `tensor`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may import the modules of the layers
/// before its own (never its own layer's, never a later one's).
const LAYERS: &[&[&str]] = &[
    &["types"],
    &["error"],
    &["tensor"],
    &["lower"],
    &["nn", "data"],
    &["process", "distributed"],
    &["spec"],
    &["export"],
    &["plugin"],
    &["graph", "pipeline"],
    &["validate", "model_dir"],
    &["train"],
    &["predictor"],
    &["__private"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments and string literals (doc examples and messages name paths
/// that are not imports).
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The module path of a file: `graph/model.rs` is `[graph, model]`, `graph/mod.rs` `[graph]`.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// Identifiers (and `{` groups) that follow each `prefix` in `code`, as the text after it.
fn after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(at) = code[start..].find(prefix) {
        let i = start + at;
        let boundary = i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        if boundary {
            found.push(&code[i + prefix.len()..]);
        }
        start = i + prefix.len();
    }
    found
}

/// The first names of the paths at the start of `rest`: `x::...` gives `x`; `{a, b::c, d}`
/// gives `a`, `b`, `d` (nested groups stay inside their item).
fn first_names(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut names = Vec::new();
        let (mut depth, mut item) = (0usize, String::new());
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.extend(first_names(item.trim()).into_iter().take(1));
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        names.extend(first_names(item.trim()).into_iter().take(1));
        return names;
    }
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() { Vec::new() } else { vec![name] }
}

/// Each root re-export of `lib.rs` (`pub use error::{Error, Result}`) as name → module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in code(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else { continue };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.trim().rsplit(" as ").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// Module → the other top-level modules it imports, with one file that does, per import.
fn imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let tops: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| (*m).to_owned())).collect();
    let resolve = |name: &str| -> Option<String> {
        if tops.contains(name) { Some(name.to_owned()) } else { reexports.get(name).cloned() }
    };
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in all {
        let path = module_path(&file);
        let Some(top) = path.first().cloned() else { continue };
        assert!(tops.contains(&top), "`{top}` ({}) is in no layer of this test", file.display());
        let text = code(&std::fs::read_to_string(&file).expect("readable"));
        let mut names = Vec::new();
        for prefix in ["crate::", "arc_core::"] {
            for rest in after(&text, prefix) {
                names.extend(first_names(rest));
            }
        }
        // `super::super::x` from depth d reaches the root after d `super`s.
        let depth = path.len();
        let climbs = "super::".repeat(depth);
        for rest in after(&text, &climbs) {
            names.extend(first_names(rest));
        }
        for name in names {
            if let Some(target) = resolve(&name)
                && target != top
            {
                let shown = file.strip_prefix(src()).unwrap_or(&file).display().to_string();
                graph.entry(top.clone()).or_default().entry(target).or_insert(shown);
            }
        }
    }
    graph
}

fn layer(module: &str) -> usize {
    LAYERS.iter().position(|l| l.contains(&module)).expect("a layer")
}

#[test]
fn top_level_modules_import_lower_layers_only() {
    let graph = imports();
    let mut wrong = Vec::new();
    for (from, targets) in &graph {
        for (to, file) in targets {
            if layer(to) >= layer(from) {
                wrong.push(format!("{from} (layer {}) imports {to} (layer {}) in {file}", layer(from), layer(to)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn top_level_modules_form_no_import_cycle() {
    let graph = imports();
    // Depth-first search for a back edge; the cycle is named whole.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flat_map(|t| t.keys()) {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle between arc-core's top-level modules: {}", cycle.join(" → "));
        }
    }
}

/// The checks see what they must: a group, an inline path, a climb and a root
/// re-export each count, and comments and strings do not.
#[test]
fn the_scanner_counts_every_kind_of_path() {
    let text = code(
        "use crate::{error::Error, spec::{Config, ArcSpec}};\nfn f() -> crate::Tensor { super::super::graph::x() }\n\
         // crate::train\nconst S: &str = \"crate::predictor\";",
    );
    let mut names: Vec<String> = after(&text, "crate::").into_iter().flat_map(first_names).collect();
    names.extend(after(&text, "super::super::").into_iter().flat_map(first_names));
    assert_eq!(names, ["error", "spec", "Tensor", "graph"]);
    let lib = "pub use error::{DidYouMean, Error, Result};\npub use tensor::Tensor;";
    let map = root_reexports(lib);
    assert_eq!((map["Error"].as_str(), map["Tensor"].as_str()), ("error", "tensor"));
}
