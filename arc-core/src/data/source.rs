//! The data-source trait that `DataSourceHookSpec` plugins register.

use super::Table;
use crate::Result;

/// Loads a [`Table`] from a location (a path or a URL); registered by
/// `DataSourceHookSpec::register_data_sources` and built from its config.
///
/// ```
/// use arc_core::data::{Column, DataSource, Table};
///
/// /// Serves one constant column from `const://` locations.
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
/// let source: Box<dyn DataSource> = Box::new(Constant);
/// assert!(source.accepts("const://two"));
/// assert_eq!(source.load("const://two")?.num_rows(), 2);
/// # Ok::<(), arc_core::Error>(())
/// ```
pub trait DataSource: Send + Sync {
    /// Whether this source reads `location` (e.g. a `.csv` path, a
    /// `sqlite://` URL). Only looks at the location's form; it does not
    /// touch the file.
    fn accepts(&self, location: &str) -> bool;

    /// Reads the table at `location`. A missing or malformed file is an
    /// error that names the path and, where it applies, the line and column.
    fn load(&self, location: &str) -> Result<Table>;

    /// Whether this source reads a plain path (no `scheme://`) that no
    /// source [`accepts`](Self::accepts), whatever its extension (the CSV
    /// source does). Default `false`; the first such source in registry
    /// order is used.
    fn reads_plain_paths(&self) -> bool {
        false
    }
}
