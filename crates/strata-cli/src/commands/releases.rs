//! The stateless stack of a local stage: `releases`, `rollback`, and
//! `plan`/`deploy`/`destroy --stack stateless`.
//!
//! Locally the functions run inside `strata dev`, which records a release
//! each time it swaps one in. So a rollback or a deploy goes to the running
//! `strata dev` (its control service) and happens there; without one, a
//! deploy packages the code and records the release that `strata dev` will
//! serve, and a rollback has nothing to roll back. None of these touch a
//! stateful resource (S1): a rollback runs the old functions against the
//! stateful stack as it is now, and refuses a release whose functions use a
//! resource that is gone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{TimeZone, Utc};
use miette::{IntoDiagnostic, Result, miette};
use serde_json::{Value, json};
use strata_engine::release::{FunctionChange, Release, ReleaseChanges, ReleaseStore};
use strata_local::compute::package::{CodeStore, package_sha256};
use strata_model::{Address, StackKind};

use super::dev::{Record, build, stage_root};
use super::local::{self, Stage};
use super::remote;
use crate::cli::Global;
use crate::report::plural;

fn store(stage: &Stage) -> ReleaseStore {
    ReleaseStore::new(stage_root(stage).join("releases"))
}

/// `strata releases`: the kept releases, newest first, each with what it
/// changed from the one before.
pub fn list(g: &Global, json: bool) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    let releases = store(&stage);
    let kept = releases.list().map_err(|e| miette!("{e}"))?;
    let current = releases.current().map_err(|e| miette!("{e}"))?;
    let rows: Vec<(&Release, ReleaseChanges)> = kept
        .iter()
        .enumerate()
        .map(|(i, r)| (r, r.changes_from(kept.get(i + 1))))
        .collect();
    if json {
        let doc: Vec<Value> = rows
            .iter()
            .map(|(r, changes)| {
                json!({
                    "id": r.id,
                    "created": r.created,
                    "current": current.as_ref() == Some(&r.id),
                    "functions": r.functions.keys().collect::<Vec<_>>(),
                    "changes": changes,
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if kept.is_empty() {
        outln!(
            "No releases of the stateless stack of stage {} yet: `strata dev` and \
             `strata deploy --stack stateless` record one.",
            stage.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "Releases of the stateless stack of stage {}, newest first (the last {} are kept):\n",
        stage.name,
        strata_engine::release::KEEP
    );
    for (release, changes) in &rows {
        let mark = if current.as_ref() == Some(&release.id) {
            "*"
        } else {
            " "
        };
        let created = Utc
            .timestamp_opt(i64::try_from(release.created).unwrap_or_default(), 0)
            .single()
            .map_or_else(String::new, |t| {
                t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            });
        outln!(
            "  {mark} {}  {created}  {:<12}  {}",
            release.id,
            plural(release.functions.len(), "function"),
            changes_text(changes)
        );
    }
    outln!(
        "\n{}Roll back with: {} rollback [--to RELEASE]",
        if current.is_some() {
            "* is the current release. "
        } else {
            "No release is current (the stack was destroyed). "
        },
        local::prefix(g)
    );
    Ok(ExitCode::SUCCESS)
}

/// `+ api, ~ worker (code, memory), - old`, or `(no change)`.
fn changes_text(changes: &ReleaseChanges) -> String {
    let mut parts: Vec<String> = changes
        .functions
        .iter()
        .map(|(name, change)| match change {
            FunctionChange::Added => format!("+ {name}"),
            FunctionChange::Removed => format!("- {name}"),
            FunctionChange::Updated { code, settings } => {
                let what: Vec<&str> = code
                    .then_some("code")
                    .into_iter()
                    .chain(settings.iter().map(String::as_str))
                    .collect();
                format!("~ {name} ({})", what.join(", "))
            }
        })
        .collect();
    if changes.http {
        parts.push("~ http settings".to_owned());
    }
    if parts.is_empty() {
        "(no change)".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `strata rollback [--to RELEASE]`: the running `strata dev` swaps the
/// release in.
pub fn rollback(g: &Global, to: Option<&str>) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    if let Some(id) = to {
        store(&stage).get(id).map_err(|e| miette!("{e}"))?;
    }
    let answer = remote::running_dev(&stage)
        .map(|host| remote::control(&host, "Rollback", &json!({ "release": to })))
        .transpose()?
        .flatten();
    let Some(answer) = answer else {
        return Err(miette!(
            help = format!(
                "start `{} dev` and run this again; `{} releases` lists the releases kept",
                local::prefix(g),
                local::prefix(g)
            ),
            "no `strata dev` is running for stage {}: on the local target the stateless stack \
             runs inside it, so there is nothing to roll back",
            stage.name
        ));
    };
    let release = answer["release"].as_str().unwrap_or_default();
    if answer["changed"] == json!(false) {
        outln!(
            "Release {release} is already the one strata dev of stage {} runs; nothing to roll back.",
            stage.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "Rolled back the stateless stack of stage {} to release {release} (from {}). Data and the \
         stateful stack were not touched.",
        stage.name,
        answer["from"].as_str().unwrap_or("no release")
    );
    outln!("The next change to the code or strata.yaml swaps in a new release.");
    Ok(ExitCode::SUCCESS)
}

/// The release strata.yaml and the code folders make now, against the
/// current one: for `plan --stack stateless`.
pub struct StatelessPlan {
    pub release: Release,
    pub current: Option<Release>,
    pub changes: ReleaseChanges,
}

impl StatelessPlan {
    pub fn make(stage: &Stage) -> Result<Self> {
        let mut shas = BTreeMap::new();
        for f in &stage.service.stateless.functions {
            let sha = package_sha256(&stage.dir.join(&f.code)).map_err(|e| {
                miette!(
                    "cannot package the code of function `{}`: {}",
                    f.name,
                    local::chain(&e)
                )
            })?;
            shas.insert(f.name.to_string(), sha);
        }
        let release = Release::new(&stage.service, &shas).map_err(|e| miette!("{e}"))?;
        let releases = store(stage);
        let current = match releases.current().map_err(|e| miette!("{e}"))? {
            Some(id) => Some(releases.get(id.as_str()).map_err(|e| miette!("{e}"))?),
            None => None,
        };
        let changes = release.changes_from(current.as_ref());
        Ok(Self {
            release,
            current,
            changes,
        })
    }

    pub fn has_changes(&self) -> bool {
        self.current.as_ref().map(|c| &c.id) != Some(&self.release.id)
    }

    pub fn json(&self) -> Value {
        json!({
            "stack": "stateless",
            "release": self.release.id,
            "current": self.current.as_ref().map(|c| &c.id),
            "changes": self.changes,
        })
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.has_changes() {
            let _ = writeln!(
                out,
                "No changes: the current release of the stateless stack, {}, matches strata.yaml and the code.",
                self.release.id
            );
            return out;
        }
        let _ = writeln!(
            out,
            "Stateless stack: release {} (current: {}):\n",
            self.release.id,
            self.current
                .as_ref()
                .map_or_else(|| "none".to_owned(), |c| c.id.to_string())
        );
        let (mut added, mut updated, mut removed) = (0, 0, 0);
        for (name, change) in &self.changes.functions {
            let address = Address::new(strata_model::ResourceKind::Function, name.as_str());
            let _ = match change {
                FunctionChange::Added => {
                    added += 1;
                    writeln!(out, "  + {address} will be created")
                }
                FunctionChange::Removed => {
                    removed += 1;
                    writeln!(out, "  - {address} will be removed")
                }
                FunctionChange::Updated { code, settings } => {
                    updated += 1;
                    let what: Vec<&str> = code
                        .then_some("code")
                        .into_iter()
                        .chain(settings.iter().map(String::as_str))
                        .collect();
                    writeln!(out, "  ~ {address} will be updated: {}", what.join(", "))
                }
            };
        }
        if self.changes.http {
            let _ = writeln!(out, "  ~ the HTTP API's settings will be updated");
        }
        let _ = writeln!(
            out,
            "\nPlan: {added} to create, {updated} to update, {removed} to remove. Stateless \
             changes never touch a stateful resource or its data."
        );
        out
    }
}

/// `strata deploy --stack stateless`: the running `strata dev` swaps in the
/// release of the files now; without one the code is packaged and the
/// release recorded for it.
pub fn deploy(g: &Global, stage: &Stage, json: bool) -> Result<ExitCode> {
    missing_stateful(g, stage)?;
    if let Some(host) = remote::running_dev(stage)
        && let Some(answer) = remote::control(&host, "Deploy", &json!({}))?
    {
        let id = answer["release"].as_str().unwrap_or_default();
        let changed = answer["changed"] != json!(false);
        if json {
            outln!(
                "{}",
                json!({ "stack": "stateless", "release": id, "served": true, "changed": changed })
            );
        } else if changed {
            outln!(
                "strata dev of stage {} now serves release {id}.",
                stage.name
            );
        } else {
            outln!(
                "No changes: strata dev of stage {} already serves release {id}, which matches \
                 strata.yaml and the code.",
                stage.name
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = stage
        .store
        .lock(StackKind::Stateless, "strata deploy")
        .map_err(|e| local::engine_error(e.into()))?;
    let code = CodeStore::for_stage(&stage.dir.join(".strata"), &stage.name)
        .with_progress(std::sync::Arc::new(|step: &str| errln!("{step}")));
    let (_, release) = build(
        &stage.service,
        &stage.dir,
        &code,
        &store(stage),
        Record::Yes,
    )?;
    if json {
        outln!(
            "{}",
            json!({ "stack": "stateless", "release": release.id, "served": false })
        );
    } else {
        outln!(
            "Recorded release {} of the stateless stack of stage {} ({} packaged). On the local \
             target functions run inside `{} dev`, which serves this release when started.",
            release.id,
            stage.name,
            plural(release.functions.len(), "function"),
            local::prefix(g)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Functions need every stateful resource they use deployed (SPEC §4, S4's
/// ordering): say which are missing and how to deploy them.
fn missing_stateful(g: &Global, stage: &Stage) -> Result<()> {
    let state = stage.stateful_state()?;
    let mut missing: BTreeMap<Address, Vec<&str>> = BTreeMap::new();
    for f in &stage.service.stateless.functions {
        for address in f.needs() {
            if !state.resources.contains_key(&address) {
                let users = missing.entry(address).or_default();
                if !users.contains(&f.name.as_str()) {
                    users.push(f.name.as_str());
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let missing: Vec<String> = missing
        .iter()
        .map(|(address, users)| format!("{address} (used by {})", users.join(", ")))
        .collect();
    Err(miette!(
        help = format!(
            "deploy the stateful stack first: {} deploy --stack stateful",
            local::prefix(g)
        ),
        "the stateful stack of stage {} has not deployed {}",
        stage.name,
        missing.join("; ")
    ))
}

/// `strata destroy --stack stateless`: no release is current and the
/// unpacked code and worker folders go. Kept releases and their code zips
/// stay, so `rollback` can bring one back; data is never involved.
pub fn destroy(g: &Global) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    if let Some(host) = remote::running_dev(&stage)
        && std::net::TcpStream::connect(&host).is_ok()
    {
        return Err(miette!(
            help = "stop it (Ctrl-C in its terminal) and run this again",
            "strata dev is serving the stateless stack of stage {} (endpoint {host})",
            stage.name
        ));
    }
    let _lock = stage
        .store
        .lock(StackKind::Stateless, "strata destroy")
        .map_err(|e| local::engine_error(e.into()))?;
    let releases = store(&stage);
    let current = releases.current().map_err(|e| miette!("{e}"))?;
    releases.clear_current().map_err(|e| miette!("{e}"))?;
    let root = stage_root(&stage);
    for folder in ["code", "runtime"] {
        let path = root.join(folder);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .into_diagnostic()
                .map_err(|e| miette!("cannot remove {}: {e}", path.display()))?;
        }
    }
    match current {
        Some(id) => out!(
            "Destroyed the stateless stack of stage {}: release {id} is no longer current and \
             the unpacked code is removed. The stateful stack and its data were not touched.\n\
             `{} dev` starts it again from the files; `{} releases` lists the kept releases.\n",
            stage.name,
            local::prefix(g),
            local::prefix(g)
        ),
        None => outln!(
            "The stateless stack of stage {} has no current release: nothing to destroy.",
            stage.name
        ),
    }
    Ok(ExitCode::SUCCESS)
}
