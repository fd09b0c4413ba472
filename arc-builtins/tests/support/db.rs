//! Helpers shared by the database source tests (`sqlite_source.rs`, `duckdb_source.rs`).

use std::path::{Path, PathBuf};

use arc_builtins::BuiltinDataSourcePlugin;
use arc_core::Result;
use arc_core::data::{ColumnValues, Table};
use arc_core::plugin::PluginManager;

/// A manager holding the built-in data sources.
pub fn manager() -> PluginManager {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinDataSourcePlugin, "builtin_data_sources").expect("a fresh manager");
    pm.refresh_registries().expect("the builtin data sources register");
    pm
}

/// A fresh directory for one test, named `arc-<prefix>-<test>-<pid>`.
pub fn temp_dir(prefix: &str, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-{prefix}-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// The path of a shipped example data file.
pub fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data").join(name);
    path.to_str().expect("a UTF-8 checkout path").to_owned()
}

/// `<scheme>://<db>?<params>`.
pub fn location(scheme: &str, db: &Path, params: &str) -> String {
    format!("{scheme}://{}?{params}", db.display())
}

/// The same columns with the same values, numbers compared bit for bit (NaN = NaN).
pub fn assert_same(got: &Table, want: &Table) {
    assert_eq!(got.column_names(), want.column_names());
    for (g, w) in got.columns().iter().zip(want.columns()) {
        let bits = |v: &[f64]| v.iter().map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() }).collect::<Vec<_>>();
        match (&g.values, &w.values) {
            (ColumnValues::Numeric(gv), ColumnValues::Numeric(wv)) => {
                assert_eq!(bits(gv), bits(wv), "column `{}`", w.name)
            }
            (gv, wv) => assert_eq!(gv, wv, "column `{}`", w.name),
        }
    }
}

/// The message of a load that must fail.
pub fn message(result: Result<Table>) -> String {
    result.expect_err("an error").to_string()
}
