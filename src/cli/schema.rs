//! `arc schema`: the JSON Schema (draft 2020-12) of a spec, with the params
//! of every component linked into this binary, on standard output.

use std::io::{self, Write};
use std::process::ExitCode;

use super::args::SchemaArgs;

pub fn run(_: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = arc::validate::spec_schema(arc::get_plugin_manager());
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &schema)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
