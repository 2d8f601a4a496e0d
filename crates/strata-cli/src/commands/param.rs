//! `strata param set NAME VALUE`: the value of a parameter declared in
//! strata.yaml, written to the stage's parameter store. Secure values are
//! sealed with the stage's key and never printed, logged or kept anywhere
//! else; deploys never overwrite them.

use std::io::Read;
use std::process::ExitCode;

use miette::{Result, miette};
use strata_engine::Provider;
use strata_model::ResourceSpec;

use super::local::Stage;
use crate::cli::Global;

pub fn set(g: &Global, name: &str, value: &str) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    // `parameter/PaymentKey` is accepted as well as `PaymentKey`.
    let name = name.strip_prefix("parameter/").unwrap_or(name);
    let found = stage.service.resource(name).and_then(|r| match &r.spec {
        ResourceSpec::Parameter(p) => Some((r, p)),
        _ => None,
    });
    let Some((resource, parameter)) = found else {
        return Err(miette!(
            help = "declare it under `stateful: parameters:` in strata.yaml",
            "there is no parameter `{name}` in strata.yaml"
        ));
    };
    if !parameter.secure && parameter.value.is_some() {
        return Err(miette!(
            help = "change `value:` in strata.yaml and deploy, or remove it to set the value here",
            "parameter `{name}` takes its value from strata.yaml; a deploy would overwrite it"
        ));
    }
    let value = if value == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| miette!("cannot read the value from stdin: {e}"))?;
        text.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        value.to_owned()
    };
    let provider = stage.provider()?;
    let state = stage.stateful_state()?;
    let address = resource.address();
    // The physical name recorded in state wins: after `state mv` it is not
    // the one the current name would give.
    let physical = state
        .resources
        .get(&address)
        .map(|r| r.physical_id.clone())
        .or_else(|| state.retained.get(&address).map(|r| r.physical_id.clone()))
        .unwrap_or_else(|| provider.physical_id(resource));
    provider
        .set_parameter(resource, &physical, &value)
        .map_err(|e| miette!("{e}"))?;
    outln!(
        "Set {address} ({physical}){}.",
        if parameter.secure {
            ", stored encrypted"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
