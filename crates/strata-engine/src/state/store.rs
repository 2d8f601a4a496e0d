//! The state store of one stage on disk: `.strata/<stage>/state/` with
//! `<stack>.json`, `<stack>.lock` and, during an apply, `<stack>.journal.json`.
//! Every write is atomic: a temporary file, fsync, rename, fsync of the folder.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use strata_model::StackKind;

use super::StackState;
use super::file::{self, FileError};
use super::journal::Journal;
use super::lock::{Lock, LockError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is unreadable: {source}")]
    Corrupt { path: PathBuf, source: FileError },
    #[error("journal {path} is unreadable: {source}")]
    BadJournal {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {path} belongs to {found}, not {expected}")]
    Mismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
}

#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store in `dir` (usually `<service dir>/.strata/<stage>/state`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, stack: StackKind, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", stack.as_str()))
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })
    }

    /// Takes the stack's lock for one command; see [`Lock`].
    pub fn lock(&self, stack: StackKind, command: &str) -> Result<Lock, StoreError> {
        self.ensure_dir()?;
        Ok(Lock::acquire(
            &self.path(stack, ".lock"),
            stack.as_str(),
            command,
        )?)
    }

    /// Clears a stale lock record; refuses while a live process holds it.
    pub fn unlock(&self, stack: StackKind) -> Result<Option<super::LockInfo>, StoreError> {
        Ok(Lock::clear_stale(
            &self.path(stack, ".lock"),
            stack.as_str(),
        )?)
    }

    /// The stack's state, or an empty one when nothing was applied yet.
    pub fn load(
        &self,
        service: &str,
        stage: &str,
        stack: StackKind,
    ) -> Result<StackState, StoreError> {
        let path = self.path(stack, ".json");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StackState::empty(service, stage, stack));
            }
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        let state = file::decode(&bytes).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        if state.service != service || state.stage != stage || state.stack != stack {
            return Err(StoreError::Mismatch {
                path,
                found: format!("{}/{}/{}", state.service, state.stage, state.stack.as_str()),
                expected: format!("{service}/{stage}/{}", stack.as_str()),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically with the next serial.
    pub fn save(&self, state: &mut StackState) -> Result<(), StoreError> {
        state.serial += 1;
        self.write_atomic(&self.path(state.stack, ".json"), &file::encode(state))
    }

    pub fn journal(&self, stack: StackKind) -> Result<Option<Journal>, StoreError> {
        let path = self.path(stack, ".journal.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::BadJournal { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    pub fn write_journal(&self, stack: StackKind, journal: &Journal) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(journal).expect("journal serializes");
        self.write_atomic(&self.path(stack, ".journal.json"), &bytes)
    }

    pub fn clear_journal(&self, stack: StackKind) -> Result<(), StoreError> {
        let path = self.path(stack, ".journal.json");
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                action: "remove",
                path,
                source,
            }),
        }
    }

    /// Temporary file, fsync, rename over the target, fsync of the folder:
    /// a reader sees the old bytes or the new ones, never a mix, even after
    /// a crash at any point.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let io = |action, source| StoreError::Io {
            action,
            path: tmp.clone(),
            source,
        };
        let mut file = File::create(&tmp).map_err(|e| io("create", e))?;
        file.write_all(bytes).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        fs::rename(&tmp, path).map_err(|source| StoreError::Io {
            action: "replace",
            path: path.to_owned(),
            source,
        })?;
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| StoreError::Io {
                action: "fsync",
                path: self.dir.clone(),
                source,
            })
    }
}
