//! `arc`: main → run → exit code; one file per subcommand.
//!
//! Exit codes: 0 success, 1 user error (a bad spec, config or data file:
//! the message, no backtrace), 2 internal error (a bug, a panic).

mod args;
mod export;
mod plugins;
mod predict;
mod train;
mod validate;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command};

/// An error in what the user gave (exit code 1).
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

/// Parses the arguments, runs the subcommand, prints the error chain.
pub fn main() -> ExitCode {
    let args = Args::parse();
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(io::stderr(), "internal error: {info}");
    }));
    let result = match std::panic::catch_unwind(|| run(args)) {
        Ok(result) => result,
        Err(_) => return ExitCode::from(2),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`arc plugins | head`) is not a failure.
            if err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
            {
                return ExitCode::SUCCESS;
            }
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            let user = err.chain().any(|e| e.is::<UserError>() || e.is::<arc::Error>() || e.is::<io::Error>());
            if user { ExitCode::FAILURE } else { ExitCode::from(2) }
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Plugins(plugins) => plugins::run(&plugins),
        Command::Train(train) => train::run(&train),
        Command::Validate(validate) => validate::run(&validate),
        Command::Predict(predict) => predict::run(&predict),
        Command::Export(export) => export::run(&export),
    }
}
