//! `arc validate SPEC [--data FILE]`: checks a spec without training.
//!
//! Runs every static check (and the plugins' validators and
//! `validate_model` hooks) and prints each issue as
//! `file:line:column: error: ...`. With `--data`, also runs every stage
//! `arc train` runs before its first step (`arc::train::validate_data`):
//! the columns against the data, the pipeline fitted on the seeded
//! training split, the model built with the fitted vars and its shapes, its
//! inputs and target fed, one forward pass and the loss on the first batch,
//! the optimizer, the device and early stopping; so what it accepts,
//! training accepts. Exit code 1 when any issue is an error, 0 with
//! warnings only.

use std::io::{self, Write};
use std::process::ExitCode;

use arc::spec::ArcSpec;
use arc::train::validate_data;
use arc::validate::{count_errors, validate};

use super::args::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let path = args.spec.display().to_string();
    let text =
        std::fs::read_to_string(&args.spec).map_err(|e| super::UserError(format!("cannot read `{path}`: {e}")))?;
    let spec = ArcSpec::from_yaml(&text, &path)?;
    let mut out = io::stdout().lock();
    let issues = match &args.data {
        None => validate(&spec, pm)?.issues,
        Some(data) => {
            // The static checks and everything `arc train` checks before its first step.
            let table = arc::plugin::open_table(&data.display().to_string(), pm)?;
            let checked = validate_data(&spec, &table, pm)?;
            if !checked.vars.is_empty() {
                let vars: Vec<String> = checked.vars.iter().map(|(k, v)| format!("vars.{k} = {v}")).collect();
                writeln!(out, "vars: {}", vars.join(", "))?;
            }
            if let Some(model) = &checked.model {
                let mut params = 0usize;
                model.visit_params(&mut |_, p| params += p.shape().iter().product::<usize>());
                let names = model.node_names();
                writeln!(out, "model: {} nodes ({}), {params} parameters", names.len(), names.join(" → "))?;
            }
            checked.report.issues
        }
    };
    for issue in &issues {
        writeln!(out, "{issue}")?;
    }
    let errors = count_errors(&issues);
    let warnings = issues.len() - errors;
    if errors > 0 {
        writeln!(out, "{path}: {errors} error(s), {warnings} warning(s)")?;
        return Ok(ExitCode::FAILURE);
    }
    match warnings {
        0 => writeln!(out, "{path}: ok")?,
        n => writeln!(out, "{path}: ok, {n} warning(s)")?,
    }
    Ok(ExitCode::SUCCESS)
}
