//! One module per command. Each returns the exit code it wants; errors go
//! back to `main` as reports.

mod graph;
mod init;
mod serve;
mod synth;
mod validate;

use std::process::ExitCode;

use miette::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Validate { json } => validate::run(g, json),
        Command::Graph { format } => graph::run(g, format),
        Command::Schema => {
            println!("{}", schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { dir, name } => init::run(dir.as_deref().unwrap_or(&g.dir), name.as_deref()),
        Command::Synth { out } => synth::run(g, out.as_deref()),
        Command::Serve(args) => serve::run(g, &args),
    }
}

/// The JSON Schema as committed in `schema/strata.schema.json`.
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&strata_model::json_schema())
        .expect("a JSON value always serializes")
}
