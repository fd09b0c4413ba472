//! How a source reads one cell: which cells are missing values and which
//! are numbers. Every data source applies the same rules, so a column has
//! the same type whatever file format it came from.

/// The cells read as missing values by default: the empty cell and pandas'
/// default `na_values` (`read_csv`), minus its MSVC `1.#IND`-style spellings.
/// Case-sensitive, matched after trimming surrounding whitespace.
pub const MISSING_MARKERS: &[&str] =
    &["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A", "#N/A N/A", "#NA"];

/// Whether `cell` (already trimmed) is one of the default [`MISSING_MARKERS`].
///
/// ```
/// use arc_core::data::cell::is_missing;
/// assert!(is_missing("") && is_missing("NA") && is_missing("null"));
/// assert!(!is_missing("0") && !is_missing("none"));
/// ```
pub fn is_missing(cell: &str) -> bool {
    MISSING_MARKERS.contains(&cell)
}

/// The number `cell` spells, if any: integers, decimals, exponents, an
/// optional sign, and `inf`/`infinity`/`nan` in any case (Rust's `f64`
/// grammar). No thousands separators, no hexadecimal, no surrounding
/// whitespace (sources trim first).
///
/// ```
/// use arc_core::data::cell::parse_number;
/// assert_eq!(parse_number("42"), Some(42.0));
/// assert_eq!(parse_number("-1.5e-3"), Some(-0.0015));
/// assert_eq!(parse_number("+.5"), Some(0.5));
/// assert_eq!(parse_number("Inf"), Some(f64::INFINITY));
/// assert_eq!(parse_number("1,000"), None);
/// assert_eq!(parse_number("0x10"), None);
/// ```
pub fn parse_number(cell: &str) -> Option<f64> {
    cell.parse().ok()
}
