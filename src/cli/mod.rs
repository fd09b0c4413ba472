//! The `arc` command line, for the `arc` binary and for yours: [`main`]
//! parses the process's arguments, runs the subcommand with the global
//! plugin manager (every plugin linked into the binary) and returns the
//! exit code. One file per subcommand.
//!
//! ```no_run
//! // A complete `arc` with your plugins (see `examples/my_arc.rs`):
//! // arc::link_plugins!(my_plugin);
//! fn main() -> std::process::ExitCode {
//!     arc::cli::main()
//! }
//! ```
//!
//! Exit codes: 0 success, 1 user error (bad flags, a bad spec, config or
//! data file: the message, no backtrace), 2 internal error (a bug, a panic).

mod args;
mod evaluate;
mod export;
mod plugins;
mod predict;
mod schema;
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

/// Parses the process's arguments, runs the subcommand, prints the error
/// chain; returns the exit code (0, 1 for a user error, 2 for an internal
/// one).
pub fn main() -> ExitCode {
    // A bad flag is a user error (1), not clap's default 2; help and
    // --version print to stdout and succeed.
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    // A panic is said only when it reaches here: one that Arc catches (a plugin's hook or
    // factory) becomes an error naming the plugin, and prints no second message.
    static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.to_string());
    }));
    let result = match std::panic::catch_unwind(|| run(args)) {
        Ok(result) => result,
        Err(payload) => {
            // A tensor too large to allocate is the input's doing (a huge shape), not a bug.
            if let Some(refused) = payload.downcast_ref::<arc::tensor::AllocationRefused>() {
                let _ = writeln!(io::stderr(), "error: {refused}");
                return ExitCode::FAILURE;
            }
            let said = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
            let _ = writeln!(io::stderr(), "internal error: {}", said.as_deref().unwrap_or("a panic"));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let status = exit_status(&err);
            if status != 0 {
                print_error("error", &err);
            }
            ExitCode::from(status)
        }
    }
}

/// Prints `err` to stderr after `prefix`, each cause on its own line unless
/// the message before already quotes it.
pub(crate) fn print_error(prefix: &str, err: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let mut said = err.to_string();
    let _ = writeln!(stderr, "{prefix}: {said}");
    for cause in err.chain().skip(1) {
        // Many of Arc's errors quote their cause already.
        let text = cause.to_string();
        if !said.contains(&text) {
            let _ = writeln!(stderr, "  caused by: {text}");
            said = text;
        }
    }
}

/// The exit status for an error: 0 for a closed pipe (`arc plugins | head`
/// is not a failure), 1 for a user error (bad spec, config, data, paths:
/// [`UserError`], [`arc::Error`], I/O), 2 for anything else (a bug).
fn exit_status(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)) {
        return 0;
    }
    let user = err.chain().any(|e| e.is::<UserError>() || e.is::<arc::Error>() || e.is::<io::Error>());
    if user { 1 } else { 2 }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Plugins(plugins) => plugins::run(&plugins),
        Command::Train(train) => train::run(&train),
        Command::Validate(validate) => validate::run(&validate),
        Command::Predict(predict) => predict::run(&predict),
        Command::Evaluate(evaluate) => evaluate::run(&evaluate),
        Command::Export(export) => export::run(&export),
        Command::Schema(schema) => schema::run(&schema),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_exit_1_internal_errors_2_and_a_closed_pipe_0() {
        let arc_error = arc::Error::Spec { message: "no `model` section".into() };
        assert_eq!(exit_status(&anyhow::Error::from(arc_error)), 1);
        assert_eq!(exit_status(&anyhow::Error::from(UserError("cannot read `x`".into()))), 1);
        let wrapped = anyhow::Error::from(io::Error::from(io::ErrorKind::NotFound)).context("saving the model");
        assert_eq!(exit_status(&wrapped), 1, "context keeps the cause's kind");
        assert_eq!(exit_status(&anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))), 0);
        assert_eq!(exit_status(&anyhow::anyhow!("an invariant broke")), 2);
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(exit_status(&anyhow::Error::from(json)), 2);
    }
}
