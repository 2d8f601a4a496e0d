//! The engine: state, plans, the safety rules and apply, for both stacks of
//! a stage, through a [`Provider`] that knows the target. Nothing here knows
//! whether resources live on this machine or in AWS.
//!
//! The layers follow each other: `state` (what was applied, on disk, locked),
//! `plan` (manifest against state, with the replacement rules and the safety
//! checks of SPEC §4), `apply` (a plan carried out through the provider, with
//! a journal so an interrupted run is reconciled by the next), and `drift`
//! (state against what the target holds, for `drift` and `plan --refresh`).

pub mod apply;
pub mod drift;
pub mod plan;
pub mod provider;
pub mod release;
pub mod state;

pub use plan::{Action, AllowDestroy, Plan, PlannedChange, Refusal};
pub use provider::{DataAtRisk, Provider, ProviderError};
pub use state::{ResourceState, StackState, StateStore};
