//! `arc export MODEL_DIR --format F --out PATH [--config YAML]`: writes a
//! model directory in another format through an exporter plugin.

use std::io::{self, Write};
use std::process::ExitCode;

use arc::plugin::ComponentKind;
use arc::spec::Config;
use arc::train::ModelBundle;

use super::args::ExportArgs;

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let pm = arc::get_plugin_manager();
    let config = match &args.config {
        Some(text) => Config::from_yaml(text)?,
        None => Config::new(),
    };
    // An unknown format is an error with did-you-mean suggestions.
    let component = pm.get_exporter(&args.format)?;
    // Building the exporter parses its config: unknown keys name themselves.
    let exporter = component.create(&config)?;
    if !pm.validate_component_config(ComponentKind::Exporter, &args.format, &config)? {
        return Err(super::UserError(format!("export format `{}`: a plugin rejected the config", args.format)).into());
    }
    // The model directory loaded once; the exporter reads its built model.
    let model = ModelBundle::load(&args.model_dir, pm)?.export_model()?;
    exporter.export(&model, &args.out)?;
    writeln!(
        io::stdout().lock(),
        "exported `{}` ({} nodes, {} tensors) as {} to {}",
        model.spec.model_name,
        model.nodes.len(),
        model.weights.len(),
        args.format,
        args.out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
