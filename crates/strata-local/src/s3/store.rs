//! The S3 metadata in SQL: buckets (the registry's table of `buckets.rs`,
//! same file `s3.sqlite`), object versions, multipart uploads and parts.
//!
//! One row per object version. `id` is the order of writes: the newest
//! version of a key is its highest id, which also leads the `sequencer` of
//! its events. A bucket that never had versioning keeps one row per key with
//! version id `null`, replaced by each put, as S3's "null version" is; a
//! suspended bucket writes `null` versions beside the older real ones. A
//! delete marker is a row with `delete_marker = 1` and no blob.
//!
//! Every function here runs inside the caller's transaction and returns the
//! blob ids it made unreferenced; the caller unlinks them only after the
//! commit, so a crash never leaves a row pointing at a missing file.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::blobs::{hex, random_hex};
use super::error::S3Error;
use super::listing::{Lister, Step};
use crate::buckets::{self, BucketInfo, Versioning};
use crate::sqlite::now_ms;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    blob TEXT,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    headers TEXT NOT NULL,
    UNIQUE (bucket, key, version_id)
);
CREATE INDEX IF NOT EXISTS objects_by_key ON objects (bucket, key, id);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    headers TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, created_ms);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
";

/// Stored headers of an object: content headers and `x-amz-meta-*`, as
/// (lower-case name, value) pairs.
pub type Headers = Vec<(String, String)>;

/// One object version.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub id: i64,
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub blob: Option<String>,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
    pub headers: Headers,
}

/// What a put writes.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub blob: Option<String>,
    pub size: u64,
    pub etag: String,
    pub headers: Headers,
}

const COLUMNS: &str = "id, key, version_id, delete_marker, blob, size, etag, modified_ms, headers";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    let headers: String = r.get(8)?;
    Ok(ObjectRow {
        id: r.get(0)?,
        key: r.get(1)?,
        version_id: r.get(2)?,
        delete_marker: r.get::<_, i64>(3)? != 0,
        blob: r.get(4)?,
        size: r.get::<_, i64>(5)?.try_into().unwrap_or(0),
        etag: r.get(6)?,
        modified_ms: r.get(7)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
    })
}

fn sql(_: rusqlite::Error) -> S3Error {
    S3Error::Internal
}

/// The bucket, or NoSuchBucket.
pub fn bucket(conn: &Connection, name: &str) -> Result<BucketInfo, S3Error> {
    buckets::get(conn, name)
        .map_err(sql)?
        .ok_or_else(|| S3Error::NoSuchBucket {
            bucket: name.to_owned(),
        })
}

pub fn create_bucket(conn: &mut Connection, name: &str) -> Result<(), S3Error> {
    let tx = conn.transaction().map_err(sql)?;
    if buckets::get(&tx, name).map_err(sql)?.is_some() {
        return Err(S3Error::BucketAlreadyOwnedByYou {
            bucket: name.to_owned(),
        });
    }
    tx.execute(
        "INSERT INTO buckets (name, versioning, created_ms) VALUES (?1, '', ?2)",
        params![name, now_ms()],
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

/// Delete an empty bucket (versions and delete markers count as content,
/// as on S3); its unfinished uploads go with it.
pub fn delete_bucket(conn: &mut Connection, name: &str) -> Result<Vec<String>, S3Error> {
    let tx = conn.transaction().map_err(sql)?;
    bucket(&tx, name)?;
    let any: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    if any.is_some() {
        return Err(S3Error::BucketNotEmpty {
            bucket: name.to_owned(),
        });
    }
    let freed = drop_uploads(&tx, name)?;
    tx.execute("DELETE FROM buckets WHERE name = ?1", [name])
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(freed)
}

/// Remove a bucket with everything in it (the provider's delete on an
/// allowed destroy). Gone already is fine.
pub fn purge_bucket(conn: &mut Connection, name: &str) -> Result<Vec<String>, S3Error> {
    let tx = conn.transaction().map_err(sql)?;
    let mut freed = drop_uploads(&tx, name)?;
    {
        let mut stmt = tx
            .prepare("SELECT blob FROM objects WHERE bucket = ?1 AND blob IS NOT NULL")
            .map_err(sql)?;
        let blobs = stmt
            .query_map([name], |r| r.get::<_, String>(0))
            .map_err(sql)?;
        for blob in blobs {
            freed.push(blob.map_err(sql)?);
        }
    }
    tx.execute("DELETE FROM objects WHERE bucket = ?1", [name])
        .map_err(sql)?;
    tx.execute("DELETE FROM buckets WHERE name = ?1", [name])
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(freed)
}

fn drop_uploads(tx: &Transaction<'_>, bucket: &str) -> Result<Vec<String>, S3Error> {
    let mut freed = Vec::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT p.blob FROM parts p JOIN uploads u ON u.upload_id = p.upload_id \
                 WHERE u.bucket = ?1",
            )
            .map_err(sql)?;
        let blobs = stmt
            .query_map([bucket], |r| r.get::<_, String>(0))
            .map_err(sql)?;
        for blob in blobs {
            freed.push(blob.map_err(sql)?);
        }
    }
    tx.execute("DELETE FROM uploads WHERE bucket = ?1", [bucket])
        .map_err(sql)?;
    Ok(freed)
}

pub fn list_buckets(conn: &Connection) -> Result<Vec<BucketInfo>, S3Error> {
    let mut stmt = conn
        .prepare("SELECT name, versioning, created_ms FROM buckets ORDER BY name")
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(BucketInfo {
                name: r.get(0)?,
                versioning: Versioning::parse(&r.get::<_, String>(1)?),
                created_ms: r.get(2)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}

pub fn set_versioning(conn: &Connection, name: &str, status: Versioning) -> Result<(), S3Error> {
    bucket(conn, name)?;
    conn.execute(
        "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
        params![name, status.as_str()],
    )
    .map_err(sql)?;
    Ok(())
}

/// Every blob a row refers to, for the sweep on start.
pub fn referenced_blobs(conn: &Connection) -> Result<HashSet<String>, S3Error> {
    let mut out = HashSet::new();
    for query in [
        "SELECT blob FROM objects WHERE blob IS NOT NULL",
        "SELECT blob FROM parts",
    ] {
        let mut stmt = conn.prepare(query).map_err(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(sql)?;
        for blob in rows {
            out.insert(blob.map_err(sql)?);
        }
    }
    Ok(out)
}

/// Write a new version of `key` (an object, or a delete marker when
/// `object.blob` is `None`). On a bucket without versioning enabled the
/// version is `null` and replaces the key's previous `null` version.
pub fn put(
    tx: &Transaction<'_>,
    bucket_name: &str,
    key: &str,
    object: &NewObject,
) -> Result<(ObjectRow, Vec<String>), S3Error> {
    let info = bucket(tx, bucket_name)?;
    let version_id = if info.versioning.is_enabled() {
        random_hex(16)
    } else {
        "null".to_owned()
    };
    let mut freed = Vec::new();
    if version_id == "null" {
        let old: Option<Option<String>> = tx
            .query_row(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = 'null' \
                 RETURNING blob",
                params![bucket_name, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        freed.extend(old.flatten());
    }
    let headers = serde_json::to_string(&object.headers).map_err(|_| S3Error::Internal)?;
    let now = now_ms();
    tx.execute(
        "INSERT INTO objects (bucket, key, version_id, delete_marker, blob, size, etag, \
         modified_ms, headers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            bucket_name,
            key,
            version_id,
            object.blob.is_none(),
            object.blob,
            i64::try_from(object.size).unwrap_or(i64::MAX),
            object.etag,
            now,
            headers
        ],
    )
    .map_err(sql)?;
    let row = ObjectRow {
        id: tx.last_insert_rowid(),
        key: key.to_owned(),
        version_id,
        delete_marker: object.blob.is_none(),
        blob: object.blob.clone(),
        size: object.size,
        etag: object.etag.clone(),
        modified_ms: now,
        headers: object.headers.clone(),
    };
    Ok((row, freed))
}

/// The newest version of `key`, delete marker included.
pub fn latest(conn: &Connection, bucket: &str, key: &str) -> Result<Option<ObjectRow>, S3Error> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2 ORDER BY id DESC LIMIT 1"
        ),
        params![bucket, key],
        row,
    )
    .optional()
    .map_err(sql)
}

pub fn version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ObjectRow>, S3Error> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3"
        ),
        params![bucket, key, version_id],
        row,
    )
    .optional()
    .map_err(sql)
}

/// What a DeleteObject did.
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    /// The version removed, or the delete marker's version when one was made.
    pub version_id: Option<String>,
    /// A delete marker was made, or the version removed was one.
    pub delete_marker: bool,
    /// The row written (a new delete marker) or removed, for the event.
    pub row: Option<ObjectRow>,
    pub marker_created: bool,
    pub freed: Vec<String>,
}

/// Delete `key` (no version: the current object, which on a versioned
/// bucket means a new delete marker) or one version of it for good.
pub fn delete(
    tx: &Transaction<'_>,
    bucket_name: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Deleted, S3Error> {
    let info = bucket(tx, bucket_name)?;
    if let Some(version_id) = version_id {
        let removed: Option<ObjectRow> = tx
            .query_row(
                &format!(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 \
                     RETURNING {COLUMNS}"
                ),
                params![bucket_name, key, version_id],
                row,
            )
            .optional()
            .map_err(sql)?;
        return Ok(match removed {
            Some(removed) => Deleted {
                version_id: Some(removed.version_id.clone()),
                delete_marker: removed.delete_marker,
                freed: removed.blob.clone().into_iter().collect(),
                row: Some(removed),
                marker_created: false,
            },
            // Deleting a version that does not exist succeeds, as on S3.
            None => Deleted {
                version_id: Some(version_id.to_owned()),
                ..Deleted::default()
            },
        });
    }
    if info.versioning == Versioning::Unset {
        let removed: Option<ObjectRow> = tx
            .query_row(
                &format!(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 AND version_id = 'null' \
                     RETURNING {COLUMNS}"
                ),
                params![bucket_name, key],
                row,
            )
            .optional()
            .map_err(sql)?;
        return Ok(Deleted {
            freed: removed
                .as_ref()
                .and_then(|r| r.blob.clone())
                .into_iter()
                .collect(),
            row: removed,
            ..Deleted::default()
        });
    }
    let marker = NewObject {
        blob: None,
        size: 0,
        etag: String::new(),
        headers: Vec::new(),
    };
    let (row, freed) = put(tx, bucket_name, key, &marker)?;
    Ok(Deleted {
        version_id: Some(row.version_id.clone()),
        delete_marker: true,
        row: Some(row),
        marker_created: true,
        freed,
    })
}

/// Fill `lister` with the current objects of `bucket` (newest version of
/// each key, unless that is a delete marker), scanning in pages of rows.
pub fn list_current(
    conn: &Connection,
    bucket_name: &str,
    lister: &mut Lister<ObjectRow>,
) -> Result<(), S3Error> {
    bucket(conn, bucket_name)?;
    const PAGE: i64 = 1000;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM objects o WHERE o.bucket = ?1 AND o.key >= ?2 \
             AND o.id = (SELECT MAX(i.id) FROM objects i WHERE i.bucket = o.bucket AND i.key = o.key) \
             ORDER BY o.key LIMIT ?3"
        ))
        .map_err(sql)?;
    let mut from = lister.start().to_owned();
    let mut skip_equal: Option<String> = None;
    loop {
        let rows: Vec<ObjectRow> = stmt
            .query_map(params![bucket_name, from, PAGE], row)
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        let fetched = rows.len();
        let mut next: Option<String> = None;
        for object in rows {
            if skip_equal.as_deref() == Some(object.key.as_str()) {
                continue;
            }
            let key = object.key.clone();
            if object.delete_marker {
                next = Some(key);
                continue;
            }
            match lister.offer(&key, object) {
                Step::Next => next = Some(key),
                Step::SkipTo(to) => {
                    next = None;
                    from = to;
                    skip_equal = None;
                    break;
                }
                Step::Done => return Ok(()),
            }
        }
        match next {
            // A full page read to its end: continue after its last key.
            Some(last) if fetched as i64 == PAGE => {
                from.clone_from(&last);
                skip_equal = Some(last);
            }
            Some(_) => return Ok(()),
            // A jump: query again from the jump target.
            None if fetched > 0 => {}
            None => return Ok(()),
        }
    }
}

/// One page of ListObjectVersions: rows in key order, newest version first.
#[derive(Debug, Default)]
pub struct VersionPage {
    pub versions: Vec<(ObjectRow, bool)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_version_marker: Option<String>,
}

pub fn list_versions(
    conn: &Connection,
    bucket_name: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    version_marker: Option<&str>,
    max: usize,
) -> Result<VersionPage, S3Error> {
    bucket(conn, bucket_name)?;
    let start = match key_marker {
        Some(marker) if marker > prefix => marker,
        _ => prefix,
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM objects WHERE bucket = ?1 AND key >= ?2 ORDER BY key, id DESC"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![bucket_name, start], row)
        .map_err(sql)?;
    let mut lister: Lister<(ObjectRow, bool)> = Lister::new(prefix, delimiter, max, None);
    let mut page = VersionPage::default();
    let mut previous_key: Option<String> = None;
    // With a version marker, versions of the marker key up to and including
    // it were on an earlier page.
    let mut skipping_marker_key = version_marker.is_some();
    for object in rows {
        let object = object.map_err(sql)?;
        let is_latest = previous_key.as_deref() != Some(object.key.as_str());
        previous_key = Some(object.key.clone());
        if let Some(marker) = key_marker {
            if object.key.as_str() < marker || (object.key == marker && version_marker.is_none()) {
                continue;
            }
            if object.key == marker && skipping_marker_key {
                if Some(object.version_id.as_str()) == version_marker {
                    skipping_marker_key = false;
                }
                continue;
            }
        }
        let key = object.key.clone();
        let version = object.version_id.clone();
        let before = lister.contents.len();
        let grouped = lister.group_of(&key).is_some();
        match lister.offer(&key, (object, is_latest)) {
            Step::Done => break,
            Step::Next | Step::SkipTo(_) => {}
        }
        if !grouped && lister.contents.len() > before {
            page.next_key_marker = Some(key);
            page.next_version_marker = Some(version);
        } else if grouped {
            page.next_key_marker = lister.last.clone();
            page.next_version_marker = None;
        }
    }
    page.truncated = lister.truncated;
    page.versions = lister.contents;
    page.common_prefixes = lister.common_prefixes;
    if !page.truncated {
        page.next_key_marker = None;
        page.next_version_marker = None;
    }
    Ok(page)
}

// ---- multipart uploads ------------------------------------------------------

/// An unfinished multipart upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub created_ms: i64,
    pub headers: Headers,
}

/// One uploaded part.
#[derive(Debug, Clone)]
pub struct Part {
    pub number: u32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
}

pub fn create_upload(
    conn: &Connection,
    bucket_name: &str,
    key: &str,
    headers: &Headers,
) -> Result<String, S3Error> {
    bucket(conn, bucket_name)?;
    let upload_id = random_hex(24);
    let headers = serde_json::to_string(headers).map_err(|_| S3Error::Internal)?;
    conn.execute(
        "INSERT INTO uploads (upload_id, bucket, key, created_ms, headers) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![upload_id, bucket_name, key, now_ms(), headers],
    )
    .map_err(sql)?;
    Ok(upload_id)
}

/// The upload, checked against the bucket and key it was made for.
pub fn upload(
    conn: &Connection,
    bucket_name: &str,
    key: &str,
    upload_id: &str,
) -> Result<Upload, S3Error> {
    bucket(conn, bucket_name)?;
    let found = conn
        .query_row(
            "SELECT bucket, key, created_ms, headers FROM uploads WHERE upload_id = ?1",
            [upload_id],
            |r| {
                Ok(Upload {
                    upload_id: upload_id.to_owned(),
                    bucket: r.get(0)?,
                    key: r.get(1)?,
                    created_ms: r.get(2)?,
                    headers: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                })
            },
        )
        .optional()
        .map_err(sql)?;
    match found {
        Some(upload) if upload.bucket == bucket_name && upload.key == key => Ok(upload),
        _ => Err(S3Error::NoSuchUpload {
            upload_id: upload_id.to_owned(),
        }),
    }
}

/// Record part `number`, replacing an earlier upload of the same number.
pub fn put_part(
    tx: &Transaction<'_>,
    bucket_name: &str,
    key: &str,
    upload_id: &str,
    part: &Part,
) -> Result<Vec<String>, S3Error> {
    upload(tx, bucket_name, key, upload_id)?;
    let old: Option<String> = tx
        .query_row(
            "DELETE FROM parts WHERE upload_id = ?1 AND part_number = ?2 RETURNING blob",
            params![upload_id, part.number],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    tx.execute(
        "INSERT INTO parts (upload_id, part_number, blob, size, etag, modified_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            upload_id,
            part.number,
            part.blob,
            i64::try_from(part.size).unwrap_or(i64::MAX),
            part.etag,
            part.modified_ms
        ],
    )
    .map_err(sql)?;
    Ok(old.into_iter().collect())
}

pub fn parts(conn: &Connection, upload_id: &str) -> Result<Vec<Part>, S3Error> {
    let mut stmt = conn
        .prepare(
            "SELECT part_number, blob, size, etag, modified_ms FROM parts \
             WHERE upload_id = ?1 ORDER BY part_number",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([upload_id], |r| {
            Ok(Part {
                number: r.get(0)?,
                blob: r.get(1)?,
                size: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                etag: r.get(3)?,
                modified_ms: r.get(4)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}

/// S3's smallest part, except the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Check a CompleteMultipartUpload list against the uploaded parts and
/// give the parts to join, in order, and the object's ETag
/// (`"<md5 of the parts' binary md5s>-<count>"`).
pub fn plan_completion(
    uploaded: &[Part],
    requested: &[(u32, String)],
) -> Result<(Vec<Part>, String), S3Error> {
    let mut chosen = Vec::with_capacity(requested.len());
    let mut last_number = 0;
    for (i, (number, etag)) in requested.iter().enumerate() {
        if i > 0 && *number <= last_number {
            return Err(S3Error::InvalidPartOrder);
        }
        last_number = *number;
        let part = uploaded
            .iter()
            .find(|p| p.number == *number)
            .filter(|p| p.etag.trim_matches('"') == etag.trim_matches('"'))
            .ok_or(S3Error::InvalidPart)?;
        chosen.push(part.clone());
    }
    let count = chosen.len();
    if chosen
        .iter()
        .take(count.saturating_sub(1))
        .any(|p| p.size < MIN_PART_SIZE)
    {
        return Err(S3Error::EntityTooSmall);
    }
    let mut digests = Vec::with_capacity(count * 16);
    for part in &chosen {
        digests.extend(unhex(part.etag.trim_matches('"')).ok_or(S3Error::Internal)?);
    }
    use md5::{Digest as _, Md5};
    let etag = format!("\"{}-{count}\"", hex(&Md5::digest(&digests)));
    Ok((chosen, etag))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Drop an upload and its parts; the part blobs to unlink.
pub fn drop_upload(tx: &Transaction<'_>, upload_id: &str) -> Result<Vec<String>, S3Error> {
    let blobs = parts(tx, upload_id)?.into_iter().map(|p| p.blob).collect();
    tx.execute("DELETE FROM uploads WHERE upload_id = ?1", [upload_id])
        .map_err(sql)?;
    Ok(blobs)
}

pub fn list_uploads(
    conn: &Connection,
    bucket_name: &str,
    prefix: &str,
) -> Result<Vec<Upload>, S3Error> {
    bucket(conn, bucket_name)?;
    let mut stmt = conn
        .prepare(
            "SELECT upload_id, key, created_ms, headers FROM uploads WHERE bucket = ?1 \
             AND key >= ?2 ORDER BY key, created_ms LIMIT 1000",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![bucket_name, prefix], |r| {
            Ok(Upload {
                upload_id: r.get(0)?,
                bucket: bucket_name.to_owned(),
                key: r.get(1)?,
                created_ms: r.get(2)?,
                headers: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
            })
        })
        .map_err(sql)?;
    let mut out = Vec::new();
    for upload in rows {
        let upload = upload.map_err(sql)?;
        if !upload.key.starts_with(prefix) {
            break;
        }
        out.push(upload);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u32, size: u64, etag: &str) -> Part {
        Part {
            number,
            blob: format!("b{number}"),
            size,
            etag: etag.to_owned(),
            modified_ms: 0,
        }
    }

    const A: &str = "\"0cc175b9c0f1b6a831c399e269772661\"";
    const B: &str = "\"92eb5ffee6ae2fec3ad71c777531578f\"";

    #[test]
    fn completion_checks_order_etags_and_sizes() {
        let uploaded = [part(1, MIN_PART_SIZE, A), part(2, 1, B)];
        let (chosen, etag) =
            plan_completion(&uploaded, &[(1, A.to_owned()), (2, B.to_owned())]).expect("valid");
        assert_eq!(chosen.len(), 2);
        assert!(etag.ends_with("-2\""), "{etag}");
        assert!(matches!(
            plan_completion(&uploaded, &[(2, B.to_owned()), (1, A.to_owned())]),
            Err(S3Error::InvalidPartOrder)
        ));
        assert!(matches!(
            plan_completion(&uploaded, &[(1, B.to_owned())]),
            Err(S3Error::InvalidPart)
        ));
        assert!(matches!(
            plan_completion(&uploaded, &[(3, A.to_owned())]),
            Err(S3Error::InvalidPart)
        ));
        let small = [part(1, 1, A), part(2, 1, B)];
        assert!(matches!(
            plan_completion(&small, &[(1, A.to_owned()), (2, B.to_owned())]),
            Err(S3Error::EntityTooSmall)
        ));
        // A single small part is fine: it is the last.
        let (_, one) = plan_completion(&small, &[(1, A.to_owned())]).expect("one part");
        // md5 of md5("a") bytes, as S3 computes a one-part upload's ETag.
        assert_eq!(
            one,
            "\"e8d8d8d9b1e4bb0c5c42b3a5f4b05e2c-1\"".replace(
                "e8d8d8d9b1e4bb0c5c42b3a5f4b05e2c",
                &hex(&<md5::Md5 as md5::Digest>::digest(
                    unhex(&A[1..33]).expect("hex")
                ))
            )
        );
    }
}
