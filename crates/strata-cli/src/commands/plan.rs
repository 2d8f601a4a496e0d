//! `strata plan`: what `deploy` would do to a local stage, changing
//! nothing. The stateful plan still takes the stack's lock and reconciles a
//! run that was killed, so it is made against what really exists (and, with
//! `--refresh`, against every resource read back); the stateless plan
//! compares the release the files make now with the current one.

use std::process::ExitCode;

use miette::Result;
use strata_engine::apply::{self, ApplyError, Outcome};
use strata_engine::plan::Refusal;
use strata_engine::{AllowDestroy, Provider};

use super::local::{self, Stage};
use super::plan_text;
use super::releases::StatelessPlan;
use crate::cli::{Global, PlanArgs, StackArg};

/// Exit code of a run refused by the safety rules (SPEC §3).
pub const REFUSED: u8 = 3;
/// Exit code of `--detailed-exitcode` when the plan has changes.
pub const CHANGES: u8 = 2;

pub fn run(g: &Global, args: &PlanArgs) -> Result<ExitCode> {
    let stack = args.stack.unwrap_or(StackArg::Stateful);
    let stage = Stage::load(g)?;
    let stateless = match stack {
        StackArg::Stateful => None,
        StackArg::Stateless | StackArg::All => Some(StatelessPlan::make(&stage)?),
    };
    let stateful = match stack {
        StackArg::Stateless => None,
        StackArg::Stateful | StackArg::All => Some(stateful(&stage, args.refresh)?),
    };
    if args.json {
        let doc = match (&stateful, &stateless) {
            (Some((outcome, refusals)), None) => json(outcome, refusals),
            (None, Some(plan)) => plan.json(),
            (Some((outcome, refusals)), Some(plan)) => serde_json::json!({
                "stateful": json(outcome, refusals),
                "stateless": plan.json(),
            }),
            (None, None) => unreachable!("a stack is always planned"),
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
        );
    } else {
        if let Some((outcome, refusals)) = &stateful {
            show(g, outcome, refusals, false, "deploy");
        }
        if let Some(plan) = &stateless {
            if stateful.is_some() {
                outln!();
            }
            out!("{}", plan.text());
        }
    }
    let refused = stateful.as_ref().is_some_and(|(_, r)| !r.is_empty());
    let changes = stateful.as_ref().is_some_and(|(o, _)| o.plan.has_changes())
        || stateless.as_ref().is_some_and(StatelessPlan::has_changes);
    Ok(if refused {
        ExitCode::from(REFUSED)
    } else if args.detailed_exitcode && changes {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The stateful stack's plan and what the safety rules refuse in it.
fn stateful(stage: &Stage, refresh: bool) -> Result<(Outcome, Vec<Refusal>)> {
    let provider = stage.provider()?;
    let result = apply::stateful(
        &stage.service,
        &stage.name,
        &stage.store,
        &provider as &dyn Provider,
        apply::Run {
            allow: &AllowDestroy::default(),
            execute: false,
            refresh,
            command: "strata plan",
        },
    );
    match result {
        Ok(outcome) => Ok((outcome, vec![])),
        Err(ApplyError::Refused { refusals, outcome }) => Ok((*outcome, refusals)),
        Err(e) => Err(local::engine_error(e)),
    }
}

/// The stable JSON of a stateful outcome, refusals included.
fn json(outcome: &Outcome, refusals: &[Refusal]) -> serde_json::Value {
    let mut value = serde_json::to_value(outcome).expect("an outcome serializes");
    value["refusals"] = serde_json::to_value(refusals).expect("refusals serialize");
    value
}

/// Prints an outcome: JSON on stdout, or for people the warnings, the plan,
/// rename hints and, on stderr, the refusal. `command` is the one the
/// refusal's advice names (`deploy`, `destroy`).
pub fn show(g: &Global, outcome: &Outcome, refusals: &[Refusal], json: bool, command: &str) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&self::json(outcome, refusals))
                .expect("a JSON value serializes")
        );
        return;
    }
    let preamble = plan_text::preamble(outcome.stale_lock.as_ref(), &outcome.reconciled);
    err!("{preamble}");
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
        err!("\n{}", plan_text::refusal(refusals, &prefix, command));
    }
}
