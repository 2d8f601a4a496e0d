//! Carrying out a stateful plan through a [`Provider`], under the stack's
//! lock, with the journal that lets the next run reconcile a killed one.
//!
//! Order of every step: journal the intent, call the provider, write state,
//! mark the journal entry done. A crash between any two of them leaves a
//! pending entry whose outcome `reconcile` reads back from the target, so
//! state never claims what did not happen and never forgets what did.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use strata_model::{Address, Service, StackKind};

use crate::drift::{self, Drift};
use crate::plan::{self, Action, AllowDestroy, Plan, Refusal};
use crate::provider::{Provider, ProviderError};
use crate::state::{
    Journal, JournalEntry, LockInfo, OpStatus, ResourceState, RetainedResource, StackState,
    StateStore, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan holds destructive changes that were not allowed (S2). The
    /// outcome carries the whole plan (with the data at risk) so the refusal
    /// can be shown in context; nothing was applied.
    #[error("refused by the safety rules: {} destructive change(s) not allowed", .refusals.len())]
    Refused {
        refusals: Vec<Refusal>,
        outcome: Box<Outcome>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("{address} is in the plan but not in the manifest")]
    NotInManifest { address: Address },
}

/// What an interrupted run left, and what the target says happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciled {
    pub address: Address,
    pub action: Action,
    /// Whether the resource exists now.
    pub exists: bool,
}

/// The outcome of one stateful run, for the CLI to render.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub plan: Plan,
    /// A lock record left by a process that died, taken over by this run.
    pub stale_lock: Option<LockInfo>,
    pub reconciled: Vec<Reconciled>,
    /// What `refresh` found changed or gone outside Strata (empty without it).
    pub drift: Vec<Drift>,
    /// Whether the plan was carried out (false for `plan`, or nothing to do).
    pub applied: bool,
}

/// How one stateful run goes.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Addresses that may be replaced or deleted (`--allow-destroy`).
    pub allow: &'a AllowDestroy,
    /// Carry the plan out (`deploy`), or only make it (`plan`).
    pub execute: bool,
    /// Read every managed resource from the target first and plan against
    /// what it holds (`--refresh`), instead of against state alone.
    pub refresh: bool,
    /// The command line's verb, recorded in the lock and the journal.
    pub command: &'a str,
}

/// `plan` or `deploy` of the stateful stack: lock, reconcile an interrupted
/// run, refresh when asked, plan, count the data at risk, check the safety
/// rules and, when `run.execute` is set, apply.
pub fn stateful(
    service: &Service,
    stage: &str,
    store: &StateStore,
    provider: &dyn Provider,
    run: Run<'_>,
) -> Result<Outcome, ApplyError> {
    carry_out(service, stage, store, provider, run, |state, vanished| {
        // A resource that vanished outside Strata comes back under the name
        // state recorded, not under a freshly computed one.
        Plan::stateful(service, state, run.allow, |r| {
            let address = r.address();
            vanished
                .iter()
                .find(|(a, _)| *a == address)
                .map_or_else(|| provider.physical_id(r), |(_, id)| id.clone())
        })
    })
}

/// `destroy --stack stateful`: delete exactly the managed resources
/// `run.allow` names (every one for `--allow-destroy all`), with their data.
/// Addresses it does not name stay managed and untouched; nothing else in
/// the manifest is applied. Lock, reconcile and journal as for [`stateful`].
pub fn destroy(
    service: &Service,
    stage: &str,
    store: &StateStore,
    provider: &dyn Provider,
    run: Run<'_>,
) -> Result<Outcome, ApplyError> {
    carry_out(service, stage, store, provider, run, |state, _| {
        let mut plan = Plan::destroy(state);
        plan.changes.retain(|c| run.allow.allows(&c.address));
        plan
    })
}

/// The one way a stateful plan runs: under the lock, after reconciling,
/// with the data at risk counted and the safety rules checked before anything
/// is applied. `make_plan` decides what the run is about; it is given the
/// (refreshed) state and the resources that vanished with their physical ids.
fn carry_out(
    service: &Service,
    stage: &str,
    store: &StateStore,
    provider: &dyn Provider,
    run: Run<'_>,
    make_plan: impl FnOnce(&StackState, &[(Address, String)]) -> Plan,
) -> Result<Outcome, ApplyError> {
    let lock = store.lock(StackKind::Stateful, run.command)?;
    let mut state = store.load(service.name.as_str(), stage, StackKind::Stateful)?;
    let reconciled = reconcile(&mut state, store, provider)?;
    let drift = if run.refresh {
        drift::detect(&state, provider)?
    } else {
        vec![]
    };
    let vanished = drift::refresh(&mut state, &drift);
    let mut plan = make_plan(&state, &vanished);
    for change in plan
        .changes
        .iter_mut()
        .filter(|c| c.action.is_destructive())
    {
        change.data_at_risk = Some(provider.data_at_risk(&change.address, &change.physical_id)?);
    }
    let stale_lock = lock.taken_over.clone();
    let refusals = plan.refusals(run.allow);
    if !refusals.is_empty() {
        return Err(ApplyError::Refused {
            refusals,
            outcome: Box::new(Outcome {
                plan,
                stale_lock,
                reconciled,
                drift,
                applied: false,
            }),
        });
    }
    let applied = run.execute && plan.has_changes();
    if applied {
        apply(&plan, service, &mut state, store, provider, run.command)?;
    }
    drop(lock);
    Ok(Outcome {
        plan,
        stale_lock,
        reconciled,
        drift,
        applied,
    })
}

/// What `strata drift` found.
#[derive(Debug, Serialize)]
pub struct DriftReport {
    /// How many managed resources were read.
    pub checked: usize,
    pub drift: Vec<Drift>,
    pub stale_lock: Option<LockInfo>,
    pub reconciled: Vec<Reconciled>,
}

/// `strata drift`: state against the target. Takes the lock, so it never
/// reads half of a running deploy, and reconciles a killed run first, so
/// what that run did is not reported as drift. Changes nothing else.
pub fn drift(
    service: &Service,
    stage: &str,
    store: &StateStore,
    provider: &dyn Provider,
) -> Result<DriftReport, ApplyError> {
    let lock = store.lock(StackKind::Stateful, "strata drift")?;
    let mut state = store.load(service.name.as_str(), stage, StackKind::Stateful)?;
    let reconciled = reconcile(&mut state, store, provider)?;
    let drift = drift::detect(&state, provider)?;
    Ok(DriftReport {
        checked: state.resources.len(),
        drift,
        stale_lock: lock.taken_over.clone(),
        reconciled,
    })
}

/// Settles the entries a killed run left pending by asking the target.
pub fn reconcile(
    state: &mut StackState,
    store: &StateStore,
    provider: &dyn Provider,
) -> Result<Vec<Reconciled>, ApplyError> {
    let Some(journal) = store.journal(state.stack)? else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for entry in journal.unfinished() {
        let live = provider.read(&entry.address, &entry.physical_id)?;
        let exists = live.is_some();
        match (entry.action, live) {
            // Retaining never touches the target: finish forgetting it.
            (Action::Retain, _) => retain(state, &entry.address),
            (_, Some(live)) => {
                // The resource exists: record what the target reports, since
                // the run may have stopped before or after changing it.
                state.retained.remove(&entry.address);
                state.resources.insert(
                    entry.address.clone(),
                    ResourceState {
                        physical_id: entry.physical_id.clone(),
                        properties: live.properties,
                        outputs: live.outputs,
                        protected: true,
                    },
                );
            }
            (_, None) => {
                state.resources.remove(&entry.address);
            }
        }
        out.push(Reconciled {
            address: entry.address.clone(),
            action: entry.action,
            exists,
        });
    }
    store.save(state)?;
    store.clear_journal(state.stack)?;
    Ok(out)
}

fn retain(state: &mut StackState, address: &Address) {
    if let Some(r) = state.resources.remove(address) {
        state.retained.insert(
            address.clone(),
            RetainedResource {
                physical_id: r.physical_id,
                properties: r.properties,
            },
        );
    }
}

fn apply(
    plan: &Plan,
    service: &Service,
    state: &mut StackState,
    store: &StateStore,
    provider: &dyn Provider,
    command: &str,
) -> Result<(), ApplyError> {
    let mut journal = Journal {
        command: command.to_owned(),
        started: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        entries: plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| JournalEntry {
                address: c.address.clone(),
                physical_id: c.physical_id.clone(),
                action: c.action,
                status: OpStatus::Pending,
            })
            .collect(),
    };
    store.write_journal(state.stack, &journal)?;
    for (i, change) in plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .enumerate()
    {
        let address = &change.address;
        let physical = change.physical_id.as_str();
        let resource = || {
            service
                .resource(&address.name)
                .filter(|r| r.kind() == address.kind)
                .ok_or_else(|| ApplyError::NotInManifest {
                    address: address.clone(),
                })
        };
        let record = |state: &mut StackState, live: crate::provider::Live, properties| {
            state.retained.remove(address);
            state.resources.insert(
                address.clone(),
                ResourceState {
                    physical_id: physical.to_owned(),
                    properties,
                    outputs: live.outputs,
                    protected: true,
                },
            );
        };
        match change.action {
            Action::NoOp => {}
            Action::Create | Action::Adopt => {
                let r = resource()?;
                let live = provider.create(r, physical)?;
                record(state, live, plan::properties(r));
            }
            Action::Update => {
                let r = resource()?;
                let previous = state
                    .resources
                    .get(address)
                    .map(|s| s.properties.clone())
                    .unwrap_or_default();
                let live = provider.update(r, physical, &previous)?;
                record(state, live, plan::properties(r));
            }
            Action::Replace => {
                let r = resource()?;
                provider.delete(address, physical)?;
                let live = provider.create(r, physical)?;
                record(state, live, plan::properties(r));
            }
            Action::Delete => {
                provider.delete(address, physical)?;
                state.resources.remove(address);
                state.retained.remove(address);
            }
            Action::Retain => retain(state, address),
        }
        store.save(state)?;
        journal.entries[i].status = OpStatus::Done;
        store.write_journal(state.stack, &journal)?;
    }
    store.clear_journal(state.stack)?;
    Ok(())
}

/// `strata state mv OLD NEW`: the same real resource (and its data) under a
/// new address. Takes the lock; refuses kinds that differ or a taken address.
pub fn state_mv(
    store: &StateStore,
    service: &str,
    stage: &str,
    from: &Address,
    to: &Address,
) -> Result<(), StateMvError> {
    if from.kind != to.kind {
        return Err(StateMvError::KindDiffers {
            from: from.clone(),
            to: to.clone(),
        });
    }
    let stack = from.stack();
    let _lock = store.lock(stack, "strata state mv")?;
    let mut state = store.load(service, stage, stack)?;
    if state.resources.contains_key(to) || state.retained.contains_key(to) {
        return Err(StateMvError::Taken { to: to.clone() });
    }
    if let Some(r) = state.resources.remove(from) {
        state.resources.insert(to.clone(), r);
    } else if let Some(r) = state.retained.remove(from) {
        state.retained.insert(to.clone(), r);
    } else {
        return Err(StateMvError::Missing { from: from.clone() });
    }
    store.save(&mut state)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StateMvError {
    #[error("{from} and {to} are different kinds of resource")]
    KindDiffers { from: Address, to: Address },
    #[error("{to} is already in state")]
    Taken { to: Address },
    #[error("{from} is not in state")]
    Missing { from: Address },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests;
