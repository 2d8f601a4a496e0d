//! What the stateful commands share on a local stage: the manifest, the
//! stage's folders (`.strata/<stage>/state` and `.strata/<stage>/data`), the
//! provider over the locked data directory, `--allow-destroy` parsing, the
//! confirmation prompt and the exact command lines printed as advice.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_engine::apply::ApplyError;
use strata_engine::state::{LockError, StoreError};
use strata_engine::{AllowDestroy, StackState, StateStore};
use strata_local::provider::{LocalProvider, OpenError};
use strata_local::{DataDir, Durability};
use strata_model::{Address, Service, StackKind, Target};

use crate::cli::Global;
use crate::manifest;

/// A local stage, opened for a stateful command.
pub struct Stage {
    pub service: Service,
    /// The folder holding strata.yaml.
    pub dir: PathBuf,
    pub name: String,
    pub store: StateStore,
}

impl Stage {
    /// Reads the manifest and checks that the stage targets local.
    pub fn load(g: &Global) -> Result<Self> {
        let (manifest, service) = manifest::load(&g.dir, &g.stage)?;
        let stage = manifest::stage_of(&service, &g.stage)?;
        if stage.target != Target::Local {
            return Err(miette!(
                help = "on aws stages, `synth`, `plan`, `deploy`, `destroy --stack stateless`, `drift` and `outputs` work; this command does not yet",
                "stage `{}` targets aws; this command works on local stages only",
                g.stage
            ));
        }
        let dir = manifest
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // Absolute, because functions run with their code folder as working
        // directory and are handed paths under `.strata/`.
        let dir = std::path::absolute(dir)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot resolve {}", dir.display()))?;
        let root = dir.join(".strata").join(&g.stage);
        Ok(Self {
            service,
            store: StateStore::new(root.join("state")),
            name: g.stage.clone(),
            dir,
        })
    }

    /// The stateful stack's state as last applied (read without the lock:
    /// for commands that only look at it).
    pub fn stateful_state(&self) -> Result<StackState> {
        self.store
            .load(self.service.name.as_str(), &self.name, StackKind::Stateful)
            .map_err(|e| miette!("{}", chain(&e)))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(".strata").join(&self.name).join("data")
    }

    /// Locks the stage's data directory and opens the provider on it. Fails
    /// with the holder's pid when `strata serve` (or `strata dev`) has it.
    pub fn provider(&self) -> Result<LocalProvider> {
        let path = self.data_dir();
        let data = DataDir::open(&path).map_err(|e| match e {
            strata_local::StoreError::InUse { holder, .. } => {
                let command = holder.parse().ok().and_then(command_of);
                let serving = command
                    .as_deref()
                    .is_none_or(|c| c.contains(" serve") || c.contains(" dev"));
                let help = if serving {
                    format!(
                        "stop that process (Ctrl-C in its terminal, or `kill {holder}`) and run \
                         this command again; Strata changes the data files directly and only one \
                         process may hold them"
                    )
                } else {
                    "let it finish and run this command again; only one process may hold the \
                     data files at a time"
                        .to_owned()
                };
                miette!(
                    help = help,
                    "the data of stage `{}` ({}) is in use by another strata process, pid {holder} \
                     ({})",
                    self.name,
                    path.display(),
                    command.map_or_else(
                        || "`strata serve` or `strata dev`".to_owned(),
                        |c| format!("`{c}`")
                    )
                )
            }
            other => miette!("{}", chain(&other)),
        })?;
        LocalProvider::open(
            data,
            self.service.name.as_str(),
            &self.name,
            Durability::default(),
        )
        .map_err(|e: OpenError| miette!("{}", chain(&e)))
    }
}

/// The command line of a running process, as `strata deploy --yes`, where
/// the system tells (Linux's /proc).
fn command_of(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let program = args.next()?;
    let name = std::path::Path::new(&program)
        .file_name()
        .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
    Some(
        std::iter::once(name)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `--allow-destroy` values: stateful addresses, or `all`.
pub fn allow_destroy(values: &[String]) -> Result<AllowDestroy> {
    let mut allow = AllowDestroy::default();
    for value in values {
        if value == "all" {
            allow.all = true;
            continue;
        }
        let address: Address = value.parse().map_err(|e| {
            miette!(
                help = "for example `--allow-destroy table/Orders`, or `all`",
                "{e}"
            )
        })?;
        if address.stack() != StackKind::Stateful {
            return Err(miette!(
                "{address} is not a stateful resource; only stateful resources need --allow-destroy"
            ));
        }
        allow.addresses.insert(address);
    }
    Ok(allow)
}

/// `strata [--dir DIR] [--stage STAGE] ` as the user would type it again.
pub fn prefix(g: &Global) -> String {
    let mut out = String::from("strata");
    if g.dir != Path::new(".") {
        out.push_str(&format!(
            " --dir {}",
            shell_word(&g.dir.display().to_string())
        ));
    }
    if g.stage != "dev" {
        out.push_str(&format!(" --stage {}", shell_word(&g.stage)));
    }
    out
}

fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@".contains(&b))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Asks a yes/no question on the terminal. Without a terminal there is no
/// one to ask: the command must be told with `--yes`.
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = "pass --yes to go ahead without being asked",
            "{question} (no terminal to ask on)"
        ));
    }
    out!("{question} [y/N] ");
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| miette!("cannot read the answer: {e}"))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// An engine error as a report, with advice for a held lock.
pub fn engine_error(e: ApplyError) -> miette::Report {
    match e {
        ApplyError::Store(StoreError::Lock(LockError::Held { stack, holder })) => miette!(
            help = format!(
                "another Strata command is working on this stack; wait for it, or stop pid {}",
                holder.pid
            ),
            "the {stack} stack is locked by {holder}"
        ),
        other => miette!("{}", chain(&other)),
    }
}

/// An error and its sources on one line.
pub use strata_local::provider::chain;
