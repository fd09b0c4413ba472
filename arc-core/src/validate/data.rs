//! Checks of a spec against data: the named columns exist and are numeric
//! where an op needs numbers; then the pipeline is fitted, the model built
//! with the fitted vars and its shapes inferred.

use std::collections::BTreeMap;

use super::{Report, ValidationIssue};
use crate::data::Table;
use crate::graph::GraphModel;
use crate::plugin::PluginManager;
use crate::process::{Pipeline, StepInput};
use crate::spec::ArcSpec;
use crate::{DidYouMean, Error, Result};

/// What [`validate_data`] found and built.
pub struct DataReport {
    /// The issues, as in [`Report`].
    pub report: Report,
    /// The fitted pipeline's vars (empty when the pipeline did not run).
    pub vars: BTreeMap<String, f64>,
    /// The model, built with those vars, when it builds.
    pub model: Option<GraphModel>,
}

/// Ops whose column inputs must be numeric.
const NUMERIC_OPS: &[&str] = &["transform.assemble_vector"];

/// Checks `spec` against `table`: every column named in `features`
/// (`feature_columns`, `target_columns`, step column lists) exists
/// (did-you-mean among the table's); columns an `assemble_vector` step
/// reads are numeric. When those pass, fits the pipeline, builds the model
/// with the fitted vars (layer params are checked) and infers its shapes:
/// a mismatch names both nodes and both shapes, at the consuming node.
pub fn validate_data(spec: &ArcSpec, table: &Table, manager: &PluginManager) -> Result<DataReport> {
    let mut issues = check_columns(spec, table);
    let mut vars = BTreeMap::new();
    let mut model = None;
    if issues.is_empty() {
        let features = &spec.features;
        let fitted = Pipeline::from_spec(features, manager).and_then(|p| p.fit(table));
        match fitted {
            Err(e) => issues.push(ValidationIssue::error(e.to_string()).at(step_path(spec, &e))),
            Ok(bindings) => {
                vars = bindings.vars.clone();
                match GraphModel::build(&spec.model, &vars, manager) {
                    Err(e) => issues.push(super::model_issue(spec, e)),
                    Ok(built) => {
                        if let Err(e) = built.infer_shapes() {
                            issues.push(super::model_issue(spec, e));
                        }
                        model = Some(built);
                    }
                }
            }
        }
    }
    let issues = issues.into_iter().map(|i| i.locate_in(spec)).collect();
    Ok(DataReport { report: Report { issues }, vars, model })
}

/// The column checks of [`validate_data`] alone: every column `features`
/// names exists in `table`, and the columns an `assemble_vector` step
/// reads are numeric. Issues are located.
pub fn check_columns(spec: &ArcSpec, table: &Table) -> Vec<ValidationIssue> {
    let mut issues = Vec::new();
    let names = table.column_names();
    let exists = |column: &str, at: String, issues: &mut Vec<ValidationIssue>| {
        let found = table.column(column).is_some();
        if !found {
            let hint = DidYouMean::among(column, names.iter().copied());
            let data = table.source().map_or_else(|| "the data".to_owned(), |p| format!("`{p}`"));
            issues.push(ValidationIssue::error(format!("column `{column}` is not in {data}{hint}")).at(at));
        }
        found
    };
    let features = &spec.features;
    for (list, columns) in
        [("feature_columns", &features.feature_columns), ("target_columns", &features.target_columns)]
    {
        for (k, c) in columns.iter().enumerate() {
            exists(c, format!("features.{list}[{k}]"), &mut issues);
        }
    }
    for (i, step) in features.processors.iter().enumerate() {
        for (port, input) in &step.inputs {
            let at = format!("features.processors[{i}].inputs.{port}");
            let columns: Vec<(String, String)> = match input {
                StepInput::Columns(c) => c.iter().enumerate().map(|(k, c)| (c.clone(), format!("{at}[{k}]"))).collect(),
                StepInput::Literal(l) => match l.as_str() {
                    Some("feature_columns") => {
                        features.feature_columns.iter().map(|c| (c.clone(), at.clone())).collect()
                    }
                    Some("target_columns") => features.target_columns.iter().map(|c| (c.clone(), at.clone())).collect(),
                    _ => Vec::new(),
                },
                StepInput::Ref(_) => Vec::new(),
            };
            for (column, at) in columns {
                let is_list = matches!(input, StepInput::Columns(_));
                if is_list && !exists(&column, at.clone(), &mut issues) {
                    continue;
                }
                let numeric = table.column(&column).is_none_or(|c| c.values.is_numeric());
                if NUMERIC_OPS.contains(&step.op.as_str()) && !numeric {
                    // The table's own error names the file, the row and the value.
                    let detail = match table.to_tensor(&[column.as_str()]) {
                        Err(e) => e.to_string(),
                        Ok(_) => format!("column `{column}` is not numeric"),
                    };
                    issues.push(
                        ValidationIssue::error(format!("step `{}` (`{}`) needs numbers: {detail}", step.name, step.op))
                            .at(at),
                    );
                }
            }
        }
    }
    issues.into_iter().map(|i| i.locate_in(spec)).collect()
}

/// The path of the step a pipeline error is about, else `features`.
fn step_path(spec: &ArcSpec, e: &Error) -> String {
    let found = match e {
        Error::ProcessorStep { step, .. } | Error::DuplicateStep { step } => {
            spec.features.processors.iter().position(|s| &s.name == step)
        }
        _ => None,
    };
    found.map_or_else(|| "features".to_owned(), |i| format!("features.processors[{i}]"))
}
