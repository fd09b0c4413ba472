//! The column table that data sources load and processors read.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::cell;
use crate::{DidYouMean, Error, Result, Tensor};

/// One column's values.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// Numbers; a missing value is `NaN`.
    Numeric(Vec<f64>),
    /// Text (categories, labels); a missing value is `None`.
    Text(Vec<Option<String>>),
}

impl ColumnValues {
    /// Infers a column's type from its cells (already trimmed), with the
    /// default [`MISSING_MARKERS`](cell::MISSING_MARKERS): numeric when every
    /// present cell [parses as a number](cell::parse_number), text otherwise.
    /// A column with no present cell at all is numeric (all `NaN`).
    ///
    /// ```
    /// use arc_core::data::ColumnValues;
    ///
    /// let numbers = ColumnValues::infer(["1", "", "2.5e1", "NA"].into_iter());
    /// let ColumnValues::Numeric(v) = numbers else { panic!("numbers") };
    /// assert_eq!((v[0], v[2]), (1.0, 25.0));
    /// assert!(v[1].is_nan() && v[3].is_nan());
    ///
    /// let words = ColumnValues::infer(["1", "", "two"].into_iter());
    /// assert_eq!(words, ColumnValues::Text(vec![Some("1".into()), None, Some("two".into())]));
    /// ```
    pub fn infer<'a, I>(cells: I) -> Self
    where
        I: Iterator<Item = &'a str> + Clone,
    {
        Self::infer_with(cells, cell::is_missing)
    }

    /// [`infer`](Self::infer) with a caller's rule for missing cells.
    pub fn infer_with<'a, I>(cells: I, is_missing: impl Fn(&str) -> bool) -> Self
    where
        I: Iterator<Item = &'a str> + Clone,
    {
        // One pass when the column is numeric (the common case); a text
        // column is read a second time from the start.
        let mut numbers = Vec::with_capacity(cells.size_hint().0);
        for c in cells.clone() {
            if is_missing(c) {
                numbers.push(f64::NAN);
            } else if let Some(x) = cell::parse_number(c) {
                numbers.push(x);
            } else {
                return Self::Text(cells.map(|c| (!is_missing(c)).then(|| c.to_owned())).collect());
            }
        }
        Self::Numeric(numbers)
    }

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

    /// Whether the column holds numbers.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Self::Numeric(_))
    }

    /// Whether the value at 0-based `row` is missing (`NaN` or `None`);
    /// `false` past the end.
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Self::Numeric(v) => v.get(row).is_some_and(|x| x.is_nan()),
            Self::Text(v) => v.get(row).is_some_and(Option::is_none),
        }
    }

    /// The rows at the given 0-based indices, in that order; the caller
    /// checked them.
    fn select(&self, rows: &[usize]) -> Self {
        match self {
            Self::Numeric(v) => Self::Numeric(rows.iter().map(|&r| v[r]).collect()),
            Self::Text(v) => Self::Text(rows.iter().map(|&r| v[r].clone()).collect()),
        }
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

impl Column {
    /// A numeric column; `NaN` marks a missing value.
    pub fn numeric(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values: ColumnValues::Numeric(values) }
    }

    /// A text column; `None` marks a missing value.
    pub fn text(name: impl Into<String>, values: Vec<Option<String>>) -> Self {
        Self { name: name.into(), values: ColumnValues::Text(values) }
    }
}

/// Rows of uniquely named columns of one length, as a data source loads
/// them and processors read them.
///
/// Methods take 0-based row indices; error messages count rows from 1
/// (the first row under a file's header is row 1), as a user reading the
/// file would. A table loaded from a file [knows it](Self::with_source):
/// its errors name the file and count rows in it, also in a table of rows
/// [selected](Self::select_rows) from it (a training split). Equality
/// compares the columns only. See the [module docs](super) for an example.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The columns, in source order; all of one length, names unique.
    columns: Vec<Column>,
    /// The file the rows came from (`None`: built in memory).
    source: Option<Arc<Origin>>,
    /// Each row's 0-based position in the source (`None`: row `i` is
    /// position `i`).
    positions: Option<Arc<[usize]>>,
}

/// Where a loaded table's rows came from.
#[derive(Debug)]
struct Origin {
    /// The file.
    path: String,
    /// Per text column of the whole file: its name, and the 0-based row
    /// and text of its first cell that is not a number. A split may hold
    /// none of them, and its errors must still name one.
    non_numbers: Vec<(String, usize, String)>,
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns
    }
}

impl Table {
    /// A table of `columns`, kept in order: [`Error::DuplicateColumn`] if
    /// two share a name, [`Error::ColumnLength`] if their lengths differ,
    /// [`Error::BeyondF32`] for a finite number that f32 cannot hold (`1e308`).
    pub fn new(columns: Vec<Column>) -> Result<Self> {
        let mut table = Self { columns: Vec::with_capacity(columns.len()), source: None, positions: None };
        for column in columns {
            table.push_column(column)?;
        }
        Ok(table)
    }

    /// The same rows, marked as loaded from the file at `path` (a data
    /// source does this): errors about them name the file.
    ///
    /// ```
    /// use arc_core::data::{Column, Table};
    ///
    /// let table = Table::new(vec![Column::numeric("x", vec![1.0, f64::NAN, 3.0])])?.with_source("data.csv");
    /// let split = table.select_rows(&[2, 1])?;
    /// assert_eq!(split.source_row(1), 2);
    /// let err = split.to_tensor(&["x"]).unwrap_err();
    /// assert_eq!(err.to_string(), "data.csv: column `x`: row 2 has a missing value");
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn with_source(mut self, path: impl Into<String>) -> Self {
        let non_numbers = self
            .columns
            .iter()
            .filter_map(|c| match &c.values {
                ColumnValues::Numeric(_) => None,
                ColumnValues::Text(v) => v
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| c.as_deref().filter(|c| cell::parse_number(c).is_none()).map(|c| (i, c)))
                    .map(|(i, value)| (c.name.clone(), self.source_row(i) - 1, value.to_owned())),
            })
            .collect();
        self.source = Some(Arc::new(Origin { path: path.into(), non_numbers }));
        self
    }

    /// The file the rows came from, if a data source loaded them.
    pub fn source(&self) -> Option<&str> {
        self.source.as_ref().map(|o| o.path.as_str())
    }

    /// The 1-based number, in the source, of the row at 0-based `row`: `row
    /// + 1` unless this table holds [selected](Self::select_rows) rows.
    pub fn source_row(&self, row: usize) -> usize {
        self.positions.as_ref().and_then(|p| p.get(row)).map_or(row, |&p| p) + 1
    }

    /// `error` naming this table's source file ([`Error::InDataFile`]), if
    /// it has one; unchanged otherwise. For errors about this table's rows
    /// and columns, their rows counted with [`source_row`](Self::source_row).
    pub fn locate(&self, error: Error) -> Error {
        match &self.source {
            Some(origin) if !matches!(error, Error::InDataFile { .. }) => {
                Error::InDataFile { path: origin.path.clone(), error: Box::new(error) }
            }
            _ => error,
        }
    }

    /// Appends a column (a processor's output, say), with the checks of
    /// [`new`](Self::new).
    pub fn push_column(&mut self, column: Column) -> Result<()> {
        if self.column_index(&column.name).is_some() {
            return Err(Error::DuplicateColumn { column: column.name });
        }
        if let Some(first) = self.columns.first()
            && first.values.len() != column.values.len()
        {
            let (expected, got) = (first.values.len(), column.values.len());
            return Err(Error::ColumnLength { column: column.name, expected, got });
        }
        // Models compute in f32: a number finite here and infinite there would train or
        // predict NaN without a word.
        if let ColumnValues::Numeric(values) = &column.values
            && let Some(row) = values.iter().position(|v| v.is_finite() && v.abs() > f64::from(f32::MAX))
        {
            return Err(Error::BeyondF32 { column: column.name.clone(), row: row + 1, value: values[row] });
        }
        self.columns.push(column);
        Ok(())
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The columns, by value.
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column named `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column named `name`, or [`Error::MissingColumn`] with
    /// did-you-mean suggestions.
    pub fn require_column(&self, name: &str) -> Result<&Column> {
        self.column(name).ok_or_else(|| {
            self.locate(Error::MissingColumn {
                column: name.to_owned(),
                hint: DidYouMean::among(name, self.columns.iter().map(|c| c.name.as_str())),
            })
        })
    }

    /// The position of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The number of rows (0 for a table without columns).
    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// The numbers of column `name` (`NaN` where missing).
    ///
    /// [`Error::MissingColumn`] if there is no such column, and
    /// [`Error::NonNumericColumn`] naming the first value that is not a
    /// number if it is a text column (inside an [`Error::InDataFile`] for a
    /// table with a [source](Self::with_source), as every error here).
    pub fn numeric<'a>(&'a self, name: &str) -> Result<&'a [f64]> {
        match &self.require_column(name)?.values {
            ColumnValues::Numeric(v) => Ok(v),
            ColumnValues::Text(v) => {
                // A text column from a source has a cell that is not a
                // number, in these rows or (a split) elsewhere in the file;
                // one built by hand may not, so fall back to its first
                // present value.
                let present = || v.iter().enumerate().filter_map(|(i, c)| c.as_deref().map(|c| (i, c)));
                let in_file = || {
                    let origin = self.source.as_ref()?;
                    let (_, row, value) = origin.non_numbers.iter().find(|(column, _, _)| column == name)?;
                    Some((row + 1, value.as_str()))
                };
                let here = |(row, value): (usize, &'a str)| (self.source_row(row), value);
                let (row, value) = present()
                    .find(|(_, c)| cell::parse_number(c).is_none())
                    .map(here)
                    .or_else(in_file)
                    .or_else(|| present().next().map(here))
                    .unwrap_or((1, ""));
                Err(self.locate(Error::NonNumericColumn { column: name.to_owned(), row, value: value.to_owned() }))
            }
        }
    }

    /// The text of column `name` (`None` where missing).
    ///
    /// [`Error::MissingColumn`] if there is no such column,
    /// [`Error::NotTextColumn`] if it holds numbers.
    pub fn text(&self, name: &str) -> Result<&[Option<String>]> {
        match &self.require_column(name)?.values {
            ColumnValues::Text(v) => Ok(v),
            ColumnValues::Numeric(_) => Err(self.locate(Error::NotTextColumn { column: name.to_owned() })),
        }
    }

    /// A table of the rows at the given 0-based indices, in that order
    /// (repeats allowed: a bootstrap sample, a shuffled split).
    /// [`Error::IndexOutOfRange`] for an index past the last row.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Table> {
        let size = self.num_rows();
        if let Some(&index) = rows.iter().find(|&&r| r >= size) {
            let index = i64::try_from(index).unwrap_or(i64::MAX);
            return Err(Error::IndexOutOfRange { op: "select_rows", index, size });
        }
        let columns =
            self.columns.iter().map(|c| Column { name: c.name.clone(), values: c.values.select(rows) }).collect();
        let positions = self.source.as_ref().map(|_| rows.iter().map(|&r| self.source_row(r) - 1).collect());
        Ok(Table { columns, source: self.source.clone(), positions })
    }

    /// The numeric `columns`, in the given order, as an f32 tensor of shape
    /// `[num_rows, columns.len()]` (row-major: row `i` holds row `i`'s values).
    ///
    /// Errors: [`Error::MissingColumn`], [`Error::NonNumericColumn`], and
    /// [`Error::MissingValue`] naming the column and the row of the first
    /// missing value (`NaN`); fill or drop missing values first. Each inside
    /// an [`Error::InDataFile`] naming the file, for a table that has a
    /// [source](Self::with_source).
    pub fn to_tensor(&self, columns: &[&str]) -> Result<Tensor> {
        let (rows, k) = (self.num_rows(), columns.len());
        let mut sources = Vec::with_capacity(k);
        for &name in columns {
            let values = self.numeric(name)?;
            if let Some(row) = values.iter().position(|x| x.is_nan()) {
                return Err(self.locate(Error::MissingValue { column: name.to_owned(), row: self.source_row(row) }));
            }
            sources.push(values);
        }
        // Row by row: sequential writes, and `k` sequential read streams
        // (digits' 64 columns: ~2x faster than writing column by column).
        let mut data = Vec::with_capacity(rows * k);
        for i in 0..rows {
            data.extend(sources.iter().map(|values| values[i] as f32));
        }
        Tensor::from_vec(data, &[rows, k])
    }

    /// The distinct present values of column `name`, sorted: numerically
    /// for a numeric column (formatted as Rust prints an `f64`: `2`, `0.5`),
    /// by byte order for text. Missing values are left out. Position `i`
    /// is class `i` when the column is label-encoded, the order of
    /// scikit-learn's `LabelEncoder` (`numpy.unique`).
    pub fn unique_labels(&self, name: &str) -> Result<Vec<String>> {
        Ok(match &self.require_column(name)?.values {
            ColumnValues::Numeric(v) => {
                // `+ 0.0` turns -0 into 0: one label, printed `0`.
                let mut present: Vec<f64> = v.iter().filter(|x| !x.is_nan()).map(|x| x + 0.0).collect();
                present.sort_by(f64::total_cmp);
                present.dedup();
                present.into_iter().map(|x| x.to_string()).collect()
            }
            ColumnValues::Text(v) => {
                v.iter().flatten().map(String::as_str).collect::<BTreeSet<_>>().into_iter().map(str::to_owned).collect()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    fn sample() -> Table {
        Table::new(vec![
            Column::numeric("x", vec![1.0, 2.5, -3.0]),
            Column::text("label", text(&[Some("b"), Some("a"), Some("b")])),
            Column::numeric("y", vec![0.0, f64::NAN, 4.0]),
        ])
        .expect("distinct names, equal lengths")
    }

    #[test]
    fn new_rejects_duplicate_names_and_ragged_columns() {
        let err = Table::new(vec![Column::numeric("x", vec![1.0]), Column::numeric("x", vec![2.0])]).unwrap_err();
        assert_eq!(err.to_string(), "duplicate column `x`");
        let err = Table::new(vec![Column::numeric("x", vec![1.0]), Column::numeric("y", vec![])]).unwrap_err();
        assert_eq!(err.to_string(), "column `y` has 0 rows, but the table has 1");
    }

    #[test]
    fn accessors_report_shape_and_names() {
        let table = sample();
        assert_eq!((table.num_rows(), table.num_columns()), (3, 3));
        assert_eq!(table.column_names(), ["x", "label", "y"]);
        assert_eq!(table.column_index("y"), Some(2));
        assert_eq!(table.numeric("x").unwrap(), [1.0, 2.5, -3.0]);
        assert_eq!(table.text("label").unwrap(), text(&[Some("b"), Some("a"), Some("b")]));
        assert!(table.columns()[2].values.is_missing(1));
        assert_eq!(Table::default().num_rows(), 0);
    }

    #[test]
    fn wrong_column_kinds_are_errors_naming_the_column() {
        let table = sample();
        assert_eq!(table.numeric("lable").unwrap_err().to_string(), "no column `lable` (did you mean `label`?)");
        assert_eq!(table.numeric("label").unwrap_err().to_string(), "column `label` is not numeric: row 1 holds `b`");
        assert_eq!(table.text("x").unwrap_err().to_string(), "column `x` holds numbers, not text");
        // A hand-built text column of numerals still names its first value.
        let numerals = Table::new(vec![Column::text("n", text(&[None, Some("7")]))]).unwrap();
        assert_eq!(numerals.numeric("n").unwrap_err().to_string(), "column `n` is not numeric: row 2 holds `7`");
    }

    #[test]
    fn select_rows_reorders_repeats_and_checks_bounds() {
        let picked = sample().select_rows(&[2, 0, 2]).unwrap();
        assert_eq!(picked.numeric("x").unwrap(), [-3.0, 1.0, -3.0]);
        assert_eq!(picked.text("label").unwrap(), text(&[Some("b"), Some("b"), Some("b")]));
        let err = sample().select_rows(&[0, 3]).unwrap_err();
        assert_eq!(err.to_string(), "op `select_rows`: index 3 is out of range for a dimension of size 3");
    }

    #[test]
    fn to_tensor_is_row_major_and_rejects_missing_values() {
        let table = sample().select_rows(&[0, 2]).unwrap();
        let t = table.to_tensor(&["y", "x"]).unwrap();
        assert_eq!(t.shape(), [2, 2]);
        assert_eq!(t.to_vec().unwrap(), [0.0, 1.0, 4.0, -3.0]);
        assert_eq!(sample().to_tensor(&["x", "y"]).unwrap_err().to_string(), "column `y`: row 2 has a missing value");
        let err = sample().to_tensor(&["x", "label"]).unwrap_err();
        assert_eq!(err.to_string(), "column `label` is not numeric: row 1 holds `b`");
    }

    #[test]
    fn a_loaded_table_names_its_file_and_counts_rows_in_it_through_splits() {
        // Column `w`: text in the file, for row 4's `abc`; a split without
        // row 4 still names it.
        let table = Table::new(vec![
            Column::numeric("x", vec![1.0, 2.0, f64::NAN, 4.0, 5.0]),
            Column::text("w", text(&[Some("1"), Some("2"), Some("3"), Some("abc"), Some("5")])),
        ])
        .unwrap()
        .with_source("data.csv");
        assert_eq!(table.source(), Some("data.csv"));
        let split = table.select_rows(&[4, 2, 0]).unwrap();
        assert_eq!((split.source(), split.source_row(0), split.source_row(1)), (Some("data.csv"), 5, 3));
        let again = split.select_rows(&[1]).unwrap();
        assert_eq!(again.source_row(0), 3, "a split of a split counts in the file");
        let message = |r: Result<Tensor>| r.unwrap_err().to_string();
        assert_eq!(message(split.to_tensor(&["x"])), "data.csv: column `x`: row 3 has a missing value");
        assert_eq!(message(split.to_tensor(&["w"])), "data.csv: column `w` is not numeric: row 4 holds `abc`");
        assert_eq!(message(table.to_tensor(&["w"])), "data.csv: column `w` is not numeric: row 4 holds `abc`");
        let picked = table.select_rows(&[3, 0]).unwrap();
        assert_eq!(message(picked.to_tensor(&["w"])), "data.csv: column `w` is not numeric: row 4 holds `abc`");
        assert_eq!(message(split.to_tensor(&["v"])), "data.csv: no column `v` (did you mean `w` or `x`?)");
        assert_eq!(split.text("x").unwrap_err().to_string(), "data.csv: column `x` holds numbers, not text");
        let Err(Error::InDataFile { path, error }) = split.numeric("w") else { panic!("expected InDataFile") };
        assert_eq!(path, "data.csv");
        assert!(matches!(*error, Error::NonNumericColumn { row: 4, .. }), "{error:?}");
        // Wrapped once; in-memory tables are unchanged; equality ignores the origin.
        let twice = table.locate(table.locate(Error::NotTextColumn { column: "x".into() }));
        assert_eq!(twice.to_string(), "data.csv: column `x` holds numbers, not text");
        assert_eq!(sample().select_rows(&[1]).unwrap().source_row(0), 1);
        let plain = Table::new(vec![Column::numeric("a", vec![1.0])]).unwrap();
        assert_eq!(plain.clone().with_source("a.csv"), plain);
    }

    #[test]
    fn unique_labels_sorts_numbers_numerically_and_skips_missing() {
        let table = Table::new(vec![
            Column::numeric("class", vec![10.0, 2.0, f64::NAN, 2.0, 0.5, -0.0, 0.0]),
            Column::text("s", text(&[Some("b"), None, Some("B"), Some("a"), Some("b"), None, None])),
        ])
        .unwrap();
        assert_eq!(table.unique_labels("class").unwrap(), ["0", "0.5", "2", "10"]);
        assert_eq!(table.unique_labels("s").unwrap(), ["B", "a", "b"]);
    }

    #[test]
    fn infer_picks_numeric_only_when_every_present_cell_is_a_number() {
        let ColumnValues::Numeric(v) = ColumnValues::infer(["1", "1e3", "-inf", "", "nan"].into_iter()) else {
            panic!("expected numbers")
        };
        assert_eq!(&v[..3], [1.0, 1000.0, f64::NEG_INFINITY]);
        assert!(v[3].is_nan() && v[4].is_nan());
        assert!(ColumnValues::infer(["", "NA"].into_iter()).is_numeric());
        let custom = ColumnValues::infer_with(["-", "3"].into_iter(), |c| c == "-");
        assert!(custom.is_numeric() && custom.is_missing(0));
        assert_eq!(ColumnValues::infer(["3", "x3"].into_iter()), ColumnValues::Text(text(&[Some("3"), Some("x3")])));
    }
}
