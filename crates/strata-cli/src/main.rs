//! The `strata` binary: parses the command line, runs one command, and maps
//! the outcome to the documented exit codes (0 ok, 1 error, 2 changes with
//! `--detailed-exitcode`, 3 refused by a safety rule).

// First, so its printing macros are in scope in every module below.
#[macro_use]
mod report;
mod cli;
mod commands;
mod manifest;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap exits 2 on a usage error; in Strata 2 means "the plan has
            // changes", so a mistyped command line is an ordinary error (1).
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            report::error(&err);
            ExitCode::from(1)
        }
    }
}
