//! Deploying an aws stage through CloudFormation change sets: `strata
//! deploy`, `strata plan` and `strata destroy --stack stateless`; and reading
//! it back: `strata outputs` and `strata drift`.
//!
//! The logic is written against the `Cloud` trait (`cloud.rs`), which the
//! AWS SDK implements in `crate::sdk` (feature `aws`) and the tests implement
//! in memory (`tests.rs`). `changes.rs` reads a change set against the safety
//! rules, `bootstrap.rs` is the shared artifact bucket, `run.rs` the order of
//! the calls, `outputs.rs` and `drift.rs` the two commands that only read.

pub mod bootstrap;
pub mod changes;
pub mod cloud;
mod drift;
mod outputs;
mod run;

pub use drift::{DriftReport, PublishedDrift, drift};
pub use outputs::{Output, outputs};
pub use run::{
    CHANGE_SET_PREFIX, DeployError, DeployOutcome, Failure, Note, Observer, Role, Source,
    StackPlan, StackResult, Stacks, Target, deploy, destroy_stateless, ensure_bootstrap, plan,
    upload_code,
};

#[cfg(test)]
mod tests;
