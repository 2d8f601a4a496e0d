//! One module per command. Each returns the exit code it wants; errors go
//! back to `main` as reports.

mod aws;
mod deploy;
mod dev;
mod drift;
mod graph;
mod init;
mod invoke;
mod local;
mod logs;
mod param;
mod plan;
mod plan_text;
mod releases;
mod remote;
mod serve;
mod state;
mod synth;
mod validate;

use std::process::ExitCode;

use miette::Result;

use strata_model::Target;

use crate::cli::{Cli, Command, Global, ParamCommand, StateCommand, TargetArg};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    if !matches!(cli.command, Command::Schema | Command::Init { .. }) {
        check_target(g)?;
    }
    match cli.command {
        Command::Validate { json } => validate::run(g, json),
        Command::Graph { format } => graph::run(g, format),
        Command::Schema => {
            outln!("{}", schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { dir, name } => init::run(dir.as_deref().unwrap_or(&g.dir), name.as_deref()),
        Command::Synth { out } => synth::run(g, out.as_deref()),
        Command::Serve(args) => serve::run(g, &args),
        Command::Plan(args) if aws::targets_aws(g) => aws::plan(g, &args),
        Command::Plan(args) => plan::run(g, &args),
        Command::Deploy(args) if aws::targets_aws(g) => aws::deploy(g, &args),
        Command::Deploy(args) => deploy::run(g, &args),
        Command::Destroy(args) if aws::targets_aws(g) => aws::destroy(g, &args),
        Command::Destroy(args) => deploy::destroy(g, &args),
        Command::Drift(args) if aws::targets_aws(g) => aws::drift(g, &args),
        Command::Drift(args) => drift::run(g, &args),
        Command::Releases { json } => releases::list(g, json),
        Command::Rollback { to } => releases::rollback(g, to.as_deref()),
        Command::Outputs { json, endpoint_url } if aws::targets_aws(g) => {
            aws::outputs(g, json, endpoint_url.as_deref())
        }
        Command::Outputs { json, .. } => state::outputs(g, json),
        Command::State(StateCommand::Mv { old, new }) => state::mv(g, &old, &new),
        Command::Unlock { stack, yes } => state::unlock(g, stack, yes),
        Command::Param(ParamCommand::Set { name, value }) => param::set(g, &name, &value),
        Command::Dev(args) => dev::run(g, &args),
        Command::Invoke(args) => invoke::run(g, &args),
        Command::Logs(args) => logs::run(g, &args),
    }
}

/// `--target` against the stage's own target. A manifest that does not load
/// is left for the command to report with its own diagnostics.
fn check_target(g: &Global) -> Result<()> {
    let Some(wanted) = g.target else {
        return Ok(());
    };
    let Ok((_, Ok(checked))) = crate::manifest::check(&g.dir) else {
        return Ok(());
    };
    let Some(stage) = checked.service.stage(&g.stage) else {
        return Ok(());
    };
    let wanted = match wanted {
        TargetArg::Local => Target::Local,
        TargetArg::Aws => Target::Aws,
    };
    if stage.target == wanted {
        return Ok(());
    }
    Err(miette::miette!(
        help = format!(
            "drop --target, or pick a stage whose target is {wanted} (stages and their targets are under `stages:` in strata.yaml)"
        ),
        "stage `{}` targets {}, not {wanted}; nothing was done",
        g.stage,
        stage.target
    ))
}

/// The JSON Schema as committed in `schema/strata.schema.json`.
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&strata_model::json_schema())
        .expect("a JSON value always serializes")
}
