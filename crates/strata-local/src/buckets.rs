//! The bucket registry of a stage: which S3 buckets exist and their
//! versioning status, durable in `<data>/s3.sqlite`.
//!
//! This is the S3 service's own bucket table: one row per bucket, keyed by
//! its name, with versioning as S3 reports it (`Enabled`, `Suspended`, or
//! never set). The S3 service (`s3/`) opens the same file with this schema
//! plus its object tables, so a bucket created by a deploy is the one
//! clients reach, and the provider counts the objects it would destroy.

use rusqlite::{OptionalExtension, params};

use crate::durability::Durability;
use crate::sqlite::{Db, DbError, now_ms, sqlite_err};
use crate::store::DataDir;

/// The file buckets (and later objects) live in, inside the data directory.
pub const DATABASE_FILE: &str = "s3.sqlite";

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    versioning TEXT NOT NULL CHECK (versioning IN ('', 'Enabled', 'Suspended')),
    created_ms INTEGER NOT NULL
);
";

/// A bucket's versioning status as S3 reports it. A bucket on which
/// versioning was never enabled has no status; once enabled it can only be
/// suspended, never returned to "never enabled".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    Unset,
    Enabled,
    Suspended,
}

impl Versioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "",
            Self::Enabled => "Enabled",
            Self::Suspended => "Suspended",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "Enabled" => Self::Enabled,
            "Suspended" => Self::Suspended,
            _ => Self::Unset,
        }
    }

    /// Whether new writes keep old versions.
    pub fn is_enabled(self) -> bool {
        self == Self::Enabled
    }
}

/// One registered bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub versioning: Versioning,
    pub created_ms: i64,
}

/// The registry of one stage.
#[derive(Debug, Clone)]
pub struct Buckets {
    db: Db,
}

impl Buckets {
    /// Open the registry alone (the provider without a running S3): the
    /// whole S3 schema, so object counts can be read.
    pub fn open(data: &DataDir, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            db: Db::open(data, DATABASE_FILE, durability, &crate::s3::full_schema())?,
        })
    }

    /// The registry on the S3 service's own connection.
    pub(crate) fn from_db(db: Db) -> Self {
        Self { db }
    }

    /// Create `name`, or adopt it if it exists, and set its versioning:
    /// `true` enables it, `false` suspends it when it was ever enabled (S3
    /// cannot go back to "never enabled").
    pub fn ensure(&self, name: &str, versioning: bool) -> Result<BucketInfo, DbError> {
        self.db.run_blocking(|conn, path| {
            let err = sqlite_err(path);
            let tx = conn.transaction().map_err(&err)?;
            let current = get(&tx, name).map_err(&err)?;
            let status = match (&current, versioning) {
                (_, true) => Versioning::Enabled,
                (Some(b), false) if b.versioning != Versioning::Unset => Versioning::Suspended,
                (_, false) => Versioning::Unset,
            };
            match current {
                Some(_) => tx.execute(
                    "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
                    params![name, status.as_str()],
                ),
                None => tx.execute(
                    "INSERT INTO buckets (name, versioning, created_ms) VALUES (?1, ?2, ?3)",
                    params![name, status.as_str(), now_ms()],
                ),
            }
            .map_err(&err)?;
            let info = get(&tx, name)
                .map_err(&err)?
                .expect("the row was written in this transaction");
            tx.commit().map_err(&err)?;
            Ok(info)
        })
    }

    pub fn get(&self, name: &str) -> Result<Option<BucketInfo>, DbError> {
        self.db
            .run_blocking(|conn, path| get(conn, name).map_err(sqlite_err(path)))
    }

    /// Remove `name`; succeeds when it is already gone.
    pub fn delete(&self, name: &str) -> Result<(), DbError> {
        self.db.run_blocking(|conn, path| {
            conn.execute("DELETE FROM buckets WHERE name = ?1", [name])
                .map(drop)
                .map_err(sqlite_err(path))
        })
    }

    /// How many objects (every version) and bytes the bucket holds; `None`
    /// when it does not exist.
    pub fn usage(&self, name: &str) -> Result<Option<(u64, u64)>, DbError> {
        self.db.run_blocking(|conn, path| {
            if get(conn, name).map_err(sqlite_err(path))?.is_none() {
                return Ok(None);
            }
            conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects \
                 WHERE bucket = ?1 AND delete_marker = 0",
                [name],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .map(|(n, b)| Some((n.try_into().unwrap_or(0), b.try_into().unwrap_or(0))))
            .map_err(sqlite_err(path))
        })
    }

    /// How many objects the bucket holds.
    pub fn object_count(&self, name: &str) -> Result<Option<u64>, DbError> {
        Ok(self.usage(name)?.map(|(objects, _)| objects))
    }
}

pub(crate) fn get(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<Option<BucketInfo>> {
    conn.query_row(
        "SELECT versioning, created_ms FROM buckets WHERE name = ?1",
        [name],
        |r| {
            Ok(BucketInfo {
                name: name.to_owned(),
                versioning: Versioning::parse(&r.get::<_, String>(0)?),
                created_ms: r.get(1)?,
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_creates_adopts_and_suspends_versioning() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let buckets = Buckets::open(&data, Durability::Process).expect("open");
        let made = buckets.ensure("b", false).expect("create");
        assert_eq!(made.versioning, Versioning::Unset);
        let on = buckets.ensure("b", true).expect("enable");
        assert_eq!(on.versioning, Versioning::Enabled);
        assert_eq!(on.created_ms, made.created_ms, "adopted, not recreated");
        let off = buckets.ensure("b", false).expect("suspend");
        assert_eq!(off.versioning, Versioning::Suspended);
        assert!(!off.versioning.is_enabled());
        buckets.delete("b").expect("delete");
        buckets.delete("b").expect("delete again");
        assert_eq!(buckets.get("b").expect("get"), None);
        assert_eq!(buckets.object_count("b").expect("count"), None);
    }

    #[test]
    fn registry_survives_reopening() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let data = DataDir::open(tmp.path()).expect("data dir");
            let buckets = Buckets::open(&data, Durability::Process).expect("open");
            buckets.ensure("kept", true).expect("create");
        }
        let data = DataDir::open(tmp.path()).expect("data dir");
        let buckets = Buckets::open(&data, Durability::Process).expect("open");
        let kept = buckets.get("kept").expect("get").expect("still there");
        assert_eq!(kept.versioning, Versioning::Enabled);
    }
}
