//! The `strata` binary: parses the command line, runs one command, and maps
//! the outcome to the documented exit codes (0 ok, 1 error, 2 changes with
//! `--detailed-exitcode`, 3 refused by a safety rule).

mod cli;
mod commands;
mod manifest;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            report::error(&err);
            ExitCode::from(1)
        }
    }
}
