//! No leakage: the pipeline is fitted on the training rows only. The rows the seeded split
//! holds out are made extreme outliers; the fitted state must equal the state fitted on the
//! training rows alone, bit for bit, and differ from the whole table's (so the test can fail).

use arc::Result;
use arc::data::{Column, ColumnValues, Table};
use arc::pipeline::Pipeline;
use arc::spec::ArcSpec;
use arc::tensor::Rng;

#[path = "support/iris.rs"]
mod iris;

/// The trainer's split, done by hand: a Fisher–Yates shuffle from `Rng::new(seed)`, the first
/// `round(rows × fraction)` held out. Returns (training rows, validation rows), each sorted.
fn split(rows: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..rows).collect();
    let mut rng = Rng::new(seed);
    for i in (1..rows).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let held = (rows as f64 * fraction).round() as usize;
    let (mut val, mut train) = (order[..held].to_vec(), order[held..].to_vec());
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// `table` with every numeric cell of `rows` set to `value`.
fn with_outliers(table: &Table, rows: &[usize], value: f64) -> Result<Table> {
    let columns = table
        .columns()
        .iter()
        .map(|c| match &c.values {
            ColumnValues::Numeric(v) => {
                let mut v = v.clone();
                rows.iter().for_each(|&r| v[r] = value);
                Column::numeric(c.name.clone(), v)
            }
            _ => c.clone(),
        })
        .collect();
    Table::new(columns)
}

#[test]
fn the_pipeline_is_fitted_on_the_training_rows_only() -> Result<()> {
    let text = iris::spec_text().replace("epochs: 100", "epochs: 1");
    let spec = ArcSpec::from_yaml(&text, iris::SPEC)?;
    let pm = arc::get_plugin_manager();
    let clean = iris::table()?;
    let (train_rows, val_rows) = split(clean.num_rows(), 0.2, 42);
    assert_eq!((train_rows.len(), val_rows.len()), (120, 30));
    let table = with_outliers(&clean, &val_rows, 1.0e6)?;

    let trained = arc::train::train(&spec, spec.trainer()?, &table, pm, &mut |_| {})?;
    let pipeline = || Pipeline::new(spec.features.processors.clone(), pm).map(|p| p.with_feature_lists(&spec.features));
    let on_training_rows = pipeline()?.fit(&table.select_rows(&train_rows)?)?.fitted();
    let on_everything = pipeline()?.fit(&table)?.fitted();
    assert_eq!(trained.fitted.states, on_training_rows.states, "fitted on exactly the training rows");
    assert_eq!(trained.fitted.vars, on_training_rows.vars);
    assert_ne!(on_training_rows.states["scaler"], on_everything.states["scaler"], "the outliers would show");
    // The outliers are held out: the validation loss sees them (huge), training did not.
    let record = &trained.history.epochs[0];
    assert!(record.train_loss < 5.0 && record.val_loss.expect("a validation split") > 100.0, "{record:?}");
    Ok(())
}
