//! `arc validate SPEC [--data FILE]`: checks a spec without training.
//!
//! Parses every section, resolves the processors, the layers, the loss and
//! the optimizer; with `--data`, fits the pipeline and builds the model so
//! that `vars.X` refs and shapes are checked too.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;

use arc::graph::{GraphModel, ModelSpec};
use arc::process::Pipeline;
use arc::spec::{ArcSpec, Config, TrainerSpec};

use super::args::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let path = args.spec.display().to_string();
    let text =
        std::fs::read_to_string(&args.spec).map_err(|e| super::UserError(format!("cannot read `{path}`: {e}")))?;
    let spec = ArcSpec::from_yaml(&text, &path)?;
    let features = spec.features.clone().unwrap_or_default();
    let pipeline = Pipeline::from_features(&features, pm)?;
    let model = ModelSpec::from_config(
        &spec.model.clone().ok_or_else(|| super::UserError(format!("{path}: no `model` section")))?,
    )?;
    for node in &model.graph {
        pm.get_layer(&node.layer_type).map_err(|e| super::UserError(format!("node `{}`: {e}", node.name)))?;
    }
    if let Some(trainer) = &spec.trainer {
        let trainer = TrainerSpec::from_config(trainer)?;
        pm.get_loss(&trainer.loss.component_type)?;
        pm.get_optimizer(&trainer.optimizer.component_type)?;
    }
    let mut out = io::stdout().lock();
    if let Some(data) = &args.data {
        let table = pm.get_data_source("csv")?.create(&Config::new())?.load(&data.display().to_string())?;
        let bindings = pipeline.fit(&table)?;
        let built = GraphModel::build(&model, &bindings.vars, pm)?;
        let mut params = 0usize;
        built.visit_params(&mut |_, p| params += p.shape().iter().product::<usize>());
        let vars: BTreeMap<_, _> = bindings.vars.iter().collect();
        writeln!(out, "vars: {vars:?}")?;
        writeln!(
            out,
            "model: {} nodes ({}), {params} parameters",
            built.node_names().len(),
            built.node_names().join(" → ")
        )?;
    }
    writeln!(out, "{path}: ok")?;
    Ok(ExitCode::SUCCESS)
}
