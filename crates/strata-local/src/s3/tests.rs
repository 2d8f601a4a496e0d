//! The S3 service driven through its `AwsService` entry point, as the
//! endpoint drives it: object events after commits, and the access hook for
//! function principals. The wire behaviour is covered by the boto3 suite in
//! tests/python/s3.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use strata_model::{Access, Address, ResourceKind};

use super::*;
use crate::access::{AccessRegistry, FunctionGrants};

struct Fixture {
    s3: S3,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = DataDir::open(tmp.path()).expect("data dir");
    Fixture {
        s3: S3::open(&data, Durability::Process).expect("open"),
        _tmp: tmp,
    }
}

async fn send(
    s3: &S3,
    principal: &Principal,
    method: Method,
    path: &str,
    body: &'static [u8],
) -> (StatusCode, String) {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
    let request = ServiceRequest {
        principal: principal.clone(),
        operation: None,
        scope: None,
        method,
        uri: path.parse().expect("uri"),
        headers,
        body: Bytes::new(),
        stream: Some(Body::from(body)),
        hung_up: tokio_util::sync::CancellationToken::new(),
        stopping: tokio_util::sync::CancellationToken::new(),
    };
    let response = s3.call(request).await;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn events_follow_committed_writes() {
    let f = fixture();
    let dev = Principal::Developer;
    let mut events = f.s3.subscribe();
    assert_eq!(
        send(&f.s3, &dev, Method::PUT, "/bkt", b"").await.0,
        StatusCode::OK
    );
    let (status, _) = send(&f.s3, &dev, Method::PUT, "/bkt/a/b.txt", b"hello").await;
    assert_eq!(status, StatusCode::OK);
    let put = events.try_recv().expect("put event");
    assert_eq!(put.kind, EventKind::Created(CreatedBy::Put));
    assert_eq!(put.kind.name(), "ObjectCreated:Put");
    assert_eq!(
        (put.bucket.as_str(), put.key.as_str(), put.size),
        ("bkt", "a/b.txt", 5)
    );
    assert_eq!(put.etag, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(put.version_id, None);
    assert_eq!(put.sequencer.len(), 18);

    // A refused write sends nothing.
    let (status, _) = send(&f.s3, &dev, Method::PUT, "/missing-bkt/k", b"x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(events.try_recv().is_err());

    let (status, _) = send(&f.s3, &dev, Method::DELETE, "/bkt/a/b.txt", b"").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let removed = events.try_recv().expect("delete event");
    assert_eq!(removed.kind, EventKind::Removed(RemovedBy::Delete));
    assert!(removed.sequencer > put.sequencer);
}

#[tokio::test]
async fn versioned_deletes_announce_delete_markers() {
    let f = fixture();
    let dev = Principal::Developer;
    send(&f.s3, &dev, Method::PUT, "/vbkt", b"").await;
    let body = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let (status, _) = send(&f.s3, &dev, Method::PUT, "/vbkt?versioning", body).await;
    assert_eq!(status, StatusCode::OK);
    let mut events = f.s3.subscribe();
    send(&f.s3, &dev, Method::PUT, "/vbkt/k", b"v1").await;
    send(&f.s3, &dev, Method::DELETE, "/vbkt/k", b"").await;
    let put = events.try_recv().expect("put");
    let marker = events.try_recv().expect("marker");
    assert!(put.version_id.is_some());
    assert_eq!(
        marker.kind,
        EventKind::Removed(RemovedBy::DeleteMarkerCreated)
    );
    assert_ne!(marker.version_id, put.version_id);
}

#[tokio::test]
async fn function_grants_decide_reads_and_writes() {
    let f = fixture();
    let dev = Principal::Developer;
    send(&f.s3, &dev, Method::PUT, "/granted", b"").await;
    send(&f.s3, &dev, Method::PUT, "/other-bkt", b"").await;
    send(&f.s3, &dev, Method::PUT, "/granted/k", b"data").await;
    let registry = AccessRegistry::new();
    let bucket = Address::new(ResourceKind::Bucket, "granted");
    registry.register(
        "AKREAD",
        FunctionGrants::new("reader", [(bucket.clone(), Access::Read)]),
    );
    registry.register(
        "AKWRITE",
        FunctionGrants::new("writer", [(bucket, Access::Write)]),
    );
    let reader = registry.principal(Some("AKREAD"));
    let writer = registry.principal(Some("AKWRITE"));

    assert_eq!(
        send(&f.s3, &reader, Method::GET, "/granted/k", b"").await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&f.s3, &reader, Method::HEAD, "/granted/k", b"")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&f.s3, &reader, Method::GET, "/granted?list-type=2", b"")
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = send(&f.s3, &reader, Method::PUT, "/granted/k", b"x").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("s3:PutObject"), "{body}");
    assert!(body.contains("arn:aws:s3:::granted/k"), "{body}");
    assert!(body.contains("reader"), "{body}");
    let (status, _) = send(&f.s3, &reader, Method::GET, "/other-bkt/k", b"").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert_eq!(
        send(&f.s3, &writer, Method::PUT, "/granted/new", b"w")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&f.s3, &writer, Method::POST, "/granted/mp?uploads", b"")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&f.s3, &writer, Method::DELETE, "/granted/new", b"")
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&f.s3, &writer, Method::GET, "/granted/k", b"").await.0,
        StatusCode::FORBIDDEN
    );

    // Nobody's grant covers the control plane.
    for (method, path) in [
        (Method::PUT, "/granted-too"),
        (Method::DELETE, "/granted"),
        (Method::GET, "/"),
        (Method::PUT, "/granted?versioning"),
    ] {
        let (status, _) = send(&f.s3, &writer, method.clone(), path, b"").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let _ = Arc::new(registry);
}
