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
                    .as_ref()
                    .is_none_or(|c| matches!(subcommand(c), Some("serve" | "dev")));
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
                        |c| format!("`{}`", c.join(" "))
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

/// The command line of a running process (`strata deploy --yes`), program
/// by its file name, where the system tells (Linux's /proc).
fn command_of(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let program = Path::new(args.first()?).file_name()?.to_string_lossy();
    args[0] = program.into_owned();
    Some(args)
}

/// The subcommand of a strata command line: its first word that is not a
/// global option or an option's value (`strata --stage dev deploy` is a
/// deploy).
fn subcommand(command: &[String]) -> Option<&str> {
    let mut words = command.iter().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "--dir" | "--stage" | "--target" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(w),
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::subcommand;

    #[test]
    fn the_subcommand_is_found_past_global_options_and_their_values() {
        let words = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            subcommand(&words("strata --stage dev deploy --yes")),
            Some("deploy")
        );
        assert_eq!(subcommand(&words("strata --dir serve dev")), Some("dev"));
        assert_eq!(
            subcommand(&words("strata serve --aws-port 0")),
            Some("serve")
        );
        assert_eq!(subcommand(&words("strata")), None);
    }
}
