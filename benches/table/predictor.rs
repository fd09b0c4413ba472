//! Predictor rows of the benchmark table (issue 8), and the models both
//! predictor benches share: the iris MLP (4 → 16 → ReLU → 3, the committed
//! spec) and a digits MLP (64 → 128 → ReLU → 10), trained for a few epochs
//! on the committed data and saved as model directories.
//!
//! Rows: single-row latency of `predict_row_into` as p50 and p99 of
//! [`LATENCY_CALLS`] calls each timed with `Instant` (sorted), the
//! throughput of one thread and of two threads sharing one
//! `Arc<Predictor>`, a batch of 256, the cold plugin enumeration and the
//! first model load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arc::Predictor;
use arc::data::Table;
use arc::spec::{ArcSpec, Config};

/// Calls timed one by one for the percentiles (the torch script uses the same).
pub const LATENCY_CALLS: usize = 100_000;

/// The digits MLP's spec: the iris spec's shape, on 64 pixels and 10 digits.
pub fn digits_spec(iris: &str) -> String {
    let pixels: Vec<String> = (0..64).map(|i| format!("pixel_{i}")).collect();
    iris.replace("model_name: iris", "model_name: digits")
        .replace("[sepal_length, sepal_width, petal_length, petal_width]", &format!("[{}]", pixels.join(", ")))
        .replace("[species]", "[digit]")
        .replace("column: species", "column: digit")
        .replace("tensors.species", "tensors.digit")
        .replace("target_columns.species", "target_columns.digit")
        .replace("species: model.logits", "digit: model.logits")
        .replace("species: states.label", "digit: states.label")
        .replace("out_features: 16", "out_features: 128")
        .replace("in_features: 16, out_features: 3", "in_features: 128, out_features: 10")
}

/// A trained, saved model and its data's feature rows.
pub struct Bench {
    /// `iris` or `digits`.
    pub name: &'static str,
    /// The model directory.
    pub dir: PathBuf,
    /// Each data row's features, in the predictor's input order.
    pub rows: Vec<Vec<f32>>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_csv(file: &str) -> arc::Result<Table> {
    arc::get_plugin_manager()
        .get_data_source("csv")?
        .create(&Config::new())?
        .load(&root().join(file).display().to_string())
}

/// Trains `spec_text` for 10 epochs on `data` and saves it under target/.
fn prepare(name: &'static str, spec_text: &str, data: &str) -> arc::Result<Bench> {
    let text = spec_text.replace("epochs: 100", "epochs: 10");
    let table = load_csv(data)?;
    let spec = ArcSpec::from_yaml(&text, name)?;
    let trainer = spec.trainer.clone().expect("a trainer section");
    let trained = arc::train::train(&spec, &trainer, &table, arc::get_plugin_manager(), &mut |_| {})?;
    let dir = root().join(format!("target/bench-predictor/{name}"));
    arc::model_dir::save(&dir, &text, &trained.model.named_values(), &trained.fitted, &trained.history)?;
    let predictor = Predictor::load(&dir)?;
    let columns: Vec<&[f64]> =
        predictor.input_columns().iter().map(|c| table.numeric(c)).collect::<arc::Result<_>>()?;
    let rows = (0..table.num_rows()).map(|i| columns.iter().map(|c| c[i] as f32).collect()).collect();
    Ok(Bench { name, dir, rows })
}

/// The iris and digits models.
pub fn benches() -> arc::Result<Vec<Bench>> {
    let iris = std::fs::read_to_string(root().join("examples/specs/iris.yaml")).expect("the iris spec");
    Ok(vec![
        prepare("iris", &iris, "examples/data/iris.csv")?,
        prepare("digits", &digits_spec(&iris), "examples/data/digits.csv")?,
    ])
}

/// p50 and p99 in ns of `calls` single-row predictions, each timed.
fn latency(predictor: &Predictor, rows: &[Vec<f32>], calls: usize) -> (f64, f64) {
    let mut out = vec![0.0; predictor.output_len()];
    for row in rows.iter().take(1000) {
        predictor.predict_row_into(row, &mut out).expect("a good row");
    }
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let row = &rows[i % rows.len()];
        let start = Instant::now();
        std::hint::black_box(predictor.predict_row_into(std::hint::black_box(row), &mut out).expect("a good row"));
        times.push(start.elapsed().as_nanos() as f64);
    }
    times.sort_by(f64::total_cmp);
    (times[calls / 2], times[calls * 99 / 100])
}

/// Rows per second over `threads` threads sharing one predictor, each
/// predicting `per_thread` rows.
fn throughput(predictor: &Arc<Predictor>, rows: &Arc<Vec<Vec<f32>>>, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (p, rows) = (predictor.clone(), rows.clone());
            std::thread::spawn(move || {
                let mut out = vec![0.0; p.output_len()];
                for i in 0..per_thread {
                    let row = &rows[(i * 7 + t) % rows.len()];
                    std::hint::black_box(p.predict_row_into(row, &mut out).expect("a good row"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a bench thread");
    }
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

/// The cold start-up rows, timed first thing in the process: a new
/// manager's `discover_plugins` (the enumeration of the linked plugins),
/// its `refresh_registries` (every `register_*` hook, the name indexes),
/// and the first `get_plugin_manager()` (both, for the global manager).
pub fn cold_start() -> Vec<(&'static str, f64)> {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64() * 1e6
    };
    let pm = arc::PluginManager::new();
    let enumerate = time(&mut || drop(std::hint::black_box(pm.discover_plugins())));
    let registries = time(&mut || drop(std::hint::black_box(pm.refresh_registries())));
    let global = time(&mut || {
        std::hint::black_box(arc::get_plugin_manager());
    });
    vec![
        ("plugin_enumeration_cold", enumerate),
        ("plugin_registries_refresh_cold", registries),
        ("get_plugin_manager_first_call", global),
    ]
}

/// Prints the predictor rows, after the `cold` rows of [`cold_start`] (µs).
pub fn run(out: &mut impl FnMut(&str, f64, &str), cold: &[(&str, f64)]) -> arc::Result<()> {
    for (case, us) in cold {
        out(case, *us, "us");
    }
    let benches = benches()?;
    for bench in &benches {
        let name = bench.name;
        let start = Instant::now();
        let predictor = Predictor::load(&bench.dir)?;
        out(&format!("predictor_load_{name}"), start.elapsed().as_secs_f64() * 1e6, "us");
        assert!(predictor.is_allocation_free(), "{name} compiles");
        let (p50, p99) = latency(&predictor, &bench.rows, LATENCY_CALLS);
        out(&format!("predict_row_{name}_p50"), p50 / 1000.0, "us");
        out(&format!("predict_row_{name}_p99"), p99 / 1000.0, "us");
        let predictor = Arc::new(predictor);
        let rows = Arc::new(bench.rows.clone());
        let per_thread = if name == "iris" { 2_000_000 } else { 200_000 };
        let one = throughput(&predictor, &rows, 1, per_thread);
        let two = throughput(&predictor, &rows, 2, per_thread);
        out(&format!("predict_row_{name}_1thread"), one, "rows/s");
        out(&format!("predict_row_{name}_2threads"), two, "rows/s");
        out(&format!("predict_row_{name}_2threads_scaling"), two / one, "x");
        let batch: Vec<arc::predictor::Row<'_>> =
            bench.rows.iter().cycle().take(256).map(|r| arc::predictor::Row::from(&r[..])).collect();
        let ns = super::timing::ns_per_call(|| predictor.predict_batch(&batch));
        out(&format!("predict_batch256_{name}"), ns / 1000.0, "us");
    }
    Ok(())
}

/// The model directory of `name`, prepared by [`benches`].
#[allow(dead_code, reason = "used by the criterion bench only")]
pub fn dir_of<'a>(benches: &'a [Bench], name: &str) -> &'a Path {
    &benches.iter().find(|b| b.name == name).expect("a prepared model").dir
}
