//! The data directory of one stage (`.strata/<stage>/data/`), held by exactly
//! one process at a time.
//!
//! The engines keep caches of what is on disk (dynoxide caches table metadata
//! per connection), so two processes writing the same files would each serve
//! a stale view of the other's tables. An exclusive lock on `data/.lock`
//! makes the rule checkable: the process that holds it (a `strata serve` or
//! `strata dev`) is the only one that opens the databases; everybody else
//! talks to it over the endpoint. The lock is an OS file lock, so the kernel
//! drops it when the holder dies, even by `kill -9`, and no stale lock is
//! ever left to clean up.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {path} is in use by another strata process (pid {holder})")]
    InUse { path: PathBuf, holder: String },
    #[error("cannot open the DynamoDB database {path}: {message}")]
    Engine { path: PathBuf, message: String },
}

/// An open, exclusively locked data directory. The lock lasts as long as this
/// value.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Name of the lock file inside the directory.
    pub const LOCK_FILE: &'static str = ".lock";

    /// Create `path` if missing and take its lock, or say who holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(path).map_err(|source| StoreError::Create {
            path: path.to_owned(),
            source,
        })?;
        let lock_path = path.join(Self::LOCK_FILE);
        let lock_err = |source| StoreError::Lock {
            path: lock_path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder's pid is informative only; an unreadable file
                // still means the directory is taken.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::InUse {
                    path: path.to_owned(),
                    holder: if holder.is_empty() { "unknown" } else { holder }.to_owned(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(lock_err(source)),
        }
        // Record who holds the lock so a refused second process can name it.
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(lock_err)?;
        Ok(Self {
            path: path.to_owned(),
            _lock: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_missing_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("a/b/data");
        let dir = DataDir::open(&path).expect("open");
        assert!(dir.path().join(DataDir::LOCK_FILE).is_file());
    }

    #[test]
    fn second_open_is_refused_and_names_the_holder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let _first = DataDir::open(tmp.path()).expect("first open");
        match DataDir::open(tmp.path()) {
            Err(StoreError::InUse { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string());
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }

    #[test]
    fn lock_is_released_on_drop() {
        let tmp = tempfile::tempdir().expect("tempdir");
        drop(DataDir::open(tmp.path()).expect("first open"));
        DataDir::open(tmp.path()).expect("reopen after drop");
    }
}
