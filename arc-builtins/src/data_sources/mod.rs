//! Arc's standard data sources: `core.csv`, the default; `core.sqlite`
//! (feature `sqlite`) and `core.duckdb` (feature `duckdb`).
//!
//! A source is built from its config by name, then loads a location into
//! an [`arc_core::data::Table`].

use arc_core::plugin::{DataSourceHookSpec, DataSourceRegistrations, Registrations};
use arc_core::spec::Config;
use arc_core::{arc_plugin, hookimpl};

mod csv;
#[cfg(feature = "duckdb")]
mod duckdb;
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::write_predictions;

/// Registers Arc's standard data sources: `core.csv`, and `core.sqlite` and
/// `core.duckdb` where their features are on.
///
/// ```
/// use arc_builtins::BuiltinDataSourcePlugin;
/// use arc_core::plugin::PluginManager;
/// use arc_core::spec::Config;
///
/// let manager = PluginManager::new();
/// manager.register_plugin(BuiltinDataSourcePlugin, "builtin_data_sources")?;
/// manager.refresh_registries()?;
/// let csv = manager.get_data_source("csv")?.create(&Config::new())?;
/// assert!(csv.accepts("data/Iris.CSV") && csv.accepts("csv://data/iris.txt"));
/// assert!(!csv.accepts("sqlite://data.db?table=iris"));
/// let err = csv.load("no/such/file.csv").err().unwrap();
/// assert!(err.to_string().starts_with("no/such/file.csv: cannot read the file: "));
/// # Ok::<(), arc_core::Error>(())
/// ```
#[arc_plugin(name = "builtin_data_sources", description = "Registers Arc's standard data sources.")]
#[derive(Debug, Default)]
pub struct BuiltinDataSourcePlugin;

#[hookimpl]
impl DataSourceHookSpec for BuiltinDataSourcePlugin {
    fn register_data_sources(&self) -> DataSourceRegistrations {
        use arc_core::plugin::schema_of;
        let registrations =
            Registrations::new().add("csv", csv::CsvSource::from_config).params_schema(schema_of::<csv::CsvConfig>);
        #[cfg(feature = "sqlite")]
        let registrations = registrations
            .add("sqlite", sqlite::SqliteSource::from_config)
            .params_schema(schema_of::<sqlite::SqliteConfig>);
        #[cfg(feature = "duckdb")]
        let registrations = registrations
            .add("duckdb", duckdb::DuckDbSource::from_config)
            .params_schema(schema_of::<duckdb::DuckDbConfig>);
        registrations
    }

    fn validate_data_source_config(&self, source_type: &str, config: &Config) -> Option<bool> {
        match source_type {
            csv::NAME => Some(csv::CsvSource::from_config(config).is_ok()),
            #[cfg(feature = "sqlite")]
            sqlite::NAME => Some(sqlite::SqliteSource::from_config(config).is_ok()),
            #[cfg(feature = "duckdb")]
            duckdb::NAME => Some(duckdb::DuckDbSource::from_config(config).is_ok()),
            _ => None,
        }
    }
}
