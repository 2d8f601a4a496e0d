//! S3 (REST/XML, signing name `s3`) on the stage's data directory: metadata
//! in `<data>/s3.sqlite` (the bucket registry of `buckets.rs` plus object,
//! upload and part tables, [`store`]), bytes in `<data>/s3/blobs/`
//! ([`blobs`]).
//!
//! This file is the operation table: it finds the bucket and key a request
//! names ([`wire::target`]: path-style or `bucket.localhost` virtual host),
//! picks the operation from the method and query, checks the caller's
//! access, and runs it. Object bodies stream: the endpoint hands S3 the
//! unread request body ([`AwsService::streams_body`]) and responses are read
//! from files a buffer at a time, so no object is ever held in memory.
//!
//! Writes that clients see as done have committed their row after their
//! blob was in place; only then is an [`ObjectEvent`] sent to subscribers
//! ([`S3::subscribe`]), the feed bucket triggers are built on.

mod blobs;
mod bucket_ops;
mod chunked;
mod conditions;
mod error;
mod listing;
mod multipart;
mod objects;
mod range;
mod store;
mod wire;
mod xml;

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Method, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use strata_model::{Access, Address, ResourceKind};
use tokio::sync::broadcast;

use self::blobs::{Blobs, random_hex};
pub use self::error::S3Error;
use self::wire::{Query, Target};
use crate::access::{Action, Need, Principal};
use crate::buckets::{self, Buckets};
use crate::durability::Durability;
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};
use crate::sqlite::{Db, DbError};
use crate::store::DataDir;

/// Largest single PutObject or part S3 takes (5 GiB).
const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024;
/// Largest XML request body read into memory (DeleteObjects of 1,000 long
/// keys is the biggest legitimate one).
const MAX_XML: usize = 8 * 1024 * 1024;
/// Events kept for a slow subscriber before it starts missing some.
const EVENT_BUFFER: usize = 4096;

/// Why S3 could not open its store.
#[derive(Debug, thiserror::Error)]
pub enum S3OpenError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot prepare the object folder {path}")]
    Blobs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot list the stored objects to sweep unreferenced files")]
    Sweep,
}

/// What created an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBy {
    Put,
    Copy,
    CompleteMultipartUpload,
}

/// What removed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedBy {
    /// The object (or one version of it) is gone for good.
    Delete,
    /// A versioned bucket got a delete marker; older versions remain.
    DeleteMarkerCreated,
}

/// The kind of an object event, as S3 event names spell it
/// (`ObjectCreated:Put`, `ObjectRemoved:DeleteMarkerCreated`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created(CreatedBy),
    Removed(RemovedBy),
}

impl EventKind {
    /// The S3 event name without the `s3:` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Created(CreatedBy::Put) => "ObjectCreated:Put",
            Self::Created(CreatedBy::Copy) => "ObjectCreated:Copy",
            Self::Created(CreatedBy::CompleteMultipartUpload) => {
                "ObjectCreated:CompleteMultipartUpload"
            }
            Self::Removed(RemovedBy::Delete) => "ObjectRemoved:Delete",
            Self::Removed(RemovedBy::DeleteMarkerCreated) => "ObjectRemoved:DeleteMarkerCreated",
        }
    }
}

/// One committed change to an object, sent after its row is durable.
///
/// `etag` is the hex without quotes (as S3 event records carry it), empty
/// for removals; `version_id` is `None` on a bucket that never had
/// versioning; `sequencer` is 18 upper-case hex digits, the row id of the
/// object version followed by `00` for its creation and `01` for its
/// removal, so events of one key order by it as on S3 (row ids are never
/// reused, and a later write of the key gets a higher one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub version_id: Option<String>,
    pub sequencer: String,
    pub kind: EventKind,
    pub time: SystemTime,
}

/// The S3 service of one stage.
#[derive(Debug, Clone)]
pub struct S3 {
    db: Db,
    blobs: Blobs,
    events: broadcast::Sender<ObjectEvent>,
}

impl S3 {
    /// Open the store, and sweep blobs left by writes a crash interrupted.
    pub fn open(data: &DataDir, durability: Durability) -> Result<Self, S3OpenError> {
        let db = Db::open(data, buckets::DATABASE_FILE, durability, &schema())?;
        let blobs = Blobs::open(data.path(), durability).map_err(|source| S3OpenError::Blobs {
            path: data.path().join("s3"),
            source,
        })?;
        let referenced = db
            .run_blocking(|conn, _| store::referenced_blobs(conn))
            .map_err(|_| S3OpenError::Sweep)?;
        blobs
            .sweep(&referenced)
            .map_err(|source| S3OpenError::Blobs {
                path: data.path().join("s3"),
                source,
            })?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Self { db, blobs, events })
    }

    /// Object events from now on. A receiver that falls more than
    /// `EVENT_BUFFER` events behind gets `RecvError::Lagged` and skips.
    pub fn subscribe(&self) -> broadcast::Receiver<ObjectEvent> {
        self.events.subscribe()
    }

    /// The bucket registry on this service's own connection (the provider
    /// uses it, so both see one database).
    pub fn buckets(&self) -> Buckets {
        Buckets::from_db(self.db.clone())
    }

    /// Delete `bucket` with all its objects and uploads (an allowed destroy).
    pub fn purge_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let freed = self
            .db
            .run_blocking(|conn, _| store::purge_bucket(conn, bucket))?;
        self.blobs.remove_blocking(&freed);
        Ok(())
    }

    fn emit(&self, bucket: &str, row: &store::ObjectRow, kind: EventKind, versioned: bool) {
        let event = ObjectEvent {
            bucket: bucket.to_owned(),
            key: row.key.clone(),
            size: if matches!(kind, EventKind::Created(_)) {
                row.size
            } else {
                0
            },
            etag: if matches!(kind, EventKind::Created(_)) {
                row.etag.trim_matches('"').to_owned()
            } else {
                String::new()
            },
            version_id: (versioned || row.version_id != "null").then(|| row.version_id.clone()),
            sequencer: format!(
                "{:016X}{}",
                row.id,
                if matches!(kind, EventKind::Created(_)) {
                    "00"
                } else {
                    "01"
                }
            ),
            kind,
            time: SystemTime::UNIX_EPOCH
                + Duration::from_millis(u64::try_from(row.modified_ms).unwrap_or(0)),
        };
        // No subscriber is not an error: events are for whoever listens.
        let _ = self.events.send(event);
    }
}

fn schema() -> String {
    format!("{}{}", buckets::SCHEMA, store::SCHEMA)
}

pub(crate) fn full_schema() -> String {
    schema()
}

impl AwsService for S3 {
    fn signing_name(&self) -> &'static str {
        "s3"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let s3 = self.clone();
        Box::pin(async move {
            let request_id = random_hex(8).to_uppercase();
            let head = request.method == Method::HEAD;
            let resource = request.uri.path().to_owned();
            match s3.answer(request, &request_id).await {
                Ok(response) => response,
                Err(error) => error.into_response(&resource, &request_id, head),
            }
        })
    }

    fn reject(&self, rejection: Rejection) -> axum::response::Response {
        let request_id = random_hex(8).to_uppercase();
        match rejection {
            Rejection::BodyTooLarge { .. } => S3Error::EntityTooLarge,
            Rejection::BodyUnreadable => S3Error::IncompleteBody,
            Rejection::Internal => S3Error::Internal,
        }
        .into_response("/", &request_id, false)
    }

    fn streams_body(&self) -> bool {
        true
    }

    fn answers_unsigned(&self) -> bool {
        true
    }
}

/// One request being answered.
struct Call {
    principal: Principal,
    method: Method,
    headers: axum::http::HeaderMap,
    query: Query,
    target: Target,
    /// Behind a mutex only so that `&Call` is `Send` (a body is not `Sync`);
    /// it is taken once.
    body: Mutex<Option<Body>>,
    request_id: String,
}

impl Call {
    /// Read a small (XML) body whole.
    async fn small_body(&mut self) -> Result<Bytes, S3Error> {
        let Some(mut body) = self.take_body() else {
            return Ok(Bytes::new());
        };
        let mut buffer = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| S3Error::IncompleteBody)?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > MAX_XML {
                    return Err(S3Error::MalformedXml);
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(buffer.freeze())
    }

    fn take_body(&self) -> Option<Body> {
        self.body
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn bucket(&self) -> Result<&str, S3Error> {
        self.target
            .bucket
            .as_deref()
            .ok_or(S3Error::MethodNotAllowed)
    }

    fn key(&self) -> Result<&str, S3Error> {
        self.target.key.as_deref().ok_or(S3Error::MethodNotAllowed)
    }
}

/// Allow `operation` (`GetObject`) on `bucket` (and `key`, for the
/// message) if the principal's grant covers `need`. The access hook names
/// buckets by their physical name, as DynamoDB and SQS name theirs.
fn authorize(
    principal: &Principal,
    operation: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    need: Need,
) -> Result<(), S3Error> {
    let address = bucket.map(|b| Address::new(ResourceKind::Bucket, b));
    let action = format!("s3:{operation}");
    principal
        .authorize(&Action {
            operation: &action,
            resource: address.as_ref(),
            need,
        })
        .map_err(|denied| {
            let resource = match (bucket, key) {
                (Some(b), Some(k)) => format!("arn:aws:s3:::{b}/{k}"),
                (Some(b), None) => format!("arn:aws:s3:::{b}"),
                _ => "arn:aws:s3:::*".to_owned(),
            };
            S3Error::AccessDenied {
                message: format!(
                    "User: arn:aws:sts::{account}:assumed-role/{f}/{f} is not authorized to \
                     perform: {action} on resource: \"{resource}\" because no identity-based \
                     policy allows the {action} action",
                    account = crate::sqs::ACCOUNT,
                    f = denied.function,
                ),
            }
        })
}

const READ: Need = Need::Level(Access::Read);
const WRITE: Need = Need::Level(Access::Write);

impl S3 {
    async fn answer(
        &self,
        request: ServiceRequest,
        request_id: &str,
    ) -> Result<Response<Body>, S3Error> {
        let mut call = Call {
            target: wire::target(&request.headers, &request.uri)?,
            query: Query::parse(&request.uri)?,
            principal: request.principal,
            method: request.method,
            headers: request.headers,
            body: Mutex::new(request.stream),
            request_id: request_id.to_owned(),
        };
        let has_key = call.target.key.is_some();
        let has_bucket = call.target.bucket.is_some();
        let q = &call.query;
        let method = call.method.clone();
        let (bucket, key) = (call.target.bucket.clone(), call.target.key.clone());
        let (bucket, key) = (bucket.as_deref(), key.as_deref());
        let check =
            |operation: &str, need: Need| authorize(&call.principal, operation, bucket, key, need);
        if !has_bucket {
            return match method {
                Method::GET => {
                    check("ListAllMyBuckets", Need::Manage)?;
                    self.list_buckets(&call).await
                }
                _ => Err(S3Error::MethodNotAllowed),
            };
        }
        if !has_key {
            return match method {
                Method::PUT if q.has("versioning") => {
                    check("PutBucketVersioning", Need::Manage)?;
                    self.put_versioning(&mut call).await
                }
                Method::PUT if !has_subresource(q) => {
                    check("CreateBucket", Need::Manage)?;
                    self.create_bucket(&mut call).await
                }
                Method::HEAD => {
                    check("ListBucket", READ)?;
                    self.head_bucket(&call).await
                }
                Method::DELETE if !has_subresource(q) => {
                    check("DeleteBucket", Need::Manage)?;
                    self.delete_bucket(&call).await
                }
                Method::GET if q.has("versioning") => {
                    check("GetBucketVersioning", Need::Manage)?;
                    self.get_versioning(&call).await
                }
                Method::GET if q.has("location") => {
                    check("GetBucketLocation", Need::Manage)?;
                    self.get_location(&call).await
                }
                Method::GET if q.has("versions") => {
                    check("ListBucketVersions", READ)?;
                    self.list_versions(&call).await
                }
                Method::GET if q.has("uploads") => {
                    check("ListBucketMultipartUploads", WRITE)?;
                    self.list_uploads(&call).await
                }
                Method::GET if q.get("list-type") == Some("2") => {
                    check("ListBucket", READ)?;
                    self.list_objects(&call, true).await
                }
                Method::GET if !has_subresource(q) => {
                    check("ListBucket", READ)?;
                    self.list_objects(&call, false).await
                }
                Method::POST if q.has("delete") => {
                    check("DeleteObject", WRITE)?;
                    self.delete_objects(&mut call).await
                }
                _ => Err(S3Error::NotImplemented),
            };
        }
        match method {
            Method::PUT if q.has("uploadId") && call.header("x-amz-copy-source").is_some() => {
                Err(S3Error::NotImplemented)
            }
            Method::PUT if q.has("uploadId") => {
                check("PutObject", WRITE)?;
                self.upload_part(&mut call).await
            }
            Method::PUT if call.header("x-amz-copy-source").is_some() => {
                check("PutObject", WRITE)?;
                self.copy_object(&mut call).await
            }
            Method::PUT if !has_subresource(q) => {
                check("PutObject", WRITE)?;
                self.put_object(&mut call).await
            }
            Method::GET if q.has("uploadId") => {
                check("ListMultipartUploadParts", WRITE)?;
                self.list_parts(&call).await
            }
            Method::GET | Method::HEAD if !has_subresource(q) => {
                let operation = if q.has("versionId") {
                    "GetObjectVersion"
                } else {
                    "GetObject"
                };
                check(operation, READ)?;
                self.get_object(&call).await
            }
            Method::DELETE if q.has("uploadId") => {
                check("AbortMultipartUpload", WRITE)?;
                self.abort_upload(&call).await
            }
            Method::DELETE if !has_subresource(q) => {
                check("DeleteObject", WRITE)?;
                self.delete_object(&call).await
            }
            Method::POST if q.has("uploads") => {
                check("PutObject", WRITE)?;
                self.create_upload(&call).await
            }
            Method::POST if q.has("uploadId") => {
                check("PutObject", WRITE)?;
                self.complete_upload(&mut call).await
            }
            _ => Err(S3Error::NotImplemented),
        }
    }
}

/// Whether the query names a sub-resource this service does not serve
/// (`?acl`, `?tagging`, `?policy`, ...). Parameters that only shape an
/// answer (`versionId`, `response-*`, listing options, `x-id` which newer
/// SDKs add, presigned-URL parameters) are not sub-resources.
fn has_subresource(q: &Query) -> bool {
    const SHAPING: &[&str] = &[
        "versionId",
        "partNumber",
        "x-id",
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "encoding-type",
        "list-type",
        "continuation-token",
        "start-after",
        "fetch-owner",
    ];
    q.names().any(|name| {
        !SHAPING.contains(&name)
            && !name.starts_with("response-")
            && !name.starts_with("X-Amz-")
            && !name.starts_with("x-amz-")
            && !matches!(name, "AWSAccessKeyId" | "Signature" | "Expires")
    })
}

#[cfg(test)]
mod tests;
