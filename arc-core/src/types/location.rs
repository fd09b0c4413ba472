//! A place in a spec's text.

use std::fmt;

/// A place in a spec file: its origin (file name) and the 1-based line and
/// column.
///
/// ```
/// use arc_core::spec::Location;
///
/// let at = Location { origin: "iris.yaml".into(), line: 34, column: 13 };
/// assert_eq!(at.to_string(), "iris.yaml:34:13");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The file the text came from, or `<string>`.
    pub origin: String,
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}
