//! `arc predict` writes one row per input row whatever the rank of the
//! model's outputs: each row it writes, to CSV and to SQLite, is what that
//! row predicts alone. The model answers a rank-1 output (`[N]`), a rank-2
//! one (`[N, 3]`: three columns), per-position class scores (`[N, L, C]`:
//! a JSON array of ids, and `--top-k`) and a rank-3 tensor of values (a
//! nested JSON array).

use std::path::{Path, PathBuf};
use std::process::Command;

use arc::Result;
use arc::data::Table;
use arc::spec::{ArcSpec, Config};
use arc::train::{PredictOptions, predict_with, train};

const SPEC: &str = "\
model_name: shapes
features:
  feature_columns: [x1, x2, events]
  processors:
    - {name: x, op: transform.assemble_vector, inputs: {columns: [x1, x2]}, outputs: {tensors.x: output}}
    - {name: ids, op: transform.hash_and_pad, inputs: {x: events, num_buckets: 8, max_length: 3}, outputs: {tensors.ids: output}}
    - {name: raw, op: transform.hash_and_pad, train_only: true, inputs: {x: events, num_buckets: 8, max_length: 3, fill_value: -100}, outputs: {tensors.raw: output}}
    - {name: next, op: transform.sequence_shift, train_only: true, inputs: {x: tensors.raw, direction: left, fill_value: -100}, outputs: {tensors.next: output}}
model:
  inputs:
    x1: {dtype: float32, shape: [null]}
    x: [null, 2]
    ids: {dtype: int64, shape: [null, 3]}
  graph:
    - {name: one, type: Tanh, inputs: {input: x1}}
    - {name: two, type: Linear, params: {in_features: 2, out_features: 3}, inputs: {input: x}}
    - {name: emb, type: Embedding, params: {num_embeddings: 8, embedding_dim: 4}, inputs: {input: ids}}
    - {name: three, type: Linear, params: {in_features: 4, out_features: 8}}
    - {name: hidden, type: Tanh, inputs: {input: emb}}
  outputs: {one: one, two: two, three: three, hidden: hidden}
trainer:
  optimizer: {type: Adam, config: {lr: 0.01}}
  loss: {type: CrossEntropyLoss, inputs: {pred: model.three, target: tensors.next}}
  config: {epochs: 2, batch_size: 8, validation_split: 0.0}
";

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arc-predict-shapes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn arc(args: &[&str]) {
    let run = Command::new(env!("CARGO_BIN_EXE_arc")).args(args).output().expect("arc runs");
    assert!(run.status.success(), "arc {args:?}: {}", String::from_utf8_lossy(&run.stderr));
}

/// A cell written by `arc predict`, and the one predicted for its row alone, agree: numbers
/// to f32 rounding (the batch's matrix products may sum in another order), JSON arrays
/// element by element, anything else exactly.
fn same(written: &str, alone: &str) -> bool {
    fn numbers(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| numbers(i, out)),
            serde_json::Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
            _ => out.push(f64::NAN),
        }
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
    if let (Ok(a), Ok(b)) = (written.parse::<f64>(), alone.parse::<f64>()) {
        return close(a, b);
    }
    match (serde_json::from_str::<serde_json::Value>(written), serde_json::from_str::<serde_json::Value>(alone)) {
        (Ok(a), Ok(b)) if a.is_array() => {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            numbers(&a, &mut x);
            numbers(&b, &mut y);
            x.len() == y.len() && x.iter().zip(&y).all(|(a, b)| close(*a, *b))
        }
        _ => written == alone,
    }
}

fn write_data(dir: &Path) -> PathBuf {
    let mut text = String::from("x1,x2,events\n");
    for i in 0..24 {
        let events = (0..1 + i % 3).map(|t| format!("e{}", (i + t) % 5)).collect::<Vec<_>>().join(" ");
        text.push_str(&format!("{},{},{events}\n", (i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()));
    }
    let path = dir.join("rows.csv");
    std::fs::write(&path, text).expect("data written");
    path
}

#[test]
fn every_written_row_is_that_row_predicted_alone_in_csv_and_sqlite() -> Result<()> {
    let dir = scratch();
    let data = write_data(&dir);
    let pm = arc::get_plugin_manager();
    let table: Table = pm.get_data_source("csv")?.create(&Config::new())?.load(&data.display().to_string())?;
    let spec = ArcSpec::from_yaml(SPEC, "shapes.yaml")?;
    let trained = train(&spec, spec.trainer.as_ref().expect("a trainer"), &table, pm, &mut |_| {})?;
    let model = dir.join("model");
    arc::model_dir::save(&model, SPEC, &trained.model.named_state(), &trained.fitted, &trained.history)?;
    let loaded = arc::model_dir::load(&model)?;
    let (model_arg, data_arg) = (model.to_str().expect("utf-8"), data.to_str().expect("utf-8"));
    let csv_out = dir.join("predictions.csv");
    arc(&["predict", model_arg, "--data", data_arg, "--out", csv_out.to_str().expect("utf-8"), "--top-k", "2"]);
    let db = dir.join("predictions.db");
    let location = format!("sqlite://{}?table=p", db.display());
    arc(&["predict", model_arg, "--data", data_arg, "--out", &location, "--top-k", "2"]);

    let mut reader = csv::Reader::from_path(&csv_out).expect("the CSV reads");
    let header: Vec<String> = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    assert_eq!(header, ["one", "two_0", "two_1", "two_2", "three", "three_top2", "hidden"]);
    let written: Vec<Vec<String>> =
        reader.records().map(|r| r.expect("a record").iter().map(str::to_owned).collect()).collect();
    assert_eq!(written.len(), table.num_rows(), "one row per input row");
    let conn = rusqlite::Connection::open(&db).expect("the database opens");
    let mut query = conn.prepare("SELECT * FROM p ORDER BY rowid").expect("a query");
    let stored: Vec<Vec<String>> = query
        .query_map([], |row| {
            (0..header.len())
                .map(|j| {
                    Ok(match row.get_ref(j)? {
                        rusqlite::types::ValueRef::Real(x) => x.to_string(),
                        rusqlite::types::ValueRef::Integer(x) => x.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        _ => String::new(),
                    })
                })
                .collect()
        })
        .expect("rows")
        .collect::<std::result::Result<_, _>>()
        .expect("rows read");
    assert_eq!(stored.len(), table.num_rows());

    let options = PredictOptions { top_k: Some(2) };
    for row in 0..table.num_rows() {
        let alone = predict_with(&loaded, &table.select_rows(&[row])?, pm, &options)?;
        let names: Vec<&str> = alone.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, header);
        for (j, (name, values)) in alone.columns.iter().enumerate() {
            assert_eq!(values.len(), 1);
            assert!(
                same(&written[row][j], &values[0]),
                "CSV row {row}, `{name}`: {} vs {}",
                written[row][j],
                values[0]
            );
            assert!(
                same(&stored[row][j], &values[0]),
                "SQLite row {row}, `{name}`: {} vs {}",
                stored[row][j],
                values[0]
            );
        }
        // Each rank keeps its row's shape: 3 ids, 3 pairs of top classes, a [3, 4] tensor.
        let json = |j: usize| serde_json::from_str::<serde_json::Value>(&alone.columns[j].1[0]).expect("JSON");
        assert_eq!(json(4).as_array().map(Vec::len), Some(3));
        assert!(json(5).as_array().is_some_and(|p| p.iter().all(|top| top.as_array().map(Vec::len) == Some(2))));
        let hidden = json(6);
        assert_eq!(hidden.as_array().map(Vec::len), Some(3));
        assert!(hidden.as_array().is_some_and(|h| h.iter().all(|v| v.as_array().map(Vec::len) == Some(4))));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
