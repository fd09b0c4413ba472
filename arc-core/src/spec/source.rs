//! Where things are in a spec's YAML text: a [`Location`] per value and per
//! mapping key, indexed by path (`model.graph[1].inputs`).
//!
//! serde_yaml keeps no positions once a document is a value, so the index
//! is built from a second, marked pass of the `saphyr-parser` event parser
//! over the same text.

use std::collections::HashMap;

pub use crate::types::Location;

use saphyr_parser::{Event, Parser, Span};

/// The positions of a YAML document's values and keys, by path.
///
/// A path joins mapping keys with `.` and sequence indices as `[i]`; the
/// root is the empty path.
///
/// ```
/// use arc_core::spec::SourceMap;
///
/// let map = SourceMap::build("model:\n  graph:\n    - {name: a, type: ReLU}\n", "m.yaml");
/// assert_eq!(map.value("model.graph[0].type").map(|l| (l.line, l.column)), Some((3, 23)));
/// assert_eq!(map.key("model.graph[0].type").map(|l| (l.line, l.column)), Some((3, 17)));
/// assert_eq!(map.locate("model.graph[0].nothing").map(|l| l.to_string()), Some("m.yaml:3:7".into()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    origin: String,
    /// path → (value position, key position when the value is under a key).
    positions: HashMap<String, (Pos, Option<Pos>)>,
}

/// A 1-based (line, column).
type Pos = (usize, usize);

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

impl SourceMap {
    /// Indexes `text`, whose errors will name `origin`. A document that does
    /// not parse is indexed up to the error (its parse error is reported by
    /// the YAML loader).
    pub fn build(text: &str, origin: &str) -> Self {
        let mut map = Self { origin: origin.to_owned(), positions: HashMap::new() };
        let mut stack: Vec<Frame> = Vec::new();
        let pos = |span: &Span| (span.start.line(), span.start.col() + 1);
        let mut pending_key: Option<(String, Pos)> = None;
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(..) | Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..) => {
                    // A scalar in key position of a mapping is a key.
                    if let Some(Frame::Map { path, key: key @ None }) = stack.last_mut() {
                        let name = match &event {
                            Event::Scalar(s, ..) => s.to_string(),
                            _ => "?".to_owned(),
                        };
                        pending_key = Some((join(path, &name), pos(&span)));
                        *key = Some(name);
                        if let Event::MappingStart(..) | Event::SequenceStart(..) = event {
                            // A complex key: index nothing inside it.
                            stack.push(Frame::Seq { path: "?".into(), index: 0 });
                        }
                        continue;
                    }
                    let path = match stack.last() {
                        None => String::new(),
                        Some(Frame::Map { .. }) => pending_key.as_ref().map(|(p, _)| p.clone()).unwrap_or_default(),
                        Some(Frame::Seq { path, index }) => format!("{path}[{index}]"),
                    };
                    let key_pos = pending_key.take().map(|(_, p)| p);
                    map.positions.entry(path.clone()).or_insert((pos(&span), key_pos));
                    match event {
                        Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                        Event::SequenceStart(..) => stack.push(Frame::Seq { path, index: 0 }),
                        _ => value_done(&mut stack),
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    value_done(&mut stack);
                }
                _ => {}
            }
        }
        map
    }

    /// The origin named in locations.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where the value at `path` starts.
    pub fn value(&self, path: &str) -> Option<Location> {
        self.positions.get(path).map(|(p, _)| self.at(*p))
    }

    /// Where the key of the value at `path` is (`None` for a list item).
    pub fn key(&self, path: &str) -> Option<Location> {
        self.positions.get(path).and_then(|(_, k)| k.map(|p| self.at(p)))
    }

    /// The best location for `path`: its value, else the nearest enclosing
    /// value that exists (so a missing key points at the mapping that lacks
    /// it).
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(found) = self.value(path) {
                return Some(found);
            }
            if path.is_empty() {
                return None;
            }
            path = parent(path);
        }
    }

    fn at(&self, (line, column): Pos) -> Location {
        Location { origin: self.origin.clone(), line, column }
    }
}

/// A finished value moves its container on: a mapping to its next key, a
/// sequence to its next index.
fn value_done(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key, .. }) => *key = None,
        Some(Frame::Seq { index, .. }) => *index += 1,
        None => {}
    }
}

/// `path.key`, or `key` at the root.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// The enclosing path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
pub(crate) fn parent(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    &path[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
model_name: iris
model:
  inputs:
    features: [null, vars.n]
  graph:
    - name: fc1
      type: Linear
    - {name: act, type: ReLU}
";

    fn at(map: &SourceMap, path: &str) -> Option<(usize, usize)> {
        map.value(path).map(|l| (l.line, l.column))
    }

    #[test]
    fn values_and_keys_are_indexed_by_path() {
        let map = SourceMap::build(TEXT, "s.yaml");
        assert_eq!(at(&map, ""), Some((1, 1)));
        assert_eq!(at(&map, "model_name"), Some((1, 13)));
        assert_eq!(at(&map, "model.inputs.features[1]"), Some((4, 22)));
        assert_eq!(at(&map, "model.graph[0]"), Some((6, 7)));
        assert_eq!(at(&map, "model.graph[0].type"), Some((7, 13)));
        assert_eq!(map.key("model.graph[0].type").map(|l| (l.line, l.column)), Some((7, 7)));
        assert_eq!(at(&map, "model.graph[1].name"), Some((8, 14)));
        assert_eq!(map.key("model.graph[1]"), None);
    }

    #[test]
    fn missing_paths_fall_back_to_the_enclosing_value() {
        let map = SourceMap::build(TEXT, "s.yaml");
        assert_eq!(map.locate("model.graph[1].params.x").map(|l| l.to_string()).as_deref(), Some("s.yaml:8:7"));
        assert_eq!(map.locate("trainer").map(|l| l.to_string()).as_deref(), Some("s.yaml:1:1"));
        assert_eq!(parent("a.b[2]"), "a.b");
        assert_eq!(parent("a"), "");
    }
}
