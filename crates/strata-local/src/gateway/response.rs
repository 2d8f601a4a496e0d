//! What a function's result becomes on the wire, by API Gateway's rules
//! for Lambda proxy integrations of HTTP APIs, and the gateway's own error
//! answers (`{"message": ...}`, the body HTTP APIs send).
//!
//! Format 2.0: a JSON object with `statusCode` is a response description
//! (`statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`); any
//! other valid JSON is the body of a 200 with `content-type:
//! application/json`, a JSON string being the body itself. Format 1.0
//! makes no such guess: without a `statusCode` the answer is a 500.
//! `multiValueHeaders` is read in 1.0 only, as AWS documents it there.

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value};

/// An HTTP response the gateway sends.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayResponse {
    pub status: u16,
    /// In order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl GatewayResponse {
    /// `{"message": "..."}` as API Gateway's own errors look.
    pub fn message(status: u16, message: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
        }
    }

    pub fn not_found() -> Self {
        Self::message(404, "Not Found")
    }

    pub fn internal_error() -> Self {
        Self::message(500, "Internal Server Error")
    }

    pub fn service_unavailable() -> Self {
        Self::message(503, "Service Unavailable")
    }

    pub fn too_large() -> Self {
        Self::message(413, "Request Entity Too Large")
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a function's result is not a response API Gateway accepts; each
/// one is answered `500 Internal Server Error`, as AWS does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedResponse {
    #[error("the function's result is not JSON")]
    NotJson,
    #[error("payload format 1.0 needs an object with `statusCode`")]
    NoStatusCode,
    #[error("`statusCode` is not an HTTP status code")]
    BadStatusCode,
    #[error("`{field}` has the wrong type")]
    WrongType { field: &'static str },
    #[error("`body` is not valid base64 although `isBase64Encoded` is true")]
    BadBase64,
}

/// A result of payload format 2.0.
pub fn from_v2(output: &[u8]) -> Result<GatewayResponse, MalformedResponse> {
    let value: Value = serde_json::from_slice(output).map_err(|_| MalformedResponse::NotJson)?;
    match value {
        Value::Object(object) if object.contains_key("statusCode") => described(&object, false),
        Value::String(text) => Ok(inferred(Bytes::from(text))),
        // The body is the result as the function returned it, byte for byte.
        _ => Ok(inferred(Bytes::copy_from_slice(output))),
    }
}

/// A result of payload format 1.0.
pub fn from_v1(output: &[u8]) -> Result<GatewayResponse, MalformedResponse> {
    let value: Value = serde_json::from_slice(output).map_err(|_| MalformedResponse::NotJson)?;
    match value {
        Value::Object(object) if object.contains_key("statusCode") => described(&object, true),
        _ => Err(MalformedResponse::NoStatusCode),
    }
}

fn inferred(body: Bytes) -> GatewayResponse {
    GatewayResponse {
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body,
    }
}

fn described(object: &Map<String, Value>, v1: bool) -> Result<GatewayResponse, MalformedResponse> {
    let status = match object.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        // Lambda integrations take a numeric string too.
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .and_then(|s| u16::try_from(s).ok())
    .filter(|s| (100..=599).contains(s))
    .ok_or(MalformedResponse::BadStatusCode)?;

    let mut headers: Vec<(String, String)> = Vec::new();
    let multi = if v1 {
        match object.get("multiValueHeaders") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(MalformedResponse::WrongType {
                    field: "multiValueHeaders",
                });
            }
        }
    } else {
        Map::new()
    };
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                // Both given: multiValueHeaders wins for that name (AWS
                // merges the two, the multi-value list taking precedence).
                if multi.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                    continue;
                }
                headers.push((name.to_ascii_lowercase(), scalar(value, "headers")?));
            }
        }
        Some(_) => return Err(MalformedResponse::WrongType { field: "headers" }),
    }
    for (name, values) in &multi {
        let Value::Array(values) = values else {
            return Err(MalformedResponse::WrongType {
                field: "multiValueHeaders",
            });
        };
        for value in values {
            headers.push((
                name.to_ascii_lowercase(),
                scalar(value, "multiValueHeaders")?,
            ));
        }
    }
    if !v1 {
        match object.get("cookies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(cookies)) => {
                for cookie in cookies {
                    let Value::String(cookie) = cookie else {
                        return Err(MalformedResponse::WrongType { field: "cookies" });
                    };
                    headers.push(("set-cookie".to_owned(), cookie.clone()));
                }
            }
            Some(_) => return Err(MalformedResponse::WrongType { field: "cookies" }),
        }
    }
    let base64 = match object.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MalformedResponse::WrongType {
                field: "isBase64Encoded",
            });
        }
    };
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if base64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| MalformedResponse::BadBase64)?,
        ),
        Some(Value::String(text)) => Bytes::from(text.clone()),
        Some(_) => return Err(MalformedResponse::WrongType { field: "body" }),
    };
    Ok(GatewayResponse {
        status,
        headers,
        body,
    })
}

/// A header value: strings as they are, numbers and booleans as written.
fn scalar(value: &Value, field: &'static str) -> Result<String, MalformedResponse> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(MalformedResponse::WrongType { field }),
    }
}
