//! The one error type of arc-core, grouped by concern.

use std::fmt;

use crate::plugin::ComponentKind;

/// Every error arc-core returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- plugins -------------------------------------------------------
    /// A plugin with this name is already registered.
    #[error("plugin name `{name}` is already taken by a registered plugin")]
    PluginNameTaken {
        /// The plugin name.
        name: String,
    },
    /// The name is blocked (`set_blocked`).
    #[error("plugin `{name}` is blocked; `unblock` it first")]
    PluginBlocked {
        /// The plugin name.
        name: String,
    },
    /// This very instance is registered already.
    #[error("cannot register plugin `{name}`: this instance is already registered as `{as_name}`")]
    PluginAlreadyRegistered {
        /// The name asked for.
        name: String,
        /// The name it is registered under.
        as_name: String,
    },
    /// No plugin of that name is registered.
    #[error("no plugin named `{name}` is registered{hint}")]
    PluginNotFound {
        /// The name asked for.
        name: String,
        /// Close names.
        hint: DidYouMean,
    },
    /// A hook implementation panicked; the manager stays usable.
    #[error("plugin `{plugin}` panicked in hook `{hook}`: {message}")]
    HookPanicked {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// The panic message.
        message: String,
    },
    /// A wrapper returned without running the rest of the call.
    #[error("wrapper of plugin `{plugin}` in hook `{hook}` returned without calling `inner.call()`")]
    WrapperSkippedInner {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: &'static str,
    },
    /// A hook implementation (usually a wrapper) reported a failure.
    #[error("plugin `{plugin}` failed in hook `{hook}`: {message}")]
    HookFailed {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// What went wrong.
        message: String,
    },
    /// No component of this kind has that name.
    #[error("unknown {kind} `{name}`{hint}")]
    UnknownComponent {
        /// The component kind.
        kind: ComponentKind,
        /// The name asked for.
        name: String,
        /// Close names.
        hint: DidYouMean,
    },

    // ---- configs -------------------------------------------------------
    /// A component's config is not what it expects.
    #[error("{component}: invalid config: {message}")]
    InvalidConfig {
        /// The component, e.g. `core.Linear`.
        component: String,
        /// What is wrong.
        message: String,
    },
    /// A YAML document does not parse.
    #[error("{origin}: {message}")]
    Yaml {
        /// The file, or `<string>`.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
}

/// `Result` with arc-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Did-you-mean suggestions for an unknown name; displays as
/// `` (did you mean `a` or `b`?)`` or as nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DidYouMean(pub Vec<String>);

impl DidYouMean {
    /// The up to three candidates closest to `name` (edit distance at most
    /// a third of its length, at least 2; case-insensitive match first).
    pub fn among<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        let lower = name.to_lowercase();
        let limit = (name.chars().count() / 3).max(2);
        let mut scored: Vec<(usize, &str)> = candidates
            .into_iter()
            .filter_map(|c| {
                let d = if c.to_lowercase() == lower { 0 } else { strsim::levenshtein(&lower, &c.to_lowercase()) };
                (d <= limit).then_some((d, c))
            })
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        Self(scored.into_iter().take(3).map(|(_, c)| c.to_owned()).collect())
    }
}

impl fmt::Display for DidYouMean {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " (did you mean `{one}`?)"),
            [init @ .., last] => {
                let init: Vec<_> = init.iter().map(|s| format!("`{s}`")).collect();
                write!(f, " (did you mean {} or `{last}`?)", init.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_picks_close_names_in_order() {
        let hint = DidYouMean::among("Linaer", ["Linear", "core.Linear", "ReLU", "LayerNorm"]);
        assert_eq!(hint.0, ["Linear"]);
        assert_eq!(hint.to_string(), " (did you mean `Linear`?)");
        assert_eq!(DidYouMean::among("zzz", ["Linear"]).to_string(), "");
        let two = DidYouMean::among("relu", ["ReLU", "GELU"]);
        assert_eq!(two.to_string(), " (did you mean `ReLU` or `GELU`?)");
    }
}
