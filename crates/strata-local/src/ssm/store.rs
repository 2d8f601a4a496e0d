//! Parameters in SQLite (`<data>/ssm.sqlite`): one row per version.
//!
//! The current value of a parameter is its highest version; history is the
//! other rows. Deleting a parameter deletes all its rows, so a parameter
//! created again starts at version 1, as in SSM. A SecureString row's value
//! is the sealed form from [`super::crypto`], never the plain text.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SsmError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    description TEXT,
    allowed_pattern TEXT,
    tier TEXT NOT NULL,
    data_type TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    modified_user TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
";

/// SSM keeps the last 100 versions of a parameter.
pub const MAX_VERSIONS: i64 = 100;

#[derive(Debug, Clone)]
pub struct Version {
    pub name: String,
    pub version: i64,
    pub kind: String,
    pub value: Vec<u8>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub modified_ms: i64,
    pub modified_user: String,
}

const COLUMNS: &str = "name, version, type, value, description, allowed_pattern, tier, data_type, modified_ms, modified_user";

fn row(r: &Row<'_>) -> rusqlite::Result<Version> {
    Ok(Version {
        name: r.get(0)?,
        version: r.get(1)?,
        kind: r.get(2)?,
        value: r.get(3)?,
        description: r.get(4)?,
        allowed_pattern: r.get(5)?,
        tier: r.get(6)?,
        data_type: r.get(7)?,
        modified_ms: r.get(8)?,
        modified_user: r.get(9)?,
    })
}

pub fn current(conn: &Connection, name: &str) -> Result<Option<Version>, SsmError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM versions WHERE name = ?1 ORDER BY version DESC LIMIT 1"
            ),
            [name],
            row,
        )
        .optional()?)
}

pub fn at_version(
    conn: &Connection,
    name: &str,
    version: i64,
) -> Result<Option<Version>, SsmError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM versions WHERE name = ?1 AND version = ?2"),
            params![name, version],
            row,
        )
        .optional()?)
}

pub fn history(conn: &Connection, name: &str) -> Result<Vec<Version>, SsmError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM versions WHERE name = ?1 ORDER BY version"
    ))?;
    let rows = stmt.query_map([name], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The current version of every parameter, by name.
pub fn all_current(conn: &Connection) -> Result<Vec<Version>, SsmError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM versions v WHERE version = (SELECT MAX(version) FROM versions WHERE name = v.name) ORDER BY name"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Add a version, dropping the oldest beyond [`MAX_VERSIONS`].
pub fn insert(conn: &Connection, v: &Version) -> Result<(), SsmError> {
    conn.execute(
        &format!(
            "INSERT INTO versions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            v.name,
            v.version,
            v.kind,
            v.value,
            v.description,
            v.allowed_pattern,
            v.tier,
            v.data_type,
            v.modified_ms,
            v.modified_user
        ],
    )?;
    conn.execute(
        "DELETE FROM versions WHERE name = ?1 AND version <= ?2",
        params![v.name, v.version - MAX_VERSIONS],
    )?;
    Ok(())
}

/// Delete every version; false when there was none.
pub fn delete(conn: &Connection, name: &str) -> Result<bool, SsmError> {
    Ok(conn.execute("DELETE FROM versions WHERE name = ?1", [name])? > 0)
}
