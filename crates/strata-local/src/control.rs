//! How the CLI reaches a running `strata dev`: a small JSON service on the
//! shared endpoint (`X-Amz-Target: StrataDev.<Operation>`, JSON in and out),
//! so `strata rollback` and `strata deploy --stack stateless` act on the
//! process that serves the functions instead of opening its files.
//!
//! This module only carries calls: each one is handed, with a reply
//! channel, to whoever runs the stage (the dev loop), which decides what an
//! operation means. Only the developer may call it; a function's
//! credentials get `AccessDeniedException`, as for any control-plane call.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::access::{Action, Need};
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};

/// The `X-Amz-Target` prefix of control calls.
pub const TARGET_PREFIX: &str = "StrataDev";

/// A rollback builds and warms workers; a dependency install on a deploy
/// can take minutes. Past this the caller is told the stage is busy.
const REPLY_TIMEOUT: Duration = Duration::from_secs(900);

/// One control call, waiting for its answer.
#[derive(Debug)]
pub struct ControlCall {
    /// `Rollback`, `Deploy`, ...: what follows the prefix in `X-Amz-Target`.
    pub operation: String,
    pub input: Value,
    /// `Ok` is the JSON answer; `Err` a message for the caller.
    pub reply: oneshot::Sender<Result<Value, String>>,
}

#[derive(Debug, Clone)]
pub struct ControlApi {
    calls: mpsc::Sender<ControlCall>,
}

impl ControlApi {
    pub fn new(calls: mpsc::Sender<ControlCall>) -> Self {
        Self { calls }
    }
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut response = (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        serde_json::json!({ "__type": error_type, "message": message }).to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

impl AwsService for ControlApi {
    fn signing_name(&self) -> &'static str {
        "strata"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[TARGET_PREFIX]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let calls = self.calls.clone();
        Box::pin(async move {
            let operation = request.operation.clone().unwrap_or_default();
            let check = request.principal.authorize(&Action {
                operation: "strata:Control",
                resource: None,
                need: Need::Manage,
            });
            if let Err(denied) = check {
                return error(
                    StatusCode::FORBIDDEN,
                    "AccessDeniedException",
                    &denied.to_string(),
                );
            }
            let input = if request.body.is_empty() {
                Value::Object(Default::default())
            } else {
                match serde_json::from_slice(&request.body) {
                    Ok(v) => v,
                    Err(e) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "SerializationException",
                            &format!("the body is not JSON: {e}"),
                        );
                    }
                }
            };
            let (reply, answer) = oneshot::channel();
            let call = ControlCall {
                operation,
                input,
                reply,
            };
            if calls.send(call).await.is_err() {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "strata dev is stopping",
                );
            }
            match tokio::time::timeout(REPLY_TIMEOUT, answer).await {
                Ok(Ok(Ok(value))) => (
                    StatusCode::OK,
                    [("content-type", "application/x-amz-json-1.0")],
                    value.to_string(),
                )
                    .into_response(),
                Ok(Ok(Err(message))) => {
                    error(StatusCode::BAD_REQUEST, "ValidationException", &message)
                }
                Ok(Err(_)) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "strata dev stopped before answering",
                ),
                Err(_) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "strata dev did not answer in time",
                ),
            }
        })
    }

    fn reject(&self, rejection: Rejection) -> Response {
        let message = match rejection {
            Rejection::BodyTooLarge { limit } => format!("the body is larger than {limit} bytes"),
            Rejection::BodyUnreadable => "could not read the request body".to_owned(),
            Rejection::Internal => "internal error".to_owned(),
        };
        error(StatusCode::BAD_REQUEST, "ValidationException", &message)
    }
}
