//! `plan`, `deploy`, `destroy --stack stateless`, `drift` and `outputs` of a
//! stage whose target is aws. The commands route here when the stage targets
//! aws; the work is in `strata_aws::deploy` over the AWS SDK (`run.rs`,
//! feature `aws`), and `text.rs` renders its progress, plans, drift and
//! outputs.

#[cfg(feature = "aws")]
mod run;
mod text;

use std::process::ExitCode;

use miette::Result;
use strata_model::Target;

use crate::cli::{DeployArgs, DestroyArgs, DriftArgs, Global, PlanArgs};
use crate::manifest;

/// Whether `--stage` names an aws stage of a valid manifest. Anything else
/// (no manifest, an invalid one, an unknown stage) goes the local way, whose
/// errors say what is wrong.
pub fn targets_aws(g: &Global) -> bool {
    let Ok((_, Ok(checked))) = manifest::check(&g.dir) else {
        return false;
    };
    checked
        .service
        .stage(&g.stage)
        .is_some_and(|s| s.target == Target::Aws)
}

#[cfg(feature = "aws")]
pub fn plan(g: &Global, args: &PlanArgs) -> Result<ExitCode> {
    run::plan(g, args)
}

#[cfg(feature = "aws")]
pub fn deploy(g: &Global, args: &DeployArgs) -> Result<ExitCode> {
    run::deploy(g, args)
}

#[cfg(feature = "aws")]
pub fn destroy(g: &Global, args: &DestroyArgs) -> Result<ExitCode> {
    run::destroy(g, args)
}

#[cfg(feature = "aws")]
pub fn drift(g: &Global, args: &DriftArgs) -> Result<ExitCode> {
    run::drift(g, args)
}

#[cfg(feature = "aws")]
pub fn outputs(g: &Global, json: bool, endpoint_url: Option<&str>) -> Result<ExitCode> {
    run::outputs(g, json, endpoint_url)
}

#[cfg(not(feature = "aws"))]
fn not_built(g: &Global) -> miette::Report {
    miette::miette!(
        help = "build strata with the aws target: `cargo install --locked --path crates/strata-cli --features aws` (or `cargo build --features aws`); `strata synth` works without it",
        "stage `{}` targets aws, and this strata was built without the aws target",
        g.stage
    )
}

#[cfg(not(feature = "aws"))]
pub fn plan(g: &Global, _: &PlanArgs) -> Result<ExitCode> {
    Err(not_built(g))
}

#[cfg(not(feature = "aws"))]
pub fn deploy(g: &Global, _: &DeployArgs) -> Result<ExitCode> {
    Err(not_built(g))
}

#[cfg(not(feature = "aws"))]
pub fn destroy(g: &Global, _: &DestroyArgs) -> Result<ExitCode> {
    Err(not_built(g))
}

#[cfg(not(feature = "aws"))]
pub fn drift(g: &Global, _: &DriftArgs) -> Result<ExitCode> {
    Err(not_built(g))
}

#[cfg(not(feature = "aws"))]
pub fn outputs(g: &Global, _: bool, _: Option<&str>) -> Result<ExitCode> {
    Err(not_built(g))
}
