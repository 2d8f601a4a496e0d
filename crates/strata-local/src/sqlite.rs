//! The SQLite databases of the services Strata writes itself (SQS, SSM): one
//! file per service inside the stage's data directory, opened the same way so
//! they keep the same promise as DynamoDB's (SPEC S6).
//!
//! WAL journal, `synchronous` from [`Durability`] (`NORMAL` survives
//! `kill -9`, `FULL` power loss), and every write inside one transaction that
//! has committed before the caller answers the client. A connection serves one
//! request at a time (it sits behind a mutex, and requests run on the
//! database's own [`SerialThread`]), so there is no cross-request transaction
//! interleaving to reason about.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use crate::durability::Durability;
use crate::serial::SerialThread;
use crate::store::DataDir;

/// Why a service database could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error in {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot start the thread of the database {path}")]
    Thread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the database call panicked")]
    Join,
}

/// One service's database: a single connection shared by its requests.
#[derive(Debug, Clone)]
pub struct Db {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Connection>>,
    /// Where [`Db::run`] runs its work.
    thread: SerialThread,
}

impl Db {
    /// Open (creating if missing) `<data>/<file>` and run `schema` (which
    /// must be idempotent: `CREATE TABLE IF NOT EXISTS ...`).
    pub fn open(
        data: &DataDir,
        file: &str,
        durability: Durability,
        schema: &str,
    ) -> Result<Self, DbError> {
        let path = data.path().join(file);
        Self::open_path(&path, durability, schema)
    }

    pub(crate) fn open_path(
        path: &Path,
        durability: Durability,
        schema: &str,
    ) -> Result<Self, DbError> {
        let open_err = |source| DbError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        let synchronous = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        // journal_mode returns a row, so it goes through query_row; the
        // others are plain statements.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(open_err)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; {schema}"
        ))
        .map_err(open_err)?;
        let thread = SerialThread::spawn("sqlite").map_err(|source| DbError::Thread {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: Arc::new(path.to_owned()),
            conn: Arc::new(Mutex::new(conn)),
            thread,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `work` on the connection, on the database's own thread (SQLite
    /// calls block on disk). The closure's own error type carries database
    /// failures through `From<DbError>`.
    pub async fn run<T, E>(
        &self,
        work: impl FnOnce(&mut Connection, &Path) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        match self.thread.run(move || db.run_blocking(work)).await {
            Ok(result) => result,
            Err(_) => Err(E::from(DbError::Join)),
        }
    }

    /// The same, on the calling thread.
    pub fn run_blocking<T, E>(
        &self,
        work: impl FnOnce(&mut Connection, &Path) -> Result<T, E>,
    ) -> Result<T, E> {
        // A panic while holding the lock leaves at worst an open transaction,
        // which rusqlite rolls back when the `Transaction` is dropped during
        // unwinding, so the connection is still consistent.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        work(&mut conn, &self.path)
    }
}

/// Wrap a rusqlite error with the file it happened in.
pub fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |source| DbError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// Milliseconds since the Unix epoch, the clock every stored time uses.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_with_the_requested_synchronous_level() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        for (durability, expected) in [(Durability::Process, 1), (Durability::Power, 2)] {
            let db = Db::open(
                &data,
                &format!("{durability}.sqlite"),
                durability,
                "CREATE TABLE IF NOT EXISTS t(x);",
            )
            .expect("open");
            let (mode, sync): (String, i64) = db
                .run_blocking(|c, _| {
                    let mode = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                    let sync = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                    Ok::<_, rusqlite::Error>((mode, sync))
                })
                .expect("pragmas");
            assert_eq!(mode, "wal");
            assert_eq!(sync, expected);
        }
    }
}
