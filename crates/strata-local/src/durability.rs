//! What an acknowledged write survives, and how that choice reaches SQLite.
//!
//! Every store of the local target is SQLite in WAL mode. In WAL mode a commit
//! appends to the `-wal` file; the `synchronous` setting only decides whether
//! that append is also fsynced before the commit returns:
//!
//! - `NORMAL` writes the commit to the operating system without fsync. The
//!   bytes are in the kernel's page cache the moment the write returns, so
//!   they survive the process dying in any way, `kill -9` included; only a
//!   power loss or kernel crash can drop the last commits (never corrupt the
//!   file). One fsync costs about 3 ms on the reference machines, so this is
//!   the difference between ~300 and ~15,000 commits per second.
//! - `FULL` fsyncs the WAL on every commit: survives power loss.
//!
//! SPEC S6 asks for writes that survive `kill -9`, so [`Durability::Process`]
//! (`NORMAL`) is the default and [`Durability::Power`] (`FULL`) the opt-in.
//!
//! Reaching the engine's connection: dynoxide-rs opens its own rusqlite
//! connection and does not expose it (`Database::with_storage` is crate
//! private), and it sets no `synchronous` itself, so it runs on SQLite's
//! compiled default, `FULL` (libsqlite3-sys 0.34's bundled build does not
//! override `SQLITE_DEFAULT_SYNCHRONOUS` or `SQLITE_DEFAULT_WAL_SYNCHRONOUS`).
//! Its one public handle on the setting is `Database::disable_bulk_loading`,
//! which runs `PRAGMA synchronous = NORMAL` together with `cache_size = -2000`,
//! `temp_store = DEFAULT` and `mmap_size = 0`, all three SQLite's own defaults,
//! on that same connection. [`Durability::apply`] uses it for `Process` and
//! leaves the connection as opened for `Power`. PRAGMA synchronous is per
//! connection and dynoxide keeps a single connection for the life of the
//! `Database`, so applying it once after opening covers every later write.

use std::fmt;
use std::str::FromStr;

use dynoxide::Database;

/// What an acknowledged write is guaranteed to survive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Survives the death of the process (`kill -9`), not power loss.
    /// SQLite WAL with `synchronous = NORMAL`.
    #[default]
    Process,
    /// Survives power loss: every commit is fsynced.
    /// SQLite WAL with `synchronous = FULL`.
    Power,
}

impl Durability {
    pub const WORDS: [&'static str; 2] = ["process", "power"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Power => "power",
        }
    }

    /// Set this level on the engine's connection. Call once, right after
    /// opening, before serving any request.
    pub fn apply(self, db: &Database) -> Result<(), dynoxide::DynoxideError> {
        match self {
            // See the module comment: this is the engine's public way to run
            // `PRAGMA synchronous = NORMAL` on its own connection.
            Self::Process => db.disable_bulk_loading(),
            // The engine opens at SQLite's compiled default, which is FULL.
            Self::Power => Ok(()),
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a durability level.
#[derive(Debug, thiserror::Error)]
#[error("unknown durability `{word}`, expected process or power")]
pub struct UnknownDurability {
    pub word: String,
}

impl FromStr for Durability {
    type Err = UnknownDurability;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "process" => Ok(Self::Process),
            "power" => Ok(Self::Power),
            _ => Err(UnknownDurability {
                word: word.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_survives_process_death() {
        assert_eq!(Durability::default(), Durability::Process);
    }

    #[test]
    fn words_round_trip() {
        for word in Durability::WORDS {
            let level: Durability = word.parse().expect("known word");
            assert_eq!(level.as_str(), word);
        }
        assert!("fast".parse::<Durability>().is_err());
    }
}
