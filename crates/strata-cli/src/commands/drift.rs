//! `strata drift` on a local stage: every resource of the stateful stack
//! read back from the target and compared with state, naming what was
//! changed or deleted outside Strata. Changes nothing; `deploy --refresh`
//! is the way back to what strata.yaml says.

use std::process::ExitCode;

use miette::Result;
use strata_engine::apply;

use super::local::{self, Stage};
use super::plan::CHANGES;
use super::plan_text;
use crate::cli::{DriftArgs, Global};
use crate::report::plural;

pub fn run(g: &Global, args: &DriftArgs) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    let provider = stage.provider()?;
    let report = apply::drift(&stage.service, &stage.name, &stage.store, &provider)
        .map_err(local::engine_error)?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a drift report serializes")
        );
    } else {
        err!(
            "{}",
            plan_text::preamble(report.stale_lock.as_ref(), &report.reconciled)
        );
        if report.drift.is_empty() {
            outln!(
                "No drift: {} of the stateful stack of stage {} {} as Strata left {}.",
                plural(report.checked, "resource"),
                stage.name,
                if report.checked == 1 { "is" } else { "are" },
                if report.checked == 1 { "it" } else { "them" },
            );
        } else {
            out!(
                "Stateful stack of stage {}:\n\n{}\n",
                stage.name,
                plan_text::drift(&report.drift)
            );
            outln!(
                "{} of {} drifted. To put back what strata.yaml says (a deleted resource comes \
                 back empty):\n      {} plan --refresh\n      {} deploy --refresh",
                report.drift.len(),
                plural(report.checked, "resource"),
                local::prefix(g),
                local::prefix(g),
            );
        }
    }
    Ok(if args.detailed_exitcode && !report.drift.is_empty() {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}
