//! The trait of the spec validators that `ValidatorHookSpec` plugins register.

use super::ArcSpec;
use crate::types::ValidationIssue;

/// A model validator, registered by `ValidatorHookSpec::register_validators`
/// and run over every spec before it is built.
///
/// ```
/// use arc_core::spec::{ArcSpec, Validator};
/// use arc_core::validate::ValidationIssue;
///
/// /// Asks for a description.
/// struct Described;
/// impl Validator for Described {
///     fn validate(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
///         let missing = spec.description.is_none();
///         missing.then(|| ValidationIssue::warning("no description").at("model_name")).into_iter().collect()
///     }
/// }
/// let spec = ArcSpec::from_yaml("model_name: m\nmodel: {graph: []}", "m.yaml")?;
/// assert_eq!(Described.validate(&spec)[0].to_string(), "warning: model_name: no description");
/// # Ok::<(), arc_core::Error>(())
/// ```
pub trait Validator: Send + Sync {
    /// The issues found in `spec`; none by default.
    fn validate(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        let _ = spec;
        Vec::new()
    }
}
