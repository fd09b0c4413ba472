//! `core.csv`: comma-separated files with a header row, read with the
//! `csv` crate (RFC 4180 quoting, `\n` or `\r\n` line ends, a UTF-8 byte
//! order mark skipped).
//!
//! # Locations
//! A path ending in `.csv` (any case), or `csv://PATH` for a file with
//! another extension.
//!
//! # Reading
//! - The first record is the header: one non-empty, unique name per column.
//!   Every later record must have as many fields (blank lines are skipped).
//! - Fields and names are trimmed of surrounding whitespace.
//! - A cell is missing when it is one of the missing markers (by default
//!   [`MISSING_MARKERS`](arc_core::data::cell::MISSING_MARKERS): the empty
//!   cell, `NA`, `N/A`, `NaN`, `null`, `None`, ... as pandas' `read_csv`).
//! - A column is numeric (`f64`, missing = `NaN`) when every present cell is
//!   a number (`3`, `-2.5`, `1e-3`, `inf`; see
//!   [`parse_number`](arc_core::data::cell::parse_number)), else text
//!   (missing = `None`). Column order is the file's.
//!
//! # Errors
//! Each names the path, and the 1-based line (the header is line 1) and
//! field where they apply: an unreadable file, an empty file, a header with
//! no rows, an empty or repeated column name, a row with more or fewer
//! fields than the header, invalid UTF-8.

use std::fs::File;

use arc_core::data::{Column, ColumnValues, DataSource, Table, cell};
use arc_core::spec::Config;
use arc_core::{Error, Result};
use csv::{ErrorKind, ReaderBuilder, StringRecord};
use serde::Deserialize;

/// The registered name.
pub(crate) const NAME: &str = "core.csv";

/// `core.csv`'s parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CsvConfig {
    /// The field separator, one ASCII character. Default `,`.
    #[serde(default = "default_delimiter")]
    delimiter: char,
    /// The cells read as missing values, replacing the default set
    /// [`MISSING_MARKERS`](cell::MISSING_MARKERS) (matched after trimming,
    /// case-sensitive). Default: that set.
    #[serde(default)]
    missing_values: Option<Vec<String>>,
}

fn default_delimiter() -> char {
    ','
}

/// Reads CSV files into a [`Table`]; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct CsvSource {
    delimiter: u8,
    /// `None`: the default markers.
    missing_values: Option<Vec<String>>,
}

impl CsvSource {
    /// Builds the source from its `core.csv` params.
    pub(crate) fn from_config(config: &Config) -> Result<Box<dyn DataSource>> {
        let config: CsvConfig = config.parse(NAME)?;
        let delimiter = u8::try_from(config.delimiter).ok().filter(u8::is_ascii).ok_or_else(|| {
            let message = format!("delimiter: expected one ASCII character, got {:?}", config.delimiter);
            Error::InvalidConfig { component: NAME.to_owned(), message }
        })?;
        Ok(Box::new(Self { delimiter, missing_values: config.missing_values }))
    }

    fn is_missing(&self, cell: &str) -> bool {
        match &self.missing_values {
            None => cell::is_missing(cell),
            Some(markers) => markers.iter().any(|m| m == cell),
        }
    }

    /// Reads the header and every record, checking names and field counts.
    fn read_records(&self, path: &str) -> Result<(StringRecord, Vec<StringRecord>)> {
        let file = File::open(path).map_err(|source| Error::DataFile { path: path.to_owned(), source })?;
        let mut reader = ReaderBuilder::new()
            .delimiter(self.delimiter)
            // Field counts are checked below, to name the line in Arc's words.
            .flexible(true)
            .from_reader(file);
        let header = reader.headers().map_err(|e| csv_error(path, e, None))?;
        if header.is_empty() {
            return Err(Error::EmptyData { path: path.to_owned() });
        }
        let line = header.position().map_or(1, |p| p.line());
        // Trimmed here and, for cells, on use: the reader's own `Trim`
        // rebuilds every record (digits.csv: 3.6 ms with it, 2.9 ms without).
        let header: StringRecord = header.iter().map(str::trim).collect();
        check_header(path, line, &header)?;
        let mut records = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e, Some(&header)))?;
            if record.len() != header.len() {
                let line = record.position().map_or(0, |p| line_at(path, p));
                return Err(Error::RaggedRow {
                    path: path.to_owned(),
                    line,
                    expected: header.len(),
                    got: record.len(),
                });
            }
            records.push(record);
        }
        if records.is_empty() {
            return Err(Error::NoDataRows { path: path.to_owned() });
        }
        Ok((header, records))
    }
}

impl DataSource for CsvSource {
    fn accepts(&self, location: &str) -> bool {
        csv_path(location).is_some()
    }

    /// A path of any extension is read as CSV when no source claims it.
    fn reads_plain_paths(&self) -> bool {
        true
    }

    fn load(&self, location: &str) -> Result<Table> {
        let path = csv_path(location).unwrap_or(location);
        let (header, records) = self.read_records(path)?;
        let columns = header
            .iter()
            .enumerate()
            .map(|(j, name)| {
                // Every record has `header.len()` fields (checked on reading).
                let cells = records.iter().map(move |r| r[j].trim());
                Column { name: name.to_owned(), values: ColumnValues::infer_with(cells, |c| self.is_missing(c)) }
            })
            .collect();
        let located = |e| Error::InDataFile { path: path.to_owned(), error: Box::new(e) };
        Ok(Table::new(columns).map_err(located)?.with_source(path))
    }
}

/// The file path of a location this source reads: `csv://PATH`, or a path
/// ending in `.csv` in any case.
fn csv_path(location: &str) -> Option<&str> {
    const SCHEME: &str = "csv://";
    if location.get(..SCHEME.len()).is_some_and(|s| s.eq_ignore_ascii_case(SCHEME)) {
        return Some(&location[SCHEME.len()..]);
    }
    let bytes = location.as_bytes();
    (bytes.len() > 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".csv")).then_some(location)
}

/// Rejects empty and repeated column names.
fn check_header(path: &str, line: u64, header: &StringRecord) -> Result<()> {
    let at = |field: usize, column: Option<&str>, message: String| Error::Csv {
        path: path.to_owned(),
        line,
        field: field + 1,
        column: column.map(str::to_owned),
        message,
    };
    for (j, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(at(j, None, "empty column name; every column needs a name".to_owned()));
        }
        if let Some(first) = header.iter().take(j).position(|n| n == name) {
            return Err(at(j, Some(name), format!("duplicate column name (first at field {})", first + 1)));
        }
    }
    Ok(())
}

/// The 1-based line of the file at `path` on which the record at `position`
/// starts. The `csv` crate's own [`Position::line`](csv::Position::line)
/// falls one short after a CRLF line end or a blank line (rust-csv issues
/// #395 and #208), and its byte offset may point at the line end before the
/// record; so the line ends (`\n`, `\r\n` or a lone `\r`) before the
/// record's first byte are counted in the file itself. Only called on an
/// error: the file is read again. If it cannot be, the crate's line is kept.
fn line_at(path: &str, position: &csv::Position) -> u64 {
    let Ok(bytes) = std::fs::read(path) else { return position.line() };
    let mut start = usize::try_from(position.byte()).unwrap_or(usize::MAX).min(bytes.len());
    while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
        start += 1;
    }
    let before = &bytes[..start];
    let line_ends = before
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')))
        .count();
    1 + line_ends as u64
}

/// Arc's error for a `csv` crate error on the header (`header` `None`) or
/// a record.
fn csv_error(path: &str, error: csv::Error, header: Option<&StringRecord>) -> Error {
    let line = error.position().map_or(0, |p| line_at(path, p));
    let message = error.to_string();
    match error.into_kind() {
        ErrorKind::Io(source) => Error::DataFile { path: path.to_owned(), source },
        ErrorKind::Utf8 { err, .. } => Error::Csv {
            path: path.to_owned(),
            line,
            field: err.field() + 1,
            column: header.and_then(|h| h.get(err.field())).map(str::to_owned),
            message: format!("invalid UTF-8 after byte {} of the field", err.valid_up_to()),
        },
        // A flexible reader of strings meets no other kind (unequal
        // lengths, serde); reported as a read failure all the same.
        _ => Error::DataFile { path: path.to_owned(), source: std::io::Error::other(message) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_path_takes_csv_extensions_and_the_scheme() {
        assert_eq!(csv_path("a/b.csv"), Some("a/b.csv"));
        assert_eq!(csv_path("B.CsV"), Some("B.CsV"));
        assert_eq!(csv_path("csv://data.txt"), Some("data.txt"));
        assert_eq!(csv_path("CSV://x.tsv"), Some("x.tsv"));
        assert_eq!(csv_path(".csv"), None);
        assert_eq!(csv_path("data.csv.gz"), None);
        assert_eq!(csv_path("sqlite://db?table=t"), None);
        assert_eq!(csv_path("é.csv"), Some("é.csv"));
    }
}
