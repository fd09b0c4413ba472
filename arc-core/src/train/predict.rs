//! Prediction from a model directory: the saved pipeline state prepares
//! the features, the saved weights run the graph, and class codes are
//! decoded through the target's label encoder.

use std::collections::BTreeMap;

use super::{pipeline, target_step};
use crate::graph::GraphModel;
use crate::model_dir::Loaded;
use crate::plugin::PluginManager;
use crate::spec::ArcSpec;
use crate::tensor::no_grad;
use crate::{Error, Result, Tensor};

/// Predictions for every row: named columns of text values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// (column name, one value per row), in output order.
    pub columns: Vec<(String, Vec<String>)>,
}

/// Predicts `table` with a loaded model directory. A classifier's output
/// (the loss's `pred`) gives a column named after the target with the
/// decoded class and one `p_<class>` column per class (softmax); other
/// outputs give one column per output feature (`name`, or `name_<i>`).
pub fn predict(loaded: &Loaded, table: &crate::data::Table, manager: &PluginManager) -> Result<Prediction> {
    let spec = ArcSpec::from_yaml(&loaded.spec_text, crate::model_dir::SPEC_FILE)?;
    let features = spec.features.clone();
    let mut model = GraphModel::build(&spec.model, &loaded.fitted.vars, manager)?;
    model.set_training(false);
    model.load_state(&loaded.weights)?;
    let pipeline = pipeline(&features, manager, false)?;
    let bindings = pipeline.transform(table, &loaded.fitted)?;
    let mut inputs = BTreeMap::new();
    for (name, source, _) in model.inputs() {
        let t = bindings.tensors.get(source).ok_or_else(|| {
            super::spec_error(format!("model input `{name}` reads `tensors.{source}`, which no processor step makes"))
        })?;
        inputs.insert(name.to_owned(), t.clone());
    }
    let _guard = no_grad();
    let outputs = model.forward(&inputs)?;
    let trainer = spec.trainer.as_ref();
    let pred_name =
        trainer.as_ref().and_then(|t| t.loss.inputs.get("pred")).map(|p| p.strip_prefix("model.").unwrap_or(p));
    let target = trainer
        .as_ref()
        .and_then(|t| t.loss.inputs.get("target"))
        .and_then(|t| target_step(&features, t).map(|s| (t, s)));
    let mut prediction = Prediction::default();
    // `predictor.returns` and the values of `predictor.outputs` pick the
    // outputs (`model.` optional; default all); `outputs` also names them.
    let bare = |r: &str| r.strip_prefix("model.").unwrap_or(r).to_owned();
    let mut picked: Vec<(String, Option<String>)> = Vec::new();
    if let Some(p) = &spec.predictor {
        picked.extend(p.returns.iter().map(|r| (bare(r), None)));
        picked.extend(p.outputs.iter().map(|(column, r)| (bare(r), Some(column.clone()))));
    }
    for (name, out) in &outputs {
        let renamed = match picked.iter().find(|(n, _)| n == name) {
            Some((_, column)) => column.clone(),
            None if picked.is_empty() => None,
            None => continue,
        };
        let classes = out.shape().last().copied().unwrap_or(1);
        match target {
            Some((target, step))
                if Some(name.as_str()) == pred_name
                    && out.dtype() == crate::DType::F32
                    && let Some(labels) = decoder(step, loaded, &pipeline, out)? =>
            {
                let (labels, names) = labels;
                let column = renamed.unwrap_or_else(|| target.rsplit('.').next().unwrap_or(target).to_owned());
                let probs = out.softmax(-1)?.to_vec()?;
                prediction.columns.push((column, labels));
                for (c, class) in names.iter().enumerate() {
                    let p = probs.chunks(classes).map(|row| format!("{}", row[c])).collect();
                    prediction.columns.push((format!("p_{class}"), p));
                }
            }
            _ => {
                let values = out.to_dtype(crate::DType::F32)?.to_vec()?;
                let width = if out.shape().len() > 1 { classes } else { 1 };
                let name = renamed.as_ref().unwrap_or(name);
                for c in 0..width {
                    let column = if width == 1 { name.clone() } else { format!("{name}_{c}") };
                    prediction.columns.push((column, values.chunks(width).map(|row| format!("{}", row[c])).collect()));
                }
            }
        }
    }
    Ok(prediction)
}

/// The decoded argmax of a classifier's output `out` and the class names,
/// by the step that made the target; `None` when that step has no fitted
/// state or cannot decode (a regression target: assembled or scaled values).
fn decoder(
    step: &crate::process::ProcessorStep,
    loaded: &Loaded,
    pipeline: &crate::process::Pipeline,
    out: &Tensor,
) -> Result<Option<(Vec<String>, Vec<String>)>> {
    let Some(state) = loaded.fitted.states.get(&step.state_ref().name) else { return Ok(None) };
    let processor = pipeline.processor(step, &loaded.fitted)?;
    let classes = out.shape().last().copied().unwrap_or(1);
    let labels = match processor.decode(state, &out.argmax(-1, false)?) {
        Ok(labels) => labels,
        Err(Error::NoDecode { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let names = processor.decode(state, &Tensor::from_vec_i64((0..classes as i64).collect(), &[classes])?)?;
    Ok(Some((labels, names)))
}
