//! Opening a table by location, through the registered data sources.

use super::PluginManager;
use crate::data::Table;
use crate::spec::Config;
use crate::{Error, Result};

/// Loads the table at `location` with the first registered data source
/// whose [`accepts`](crate::data::DataSource::accepts) takes it, each built from an
/// empty config (in registry order).
///
/// When none does, a plain path (no `scheme://`) is read by the first
/// source that [`reads_plain_paths`](crate::data::DataSource::reads_plain_paths)
/// (`csv`), whatever its extension; a location with a scheme that no
/// source reads is [`Error::UnknownDataScheme`], listing the schemes of the
/// registered sources (their short names: `csv`, `sqlite`, ...). A source
/// whose empty config does not build is skipped.
///
/// ```
/// use arc_core::data::{Column, DataSource, Table};
/// use arc_core::plugin::{DataSourceHookSpec, DataSourceRegistrations, PluginManager, Registrations, open_table};
/// use arc_core::spec::Config;
/// use arc_core::{arc_plugin, hookimpl};
///
/// struct Constant;
///
/// impl DataSource for Constant {
///     fn accepts(&self, location: &str) -> bool {
///         location.starts_with("const://")
///     }
///
///     fn load(&self, _location: &str) -> arc_core::Result<Table> {
///         Table::new(vec![Column::numeric("x", vec![1.0, 2.0])])
///     }
/// }
///
/// fn constant(_: &Config) -> arc_core::Result<Box<dyn DataSource>> {
///     Ok(Box::new(Constant))
/// }
///
/// #[arc_plugin(name = "constant")]
/// #[derive(Default)]
/// struct ConstantPlugin;
///
/// #[hookimpl]
/// impl DataSourceHookSpec for ConstantPlugin {
///     fn register_data_sources(&self) -> DataSourceRegistrations {
///         Registrations::new().add("const", constant)
///     }
/// }
///
/// let pm = PluginManager::new();
/// pm.register_plugin(ConstantPlugin, "constant")?;
/// pm.refresh_registries()?;
/// assert_eq!(open_table("const://two", &pm)?.num_rows(), 2);
/// let err = open_table("ftp://host/iris.csv", &pm).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "`ftp://host/iris.csv`: no data source reads `ftp://` locations \
///      (known: `const://`; a path without a scheme is read as CSV)"
/// );
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn open_table(location: &str, pm: &PluginManager) -> Result<Table> {
    let names = pm.get_data_sources();
    let mut sources = Vec::with_capacity(names.len());
    for (name, _) in &names {
        let Ok(source) = pm.get_data_source(name)?.create(&Config::new()) else { continue };
        if source.accepts(location) {
            return source.load(location);
        }
        sources.push(source);
    }
    let plain = sources.iter().find(|s| s.reads_plain_paths());
    let known = || names.iter().map(|(n, _)| n.rsplit('.').next().unwrap_or(n).to_owned()).collect::<Vec<_>>();
    match (scheme(location), plain) {
        (None, Some(source)) => source.load(location),
        (None, None) => Err(Error::DataLocation {
            location: location.to_owned(),
            message: format!("no data source reads plain paths (known: {})", known().join(", ")),
        }),
        (Some(scheme), _) => {
            Err(Error::UnknownDataScheme { location: location.to_owned(), scheme: scheme.to_owned(), known: known() })
        }
    }
}

/// The scheme of a `scheme://...` location (a letter, then letters, digits,
/// `+`, `-` or `.`, as in RFC 3986), if it has one.
fn scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_the_rfc_3986_prefix_before_colon_slash_slash() {
        assert_eq!(scheme("sqlite://a.db?table=t"), Some("sqlite"));
        assert_eq!(scheme("duck+db.v2-x://a"), Some("duck+db.v2-x"));
        assert_eq!(scheme("data/iris.csv"), None);
        assert_eq!(scheme("C:\\data\\iris.csv"), None);
        assert_eq!(scheme("://x"), None);
        assert_eq!(scheme("1ab://x"), None);
        assert_eq!(scheme("dir/a://b"), None);
    }
}
