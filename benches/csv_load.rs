//! Criterion benchmarks of the `core.csv` data source, built by name through the plugin
//! manager as `arc train --data` would build it: `cargo bench --bench csv_load`.
//!
//! `csv_load_digits_1797x65` reads `examples/data/digits.csv` (267 KB, every column numeric)
//! into a `Table`: parsing, type inference and the column copies. `csv_load_iris_150x5` adds
//! a text column. `csv_digits_to_tensor_1797x64` is the step after loading: the 64 pixel
//! columns as one `[1797, 64]` f32 tensor.

use std::hint::black_box;

use arc_builtins::BuiltinDataSourcePlugin;
use arc_core::data::DataSource;
use arc_core::plugin::PluginManager;
use arc_core::spec::Config;
use criterion::{Criterion, criterion_group, criterion_main};

fn example(name: &str) -> String {
    format!("{}/examples/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn bench(c: &mut Criterion) {
    let pm = PluginManager::new();
    pm.register_plugin(BuiltinDataSourcePlugin, "builtin_data_sources").expect("a fresh manager");
    pm.refresh_registries().expect("the builtin data sources register");
    let csv: Box<dyn DataSource> =
        pm.get_data_source("csv").and_then(|s| s.create(&Config::new())).expect("core.csv builds");

    let digits = example("digits.csv");
    let iris = example("iris.csv");
    c.bench_function("csv_load_digits_1797x65", |b| b.iter(|| black_box(csv.load(&digits))));
    c.bench_function("csv_load_iris_150x5", |b| b.iter(|| black_box(csv.load(&iris))));

    let table = csv.load(&digits).expect("digits.csv loads");
    let pixels: Vec<String> = (0..64).map(|i| format!("pixel_{i}")).collect();
    let names: Vec<&str> = pixels.iter().map(String::as_str).collect();
    c.bench_function("csv_digits_to_tensor_1797x64", |b| b.iter(|| black_box(table.to_tensor(&names))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
