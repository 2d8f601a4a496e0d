//! `strata plan`: what `deploy` would do to the stateful stack of a local
//! stage, changing nothing. It still takes the stack's lock and reconciles a
//! run that was killed, so the plan is made against what really exists.

use crate::report::out;
use crate::report::outln;
use std::process::ExitCode;

use miette::Result;
use strata_engine::apply::{self, ApplyError, Outcome};
use strata_engine::plan::Refusal;
use strata_engine::{AllowDestroy, Provider};

use super::local::{self, Stage};
use super::plan_text;
use crate::cli::{Global, PlanArgs, StackArg};

/// Exit code of a run refused by the safety rules (SPEC §3).
pub const REFUSED: u8 = 3;
/// Exit code of `--detailed-exitcode` when the plan has changes.
pub const CHANGES: u8 = 2;

pub fn run(g: &Global, args: &PlanArgs) -> Result<ExitCode> {
    local::stateful_only(args.stack.unwrap_or(StackArg::Stateful))?;
    let stage = Stage::load(g)?;
    let provider = stage.provider()?;
    let result = apply::stateful(
        &stage.service,
        &stage.name,
        &stage.store,
        &provider as &dyn Provider,
        apply::Run {
            allow: &AllowDestroy::default(),
            execute: false,
            refresh: args.refresh,
            command: "strata plan",
        },
    );
    let (outcome, refusals) = match result {
        Ok(outcome) => (outcome, vec![]),
        Err(ApplyError::Refused { refusals, outcome }) => (*outcome, refusals),
        Err(e) => return Err(local::engine_error(e)),
    };
    show(g, &outcome, &refusals, args.json, "deploy");
    Ok(if !refusals.is_empty() {
        ExitCode::from(REFUSED)
    } else if args.detailed_exitcode && outcome.plan.has_changes() {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints an outcome: JSON on stdout, or for people the warnings, the plan,
/// rename hints and, on stderr, the refusal. `command` is the one the
/// refusal's advice names (`deploy`, `destroy`).
pub fn show(g: &Global, outcome: &Outcome, refusals: &[Refusal], json: bool, command: &str) {
    if json {
        let mut value = serde_json::to_value(outcome).expect("an outcome serializes");
        value["refusals"] = serde_json::to_value(refusals).expect("refusals serialize");
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("a JSON value serializes")
        );
        return;
    }
    let preamble = plan_text::preamble(outcome.stale_lock.as_ref(), &outcome.reconciled);
    eprint!("{preamble}");
    if !outcome.drift.is_empty() {
        out!(
            "Changed outside Strata (read from the target; the plan below puts strata.yaml back):\n\n{}\n",
            plan_text::drift(&outcome.drift)
        );
    }
    out!("{}", plan_text::plan(outcome));
    let prefix = local::prefix(g);
    let hints = plan_text::renames(&outcome.plan.renames, &prefix);
    if !hints.is_empty() {
        out!("\n{hints}");
    }
    if !refusals.is_empty() {
        eprint!("\n{}", plan_text::refusal(refusals, &prefix, command));
    }
}
