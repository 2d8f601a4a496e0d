//! Object operations: PutObject, GetObject and HeadObject (ranges,
//! preconditions, `response-*` overrides), DeleteObject, DeleteObjects and
//! CopyObject.
//!
//! Every write follows the same order: the blob is complete and in place,
//! then one transaction writes the row (and drops the row it replaces),
//! then the replaced blobs are unlinked and the event is sent. A reader
//! therefore never sees a row whose bytes are missing.

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
};
use axum::http::{Response, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::blobs::{Framing, Staged, hex};
use super::conditions::{self, Verdict};
use super::error::S3Error;
use super::range::{self, RangeAnswer};
use super::store::{self, NewObject, ObjectRow};
use super::wire::{self, iso_time, percent_decode, xml_ok};
use super::xml::{self, Xml};
use super::{Call, CreatedBy, EventKind, MAX_OBJECT, READ, RemovedBy, S3, authorize};
use crate::buckets::Versioning;

/// Longest key S3 takes, in UTF-8 bytes.
const MAX_KEY_BYTES: usize = 1024;

/// S3's content type for an object stored without one.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub(super) fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong);
    }
    Ok(())
}

impl Call {
    /// How the body is framed, and how many object bytes it must carry.
    pub(super) fn framing(&self) -> (Framing, Option<u64>) {
        let chunked = self
            .header("content-encoding")
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "aws-chunked"))
            || self
                .header("x-amz-content-sha256")
                .is_some_and(|v| v.starts_with("STREAMING-"));
        let length = |name: &str| self.header(name).and_then(|v| v.trim().parse::<u64>().ok());
        if chunked {
            (Framing::AwsChunked, length("x-amz-decoded-content-length"))
        } else {
            (Framing::Plain, length("content-length"))
        }
    }

    /// Stream the body into a blob and check `Content-MD5` if given.
    pub(super) async fn receive(&mut self, s3: &S3) -> Result<Staged, S3Error> {
        let expected_md5 = match self.header("content-md5") {
            Some(text) => Some(
                B64.decode(text.trim())
                    .ok()
                    .filter(|d| d.len() == 16)
                    .ok_or(S3Error::InvalidDigest)?,
            ),
            None => None,
        };
        let (framing, expected) = self.framing();
        if expected.is_some_and(|n| n > MAX_OBJECT) {
            return Err(S3Error::EntityTooLarge);
        }
        let body = self.take_body().unwrap_or_default();
        let staged = s3
            .blobs
            .receive(body, framing, expected, MAX_OBJECT)
            .await?;
        if let Some(md5) = expected_md5
            && md5 != staged.md5
        {
            s3.blobs.remove(vec![staged.id]).await;
            return Err(S3Error::BadDigest);
        }
        Ok(staged)
    }
}

impl S3 {
    pub(super) async fn put_object(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        check_key(&key)?;
        // Refuse before reading gigabytes into a bucket that is not there.
        {
            let bucket = bucket.clone();
            self.db
                .run(move |conn, _| store::bucket(conn, &bucket))
                .await?;
        }
        let staged = call.receive(self).await?;
        let object = NewObject {
            blob: Some(staged.id.clone()),
            size: staged.size,
            etag: format!("\"{}\"", hex(&staged.md5)),
            headers: wire::stored_headers(&call.headers),
        };
        let row = self
            .commit_object(&bucket, &key, object, EventKind::Created(CreatedBy::Put))
            .await?;
        let mut response =
            wire::response(StatusCode::OK, &call.request_id).header(ETAG, row.etag.as_str());
        if row.version_id != "null" {
            response = response.header("x-amz-version-id", row.version_id.as_str());
        }
        Ok(response.body(Body::empty()).unwrap_or_default())
    }

    /// Write a row for a staged blob, unlink what it replaced, send the
    /// event. The blob is removed again if the row cannot be written.
    pub(super) async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        object: NewObject,
        kind: EventKind,
    ) -> Result<ObjectRow, S3Error> {
        let blob = object.blob.clone();
        let result = {
            let (bucket, key) = (bucket.to_owned(), key.to_owned());
            self.db
                .run(move |conn, _| {
                    let tx = conn.transaction().map_err(|_| S3Error::Internal)?;
                    let info = store::bucket(&tx, &bucket)?;
                    let written = store::put(&tx, &bucket, &key, &object)?;
                    tx.commit().map_err(|_| S3Error::Internal)?;
                    Ok::<_, S3Error>((written, info.versioning))
                })
                .await
        };
        match result {
            Ok(((row, freed), versioning)) => {
                self.blobs.remove(freed).await;
                self.emit(bucket, &row, kind, versioning != Versioning::Unset);
                Ok(row)
            }
            Err(error) => {
                self.blobs.remove(blob.into_iter().collect()).await;
                Err(error)
            }
        }
    }

    /// The row a GetObject, HeadObject or copy source names: a version, or
    /// the current object (404 with `x-amz-delete-marker` if that is a
    /// delete marker).
    pub(super) async fn find(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectRow, S3Error> {
        let (bucket, key_owned, version) = (
            bucket.to_owned(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        let found = self
            .db
            .run(move |conn, _| {
                store::bucket(conn, &bucket)?;
                match &version {
                    Some(v) => store::version(conn, &bucket, &key_owned, v),
                    None => store::latest(conn, &bucket, &key_owned),
                }
            })
            .await?;
        match (found, version_id) {
            (Some(row), Some(_)) if row.delete_marker => Err(S3Error::MethodNotAllowed),
            (Some(row), None) if row.delete_marker => Err(S3Error::NoSuchKey {
                key: key.to_owned(),
                delete_marker: true,
            }),
            (Some(row), _) => Ok(row),
            (None, Some(_)) => Err(S3Error::NoSuchVersion {
                key: key.to_owned(),
            }),
            (None, None) => Err(S3Error::NoSuchKey {
                key: key.to_owned(),
                delete_marker: false,
            }),
        }
    }

    pub(super) async fn get_object(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?;
        let key = call.key()?;
        let row = self.find(bucket, key, call.query.get("versionId")).await?;
        match conditions::evaluate(&call.headers, &row.etag, row.modified_ms.div_euclid(1000)) {
            Verdict::Proceed => {}
            Verdict::NotModified => return Err(S3Error::NotModified { etag: row.etag }),
            Verdict::PreconditionFailed => return Err(S3Error::PreconditionFailed),
        }
        let head = call.method == axum::http::Method::HEAD;
        let (status, start, len) = match range::resolve(call.header("range"), row.size) {
            RangeAnswer::Whole => (StatusCode::OK, 0, row.size),
            RangeAnswer::Part { start, end } => {
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeAnswer::Unsatisfiable => return Err(S3Error::InvalidRange { size: row.size }),
        };
        let mut response = wire::response(status, &call.request_id)
            .header(ETAG, row.etag.as_str())
            .header(LAST_MODIFIED, wire::http_date(row.modified_ms))
            .header(ACCEPT_RANGES, "bytes")
            .header(CONTENT_LENGTH, len);
        if status == StatusCode::PARTIAL_CONTENT {
            response = response.header(
                CONTENT_RANGE,
                format!("bytes {start}-{}/{}", start + len - 1, row.size),
            );
        }
        if row.version_id != "null" {
            response = response.header("x-amz-version-id", row.version_id.as_str());
        }
        if !row.headers.iter().any(|(n, _)| n == "content-type") {
            response = response.header(CONTENT_TYPE, DEFAULT_CONTENT_TYPE);
        }
        for (name, value) in &row.headers {
            let overridden = call.query.get(&format!("response-{name}"));
            response = response.header(name.as_str(), overridden.unwrap_or(value));
        }
        for name in wire::CONTENT_HEADERS {
            if !row.headers.iter().any(|(n, _)| n == name)
                && let Some(value) = call.query.get(&format!("response-{name}"))
            {
                response = response.header(name, value);
            }
        }
        let body = match (&row.blob, head || len == 0) {
            (Some(blob), false) => self.blobs.read(blob, start, len).await?,
            _ => Body::empty(),
        };
        response.body(body).map_err(|_| S3Error::Internal)
    }

    pub(super) async fn delete_object(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        let version = call.query.get("versionId").map(str::to_owned);
        let deleted = self.delete_one(&bucket, &key, version.as_deref()).await?;
        let mut response = wire::response(StatusCode::NO_CONTENT, &call.request_id);
        if let Some(v) = deleted.version_id.as_deref().filter(|v| *v != "null") {
            response = response.header("x-amz-version-id", v);
        }
        if deleted.delete_marker {
            response = response.header("x-amz-delete-marker", "true");
        }
        Ok(response.body(Body::empty()).unwrap_or_default())
    }

    async fn delete_one(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<store::Deleted, S3Error> {
        let (b, k, v) = (
            bucket.to_owned(),
            key.to_owned(),
            version.map(str::to_owned),
        );
        let (deleted, versioning) = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction().map_err(|_| S3Error::Internal)?;
                let info = store::bucket(&tx, &b)?;
                let deleted = store::delete(&tx, &b, &k, v.as_deref())?;
                tx.commit().map_err(|_| S3Error::Internal)?;
                Ok::<_, S3Error>((deleted, info.versioning))
            })
            .await?;
        self.blobs.remove(deleted.freed.clone()).await;
        if let Some(row) = &deleted.row {
            let kind = if deleted.marker_created {
                RemovedBy::DeleteMarkerCreated
            } else {
                RemovedBy::Delete
            };
            self.emit(
                bucket,
                row,
                EventKind::Removed(kind),
                versioning != Versioning::Unset,
            );
        }
        Ok(deleted)
    }

    pub(super) async fn delete_objects(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let body = call.small_body().await?;
        let request = xml::parse_delete(&body)?;
        let mut xml = Xml::new();
        xml.root("DeleteResult");
        for entry in &request.objects {
            let outcome = match check_key(&entry.key) {
                Ok(()) => {
                    self.delete_one(&bucket, &entry.key, entry.version_id.as_deref())
                        .await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(deleted) => {
                    if request.quiet {
                        continue;
                    }
                    xml.open("Deleted");
                    xml.leaf("Key", &entry.key);
                    if let Some(v) = &entry.version_id {
                        xml.leaf("VersionId", v);
                    }
                    if deleted.delete_marker {
                        xml.leaf("DeleteMarker", "true");
                        if let Some(v) = &deleted.version_id {
                            xml.leaf("DeleteMarkerVersionId", v);
                        }
                    }
                    xml.close("Deleted");
                }
                // A missing bucket fails the whole request, as on S3.
                Err(error @ S3Error::NoSuchBucket { .. }) => return Err(error),
                Err(error) => {
                    xml.open("Error");
                    xml.leaf("Key", &entry.key);
                    if let Some(v) = &entry.version_id {
                        xml.leaf("VersionId", v);
                    }
                    xml.leaf("Code", error.code());
                    xml.leaf("Message", &error.to_string());
                    xml.close("Error");
                }
            }
        }
        xml.close("DeleteResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn copy_object(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        check_key(&key)?;
        let source = call.header("x-amz-copy-source").unwrap_or_default();
        let (src_bucket, src_key, src_version) = parse_copy_source(source)?;
        authorize(
            &call.principal,
            "GetObject",
            Some(&src_bucket),
            Some(&src_key),
            READ,
        )?;
        let row = self
            .find(&src_bucket, &src_key, src_version.as_deref())
            .await?;
        let copy_conditions = copy_source_conditions(&call.headers);
        match conditions::evaluate(
            &copy_conditions,
            &row.etag,
            row.modified_ms.div_euclid(1000),
        ) {
            Verdict::Proceed => {}
            Verdict::NotModified | Verdict::PreconditionFailed => {
                return Err(S3Error::PreconditionFailed);
            }
        }
        let replace = match call.header("x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => {
                return Err(S3Error::InvalidArgument {
                    message: "Unknown metadata directive.".to_owned(),
                });
            }
        };
        if !replace && src_bucket == bucket && src_key == key && src_version.is_none() {
            return Err(S3Error::InvalidRequest {
                message: "This copy request is illegal because it is trying to copy an object \
                          to itself without changing the object's metadata, storage class, \
                          website redirect location or encryption attributes."
                    .to_owned(),
            });
        }
        // Check the target bucket before linking anything.
        {
            let bucket = bucket.clone();
            self.db
                .run(move |conn, _| store::bucket(conn, &bucket))
                .await?;
        }
        let blob = match &row.blob {
            Some(blob) => Some(self.blobs.duplicate(blob).await?),
            None => None,
        };
        let object = NewObject {
            blob,
            size: row.size,
            etag: row.etag.clone(),
            headers: if replace {
                wire::stored_headers(&call.headers)
            } else {
                row.headers.clone()
            },
        };
        let written = self
            .commit_object(&bucket, &key, object, EventKind::Created(CreatedBy::Copy))
            .await?;
        let mut xml = Xml::new();
        xml.root("CopyObjectResult");
        xml.leaf("LastModified", &iso_time(written.modified_ms));
        xml.leaf("ETag", &written.etag);
        xml.close("CopyObjectResult");
        let mut response = wire::response(StatusCode::OK, &call.request_id)
            .header(CONTENT_TYPE, "application/xml");
        if written.version_id != "null" {
            response = response.header("x-amz-version-id", written.version_id.as_str());
        }
        if row.version_id != "null" {
            response = response.header("x-amz-copy-source-version-id", row.version_id.as_str());
        }
        response
            .body(Body::from(xml.finish()))
            .map_err(|_| S3Error::Internal)
    }
}

/// `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, with an
/// optional `?versionId=`.
fn parse_copy_source(text: &str) -> Result<(String, String, Option<String>), S3Error> {
    let invalid = || S3Error::InvalidArgument {
        message: "Invalid copy source object key".to_owned(),
    };
    let (path, version) = match text.split_once("?versionId=") {
        Some((path, version)) => (path, Some(version.to_owned())),
        None => (text, None),
    };
    let path = percent_decode(path, false).ok_or_else(invalid)?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_owned(), key.to_owned(), version))
}

/// The `x-amz-copy-source-if-*` headers renamed to the plain conditionals,
/// so one evaluator serves both (for a copy, every failure is a 412).
fn copy_source_conditions(headers: &axum::http::HeaderMap) -> axum::http::HeaderMap {
    let mut out = axum::http::HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
    ] {
        if let Some(value) = headers.get(from) {
            out.insert(to, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_decode_with_and_without_versions() {
        assert_eq!(
            parse_copy_source("/b/a%20b/%E2%9C%93").expect("valid"),
            ("b".to_owned(), "a b/✓".to_owned(), None)
        );
        assert_eq!(
            parse_copy_source("b/k?versionId=v1").expect("valid"),
            ("b".to_owned(), "k".to_owned(), Some("v1".to_owned()))
        );
        assert!(parse_copy_source("nokey").is_err());
        assert!(parse_copy_source("/b/").is_err());
    }
}
