//! Criterion benchmarks of `arc::Predictor` (issue 8): `cargo bench --bench predictor`.
//!
//! - `predict_row_into_{iris,digits}`: one row, the zero-allocation form;
//! - `predict_row_named_iris`: one row of named typed values (`Row::Named`);
//! - `predict_batch256_{iris,digits}`: 256 rows (rayon above 64 rows);
//! - `predict_row_into_iris_2threads_x1000`: two threads sharing one `Arc<Predictor>`,
//!   1000 rows each (compare with `_1thread_x1000`: the scaling);
//! - `predictor_load_iris`: loading and checking the model directory.
//!
//! The models are trained for a few epochs on the committed data first (`table/predictor.rs`).
//! The p50/p99 table and the torch comparison: `scripts/bench/predict_interleaved.sh`.

use std::hint::black_box;
use std::sync::Arc;

use arc::Predictor;
use arc::predictor::{Row, Value};
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "table/predictor.rs"]
#[allow(dead_code)]
mod models;
#[path = "table/timing.rs"]
#[allow(dead_code)]
mod timing;

fn threads(p: &Arc<Predictor>, rows: &Arc<Vec<Vec<f32>>>, n: usize) {
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let (p, rows) = (p.clone(), rows.clone());
            std::thread::spawn(move || {
                let mut out = vec![0.0; p.output_len()];
                for i in 0..1000 {
                    black_box(p.predict_row_into(&rows[(i + t) % rows.len()], &mut out).expect("a good row"));
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().expect("a bench thread"));
}

fn bench(c: &mut Criterion) {
    let benches = models::benches().expect("the bench models train");
    for bench in &benches {
        let predictor = Predictor::load(&bench.dir).expect("the model loads");
        let mut out = vec![0.0; predictor.output_len()];
        let row = &bench.rows[0];
        c.bench_function(&format!("predict_row_into_{}", bench.name), |b| {
            b.iter(|| black_box(predictor.predict_row_into(black_box(row), &mut out)))
        });
        let batch: Vec<Row<'_>> = bench.rows.iter().cycle().take(256).map(|r| Row::from(&r[..])).collect();
        c.bench_function(&format!("predict_batch256_{}", bench.name), |b| {
            b.iter(|| black_box(predictor.predict_batch(&batch)))
        });
    }
    let iris = &benches[0];
    let predictor = Predictor::load(&iris.dir).expect("the model loads");
    let names = predictor.input_columns().to_vec();
    let named: Vec<(&str, Value<'_>)> =
        names.iter().zip(&iris.rows[0]).map(|(n, v)| (n.as_str(), Value::from(*v))).collect();
    c.bench_function("predict_row_named_iris", |b| b.iter(|| black_box(predictor.predict_row(&named[..]))));
    let shared = Arc::new(predictor);
    let rows = Arc::new(iris.rows.clone());
    c.bench_function("predict_row_into_iris_1thread_x1000", |b| b.iter(|| threads(&shared, &rows, 1)));
    c.bench_function("predict_row_into_iris_2threads_x1000", |b| b.iter(|| threads(&shared, &rows, 2)));
    c.bench_function("predictor_load_iris", |b| b.iter(|| black_box(Predictor::load(&iris.dir))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
