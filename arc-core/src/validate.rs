//! Model validators: plugins that check a whole spec.

use std::fmt;

use crate::spec::ArcSpec;

/// How bad an issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; the spec still runs.
    Warning,
    /// The spec cannot run.
    Error,
}

/// One problem a validator found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationIssue {
    /// How bad it is.
    pub severity: Severity,
    /// Where: a YAML path or node name, when known.
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ValidationIssue {
    /// An error-level issue.
    pub fn error(message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, location: None, message: message.into() }
    }

    /// A warning-level issue.
    pub fn warning(message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, location: None, message: message.into() }
    }

    /// Sets where the issue is.
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match &self.location {
            Some(at) => write!(f, "{level}: {at}: {}", self.message),
            None => write!(f, "{level}: {}", self.message),
        }
    }
}

/// A model validator, registered by `ValidatorHookSpec::register_validators`
/// and run over every spec before it is built.
pub trait Validator: Send + Sync {
    /// The issues found in `spec`; none by default.
    fn validate(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        let _ = spec;
        Vec::new()
    }
}
