//! The event a route's function receives, in API Gateway's payload format
//! 2.0 (the default) or 1.0, as "Create AWS Lambda proxy integrations for
//! HTTP APIs" documents them:
//!
//! - 2.0: header names lowercased, repeated headers joined with commas,
//!   `Cookie` headers moved into `cookies` (one entry per cookie), repeated
//!   query keys joined with commas; fields with nothing to say (`cookies`,
//!   `queryStringParameters`, `pathParameters`, `body`, `stageVariables`)
//!   are left out, as AWS leaves them out.
//! - 1.0: `headers` and `queryStringParameters` hold the last value of a
//!   repeated name, `multiValueHeaders` and `multiValueQueryStringParameters`
//!   all of them; empty ones are `null`, as on AWS.
//!
//! Bodies: text media types are passed as they are, anything else is
//! base64-encoded with `isBase64Encoded: true` (see [`is_text`]).

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::routes::{RouteMatch, percent_decode};

/// The account id of local ARNs (compute's and the endpoint's too).
const ACCOUNT: &str = "000000000000";

/// An HTTP request as the gateway read it, before any route is chosen.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub raw_path: String,
    /// Everything after `?`, as sent (empty when there is none).
    pub raw_query: String,
    /// Header names lowercased, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub source_ip: String,
    /// `HTTP/1.1`.
    pub protocol: String,
}

impl HttpRequest {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the gateway adds to every event of one request.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub api_id: String,
    /// The gateway's request id (also the `apigw-requestid` header).
    pub request_id: String,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub time_ms: u64,
}

/// Payload format 2.0.
pub fn v2(request: &HttpRequest, matched: &RouteMatch<'_>, cx: &EventContext) -> Value {
    let route_key = matched.entry.key();
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in &request.headers {
        if name == "cookie" {
            cookies.extend(split_cookies(value));
            continue;
        }
        headers
            .entry(name.as_str())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in query_pairs(&request.raw_query) {
        query
            .entry(key)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let (domain_name, domain_prefix) = domain(request);
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(route_key));
    event.insert("rawPath".into(), json!(request.raw_path));
    event.insert("rawQueryString".into(), json!(request.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": ACCOUNT,
            "apiId": cx.api_id,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": request.method,
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent").unwrap_or_default(),
            },
            "requestId": cx.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(cx.time_ms),
            "timeEpoch": cx.time_ms,
        }),
    );
    if !matched.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(matched.path_parameters));
    }
    let (body, base64) = body(request);
    if let Some(body) = body {
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(base64));
    Value::Object(event)
}

/// Payload format 1.0: the REST API proxy event, with HTTP API's
/// `version` field.
pub fn v1(request: &HttpRequest, matched: &RouteMatch<'_>, cx: &EventContext) -> Value {
    let mut headers: BTreeMap<&str, &str> = BTreeMap::new();
    let mut multi_headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &request.headers {
        headers.insert(name, value);
        multi_headers.entry(name).or_default().push(value);
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    let mut multi_query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in query_pairs(&request.raw_query) {
        multi_query
            .entry(key.clone())
            .or_default()
            .push(value.clone());
        query.insert(key, value);
    }
    let or_null = |empty: bool, v: Value| if empty { Value::Null } else { v };
    let resource = matched.entry.route.path();
    let (domain_name, domain_prefix) = domain(request);
    let (body, base64) = body(request);
    json!({
        "version": "1.0",
        "resource": resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": or_null(query.is_empty(), json!(query)),
        "multiValueQueryStringParameters": or_null(multi_query.is_empty(), json!(multi_query)),
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": cx.api_id,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "extendedRequestId": cx.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": request.source_ip,
                "user": null,
                "userAgent": request.header("user-agent").unwrap_or_default(),
                "userArn": null,
            },
            "path": request.raw_path,
            "protocol": request.protocol,
            "requestId": cx.request_id,
            "requestTime": clf_time(cx.time_ms),
            "requestTimeEpoch": cx.time_ms,
            "resourceId": matched.entry.key(),
            "resourcePath": resource,
            "stage": "$default",
        },
        "pathParameters": or_null(matched.path_parameters.is_empty(), json!(matched.path_parameters)),
        "stageVariables": null,
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// Whether a body of this `Content-Type` reaches the function as text.
///
/// AWS documents only that HTTP APIs infer the encoding from the request's
/// content type; what they do in practice is this: `text/*`, JSON, XML and
/// JavaScript (with their `+json` / `+xml` suffixes) are text, everything
/// else, including `application/x-www-form-urlencoded`, `multipart/*` and a
/// body without a content type, is base64-encoded. Base64 never loses a
/// byte, so when in doubt it is the safe side.
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || matches!(
            subtype,
            "json" | "xml" | "javascript" | "ecmascript" | "x-javascript"
        )
        || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
}

/// The body as the event carries it and whether it is base64; `None` when
/// the request had none.
fn body(request: &HttpRequest) -> (Option<String>, bool) {
    if request.body.is_empty() {
        return (None, false);
    }
    if is_text(request.header("content-type"))
        && let Ok(text) = std::str::from_utf8(&request.body)
    {
        return (Some(text.to_owned()), false);
    }
    (
        Some(base64::engine::general_purpose::STANDARD.encode(&request.body)),
        true,
    )
}

/// `a=1; b=2` -> `["a=1", "b=2"]`.
fn split_cookies(header: &str) -> impl Iterator<Item = String> + '_ {
    header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// The query string's pairs, decoded, in order. A key without `=` has the
/// empty value, as API Gateway passes it.
fn query_pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true), percent_decode(v, true))
    })
}

/// `domainName` is the `Host` the client used (so a handler can build its
/// own URLs); `domainPrefix` its first label, as on AWS.
fn domain(request: &HttpRequest) -> (String, String) {
    let host = request.header("host").unwrap_or("localhost").to_owned();
    let prefix = host.split(['.', ':']).next().unwrap_or_default().to_owned();
    (host, prefix)
}

/// `04/Mar/2020:19:15:17 +0000`: the Common Log Format time the events use.
fn clf_time(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}
