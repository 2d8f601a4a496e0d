//! `strata deploy` and `strata destroy` of a local stage; the stateless
//! stack's part is in `releases.rs`. For the stateful stack both show the
//! plan first and ask (unless `--yes`); the run that applies plans again
//! under the lock, so the safety rules are checked on exactly what is
//! applied.

use std::process::ExitCode;

use miette::Result;
use strata_engine::apply::{self, ApplyError, Outcome};
use strata_engine::{Action, AllowDestroy, Provider};

use super::local::{self, Stage};
use super::plan::{REFUSED, show};
use super::releases;
use crate::cli::{DeployArgs, DestroyArgs, Global, StackArg};
use crate::report::plural;

/// What one engine call gave: an outcome, or a refusal with its outcome.
enum Run {
    Done(Outcome),
    Refused(ExitCode),
}

/// One plan, applied when `execute`. `first` is the run whose plan the user
/// sees first (the preview, or the only run with `--yes`).
fn deploy_once(
    g: &Global,
    stage: &Stage,
    provider: &dyn Provider,
    allow: &AllowDestroy,
    (execute, refresh, first): (bool, bool, bool),
    json: bool,
) -> Result<Run> {
    let result = apply::stateful(
        &stage.service,
        &stage.name,
        &stage.store,
        provider,
        apply::Run {
            allow,
            execute,
            refresh,
            command: "strata deploy",
        },
    );
    if first {
        match &result {
            Ok(outcome) => warn_unused_allow(allow, &outcome.plan),
            Err(ApplyError::Refused { outcome, .. }) => warn_unused_allow(allow, &outcome.plan),
            Err(_) => {}
        }
    }
    match result {
        Ok(outcome) => Ok(Run::Done(outcome)),
        Err(ApplyError::Refused { refusals, outcome }) => {
            show(g, &outcome, &refusals, json, "deploy");
            Ok(Run::Refused(ExitCode::from(REFUSED)))
        }
        Err(e) => Err(local::engine_error(e)),
    }
}

/// An `--allow-destroy` address that no replacement or deletion in the plan
/// needs is most often a typo, which would otherwise only meet the same
/// refusal again without a word about the flag.
fn warn_unused_allow(allow: &AllowDestroy, plan: &strata_engine::Plan) {
    for address in &allow.addresses {
        let needed = plan
            .changes
            .iter()
            .any(|c| &c.address == address && matches!(c.action, Action::Replace | Action::Delete));
        if !needed {
            errln!(
                "warning: --allow-destroy {address} matches no replacement or deletion in this \
                 plan, so it allows nothing"
            );
        }
    }
}

pub fn run(g: &Global, args: &DeployArgs) -> Result<ExitCode> {
    let stack = args.stack.unwrap_or(StackArg::Stateful);
    let stage = Stage::load(g)?;
    if stack != StackArg::Stateless {
        let code = stateful(g, args, &stage)?;
        // Additions go stateful-first (S4): functions never run before what
        // they use exists, and a refused stateful stack stops the deploy.
        if stack == StackArg::Stateful || code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    releases::deploy(g, &stage, args.json)
}

fn stateful(g: &Global, args: &DeployArgs, stage: &Stage) -> Result<ExitCode> {
    let allow = local::allow_destroy(&args.allow_destroy)?;
    let provider = stage.provider()?;
    if !args.yes {
        let preview = match deploy_once(
            g,
            stage,
            &provider,
            &allow,
            (false, args.refresh, true),
            args.json,
        )? {
            Run::Done(outcome) => outcome,
            Run::Refused(code) => return Ok(code),
        };
        show(g, &preview, &[], args.json, "deploy");
        if !preview.plan.has_changes() {
            return Ok(ExitCode::SUCCESS);
        }
        if !local::confirm("Apply these changes to the stateful stack?")? {
            outln!("Nothing was changed.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let outcome = match deploy_once(
        g,
        stage,
        &provider,
        &allow,
        (true, args.refresh, args.yes),
        args.json,
    )? {
        Run::Done(outcome) => outcome,
        Run::Refused(code) => return Ok(code),
    };
    if args.yes {
        show(g, &outcome, &[], args.json, "deploy");
    }
    if outcome.applied && !args.json {
        let done = outcome
            .plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .count();
        outln!(
            "\nApplied {} to the stateful stack of stage {}.",
            plural(done, "change"),
            stage.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn destroy(g: &Global, args: &DestroyArgs) -> Result<ExitCode> {
    match args.stack {
        StackArg::Stateful => {}
        StackArg::Stateless => return releases::destroy(g),
        StackArg::All => {
            return Err(miette::miette!(
                help = "destroy --stack stateless, then --stack stateful with --allow-destroy",
                "destroy takes one stack at a time"
            ));
        }
    }
    if args.allow_destroy.is_empty() {
        return Err(miette::miette!(
            help = "name each address to delete, e.g. `--allow-destroy table/Orders`, or `--allow-destroy all`",
            "destroying the stateful stack needs --allow-destroy"
        ));
    }
    let allow = local::allow_destroy(&args.allow_destroy)?;
    let stage = Stage::load(g)?;
    let provider = stage.provider()?;
    let run = |execute| {
        apply::destroy(
            &stage.service,
            &stage.name,
            &stage.store,
            &provider as &dyn Provider,
            apply::Run {
                allow: &allow,
                execute,
                refresh: false,
                command: "strata destroy",
            },
        )
        .map_err(local::engine_error)
    };
    let preview = run(false)?;
    for address in &allow.addresses {
        if !preview.plan.changes.iter().any(|c| &c.address == address) {
            errln!("warning: {address} is not managed in this stage's state; nothing to destroy");
        }
    }
    show(g, &preview, &[], false, "destroy");
    if !preview.plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !local::confirm("Delete these resources and all their data?")? {
        outln!("Nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = run(true)?;
    outln!(
        "\nDestroyed {} of stage {}.",
        plural(outcome.plan.changes.len(), "resource"),
        stage.name
    );
    Ok(ExitCode::SUCCESS)
}
