//! Commands on a local stage's state: `outputs` (read from state, no lock
//! needed), `state mv` (a rename that keeps the real resource and its data)
//! and `unlock` (clear the lock record of a process that died).

use std::process::ExitCode;

use miette::{Result, miette};
use strata_engine::apply::{self, StateMvError};
use strata_engine::state::{LockError, StoreError};
use strata_model::{Address, StackKind};

use super::local::{self, Stage};
use crate::cli::{Global, StackArg};

pub fn outputs(g: &Global, json: bool) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    let state = stage.stateful_state()?;
    if json {
        let by_address: serde_json::Map<String, serde_json::Value> = state
            .resources
            .iter()
            .map(|(a, r)| {
                (
                    a.to_string(),
                    serde_json::to_value(&r.outputs).expect("a string map serializes"),
                )
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&by_address).expect("a JSON value serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if state.resources.is_empty() {
        outln!(
            "Nothing is deployed in stage {}; run `{} deploy` first.",
            stage.name,
            local::prefix(g)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let service = stage.service.name.as_str();
    for (address, resource) in &state.resources {
        outln!("{address}");
        for (attr, value) in &resource.outputs {
            outln!(
                "  {attr:<11} {value}   (/strata/{service}/{}/{}/{attr})",
                stage.name,
                address.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn mv(g: &Global, old: &str, new: &str) -> Result<ExitCode> {
    let parse = |text: &str| -> Result<Address> {
        text.parse()
            .map_err(|e| miette!(help = "for example `table/Orders`", "{e}"))
    };
    let (from, to) = (parse(old)?, parse(new)?);
    if from.stack() != StackKind::Stateful {
        return Err(miette!("{from} is not a stateful resource"));
    }
    let stage = Stage::load(g)?;
    // The published outputs move with the address, so the data directory
    // is needed too.
    let provider = stage.provider()?;
    let service = stage.service.name.as_str();
    apply::state_mv(&stage.store, service, &stage.name, &from, &to).map_err(|e| match e {
        StateMvError::Store(StoreError::Lock(LockError::Held { stack, holder })) => {
            miette!("the {stack} stack is locked by {holder}")
        }
        other => miette!("{}", local::chain(&other)),
    })?;
    let state = stage
        .store
        .load(service, &stage.name, StackKind::Stateful)
        .map_err(|e| miette!("{}", local::chain(&e)))?;
    let physical = match (state.resources.get(&to), state.retained.get(&to)) {
        (Some(r), _) => {
            provider
                .publish(&to, &r.outputs)
                .map_err(|e| miette!("{e}"))?;
            r.physical_id.clone()
        }
        (None, Some(r)) => r.physical_id.clone(),
        (None, None) => String::new(),
    };
    provider.unpublish(&from).map_err(|e| miette!("{e}"))?;
    outln!(
        "Moved {from} to {to} in state; {physical} and its data are unchanged.\n\
         `{} plan` should now show no change for {to}.",
        local::prefix(g)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn unlock(g: &Global, stack: StackArg, yes: bool) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    let stacks: &[StackKind] = match stack {
        StackArg::Stateful => &[StackKind::Stateful],
        StackArg::Stateless => &[StackKind::Stateless],
        StackArg::All => &[StackKind::Stateful, StackKind::Stateless],
    };
    if !yes
        && !local::confirm(
            "Release any lock left by a strata process that is no longer running? (a running holder keeps its lock)",
        )?
    {
        outln!("Nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    for &kind in stacks {
        match stage.store.unlock(kind) {
            Ok(Some(info)) => outln!(
                "Released the {} lock left by {info}.\nThat run was interrupted: the next plan \
                 or deploy reconciles what it left half done.",
                kind.as_str()
            ),
            Ok(None) => outln!("The {} stack was not locked.", kind.as_str()),
            Err(StoreError::Lock(LockError::Held { stack, holder })) => {
                return Err(miette!(
                    help = format!(
                        "that process is still running; wait for it to finish, or stop it (pid {})",
                        holder.pid
                    ),
                    "the {stack} stack is locked by {holder}"
                ));
            }
            Err(e) => return Err(miette!("{}", local::chain(&e))),
        }
    }
    Ok(ExitCode::SUCCESS)
}
