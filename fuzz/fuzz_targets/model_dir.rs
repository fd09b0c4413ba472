//! Model directories: one file of a trained iris model replaced by the fuzzer's bytes (the
//! first byte picks which), then loaded and used every way a user can: predict, evaluate,
//! export (safetensors and ONNX) and `Predictor::load` with a row.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const FILES: [&str; 6] = ["spec.yaml", "model.safetensors", "processors.json", "arc.json", "history.json", "metrics.json"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let model = common::trained_model();
    let dir = common::scratch().join("mutated");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for file in FILES {
        let _ = std::fs::copy(model.join(file), dir.join(file));
    }
    if std::fs::write(dir.join(FILES[pick as usize % FILES.len()]), bytes).is_err() {
        return;
    }
    let pm = arc::get_plugin_manager();
    let data = common::root().join("examples/data/iris.csv");
    let Ok(table) = arc::plugin::open_table(&data.display().to_string(), pm) else { return };
    if let Ok(bundle) = arc::train::ModelBundle::load(&dir, pm) {
        let _ = bundle.predict_with(&table, &arc::train::PredictOptions::default());
        let _ = bundle.evaluate(&table, pm);
        if let Ok(export) = bundle.export_model() {
            for format in ["safetensors", "onnx"] {
                if let Ok(exporter) = pm.get_exporter(format).and_then(|c| c.create(&arc::spec::Config::new())) {
                    let _ = exporter.export(&export, &common::scratch().join(format!("out.{format}")));
                }
            }
        }
    }
    if let Ok(predictor) = arc::Predictor::load(&dir) {
        let _ = predictor.predict_row(&[5.1f32, 3.5, 1.4, 0.2][..]);
    }
});
