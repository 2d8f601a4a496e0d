//! DynamoDB's JSON protocol 1.0 on the wire: decoding request bodies with
//! DynamoDB's error classes, and building responses and error bodies.
//!
//! dynoxide-rs keeps its own wire seam (`server::dispatch`, with the serde
//! error mapping and the per-operation validation envelope) behind its
//! `http-server` feature and crate-private, so this file reproduces the part
//! of it a client can tell apart: which failures are `ValidationException`
//! and which `SerializationException`, the marker prefixes the engine's
//! deserialisers put on serde messages (which must never reach the wire), and
//! the `1 validation error detected: ` envelope of PutItem, UpdateItem and
//! DeleteItem. What it does not reproduce is the engine's rewording of raw
//! serde messages ("NUMBER_VALUE cannot be converted to String") and its
//! older validation layer's wording for batch and transaction numbers.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use dynoxide::DynoxideError;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) const AMZ_JSON: &str = "application/x-amz-json-1.0";
const PLAIN_JSON: &str = "application/json";

// Marker prefixes dynoxide's Deserialize impls put on serde messages to pick
// the DynamoDB error class (dynoxide `serde_errors`, 3.2).
const SERIALIZATION_AS_READ: &str = "SERIALIZATION_AS_READ:";
const VALIDATION_AS_READ: &str = "VALIDATION_AS_READ:";
const SERIALIZATION: &str = "SERIALIZATION:";
const VALIDATION_REQUEST: &str = "VALIDATION_REQUEST:";
const VALIDATION: &str = "VALIDATION:";
const ENVELOPE: &str = "1 validation error detected: ";

/// Decode a request body into the engine's request type.
pub(crate) fn decode<T: DeserializeOwned>(body: &str) -> Result<T, DynoxideError> {
    serde_json::from_str(body).map_err(|e| classify(&e.to_string()))
}

/// Encode the engine's response.
pub(crate) fn encode<T: Serialize>(response: &T) -> Result<String, DynoxideError> {
    serde_json::to_string(response).map_err(|e| DynoxideError::InternalServerError(e.to_string()))
}

/// The DynamoDB error for a serde failure, as the engine's own server picks it.
fn classify(message: &str) -> DynoxideError {
    if let Some(rest) = message.strip_prefix(SERIALIZATION_AS_READ) {
        return DynoxideError::SerializationException(rest.to_owned());
    }
    if let Some(rest) = message.strip_prefix(VALIDATION_AS_READ) {
        return DynoxideError::ValidationException(rest.to_owned());
    }
    let message = strip_position(message);
    if let Some(rest) = message.strip_prefix(SERIALIZATION) {
        return DynoxideError::SerializationException(rest.to_owned());
    }
    if let Some(rest) = message.strip_prefix(VALIDATION_REQUEST) {
        return DynoxideError::EnvelopedValidation(rest.to_owned());
    }
    if let Some(rest) = message.strip_prefix(VALIDATION) {
        return DynoxideError::ValidationException(rest.to_owned());
    }
    // DynamoDB answers a missing required member, a null, or an unknown enum
    // value with ValidationException, and only a true JSON type mismatch with
    // SerializationException.
    if message.contains("missing field")
        || message.contains("unknown variant")
        || message.contains("invalid type: null")
    {
        DynoxideError::ValidationException(message.to_owned())
    } else if message.contains("empty AttributeValue") {
        DynoxideError::ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
                .to_owned(),
        )
    } else if message.contains("Supplied AttributeValue") {
        DynoxideError::ValidationException(message.to_owned())
    } else {
        DynoxideError::SerializationException(message.to_owned())
    }
}

/// serde_json ends messages with " at line N column M"; DynamoDB does not.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    }
}

/// Resolve the engine's wire-invisible validation tag for `operation`.
pub(crate) fn for_operation(operation: &str, error: DynoxideError) -> DynoxideError {
    match error {
        DynoxideError::EnvelopedValidation(message) => {
            let enveloped = matches!(operation, "PutItem" | "UpdateItem" | "DeleteItem");
            if enveloped && !message.starts_with(ENVELOPE) {
                DynoxideError::ValidationException(format!("{ENVELOPE}{message}"))
            } else {
                DynoxideError::ValidationException(message)
            }
        }
        other => other,
    }
}

/// The response content type: DynamoDB echoes `application/json` when the
/// request used it, and answers `application/x-amz-json-1.0` otherwise.
pub(crate) fn content_type(request: &HeaderMap) -> &'static str {
    let base = request
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if base.eq_ignore_ascii_case(PLAIN_JSON) {
        PLAIN_JSON
    } else {
        AMZ_JSON
    }
}

/// A successful answer.
pub(crate) fn ok(content_type: &'static str, body: String) -> Response {
    respond(StatusCode::OK, content_type, body)
}

/// An engine error in DynamoDB's shape and status.
pub(crate) fn error(content_type: &'static str, error: &DynoxideError) -> Response {
    let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, content_type, error.to_json())
}

/// An error with only a `__type`, as DynamoDB sends for unreadable requests
/// and unknown operations.
pub(crate) fn bare_error(content_type: &'static str, type_name: &'static str) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        content_type,
        format!(r#"{{"__type":"{type_name}"}}"#),
    )
}

/// An error with a `__type` and a `Message`, at `status`.
pub(crate) fn error_with_message(
    status: StatusCode,
    content_type: &'static str,
    type_name: &str,
    message: &str,
) -> Response {
    let body = serde_json::json!({ "__type": type_name, "Message": message }).to_string();
    respond(status, content_type, body)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-requestid", request_id());
    response
}

/// A unique request id in DynamoDB's format (52 characters of `[0-9A-Z]`):
/// the process id and a counter, enough to tell requests apart in logs.
fn request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:020X}{:032X}", std::process::id(), n);
    HeaderValue::from_str(&id).expect("upper-case hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str) -> String {
        let e = classify(message);
        format!("{} {}", e.error_type().rsplit('#').next().unwrap_or(""), e)
    }

    #[test]
    fn serde_failures_get_dynamodb_error_classes() {
        assert_eq!(
            check("missing field `TableName` at line 1 column 2"),
            "ValidationException missing field `TableName`"
        );
        assert_eq!(
            check("invalid type: integer `1`, expected a string at line 1 column 14"),
            "SerializationException invalid type: integer `1`, expected a string"
        );
        assert_eq!(
            check("VALIDATION:One or more parameter values were invalid at line 1 column 9"),
            "ValidationException One or more parameter values were invalid"
        );
        assert_eq!(
            check("SERIALIZATION_AS_READ:Unexpected value at line 1 column 9"),
            "SerializationException Unexpected value at line 1 column 9"
        );
    }

    #[test]
    fn request_validation_is_enveloped_only_on_single_item_writes() {
        let tagged = || {
            classify(
                "VALIDATION_REQUEST:Null attribute value types must have the value of true at line 1 column 3",
            )
        };
        assert_eq!(
            for_operation("PutItem", tagged()).to_string(),
            "1 validation error detected: Null attribute value types must have the value of true"
        );
        assert_eq!(
            for_operation("GetItem", tagged()).to_string(),
            "Null attribute value types must have the value of true"
        );
    }

    #[test]
    fn request_ids_are_52_uppercase_hex_and_distinct() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        let text = a.to_str().expect("ascii");
        assert_eq!(text.len(), 52);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }
}
