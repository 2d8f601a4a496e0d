//! The Lambda Invoke API on the shared endpoint
//! (`POST /2015-03-31/functions/{name}/invocations`), so `aws lambda invoke
//! --endpoint-url` and any SDK's Lambda client reach local functions.
//!
//! Follows the REST-JSON protocol: errors carry `x-amzn-ErrorType` and a
//! JSON body; a function error is a 200 with `X-Amz-Function-Error:
//! Unhandled` and the error document as the payload, as on AWS.

use std::sync::Arc;

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::deployment::{ACCOUNT, Compute};
use super::{InvokeError, request_id};
use crate::access::{Action, Need};
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};

/// Lambda's limit on a synchronous request payload.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

#[derive(Debug)]
pub struct LambdaApi {
    compute: Arc<Compute>,
}

impl LambdaApi {
    pub fn new(compute: Arc<Compute>) -> Self {
        Self { compute }
    }
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut response = (
        status,
        [("content-type", "application/json")],
        serde_json::json!({ "Type": "User", "message": message }).to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

/// The function name of an invocations path: a name, a partial ARN
/// (`123456789012:function:name`) or a full ARN, with an optional
/// `:qualifier` that only `$LATEST` satisfies locally.
fn function_name(path: &str) -> Option<(String, Option<String>)> {
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let encoded = rest.strip_suffix("/invocations")?;
    let decoded = percent_decode(encoded);
    let name = decoded
        .rsplit_once(":function:")
        .map_or(decoded.as_str(), |(_, n)| n);
    Some(match name.split_once(':') {
        Some((name, qualifier)) => (name.to_owned(), Some(qualifier.to_owned())),
        None => (name.to_owned(), None),
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl AwsService for LambdaApi {
    fn signing_name(&self) -> &'static str {
        "lambda"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let compute = self.compute.clone();
        Box::pin(async move { invoke(&compute, request).await })
    }

    fn reject(&self, rejection: Rejection) -> Response {
        match rejection {
            Rejection::BodyTooLarge { .. } => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            ),
            Rejection::BodyUnreadable => error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "could not read the request body",
            ),
            Rejection::Internal => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "internal error",
            ),
        }
    }
}

async fn invoke(compute: &Compute, request: ServiceRequest) -> Response {
    let Some((name, qualifier)) = function_name(request.uri.path()) else {
        return error(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "only Invoke (POST /2015-03-31/functions/{name}/invocations) is served locally",
        );
    };
    if request.method != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Invoke takes POST",
        );
    }
    let config = compute.config();
    let arn = format!(
        "arn:aws:lambda:{}:{ACCOUNT}:function:{}-{}-{name}",
        config.region, config.service, config.stage
    );
    let principal_check = request.principal.authorize(&Action {
        operation: "lambda:InvokeFunction",
        resource: None,
        need: Need::Manage,
    });
    if let Err(denied) = principal_check {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!("{denied}: functions may not invoke {arn} locally"),
        );
    }
    let Some(deployment) = compute.current() else {
        return not_found(&arn);
    };
    let Some(pool) = deployment.find(&name).cloned() else {
        return not_found(&arn);
    };
    if let Some(q) = qualifier.filter(|q| q != "$LATEST") {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {arn}:{q} (only $LATEST exists locally)"),
        );
    }
    if request.body.len() > MAX_PAYLOAD {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        );
    }
    let payload = if request.body.is_empty() {
        Bytes::from_static(b"{}")
    } else if serde_json::from_slice::<serde_json::Value>(&request.body).is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: the payload must be a JSON document",
        );
    } else {
        request.body.clone()
    };
    let invocation_type = request
        .headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    let id = request_id();
    match invocation_type {
        "DryRun" => response(StatusCode::NO_CONTENT, &id, None, Bytes::new()),
        "Event" => {
            tokio::spawn(async move {
                // Fire and forget, as an asynchronous invoke: the outcome
                // reaches the logs only.
                let _ = pool.invoke(payload).await;
            });
            response(StatusCode::ACCEPTED, &id, None, Bytes::new())
        }
        "RequestResponse" => match pool.invoke_with_id(payload, id.clone()).await {
            Ok(body) => response(StatusCode::OK, &id, None, body),
            Err(e) => response(StatusCode::OK, &id, Some(&e), e.document(&id)),
        },
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("X-Amz-Invocation-Type `{other}` is not one of RequestResponse, Event, DryRun"),
        ),
    }
}

fn not_found(arn: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!("Function not found: {arn}"),
    )
}

fn response(status: StatusCode, id: &str, failed: Option<&InvokeError>, body: Bytes) -> Response {
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    let headers = response.headers_mut();
    headers.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert("x-amzn-requestid", v);
    }
    if failed.is_some() {
        headers.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn names_arns_and_qualifiers_are_read_from_the_path() {
        let path = |p: &str| function_name(p).map(|(n, q)| format!("{n} {q:?}"));
        assert_eq!(
            path("/2015-03-31/functions/getOrder/invocations").as_deref(),
            Some("getOrder None")
        );
        assert_eq!(
            path("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aorders-dev-getOrder%3A%24LATEST/invocations")
                .as_deref(),
            Some("orders-dev-getOrder Some(\"$LATEST\")")
        );
        assert_eq!(path("/2015-03-31/functions/x"), None);
    }
}
