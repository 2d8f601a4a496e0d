//! Bucket triggers: S3 object events delivered as EventBridge sends them
//! (`Object Created`, `Object Deleted` from `aws.s3`), the shape the aws
//! target's EventBridge rules hand the same function.
//!
//! A watch listens to the S3 service's committed writes, keeps those of its
//! bucket, kind (`created` or `removed`) and key filters, and invokes the
//! function asynchronously, one invocation per object change. A failed
//! invocation is retried twice, as Lambda retries an asynchronous invoke;
//! AWS waits about one and two minutes, the local target one and two
//! seconds, so that a fix is seen while developing. An event that fails
//! every try is reported and dropped.
//!
//! On a hot swap the new watch subscribes before the old one is told to
//! stop, so an object changed in that instant can reach both releases: a
//! duplicate, which EventBridge's at-least-once delivery allows too, never
//! a miss.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use strata_model::service::BucketEventKind;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::{JoinError, JoinSet};

use super::Context;
use crate::compute::deployment::ACCOUNT;
use crate::compute::pool::FunctionPool;
use crate::compute::request_id;
use crate::s3::{CreatedBy, EventKind, ObjectEvent, RemovedBy};

/// Pauses before the two retries of a failed invocation.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

pub(super) struct BucketWatch {
    pub events: broadcast::Receiver<ObjectEvent>,
    /// The physical bucket name.
    pub bucket: String,
    pub on: BucketEventKind,
    pub prefix: String,
    pub suffix: String,
}

impl BucketWatch {
    pub async fn run(mut self, mut ctx: Context) {
        let mut running = JoinSet::new();
        loop {
            let stopped = ctx.stopped.wait_for(|s| *s);
            let next = tokio::select! {
                received = self.events.recv() => Next::Event(received),
                Some(done) = running.join_next(), if !running.is_empty() => Next::Delivered(done),
                _ = stopped => break,
            };
            match next {
                Next::Event(Ok(event)) if self.wants(&event) => {
                    let body = Bytes::from(eventbridge_event(&event, &ctx.region).to_string());
                    running.spawn(deliver(ctx.pool.clone(), body, event.key));
                }
                Next::Event(Ok(_)) => {}
                Next::Event(Err(RecvError::Lagged(skipped))) => ctx.report(format!(
                    "bucket trigger on {}: {skipped} object events skipped, the function fell behind",
                    self.bucket
                )),
                Next::Event(Err(RecvError::Closed)) => break,
                Next::Delivered(done) => self.report_lost(&ctx, done),
            }
        }
        // Deliveries under way finish on the code they started on.
        while let Some(done) = running.join_next().await {
            self.report_lost(&ctx, done);
        }
    }

    /// Say which object's event was dropped after its last retry (Lambda
    /// would hand it to an on-failure destination, which the local target
    /// does not have).
    fn report_lost(&self, ctx: &Context, done: Delivery) {
        if let Ok(Err(key)) = done {
            ctx.report(format!(
                "bucket trigger on {}: the event for `{key}` failed {} times and is dropped",
                self.bucket,
                RETRY_PAUSES.len() + 1
            ));
        }
    }

    fn wants(&self, event: &ObjectEvent) -> bool {
        let kind_matches = match event.kind {
            EventKind::Created(_) => self.on == BucketEventKind::Created,
            EventKind::Removed(_) => self.on == BucketEventKind::Removed,
        };
        kind_matches
            && event.bucket == self.bucket
            && event.key.starts_with(&self.prefix)
            && event.key.ends_with(&self.suffix)
    }
}

enum Next {
    Event(Result<ObjectEvent, RecvError>),
    Delivered(Delivery),
}

/// A finished delivery: `Err(key)` when every try failed.
type Delivery = Result<Result<(), String>, JoinError>;

/// Invoke, and retry a failure twice; `Err(key)` when every try failed.
/// The pool logs each failure.
async fn deliver(pool: Arc<FunctionPool>, body: Bytes, key: String) -> Result<(), String> {
    if pool.invoke(body.clone()).await.is_ok() {
        return Ok(());
    }
    for pause in RETRY_PAUSES {
        tokio::time::sleep(pause).await;
        if pool.invoke(body.clone()).await.is_ok() {
            return Ok(());
        }
    }
    Err(key)
}

/// The EventBridge event S3 sends for `event`.
fn eventbridge_event(event: &ObjectEvent, region: &str) -> Value {
    let mut object = json!({ "key": event.key, "sequencer": event.sequencer });
    if let Some(version) = &event.version_id {
        object["version-id"] = json!(version);
    }
    let mut detail = json!({
        "version": "0",
        "bucket": { "name": event.bucket },
        "object": object,
        "request-id": request_id(),
        "requester": ACCOUNT,
        "source-ip-address": "127.0.0.1",
    });
    let detail_type = match event.kind {
        EventKind::Created(by) => {
            detail["object"]["size"] = json!(event.size);
            detail["object"]["etag"] = json!(event.etag);
            detail["reason"] = json!(match by {
                CreatedBy::Put => "PutObject",
                CreatedBy::Copy => "CopyObject",
                CreatedBy::CompleteMultipartUpload => "CompleteMultipartUpload",
            });
            "Object Created"
        }
        EventKind::Removed(by) => {
            detail["reason"] = json!("DeleteObject");
            detail["deletion-type"] = json!(match by {
                RemovedBy::Delete => "Permanently Deleted",
                RemovedBy::DeleteMarkerCreated => "Delete Marker Created",
            });
            "Object Deleted"
        }
    };
    json!({
        "version": "0",
        "id": request_id(),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": DateTime::<Utc>::from(event.time).to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:s3:::{}", event.bucket)],
        "detail": detail,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn object_event(key: &str, kind: EventKind) -> ObjectEvent {
        ObjectEvent {
            bucket: "orders-dev-receipts".to_owned(),
            key: key.to_owned(),
            size: 5,
            etag: "5d41402abc4b2a76b9719d911017c592".to_owned(),
            version_id: None,
            sequencer: "000000000000000700".to_owned(),
            kind,
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
        }
    }

    fn watch(on: BucketEventKind, prefix: &str, suffix: &str) -> BucketWatch {
        BucketWatch {
            events: broadcast::channel(1).1,
            bucket: "orders-dev-receipts".to_owned(),
            on,
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    #[test]
    fn filters_keep_the_bucket_kind_prefix_and_suffix_asked_for() {
        let put = EventKind::Created(CreatedBy::Put);
        let w = watch(BucketEventKind::Created, "receipts/", ".json");
        assert!(w.wants(&object_event("receipts/a.json", put)));
        assert!(!w.wants(&object_event("other/a.json", put)));
        assert!(!w.wants(&object_event("receipts/a.txt", put)));
        assert!(!w.wants(&object_event(
            "receipts/a.json",
            EventKind::Removed(RemovedBy::Delete)
        )));
        let mut elsewhere = object_event("receipts/a.json", put);
        elsewhere.bucket = "other-bucket".to_owned();
        assert!(!w.wants(&elsewhere));
        let removals = watch(BucketEventKind::Removed, "", "");
        assert!(removals.wants(&object_event(
            "x",
            EventKind::Removed(RemovedBy::DeleteMarkerCreated)
        )));
    }

    #[test]
    fn events_have_eventbridge_s3_shape() {
        let created = eventbridge_event(
            &object_event("receipts/a.json", EventKind::Created(CreatedBy::Copy)),
            "eu-west-1",
        );
        assert_eq!(created["detail-type"], "Object Created");
        assert_eq!(created["source"], "aws.s3");
        assert_eq!(created["resources"][0], "arn:aws:s3:::orders-dev-receipts");
        assert_eq!(created["time"], "2026-05-28T20:26:40Z");
        let detail = &created["detail"];
        assert_eq!(detail["bucket"]["name"], "orders-dev-receipts");
        assert_eq!(detail["object"]["key"], "receipts/a.json");
        assert_eq!(detail["object"]["size"], 5);
        assert_eq!(detail["reason"], "CopyObject");
        assert!(detail["object"].get("version-id").is_none());

        let mut marker = object_event("k", EventKind::Removed(RemovedBy::DeleteMarkerCreated));
        marker.version_id = Some("v2".to_owned());
        let deleted = eventbridge_event(&marker, "eu-west-1");
        assert_eq!(deleted["detail-type"], "Object Deleted");
        assert_eq!(deleted["detail"]["deletion-type"], "Delete Marker Created");
        assert_eq!(deleted["detail"]["object"]["version-id"], "v2");
        assert!(deleted["detail"]["object"].get("size").is_none());
    }
}
