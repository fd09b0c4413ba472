//! The `core.csv` data source, created by name through a `PluginManager` holding
//! `BuiltinDataSourcePlugin`: the example data sets (`examples/data/`, counts and values
//! checked against the files), type inference, missing values, the config, and every error
//! with its exact message (small files under `tests/fixtures/csv/`, written by hand).
//!
//! No numeric tolerance is involved: each expected value is the `f64` nearest the decimal
//! text in the file, which `str::parse` returns exactly.

#![cfg(feature = "data-sources")]

use std::path::{Path, PathBuf};

use arc_builtins::BuiltinDataSourcePlugin;
use arc_core::data::{ColumnValues, DataSource, Table};
use arc_core::plugin::{ComponentKind, PluginManager};
use arc_core::spec::Config;
use arc_core::{Error, Result};

fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinDataSourcePlugin, "builtin_data_sources").expect("a fresh manager");
    pm.refresh_registries().expect("the builtin data sources register");
    pm
}

fn source(yaml: &str) -> Result<Box<dyn DataSource>> {
    manager().get_data_source("csv")?.create(&Config::from_yaml(yaml)?)
}

fn csv() -> Box<dyn DataSource> {
    source("{}").expect("the default config builds")
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data").join(name);
    path.to_str().expect("a UTF-8 checkout path").to_owned()
}

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/csv", name].iter().collect();
    path.to_str().expect("a UTF-8 checkout path").to_owned()
}

fn text(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

/// The message of the error from loading fixture `name`.
fn load_error(name: &str) -> String {
    csv().load(&fixture(name)).expect_err("a malformed fixture").to_string()
}

// ---- registry --------------------------------------------------------------------------

#[test]
fn csv_resolves_by_short_and_full_name() -> Result<()> {
    let pm = manager();
    assert_eq!(pm.get_data_source("csv")?.name(), "core.csv");
    assert_eq!(pm.get_data_source("core.csv")?.name(), "core.csv");
    let mut sources = vec!["core.csv"];
    sources.extend(cfg!(feature = "sqlite").then_some("core.sqlite"));
    sources.extend(cfg!(feature = "duckdb").then_some("core.duckdb"));
    let expected: Vec<(String, String)> =
        sources.into_iter().map(|s| (s.to_owned(), "builtin_data_sources".to_owned())).collect();
    assert_eq!(pm.get_data_sources(), expected);
    let err = pm.get_data_source("cvs").expect_err("an unknown name");
    assert_eq!(err.to_string(), "unknown data_source `cvs` (did you mean `csv`?)");
    Ok(())
}

#[test]
fn config_validation_answers_for_core_csv_only() -> Result<()> {
    let pm = manager();
    let check = |yaml: &str| pm.validate_component_config(ComponentKind::DataSource, "csv", &Config::from_yaml(yaml)?);
    assert!(check("{}")?);
    assert!(check("{delimiter: ';', missing_values: ['-']}")?);
    assert!(!check("delimiter: 'é'")?);
    assert!(!check("delimeter: ';'")?);
    Ok(())
}

#[test]
fn bad_configs_are_errors_naming_the_parameter() {
    let message = |yaml: &str| source(yaml).err().expect("a bad config").to_string();
    assert_eq!(message("delimeter: ';'"), "core.csv: unknown parameter `delimeter` (did you mean `delimiter`?)");
    assert_eq!(message("delimiter: 'é'"), "core.csv: invalid config: delimiter: expected one ASCII character, got 'é'");
    assert!(message("delimiter: ';;'").starts_with("core.csv: invalid config: "));
}

#[test]
fn accepts_csv_paths_and_the_csv_scheme() {
    let csv = csv();
    for yes in ["iris.csv", "data/IRIS.CSV", "csv://data/iris.txt", "CSV://t.tsv"] {
        assert!(csv.accepts(yes), "{yes}");
    }
    for no in ["iris.txt", "iris.csv.gz", "sqlite://d.db?table=t", ".csv", "csv:/x"] {
        assert!(!csv.accepts(no), "{no}");
    }
}

// ---- the example data sets -------------------------------------------------------------

#[test]
fn iris_loads_four_numeric_features_and_a_text_species() -> Result<()> {
    let iris = csv().load(&example("iris.csv"))?;
    assert_eq!((iris.num_rows(), iris.num_columns()), (150, 5));
    assert_eq!(iris.column_names(), ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]);
    // First row `5.1,3.5,1.4,0.2,setosa`, last `5.9,3.0,5.1,1.8,virginica`.
    assert_eq!(iris.numeric("sepal_length")?[0], 5.1);
    assert_eq!(iris.numeric("petal_width")?[149], 1.8);
    let species = iris.text("species")?;
    assert_eq!((species[0].as_deref(), species[100].as_deref()), (Some("setosa"), Some("virginica")));
    assert_eq!(iris.unique_labels("species")?, ["setosa", "versicolor", "virginica"]);
    let x = iris.to_tensor(&["sepal_length", "sepal_width", "petal_length", "petal_width"])?;
    assert_eq!(x.shape(), [150, 4]);
    assert_eq!(&x.to_vec()?[..4], [5.1, 3.5, 1.4, 0.2]);
    let err = iris.to_tensor(&["sepal_length", "species"]).unwrap_err();
    let path = example("iris.csv");
    assert_eq!(err.to_string(), format!("{path}: column `species` is not numeric: row 1 holds `setosa`"));
    Ok(())
}

#[test]
fn wine_loads_fourteen_numeric_columns() -> Result<()> {
    let wine = csv().load(&example("wine.csv"))?;
    assert_eq!((wine.num_rows(), wine.num_columns()), (178, 14));
    assert!(wine.columns().iter().all(|c| c.values.is_numeric()));
    // First row `14.23,...,1065,0`, last `14.13,...,560,2`.
    assert_eq!((wine.numeric("alcohol")?[0], wine.numeric("proline")?[0]), (14.23, 1065.0));
    assert_eq!((wine.numeric("od280_od315")?[177], wine.numeric("class")?[177]), (1.6, 2.0));
    assert_eq!(wine.unique_labels("class")?, ["0", "1", "2"]);
    Ok(())
}

#[test]
fn digits_loads_sixty_four_pixels_and_the_digit() -> Result<()> {
    let digits = csv().load(&example("digits.csv"))?;
    assert_eq!((digits.num_rows(), digits.num_columns()), (1797, 65));
    assert_eq!(digits.column_names()[63..], ["pixel_63", "digit"]);
    // Row 1 starts `0,0,5,13,9,1` and is a 0; row 1797 ends `12,14,12,1,0,8` (pixel_59..digit).
    assert_eq!(digits.numeric("pixel_3")?[0], 13.0);
    assert_eq!(digits.numeric("digit")?[0], 0.0);
    assert_eq!((digits.numeric("pixel_61")?[1796], digits.numeric("digit")?[1796]), (12.0, 8.0));
    let labels = digits.unique_labels("digit")?;
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let pixels: Vec<String> = (0..64).map(|i| format!("pixel_{i}")).collect();
    let names: Vec<&str> = pixels.iter().map(String::as_str).collect();
    let x = digits.select_rows(&[1796, 0])?.to_tensor(&names)?;
    assert_eq!(x.shape(), [2, 64]);
    assert_eq!(x.to_vec()?[64..70], [0.0, 0.0, 5.0, 13.0, 9.0, 1.0]);
    Ok(())
}

// ---- types and missing values ----------------------------------------------------------

#[test]
fn types_are_inferred_per_column_with_missing_values() -> Result<()> {
    let table = csv().load(&fixture("types.csv"))?;
    let names = ["id", "ratio", "sci", "special", "word", "mixed", "empty", "quoted"];
    assert_eq!(table.column_names(), names, "names are trimmed and keep the file's order");
    assert_eq!(table.numeric("id")?, [1.0, 2.0, 3.0, -4.0]);
    assert_eq!(table.numeric("ratio")?, [0.5, -1.25, 7.0, 0.5], "` 7 ` is trimmed; `.5` is a number");
    assert_eq!(table.numeric("sci")?, [1000.0, -0.025, 4.0, 5.0], "exponents, a `+` sign, `5.`");
    let special = table.numeric("special")?;
    assert_eq!(special[..2], [f64::INFINITY, f64::NEG_INFINITY]);
    assert!(special[2].is_nan() && special[3].is_nan(), "`nan` and `NaN` are missing values");
    assert!(table.numeric("empty")?.iter().all(|x| x.is_nan()), "a column of missing values is numeric");
    assert_eq!(table.text("word")?, text(&[Some("apple"), None, Some("banana"), Some("cherry")]));
    assert_eq!(table.text("mixed")?, text(&[Some("1"), Some("2"), Some("three"), None]));
    assert_eq!(table.text("quoted")?, text(&[Some("a, b"), Some("say \"hi\""), Some("plain"), Some("spaced")]));
    assert!(table.columns()[4].values.is_missing(1));
    assert_eq!(table.unique_labels("word")?, ["apple", "banana", "cherry"]);
    Ok(())
}

#[test]
fn values_needed_as_numbers_are_errors_naming_column_row_and_value() -> Result<()> {
    // Each names the file; rows count in the file, also in a split of it.
    let path = fixture("types.csv");
    let table = csv().load(&path)?;
    assert_eq!(table.source(), Some(path.as_str()));
    let message = |e: Error| e.to_string().strip_prefix(&format!("{path}: ")).map(str::to_owned).unwrap_or_default();
    assert_eq!(message(table.numeric("mixed").unwrap_err()), "column `mixed` is not numeric: row 3 holds `three`");
    let err = table.to_tensor(&["id", "word"]).unwrap_err();
    assert_eq!(message(err), "column `word` is not numeric: row 1 holds `apple`");
    assert_eq!(
        message(table.to_tensor(&["id", "special"]).unwrap_err()),
        "column `special`: row 3 has a missing value"
    );
    assert_eq!(message(table.to_tensor(&["empty"]).unwrap_err()), "column `empty`: row 1 has a missing value");
    assert_eq!(message(table.numeric("ratoi").unwrap_err()), "no column `ratoi` (did you mean `ratio`?)");
    assert_eq!(message(table.text("id").unwrap_err()), "column `id` holds numbers, not text");
    let split = table.select_rows(&[3, 1])?;
    // The split holds rows 4 and 2 (`NaN` and `-Infinity` in `special`)...
    assert_eq!(message(split.to_tensor(&["special"]).unwrap_err()), "column `special`: row 4 has a missing value");
    // ... and of `mixed` a missing value and `2`: its `three` is in row 3, outside the split.
    assert_eq!(message(split.numeric("mixed").unwrap_err()), "column `mixed` is not numeric: row 3 holds `three`");
    let x = table.to_tensor(&["sci", "id"])?;
    assert_eq!(x.to_vec()?, [1000.0, 1.0, -0.025, 2.0, 4.0, 3.0, 5.0, -4.0]);
    Ok(())
}

#[test]
fn a_byte_order_mark_crlf_line_ends_and_blank_lines_are_handled() -> Result<()> {
    let table = csv().load(&fixture("bom_crlf.csv"))?;
    assert_eq!(table.column_names(), ["a", "b"]);
    assert_eq!(table.numeric("a")?, [1.0, 3.0], "the blank line is skipped");
    assert_eq!(table.text("b")?, text(&[Some("x"), Some("y")]));
    Ok(())
}

#[test]
fn the_delimiter_and_missing_markers_are_configurable() -> Result<()> {
    let custom = source("{delimiter: ';', missing_values: ['-']}")?;
    let location = format!("csv://{}", fixture("semicolon.txt"));
    assert!(custom.accepts(&location));
    let table = custom.load(&location)?;
    assert_eq!(table.numeric("a")?, [1.0, 2.5]);
    assert_eq!(table.text("b")?, text(&[None, Some("x")]));
    // With the default markers `-` is text, and `NA` is no longer replaced by the custom set.
    let table = source("delimiter: ';'")?.load(&location)?;
    assert_eq!(table.text("b")?, text(&[Some("-"), Some("x")]));
    let table = source("missing_values: ['-']")?.load(&fixture("types.csv"))?;
    assert_eq!(table.text("word")?[1].as_deref(), Some("NA"));
    Ok(())
}

#[test]
fn a_table_reads_the_same_through_select_rows() -> Result<()> {
    let iris = csv().load(&example("iris.csv"))?;
    let picked: Table = iris.select_rows(&[149, 0])?;
    assert_eq!(picked.num_rows(), 2);
    assert_eq!(picked.numeric("sepal_length")?, [5.9, 5.1]);
    assert_eq!(picked.text("species")?, text(&[Some("virginica"), Some("setosa")]));
    assert!(matches!(picked.columns()[0].values, ColumnValues::Numeric(_)));
    Ok(())
}

// ---- errors ----------------------------------------------------------------------------

#[test]
fn a_missing_file_names_the_path() {
    let path = fixture("no_such_file.csv");
    let err = csv().load(&path).expect_err("no such file");
    assert!(err.to_string().starts_with(&format!("{path}: cannot read the file: ")), "{err}");
    let Error::DataFile { source, .. } = err else { panic!("expected DataFile, got {err:?}") };
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn an_empty_file_needs_a_header() {
    let message =
        |name: &str| format!("{}: the file is empty; a header row naming the columns is required", fixture(name));
    assert_eq!(load_error("empty.csv"), message("empty.csv"));
    assert_eq!(load_error("blank_lines.csv"), message("blank_lines.csv"));
}

#[test]
fn a_header_without_rows_is_an_error() {
    assert_eq!(
        load_error("header_only.csv"),
        format!("{}: the header row has no data rows under it", fixture("header_only.csv"))
    );
}

#[test]
fn a_ragged_row_names_its_line_and_the_field_counts() {
    assert_eq!(
        load_error("ragged.csv"),
        format!("{}: line 3: expected 3 fields as in the header, got 2", fixture("ragged.csv"))
    );
    assert_eq!(
        load_error("ragged_long.csv"),
        format!("{}: line 2: expected 2 fields as in the header, got 3", fixture("ragged_long.csv"))
    );
}

#[test]
fn a_ragged_row_after_crlf_line_ends_or_blank_lines_names_its_own_line() {
    // The csv crate's `Position::line` says 3 and 3 here (rust-csv #395, #208).
    assert_eq!(
        load_error("ragged_crlf.csv"),
        format!("{}: line 4: expected 2 fields as in the header, got 1", fixture("ragged_crlf.csv"))
    );
    assert_eq!(
        load_error("ragged_after_blank.csv"),
        format!("{}: line 5: expected 2 fields as in the header, got 1", fixture("ragged_after_blank.csv"))
    );
    assert_eq!(
        load_error("invalid_utf8_crlf.csv"),
        format!(
            "{}: line 4, field 2 (column `b`): invalid UTF-8 after byte 0 of the field",
            fixture("invalid_utf8_crlf.csv")
        )
    );
}

#[test]
fn invalid_utf8_names_the_line_field_and_column() {
    assert_eq!(
        load_error("invalid_utf8.csv"),
        format!(
            "{}: line 3, field 1 (column `name`): invalid UTF-8 after byte 3 of the field",
            fixture("invalid_utf8.csv")
        )
    );
    assert_eq!(
        load_error("invalid_utf8_header.csv"),
        format!("{}: line 1, field 2: invalid UTF-8 after byte 1 of the field", fixture("invalid_utf8_header.csv"))
    );
}

#[test]
fn header_names_must_be_present_and_unique() {
    assert_eq!(
        load_error("duplicate_column.csv"),
        format!(
            "{}: line 1, field 3 (column `x`): duplicate column name (first at field 1)",
            fixture("duplicate_column.csv")
        )
    );
    assert_eq!(
        load_error("empty_column_name.csv"),
        format!("{}: line 1, field 2: empty column name; every column needs a name", fixture("empty_column_name.csv"))
    );
}
