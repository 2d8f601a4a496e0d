//! DynamoDB (JSON protocol 1.0, target prefix `DynamoDB_20120810`) on the
//! dynoxide-rs engine, in its persistent mode, one SQLite file per stage:
//! `<data>/dynamodb.sqlite`.
//!
//! The engine is synchronous and serialises every call on one connection, so
//! requests run one after another on a thread of their own
//! ([`SerialThread`]); the async workers only move bytes. Function principals
//! are checked against the tables the request names before the engine sees it
//! ([`operations::touched`]).

mod operations;
pub mod tables;
pub mod ttl;
mod wire;

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::Response;
use dynoxide::{Database, DynoxideError};

use crate::access::{AccessDenied, Action, Principal};
use crate::durability::Durability;
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};
use crate::serial::{JobLost, SerialThread};
use crate::store::{DataDir, StoreError};

/// The `X-Amz-Target` prefix of DynamoDB's API version 2012-08-10.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810";
/// The `X-Amz-Target` prefix of DynamoDB Streams, which signs as `dynamodb`
/// too and is served by the same engine (ListStreams, DescribeStream,
/// GetShardIterator, GetRecords).
pub const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810";
/// The file the engine keeps its tables in, inside the data directory.
pub const DATABASE_FILE: &str = "dynamodb.sqlite";

// Partition of the ARNs in AccessDeniedException messages; the account is
// the fixed one local AWS emulators use.
const ACCOUNT: &str = "000000000000";
const DEFAULT_REGION: &str = "us-east-1";

/// The DynamoDB service of one stage.
#[derive(Clone)]
pub struct DynamoDb {
    db: Database,
    path: PathBuf,
    /// Where the requests of the endpoint and of triggers run.
    engine_thread: SerialThread,
}

impl std::fmt::Debug for DynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDb")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DynamoDb {
    /// Open (creating if missing) the stage's DynamoDB database with the
    /// given durability. Holding `data` proves this process owns the files.
    pub fn open(data: &DataDir, durability: Durability) -> Result<Self, StoreError> {
        let path = data.path().join(DATABASE_FILE);
        let engine_err = |e: DynoxideError| StoreError::Engine {
            path: path.clone(),
            message: e.to_string(),
        };
        let text = path.to_str().ok_or_else(|| StoreError::Engine {
            path: path.clone(),
            message: "the path is not valid UTF-8".to_owned(),
        })?;
        let db = Database::new(text).map_err(engine_err)?;
        durability.apply(&db).map_err(engine_err)?;
        let engine_thread =
            SerialThread::spawn("dynamodb-engine").map_err(|e| StoreError::Engine {
                path: path.clone(),
                message: format!("cannot start the engine's thread: {e}"),
            })?;
        Ok(Self {
            db,
            path,
            engine_thread,
        })
    }

    /// The engine handle, for the local provider (table lifecycle, item counts).
    pub fn engine(&self) -> &Database {
        &self.db
    }

    /// Run one operation as `principal`, checked as the endpoint checks it,
    /// on the engine's thread: how in-process callers (the table stream
    /// trigger) reach the engine with a function's rights. A refusal is the
    /// engine error class AWS answers with, `AccessDeniedException`.
    pub async fn call_json(
        &self,
        principal: &Principal,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, DynoxideError> {
        let op = operations::find(operation).ok_or_else(|| {
            DynoxideError::ValidationException(format!("unknown operation {operation}"))
        })?;
        if let Principal::Function(_) = principal {
            let action = format!("dynamodb:{}", op.name);
            for (table, need) in operations::touched(op.touches, &body) {
                let address = table.map(|name| {
                    strata_model::Address::new(strata_model::ResourceKind::Table, name)
                });
                principal
                    .authorize(&Action {
                        operation: &action,
                        resource: address.as_ref(),
                        need,
                    })
                    .map_err(|denied| DynoxideError::AccessDeniedException(denied.to_string()))?;
            }
        }
        let answer = self
            .on_engine_thread(op, body.to_string())
            .await
            .map_err(|_| {
                DynoxideError::InternalServerError("the engine call panicked".to_owned())
            })??;
        serde_json::from_str(&answer)
            .map_err(|e| DynoxideError::InternalServerError(format!("engine answer: {e}")))
    }

    /// Run `op` with its JSON body on the engine's thread, after the calls
    /// queued before it; its errors in DynamoDB's classes.
    async fn on_engine_thread(
        &self,
        op: &operations::Operation,
        body: String,
    ) -> Result<Result<String, DynoxideError>, JobLost> {
        let db = self.db.clone();
        let (run, name) = (op.run, op.name);
        self.engine_thread
            .run(move || run(&db, &body).map_err(|e| wire::for_operation(name, e)))
            .await
    }

    /// Run one operation with its JSON body, as the endpoint would, but
    /// without HTTP or access checks. Blocks.
    pub fn execute(&self, operation: &str, body: &str) -> Result<String, DynoxideError> {
        match operations::find(operation) {
            Some(op) => (op.run)(&self.db, body).map_err(|e| wire::for_operation(operation, e)),
            None => Err(DynoxideError::ValidationException(format!(
                "unknown operation {operation}"
            ))),
        }
    }
}

impl AwsService for DynamoDb {
    fn signing_name(&self) -> &'static str {
        "dynamodb"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[TARGET_PREFIX, STREAMS_TARGET_PREFIX]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let dynamodb = self.clone();
        Box::pin(async move { answer(&dynamodb, request).await })
    }

    fn reject(&self, rejection: Rejection) -> Response {
        let ct = wire::AMZ_JSON;
        match rejection {
            Rejection::BodyTooLarge { limit } => wire::error_with_message(
                StatusCode::PAYLOAD_TOO_LARGE,
                ct,
                "com.amazon.coral.validate#ValidationException",
                &format!("Request size exceeds the limit of {limit} bytes"),
            ),
            Rejection::BodyUnreadable => {
                wire::bare_error(ct, "com.amazon.coral.service#SerializationException")
            }
            Rejection::Internal => wire::error(
                ct,
                &DynoxideError::InternalServerError("internal server error".to_owned()),
            ),
        }
    }
}

async fn answer(dynamodb: &DynamoDb, request: ServiceRequest) -> Response {
    let ct = wire::content_type(&request.headers);
    let unknown = || wire::bare_error(ct, "com.amazon.coral.service#UnknownOperationException");
    let Some(op) = request.operation.as_deref().and_then(operations::find) else {
        return unknown();
    };
    // One engine serves both APIs, but each prefix has only its own
    // operations: `DynamoDBStreams_20120810.PutItem` is unknown, as on AWS.
    let streams_target = request
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(STREAMS_TARGET_PREFIX));
    if streams_target != operations::STREAMS.contains(&op.name) {
        return unknown();
    }
    // DynamoDB requires a JSON object body; anything else is a
    // SerializationException with no message.
    let Ok(body) = std::str::from_utf8(&request.body) else {
        return wire::bare_error(ct, "com.amazon.coral.service#SerializationException");
    };
    let parsed = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => return wire::bare_error(ct, "com.amazon.coral.service#SerializationException"),
    };
    if let Principal::Function(_) = request.principal
        && let Err(denied) = authorize(&request, op, &parsed)
    {
        return access_denied(ct, &request, &denied);
    }
    drop(parsed);
    // The engine blocks on SQLite (and on its own mutex): keep it off the
    // async workers.
    let result = tokio::select! {
        result = dynamodb.on_engine_thread(op, body.to_owned()) => result,
        // Nobody waits for this answer any more: dropping the call takes the
        // job off the engine's queue if it has not started (a client that
        // gave up on a slow scan must not hold up the requests behind it).
        () = request.hung_up.cancelled() => {
            return wire::error(ct, &DynoxideError::InternalServerError("the client hung up".to_owned()));
        }
    };
    match result {
        Ok(Ok(json)) => wire::ok(ct, json),
        Ok(Err(error)) => wire::error(ct, &error),
        Err(_) => wire::error(
            ct,
            &DynoxideError::InternalServerError("internal server error".to_owned()),
        ),
    }
}

fn authorize(
    request: &ServiceRequest,
    op: &operations::Operation,
    body: &serde_json::Value,
) -> Result<(), AccessDenied> {
    let operation = format!("dynamodb:{}", op.name);
    for (table, need) in operations::touched(op.touches, body) {
        let address =
            table.map(|name| strata_model::Address::new(strata_model::ResourceKind::Table, name));
        request.principal.authorize(&Action {
            operation: &operation,
            resource: address.as_ref(),
            need,
        })?;
    }
    Ok(())
}

/// DynamoDB's AccessDeniedException, worded as IAM words it for an assumed
/// role.
fn access_denied(ct: &'static str, request: &ServiceRequest, denied: &AccessDenied) -> Response {
    let region = request
        .scope
        .as_ref()
        .map_or(DEFAULT_REGION, |s| s.region.as_str());
    // Stream operations are authorised on the stream's ARN, as IAM words them.
    let stream = request
        .operation
        .as_deref()
        .is_some_and(|op| operations::STREAMS.contains(&op));
    let tail = if stream { "/stream/*" } else { "" };
    let resource = match &denied.resource {
        Some(address) => format!(
            "arn:aws:dynamodb:{region}:{ACCOUNT}:table/{}{tail}",
            address.name
        ),
        None => format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/*{tail}"),
    };
    let message = format!(
        "User: arn:aws:sts::{ACCOUNT}:assumed-role/{function}/{function} is not authorized to \
         perform: {operation} on resource: {resource} because no identity-based policy allows \
         the {operation} action",
        function = denied.function,
        operation = denied.operation,
    );
    wire::error_with_message(
        StatusCode::BAD_REQUEST,
        ct,
        "com.amazon.coral.service#AccessDeniedException",
        &message,
    )
}
