//! What a prediction answers, one row at a time: the same named fields for
//! `arc predict` (CSV and SQLite columns) and the embedded Predictor (its
//! JSON-lines answer).
//!
//! The outputs answered are those `predictor.returns` names, and those
//! `predictor.outputs` renames (`{column: model.<output>}`); without a
//! `predictor` section, every model output, in the order the spec writes
//! them. Each becomes fields by what the trained loss says of it
//! ([`TargetInfo`]):
//!
//! - the loss's prediction of a multiclass model (`[N, C]`): the decoded
//!   label, under the target's name (or the `predictor.outputs` column), and
//!   each class's probability `p_<class>` (when the scores are logits or
//!   probabilities);
//! - the loss's prediction of a binary model (`[N]` or `[N, 1]`): the
//!   positive class's probability under the output's name, and the decoded
//!   label (the positive class from 0.5) under the target's name;
//! - the loss's prediction per position (`[N, L, C]`): the class of each
//!   position, decoded where the classes are known, as a JSON array in one
//!   field; with `top_k`, a field `<name>_top<k>` holding, per position,
//!   the `k` likeliest `[class, probability]` pairs;
//! - any other output: a row of one value is one number; `[N, k]` gives
//!   `k` fields `<name>_0` ... `<name>_<k-1>`; higher ranks give the row's
//!   values as a nested JSON array in one field.

use crate::nn::{Scores, TargetInfo, Task};
use crate::spec::ArcSpec;

/// One field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A number.
    Number(f64),
    /// Text (a decoded label).
    Text(String),
    /// A JSON array (per-position classes, a tensor row), as JSON text.
    Json(String),
}

impl Cell {
    /// The cell as CSV or SQLite text.
    pub fn text(&self) -> String {
        match self {
            Cell::Number(v) => format!("{}", *v as f32),
            Cell::Text(t) | Cell::Json(t) => t.clone(),
        }
    }

    /// The cell as a JSON value.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Cell::Number(v) => serde_json::Number::from_f64(f64::from(*v as f32).to_string().parse().unwrap_or(*v))
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Cell::Text(t) => serde_json::Value::String(t.clone()),
            Cell::Json(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One output's values for a row, and their shape without the batch dim.
pub(crate) type RowValues = (Vec<f32>, Vec<usize>);

/// How one output is answered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field {
    /// Plain values under `column`.
    Values { output: String, column: String },
    /// A multiclass prediction: the label under `label`, and probabilities.
    Classes { output: String, label: String },
    /// A binary prediction: the probability under `probability`, the label under `label`.
    Binary { output: String, probability: String, label: String },
    /// Classes per position, under `column` (and `column_top<k>`).
    PerPosition { output: String, column: String },
}

impl Field {
    /// The model output it answers.
    pub(crate) fn output(&self) -> &str {
        match self {
            Field::Values { output, .. }
            | Field::Classes { output, .. }
            | Field::Binary { output, .. }
            | Field::PerPosition { output, .. } => output,
        }
    }
}

/// The fields of a model's answer, with the row reading they need.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    pub fields: Vec<Field>,
    pub info: Option<TargetInfo>,
    pub top_k: Option<usize>,
}

impl Answer {
    /// The fields for `spec`'s outputs `outputs` (model output names, in the
    /// spec's order) under the target reading `info`; see the module docs.
    pub(crate) fn new(spec: &ArcSpec, outputs: &[&str], info: Option<TargetInfo>, top_k: Option<usize>) -> Self {
        let bare = |r: &str| r.strip_prefix("model.").unwrap_or(r).to_owned();
        let mut picked: Vec<(String, Option<String>)> = Vec::new();
        if let Some(p) = &spec.predictor {
            picked.extend(p.returns.iter().map(|r| (bare(r), None)));
            picked.extend(p.outputs.iter().map(|(column, r)| (bare(r), Some(column.clone()))));
        }
        if picked.is_empty() {
            picked = outputs.iter().map(|o| ((*o).to_owned(), None)).collect();
        }
        let target_name = spec
            .trainer
            .as_ref()
            .and_then(|t| t.loss.inputs.get("target"))
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned());
        let fields = picked
            .into_iter()
            .filter(|(name, _)| outputs.contains(&name.as_str()))
            .map(|(output, rename)| {
                let task = info.as_ref().filter(|i| i.output == output).map(|i| i.task);
                let label = rename.clone().or_else(|| target_name.clone()).unwrap_or_else(|| format!("{output}_label"));
                match task {
                    Some(Task::Multiclass) => Field::Classes { output, label },
                    Some(Task::Binary) => {
                        let label = if label == output { format!("{output}_label") } else { label };
                        Field::Binary { probability: output.clone(), output, label }
                    }
                    Some(Task::MulticlassPerPosition) => {
                        Field::PerPosition { column: rename.unwrap_or_else(|| output.clone()), output }
                    }
                    _ => Field::Values { column: rename.unwrap_or_else(|| output.clone()), output },
                }
            })
            .collect();
        Self { fields, info, top_k }
    }

    /// The named cells of one row, given each answered output's values for
    /// the row and their shape without the batch dim.
    pub(crate) fn row(&self, values: &dyn Fn(&str) -> Option<RowValues>) -> Vec<(String, Cell)> {
        let mut cells = Vec::new();
        for field in &self.fields {
            let Some((row, shape)) = values(field.output()) else { continue };
            self.field_cells(field, &row, &shape, &mut cells);
        }
        cells
    }

    fn field_cells(&self, field: &Field, row: &[f32], shape: &[usize], cells: &mut Vec<(String, Cell)>) {
        let info = self.info.as_ref();
        let scores = info.map_or(Scores::Values, |i| i.scores);
        let class = |id: usize| -> Cell {
            match info.and_then(|i| i.class_name(id)) {
                Some(name) => Cell::Text(name.to_owned()),
                None => Cell::Number(id as f64),
            }
        };
        match field {
            Field::Values { column, .. } => match (shape, row) {
                ([] | [1], [one]) => cells.push((column.clone(), Cell::Number(f64::from(*one)))),
                ([_], _) => cells.extend(
                    row.iter().enumerate().map(|(c, v)| (format!("{column}_{c}"), Cell::Number(f64::from(*v)))),
                ),
                _ => cells.push((column.clone(), Cell::Json(nested(row, shape)))),
            },
            Field::Classes { label, .. } => {
                let probabilities = probabilities(row, scores);
                cells.push((label.clone(), class(argmax(row))));
                if let Some(p) = probabilities {
                    for (c, p) in p.iter().enumerate() {
                        let name = info.and_then(|i| i.class_name(c)).map_or_else(|| c.to_string(), str::to_owned);
                        cells.push((format!("p_{name}"), Cell::Number(f64::from(*p))));
                    }
                }
            }
            Field::Binary { probability, label, .. } => {
                let Some(&score) = row.first() else { return };
                let p = positive_probability(score, scores);
                cells.push((probability.clone(), Cell::Number(f64::from(p))));
                cells.push((label.clone(), class(usize::from(p >= 0.5))));
            }
            Field::PerPosition { column, .. } => {
                let dim = info.and_then(|i| i.class_dim).map_or(shape.len(), |d| d.saturating_sub(1));
                let per_position = positions(row, shape, dim);
                let text = |id: usize| match info.and_then(|i| i.class_name(id)) {
                    Some(name) => serde_json::Value::String(name.to_owned()),
                    None => serde_json::Value::from(id),
                };
                let ids: Vec<serde_json::Value> =
                    per_position.iter().filter(|s| !s.is_empty()).map(|s| text(argmax(s))).collect();
                cells.push((column.clone(), Cell::Json(serde_json::Value::Array(ids).to_string())));
                if let Some(k) = self.top_k {
                    let top: Vec<serde_json::Value> = per_position
                        .iter()
                        .map(|s| {
                            let p = probabilities(s, scores).unwrap_or_else(|| s.to_vec());
                            let mut order: Vec<usize> = (0..p.len()).collect();
                            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
                            let pairs = order.into_iter().take(k).map(|c| serde_json::json!([text(c), number(p[c])]));
                            serde_json::Value::Array(pairs.collect())
                        })
                        .collect();
                    cells.push((format!("{column}_top{k}"), Cell::Json(serde_json::Value::Array(top).to_string())));
                }
            }
        }
    }
}

/// A JSON number of an f32, written as the f32 prints (shortest form).
fn number(v: f32) -> serde_json::Value {
    v.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(serde_json::Value::Null, Into::into)
}

/// A row's values as nested JSON arrays of `shape`.
fn nested(values: &[f32], shape: &[usize]) -> String {
    fn build(values: &[f32], shape: &[usize]) -> serde_json::Value {
        match shape {
            [] => values.first().map_or(serde_json::Value::Null, |v| number(*v)),
            [n, rest @ ..] => {
                let stride = rest.iter().product::<usize>();
                let item = |i: usize| {
                    values.get(i * stride..(i + 1) * stride).map_or(serde_json::Value::Null, |v| build(v, rest))
                };
                serde_json::Value::Array((0..*n).map(item).collect())
            }
        }
    }
    build(values, shape).to_string()
}

/// Per position, the class scores of a `[L, C]` row (classes on `dim` of
/// the row: 1 for `[L, C]`, 0 for PyTorch's `[C, L]`).
fn positions(row: &[f32], shape: &[usize], dim: usize) -> Vec<Vec<f32>> {
    match shape {
        [l, c] if row.len() != l * c || *c == 0 => Vec::new(),
        [l, c] if dim == 0 => (0..*c).map(|j| (0..*l).map(|i| row[i * c + j]).collect()).collect(),
        [_, c] => row.chunks(*c).map(<[f32]>::to_vec).collect(),
        _ => vec![row.to_vec()],
    }
}

/// Class probabilities from scores, when the scores have a reading.
fn probabilities(scores: &[f32], kind: Scores) -> Option<Vec<f32>> {
    match kind {
        Scores::Logits => {
            let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = scores.iter().map(|s| (s - top).exp()).collect();
            let sum: f32 = exp.iter().sum();
            Some(exp.iter().map(|e| e / sum).collect())
        }
        Scores::LogProbabilities => Some(scores.iter().map(|s| s.exp()).collect()),
        Scores::Probabilities => Some(scores.to_vec()),
        Scores::Values => None,
    }
}

/// The positive class's probability from a binary score.
pub(crate) fn positive_probability(score: f32, kind: Scores) -> f32 {
    match kind {
        Scores::Logits => 1.0 / (1.0 + (-score).exp()),
        Scores::LogProbabilities => score.exp(),
        Scores::Probabilities | Scores::Values => score,
    }
}

/// The first index of the largest value (as `Tensor::argmax`).
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(predictor: &str) -> ArcSpec {
        let text = format!(
            "model_name: m\nmodel: {{inputs: {{x: [null, 2]}}, graph: [{{name: a, type: ReLU}}], outputs: {{logits: a, hidden: a}}}}\n\
             trainer: {{optimizer: {{type: SGD}}, loss: {{type: CrossEntropyLoss, inputs: {{pred: model.logits, target: target_columns.species}}}}}}\n{predictor}"
        );
        ArcSpec::from_yaml(&text, "m.yaml").expect("spec")
    }

    #[test]
    fn classifiers_answer_the_label_and_the_probabilities() {
        let info =
            TargetInfo::new(Task::Multiclass, Scores::Logits, "logits").with_classes(vec!["a".into(), "b".into()]);
        let answer = Answer::new(&spec(""), &["logits", "hidden"], Some(info), None);
        let row = answer.row(&|o: &str| match o {
            "logits" => Some((vec![0.0, 2.0f32.ln()], vec![2])),
            _ => Some((vec![5.0], vec![1])),
        });
        let names: Vec<&str> = row.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["species", "p_a", "p_b", "hidden"]);
        assert_eq!(row[0].1, Cell::Text("b".into()));
        // softmax(0, ln 2) = (1/3, 2/3)
        assert_eq!(row[1].1.text(), format!("{}", 1.0f32 / 3.0));
        assert_eq!(row[3].1.text(), "5");
    }

    #[test]
    fn returns_pick_binary_answers_and_tensors_become_json() {
        let info = TargetInfo::new(Task::Binary, Scores::Probabilities, "logits");
        let answer = Answer::new(&spec("predictor: {returns: [logits]}"), &["logits", "hidden"], Some(info), None);
        let row = answer.row(&|_: &str| Some((vec![0.75], vec![1])));
        assert_eq!(row, [("logits".into(), Cell::Number(0.75)), ("species".into(), Cell::Number(1.0))]);
        let values = Answer::new(&spec(""), &["logits"], None, None);
        let row = values.row(&|_: &str| Some((vec![1.0, 2.0, 3.5, 4.0], vec![2, 2])));
        assert_eq!(row, [("logits".into(), Cell::Json("[[1.0,2.0],[3.5,4.0]]".into()))]);
    }

    #[test]
    fn per_position_classes_are_one_json_array_and_top_k_on_request() {
        let mut info = TargetInfo::new(Task::MulticlassPerPosition, Scores::Logits, "logits");
        info.class_dim = Some(2);
        let answer = Answer::new(&spec(""), &["logits"], Some(info.clone()), Some(1));
        // [L = 2, C = 3]: argmax 2, then 0.
        let row = answer.row(&|_: &str| Some((vec![0.0, 0.0, 1.0, 3.0, 0.0, 0.0], vec![2, 3])));
        assert_eq!(row[0], ("logits".into(), Cell::Json("[2,0]".into())));
        assert!(row[1].0 == "logits_top1" && row[1].1.text().starts_with("[[[2,0.5761"), "{row:?}");
        // PyTorch's [N, C, L]: the same scores transposed, classes on dim 1.
        info.class_dim = Some(1);
        let answer = Answer::new(&spec(""), &["logits"], Some(info), None);
        let row = answer.row(&|_: &str| Some((vec![0.0, 3.0, 0.0, 0.0, 1.0, 0.0], vec![3, 2])));
        assert_eq!(row, [("logits".into(), Cell::Json("[2,0]".into()))]);
    }
}
