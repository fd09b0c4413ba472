//! Data sources and the column table they produce.

use crate::Result;

/// One column's values.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// Numbers; a missing value is `NaN`.
    Numeric(Vec<f64>),
    /// Text (categories, labels); a missing value is `None`.
    Text(Vec<Option<String>>),
}

impl ColumnValues {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Self::Numeric(v) => v.len(),
            Self::Text(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its values.
    pub values: ColumnValues,
}

/// Rows of named columns, as a data source loads them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The columns, in source order; all of one length.
    pub columns: Vec<Column>,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }
}

/// Loads a table from a location (a path or URL), registered by
/// `DataSourceHookSpec::register_data_sources`.
pub trait DataSource: Send + Sync {
    /// Whether this source reads `location` (e.g. a `.csv` path, a
    /// `sqlite://` URL).
    fn accepts(&self, location: &str) -> bool;

    /// Reads the table at `location`.
    fn load(&self, location: &str) -> Result<Table>;
}
