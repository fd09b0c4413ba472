//! Turning serde's errors on a spec into located, typed errors.

use serde_path_to_error::Segment;

use super::source::{join, parent};
use super::{Location, SourceMap};
use crate::{DidYouMean, Error};

impl Error {
    /// This error at `location` ([`Error::Located`]); unchanged when the
    /// location is unknown or the error is located already.
    ///
    /// ```
    /// use arc_core::{Error, spec::Location};
    ///
    /// let at = Location { origin: "s.yaml".into(), line: 3, column: 5 };
    /// let err = Error::Spec { message: "no graph".into() }.located(Some(at));
    /// assert_eq!(err.to_string(), "s.yaml:3:5: spec: no graph");
    /// ```
    pub fn located(self, location: Option<Location>) -> Error {
        match (self, location) {
            (e @ Error::Located { .. }, _) | (e, None) => e,
            (e, Some(location)) => Error::Located { location, error: Box::new(e) },
        }
    }

    /// Where this error is in a spec's text, when it is [`Error::Located`].
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Located { location, .. } => Some(location),
            _ => None,
        }
    }
}

/// A serde error met while deserializing a spec section, at the path where
/// it happened: an unknown key (pointing at the key, with did-you-mean), a
/// missing key (pointing at the mapping that lacks it) or a malformed value.
pub(crate) fn serde_error(err: serde_path_to_error::Error<serde_yaml::Error>, map: &SourceMap) -> Error {
    let mut path = String::new();
    for segment in err.path().iter() {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => path = join(&path, key),
            Segment::Unknown => path = join(&path, "?"),
        }
    }
    let message = err.inner().to_string();
    let quoted = |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let section = |path: &str| if path.is_empty() { "spec".to_owned() } else { path.to_owned() };
    if let Some(rest) = message.strip_prefix("unknown field ")
        && let Some((key, expected)) = quoted(rest).split_first()
    {
        // The path ends at the unknown key itself.
        if path == *key || path.ends_with(&format!(".{key}")) {
            path = parent(&path).to_owned();
        }
        let section = section(&path);
        let location = map.key(&join(&path, key)).or_else(|| map.locate(&path));
        let hint = DidYouMean::among(key, expected.iter().map(String::as_str));
        return Error::UnknownKey { section, key: key.clone(), hint }.located(location);
    }
    if let Some(rest) = message.strip_prefix("missing field ")
        && let Some(key) = quoted(rest).into_iter().next()
    {
        return Error::MissingKey { section: section(&path), key }
            .located(map.value(&path).or_else(|| map.locate(&path)));
    }
    Error::InvalidValue { path: section(&path), message }.located(map.locate(&path))
}
