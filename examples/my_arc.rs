//! Your own `arc`: the whole command line (`plugins`, `validate`, `train`,
//! `predict`, `evaluate`, `export`) with your plugin crates linked. Here the
//! plugin crate is the example plugin; put yours in `link_plugins!`.
//!
//! ```sh
//! cargo run --example my_arc --features example-plugin -- plugins
//! cargo run --example my_arc --features example-plugin -- \
//!     train tests/fixtures/specs/wine_plugin.yaml --data examples/data/wine.csv --out target/wine-plugin
//! ```

arc::link_plugins!(arc_example_plugin);

fn main() -> std::process::ExitCode {
    arc::cli::main()
}
