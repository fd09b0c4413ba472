//! The `arc` command line: [`arc::cli::main`] with the plugins the enabled
//! features link.

use std::process::ExitCode;

fn main() -> ExitCode {
    arc::cli::main()
}
