//! The column checks of a spec against data: every column `features`
//! names exists, and is numeric where an op needs numbers. The rest of the
//! checks against data (the pipeline fitted, the model built, its inputs
//! and target fed, one forward pass) are the trainer's first stages, which
//! `arc_core::train::validate_data` runs.

use super::ValidationIssue;
use crate::DidYouMean;
use crate::data::Table;
use crate::pipeline::Pipeline;
use crate::plugin::PluginManager;
use crate::process::FittedState;
use crate::spec::{ArcSpec, ProcessorStep, StepInput};

/// Every column `features` names exists in `table`, and the columns a step
/// reads are numeric where its processor says it needs numbers
/// ([`Processor::needs_numeric_columns`](crate::process::Processor::needs_numeric_columns);
/// `transform.assemble_vector`). Issues are located.
pub fn check_columns(spec: &ArcSpec, table: &Table, manager: &PluginManager) -> Vec<ValidationIssue> {
    // A step whose processor cannot be built here (an unknown op, a var not known before
    // the pipeline runs) is reported by the static checks or the pipeline itself.
    let pipeline = Pipeline::from_spec(&spec.features, manager).ok();
    let no_vars = FittedState::default();
    let needs_numbers = |step: &ProcessorStep| {
        pipeline.as_ref().and_then(|p| p.processor(step, &no_vars).ok()).is_some_and(|p| p.needs_numeric_columns())
    };
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
        let numbers_only = needs_numbers(step);
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
                if numbers_only && !numeric {
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
