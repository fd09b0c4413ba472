//! The command line's flags (clap derive).

use clap::{Parser, Subcommand};

/// Declare, train and serve neural networks from YAML; every component is a plugin.
#[derive(Debug, Parser)]
#[command(name = "arc", version, about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every plugin with its metadata and the components it registers.
    Plugins(PluginsArgs),
}

#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}
