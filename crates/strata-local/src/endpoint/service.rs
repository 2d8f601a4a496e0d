//! What an AWS service plugs into the endpoint, and the table that routes a
//! request to it.
//!
//! AWS tells services apart in two ways and the table knows both: JSON
//! protocol services (DynamoDB, SQS, SSM, DynamoDB Streams) name themselves
//! in `X-Amz-Target` (`DynamoDB_20120810.PutItem`), while REST services (S3,
//! Lambda Invoke) only show up in the SigV4 credential scope
//! (`.../us-east-1/s3/aws4_request`). A service registers its target
//! prefixes and its signing name; adding one is a [`ServiceTable::with`] call,
//! never an edit of the routing code.
//!
//! Routing rule, in order: a known `X-Amz-Target` prefix; else the SigV4
//! scope's service (header or presigned query); else, for a request with
//! neither (anonymous, or signed with SigV2), the one service that claims
//! unsigned requests ([`AwsService::answers_unsigned`], S3). JSON protocol
//! requests always carry `X-Amz-Target`, so the unsigned fallback can never
//! take a DynamoDB, SQS or SSM call: one with an unknown target and no
//! scope stays unroutable.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::sigv4::CredentialScope;
use crate::access::Principal;

/// A request that has been routed to a service, body read (or handed over
/// unread, for a service that streams).
#[derive(Debug)]
pub struct ServiceRequest {
    pub principal: Principal,
    /// The operation named by `X-Amz-Target` after the service's prefix, if
    /// the request had one.
    pub operation: Option<String>,
    pub scope: Option<CredentialScope>,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    /// The whole body, for a service that does not stream; empty otherwise.
    pub body: Bytes,
    /// The unread body, only for a service whose
    /// [`AwsService::streams_body`] is true. The service then enforces its
    /// own limits (S3 objects may be gigabytes: they never sit in memory).
    pub stream: Option<Body>,
    /// Cancelled when the client hangs up before its answer: work not yet
    /// started for it may be dropped (nobody would see the result).
    pub hung_up: CancellationToken,
    /// Cancelled when the endpoint begins to stop: a wait that could last
    /// (an SQS long poll) ends now, with what it has.
    pub stopping: CancellationToken,
}

/// A failure the endpoint detects before the service runs; each service
/// answers it in its own protocol's error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The body is larger than the endpoint accepts.
    BodyTooLarge { limit: usize },
    /// The connection failed while the body was being read.
    BodyUnreadable,
    /// The service's handler panicked; answered as the service's internal
    /// error instead of a dropped connection.
    Internal,
}

pub type ServiceFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// One AWS-compatible service behind the endpoint.
pub trait AwsService: Send + Sync + fmt::Debug + 'static {
    /// The service name in the SigV4 scope (`dynamodb`, `s3`, `sqs`).
    fn signing_name(&self) -> &'static str;
    /// `X-Amz-Target` prefixes (before the `.`) this service answers.
    fn target_prefixes(&self) -> &'static [&'static str];
    /// Answer one request. Runs on its own task, so a panic becomes
    /// [`Rejection::Internal`].
    fn call(&self, request: ServiceRequest) -> ServiceFuture;
    /// Answer a request the endpoint refused, in this service's error shape.
    fn reject(&self, rejection: Rejection) -> Response;
    /// Whether this service takes the request body unread, as
    /// [`ServiceRequest::stream`], instead of the endpoint reading it whole
    /// under its size limit.
    fn streams_body(&self) -> bool {
        false
    }
    /// Whether requests with neither `X-Amz-Target` nor a SigV4 scope
    /// (anonymous ones, SigV2) come here. At most one service may claim them.
    fn answers_unsigned(&self) -> bool {
        false
    }
}

/// Where a request goes.
#[derive(Debug)]
pub struct Route<'t> {
    pub service: &'t Arc<dyn AwsService>,
    pub operation: Option<&'t str>,
}

/// Two registrations claimed the same key.
#[derive(Debug, thiserror::Error)]
#[error("two services claim the {kind} `{key}`")]
pub struct DuplicateRoute {
    pub kind: &'static str,
    pub key: &'static str,
}

/// Service lookup by target prefix and by signing name.
#[derive(Debug, Default)]
pub struct ServiceTable {
    services: Vec<Arc<dyn AwsService>>,
    by_target_prefix: HashMap<&'static str, usize>,
    by_signing_name: HashMap<&'static str, usize>,
    unsigned: Option<usize>,
}

impl ServiceTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a service under its prefixes and signing name.
    pub fn with(mut self, service: Arc<dyn AwsService>) -> Result<Self, DuplicateRoute> {
        let index = self.services.len();
        for &prefix in service.target_prefixes() {
            if self.by_target_prefix.insert(prefix, index).is_some() {
                return Err(DuplicateRoute {
                    kind: "target prefix",
                    key: prefix,
                });
            }
        }
        let name = service.signing_name();
        if self.by_signing_name.insert(name, index).is_some() {
            return Err(DuplicateRoute {
                kind: "signing name",
                key: name,
            });
        }
        if service.answers_unsigned() && self.unsigned.replace(index).is_some() {
            return Err(DuplicateRoute {
                kind: "unsigned requests, as does",
                key: name,
            });
        }
        self.services.push(service);
        Ok(self)
    }

    /// The service for a request: by `X-Amz-Target` prefix when it names a
    /// known one (it is the more specific of the two: DynamoDB Streams signs
    /// as `dynamodb` too), else by the signing name of the credential scope,
    /// else (neither present) the service answering unsigned requests.
    pub fn route<'t>(
        &'t self,
        target: Option<&'t str>,
        scope: Option<&CredentialScope>,
    ) -> Option<Route<'t>> {
        let split = target.map(|t| t.split_once('.').unwrap_or((t, "")));
        if let Some((prefix, operation)) = split
            && let Some(&index) = self.by_target_prefix.get(prefix)
        {
            return Some(Route {
                service: &self.services[index],
                operation: Some(operation),
            });
        }
        let index = match (target, scope) {
            (_, Some(scope)) => *self.by_signing_name.get(scope.service.as_str())?,
            (None, None) => self.unsigned?,
            // A target nobody knows, unsigned: a JSON protocol call for a
            // service that is not here, never an S3 request.
            (Some(_), None) => return None,
        };
        Some(Route {
            service: &self.services[index],
            // The target names another prefix (or none): the service sees the
            // whole header and answers an unknown operation its own way.
            operation: target,
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    #[derive(Debug)]
    struct Fake(&'static str, &'static [&'static str]);

    impl AwsService for Fake {
        fn signing_name(&self) -> &'static str {
            self.0
        }
        fn target_prefixes(&self) -> &'static [&'static str] {
            self.1
        }
        fn call(&self, _: ServiceRequest) -> ServiceFuture {
            Box::pin(async { StatusCode::OK.into_response() })
        }
        fn reject(&self, _: Rejection) -> Response {
            StatusCode::BAD_REQUEST.into_response()
        }
        fn answers_unsigned(&self) -> bool {
            self.0 == "s3"
        }
    }

    fn table() -> ServiceTable {
        ServiceTable::new()
            .with(Arc::new(Fake("dynamodb", &["DynamoDB_20120810"])))
            .and_then(|t| t.with(Arc::new(Fake("sqs", &["AmazonSQS"]))))
            .and_then(|t| t.with(Arc::new(Fake("s3", &[]))))
            .expect("distinct keys")
    }

    fn scope(service: &str) -> CredentialScope {
        CredentialScope {
            access_key_id: "AKID".to_owned(),
            date: "20260101".to_owned(),
            region: "us-east-1".to_owned(),
            service: service.to_owned(),
        }
    }

    fn check(target: Option<&str>, scope_service: Option<&str>) -> String {
        let table = table();
        let scope = scope_service.map(scope);
        match table.route(target, scope.as_ref()) {
            Some(route) => format!("{} {:?}", route.service.signing_name(), route.operation),
            None => "none".to_owned(),
        }
    }

    #[test]
    fn routes_by_target_then_by_scope() {
        assert_eq!(
            check(Some("DynamoDB_20120810.PutItem"), Some("dynamodb")),
            r#"dynamodb Some("PutItem")"#
        );
        // The target wins over a scope naming another service.
        assert_eq!(
            check(Some("AmazonSQS.SendMessage"), Some("dynamodb")),
            r#"sqs Some("SendMessage")"#
        );
        assert_eq!(
            check(Some("DynamoDB_20120810.PutItem"), None),
            r#"dynamodb Some("PutItem")"#
        );
        assert_eq!(check(None, Some("s3")), "s3 None");
        assert_eq!(
            check(Some("Bogus_1.Op"), Some("dynamodb")),
            r#"dynamodb Some("Bogus_1.Op")"#
        );
        assert_eq!(check(Some("Bogus_1.Op"), None), "none");
        assert_eq!(check(None, Some("kinesis")), "none");
        // Anonymous requests (no target, no scope) are S3's.
        assert_eq!(check(None, None), "s3 None");
    }

    #[test]
    fn the_unsigned_fallback_never_takes_json_protocol_calls() {
        assert_eq!(check(Some("AmazonSSM.GetParameter"), None), "none");
        let empty = ServiceTable::new();
        assert!(empty.route(None, None).is_none());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = table()
            .with(Arc::new(Fake("dynamodb-streams", &["DynamoDB_20120810"])))
            .expect_err("prefix taken");
        assert_eq!(
            err.to_string(),
            "two services claim the target prefix `DynamoDB_20120810`"
        );
    }
}
