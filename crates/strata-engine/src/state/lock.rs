//! One apply at a time per stack (S5). The lock is an OS file lock on
//! `<stack>.lock`, so the kernel releases it when its process dies, even by
//! `kill -9`; the file's content names the holder. Content left behind
//! without a live lock means the last holder died mid-run: the next run
//! takes over and says so.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Who holds (or held) a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub owner: String,
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
    pub command: String,
}

impl LockInfo {
    fn current(command: &str) -> Self {
        Self {
            owner: std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned()),
            pid: std::process::id(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            command: command.to_owned(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` by {} (pid {} on {}, since unix time {})",
            self.command, self.owner, self.pid, self.host, self.since
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the {stack} stack is locked by {holder}")]
    Held {
        stack: String,
        holder: Box<LockInfo>,
    },
    #[error("the {stack} stack is locked by a running process")]
    HeldUnknown { stack: String },
    #[error("cannot use lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; released (and its record cleared) on drop.
#[derive(Debug)]
pub struct Lock {
    file: File,
    /// The record of a holder that died without releasing, if there was one.
    pub taken_over: Option<LockInfo>,
}

impl Lock {
    pub fn acquire(path: &Path, stack: &str, command: &str) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(match read_info(&mut file) {
                    Some(holder) => LockError::Held {
                        stack: stack.to_owned(),
                        holder: Box::new(holder),
                    },
                    None => LockError::HeldUnknown {
                        stack: stack.to_owned(),
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let taken_over = read_info(&mut file);
        let info = serde_json::to_vec(&LockInfo::current(command)).expect("lock info serializes");
        write_all(&mut file, &info).map_err(io)?;
        Ok(Self { file, taken_over })
    }

    /// Clears the record of a holder that is gone. Refuses while a live
    /// process holds the lock: stop that process instead.
    pub fn clear_stale(path: &Path, stack: &str) -> Result<Option<LockInfo>, LockError> {
        if !path.exists() {
            return Ok(None);
        }
        let lock = Self::acquire(path, stack, "strata unlock")?;
        Ok(lock.taken_over.clone())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clearing the record first means a crash between the two steps
        // leaves nothing that looks stale; the OS lock goes with the file.
        let _ = write_all(&mut self.file, b"");
        let _ = self.file.unlock();
    }
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_all(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.sync_data()
}
