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
    // Every non-empty marker starts with one of these bytes: numbers and
    // words skip the list walk.
    match cell.as_bytes().first() {
        None => true,
        Some(b'N' | b'n' | b'-' | b'<' | b'#') => MISSING_MARKERS.contains(&cell),
        Some(_) => false,
    }
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
/// assert_eq!(parse_number("-0").map(f64::is_sign_negative), Some(true));
/// ```
pub fn parse_number(cell: &str) -> Option<f64> {
    parse_small_integer(cell.as_bytes()).or_else(|| cell.parse().ok())
}

/// The value of a plain integer of at most 15 digits (an optional `-`),
/// computed directly: exact, since it is below 2^53, and several times
/// faster than the general float parser on integer-heavy files (pixels,
/// counts, class ids). `None` for anything else.
fn parse_small_integer(bytes: &[u8]) -> Option<f64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut value = 0i64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    // `-0` parses as -0.0, as the general parser reads it.
    let value = value as f64;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_is_missing_through_the_first_byte_filter() {
        assert!(MISSING_MARKERS.iter().all(|m| is_missing(m)));
        assert!(!is_missing("-1") && !is_missing("Nope") && !is_missing("0"));
    }

    /// The integer fast path agrees with `str::parse` bit for bit, and hands
    /// everything else to it.
    #[test]
    fn the_integer_fast_path_matches_the_float_parser() {
        for cell in ["0", "-0", "7", "-42", "000123", "999999999999999", "-999999999999999"] {
            assert_eq!(
                parse_small_integer(cell.as_bytes()).map(f64::to_bits),
                Some(cell.parse::<f64>().unwrap().to_bits())
            );
        }
        for cell in ["", "-", "+5", "1.0", "1e3", "9999999999999999", "1 2", "--1", "inf"] {
            assert_eq!(parse_small_integer(cell.as_bytes()), None, "{cell}");
        }
        assert_eq!(parse_number("9999999999999999"), Some(1e16));
        assert_eq!(parse_number("+5"), Some(5.0));
    }
}
