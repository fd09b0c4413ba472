//! [`ValidationIssue`]: one problem found in a spec, with where it is.

use std::fmt;

use super::Location;

/// How bad an issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; the spec still runs.
    Warning,
    /// The spec cannot run.
    Error,
}

/// One problem a validator found.
///
/// ```
/// use arc_core::validate::ValidationIssue;
/// use arc_core::spec::Location;
///
/// let issue = ValidationIssue::error("node `a`: unknown input `b`").at("model.graph[0].inputs");
/// assert_eq!(issue.to_string(), "error: model.graph[0].inputs: node `a`: unknown input `b`");
/// let issue = issue.located(Location { origin: "s.yaml".into(), line: 7, column: 15 });
/// assert_eq!(issue.to_string(), "s.yaml:7:15: error: node `a`: unknown input `b`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationIssue {
    /// How bad it is.
    pub severity: Severity,
    /// The YAML path it is about (`model.graph[1].inputs`), when known.
    pub path: Option<String>,
    /// The file, line and column, when known (the validator fills it from
    /// `path` for issues that give only a path).
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl ValidationIssue {
    /// An error-level issue.
    pub fn error(message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, path: None, location: None, message: message.into() }
    }

    /// A warning-level issue.
    pub fn warning(message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, path: None, location: None, message: message.into() }
    }

    /// Sets the YAML path the issue is about.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the file, line and column.
    pub fn located(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Whether it is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match (&self.location, &self.path) {
            (Some(at), _) => write!(f, "{at}: {level}: {}", self.message),
            (None, Some(path)) => write!(f, "{level}: {path}: {}", self.message),
            (None, None) => write!(f, "{level}: {}", self.message),
        }
    }
}

/// The number of error-level issues.
pub fn count_errors(issues: &[ValidationIssue]) -> usize {
    issues.iter().filter(|i| i.is_error()).count()
}

/// The issues, one a line.
pub fn render(issues: &[ValidationIssue]) -> String {
    issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
