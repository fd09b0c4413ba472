//! A JSON-lines request loop over a [`Predictor`]: the body of
//! `examples/embed_predict.rs`, here so that it is tested.

use std::io::{BufRead, Write};

use serde_json::{Map, Value as Json, json};

use super::{Predictor, Value};

/// Answers requests, one JSON object per line on `reader` (`{"column":
/// value, ...}`: numbers, strings, `null` for missing), with one JSON line
/// each on `writer`, flushed: the row's answer as
/// [`Predictor::answer_row`] names it, the fields `arc predict` writes as
/// columns (`{"species": "setosa", "p_setosa": 0.97, ...}` for a
/// classifier, `{"probability": 0.83, "outcome": "1"}` for a binary model
/// whose spec returns `probability`), or `{"error": "..."}` for a line that
/// is not an object or a row that is bad — the loop goes on. Blank lines
/// are skipped. Returns the number of answers; only I/O errors stop it.
///
/// ```no_run
/// let predictor = arc_core::predictor::Predictor::load("target/iris-model")?;
/// let input = br#"{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}"#;
/// let mut out = Vec::new();
/// arc_core::predictor::serve_json_lines(&predictor, &input[..], &mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().starts_with(r#"{"species":"#));
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn serve_json_lines(predictor: &Predictor, reader: impl BufRead, mut writer: impl Write) -> std::io::Result<usize> {
    let mut answers = 0;
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Json>(&line) {
            Ok(Json::Object(fields)) => answer(predictor, &fields),
            Ok(_) => json!({"error": "expected a JSON object of column values"}),
            Err(e) => json!({"error": format!("invalid JSON: {e}")}),
        };
        serde_json::to_writer(&mut writer, &answer)?;
        writer.write_all(b"\n")?;
        writer.flush()?;
        answers += 1;
    }
    Ok(answers)
}

fn answer(predictor: &Predictor, fields: &Map<String, Json>) -> Json {
    let mut cells = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let cell = match value {
            Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Value::Text(s),
            Json::Null => Value::Missing,
            other => {
                return json!({"error": format!("column `{name}`: expected a number, a string or null, got {other}")});
            }
        };
        cells.push((name.as_str(), cell));
    }
    match predictor.answer_row(&cells[..]) {
        Ok(fields) => Json::Object(fields.into_iter().map(|(name, cell)| (name, cell.json())).collect()),
        Err(e) => json!({"error": e.to_string()}),
    }
}
