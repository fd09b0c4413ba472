//! CSV ingestion: any bytes as a data file, read by the CSV source, checked against the iris
//! spec (`validate_data`, which fits the pipeline and runs one forward pass) and predicted
//! by a trained iris model.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let model = common::trained_model();
    let path = common::scratch().join("input.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let pm = arc::get_plugin_manager();
    let Ok(table) = arc::plugin::open_table(&path.display().to_string(), pm) else { return };
    if let Ok(spec) = arc::spec::ArcSpec::from_yaml(common::iris_spec(), "iris.yaml") {
        let _ = arc::train::validate_data(&spec, &table, pm);
    }
    if let Ok(bundle) = arc::train::ModelBundle::load(model, pm) {
        let _ = bundle.predict_with(&table, &arc::train::PredictOptions::default());
    }
});
