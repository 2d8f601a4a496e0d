//! The gateway end to end on a fake backend: route priority, both event
//! formats, response mapping, CORS, errors and the swap invariant.

use std::sync::Mutex;

use serde_json::{Value, json};

use super::*;
use crate::compute::InvokeError;

/// Answers every invocation with a fixed result (or error), after an
/// optional delay, and keeps the events it got.
#[derive(Debug)]
struct Fake {
    answer: Result<Bytes, InvokeError>,
    delay: Duration,
    events: Mutex<Vec<(String, Value)>>,
}

impl Fake {
    fn answering(answer: Value) -> Arc<Self> {
        Self::raw(Ok(Bytes::from(answer.to_string())))
    }

    fn raw(answer: Result<Bytes, InvokeError>) -> Arc<Self> {
        Arc::new(Self {
            answer,
            delay: Duration::ZERO,
            events: Mutex::new(Vec::new()),
        })
    }

    fn last(&self) -> (String, Value) {
        self.events
            .lock()
            .expect("not poisoned")
            .last()
            .cloned()
            .expect("an invocation")
    }
}

impl Backend for Fake {
    fn invoke(&self, function: &str, event: Bytes) -> InvokeFuture {
        let event: Value = serde_json::from_slice(&event).expect("events are JSON");
        self.events
            .lock()
            .expect("not poisoned")
            .push((function.to_owned(), event));
        let (answer, delay) = (self.answer.clone(), self.delay);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            answer
        })
    }
}

const MANIFEST: &str = r#"
service: gw
stateless:
  defaults: { runtime: python3.12, code: src }
  http:
    cors:
      origins: [https://app.example.com]
      methods: [GET, POST]
      allow_credentials: true
      max_age: 300
  functions:
    list: { handler: h.list, events: [ { http: GET /orders } ] }
    create: { handler: h.create, events: [ { http: POST /orders } ] }
    get: { handler: h.get, events: [ { http: "GET /orders/{id}" } ] }
    legacy: { handler: h.legacy, events: [ { http: "ANY /v1/{proxy+}", payload: "1.0" } ] }
"#;

/// Every code path exists: these tests never run code.
struct AnyCode;

impl strata_model::CodeTree for AnyCode {
    fn is_dir(&self, _: &str) -> bool {
        true
    }
    fn is_file(&self, _: &str) -> bool {
        true
    }
}

fn service() -> Service {
    strata_model::check_str(MANIFEST, &AnyCode)
        .expect("valid manifest")
        .service
}

fn gateway(backend: Arc<dyn Backend>) -> Gateway {
    let g = Gateway::new();
    g.swap(Arc::new(Api::new(&service(), backend)));
    g
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpRequest {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    HttpRequest {
        method: method.to_owned(),
        raw_path: path.to_owned(),
        raw_query: query.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: Bytes::copy_from_slice(body),
        source_ip: "127.0.0.1".to_owned(),
        protocol: "HTTP/1.1".to_owned(),
    }
}

fn body_json(r: &GatewayResponse) -> Value {
    serde_json::from_slice(&r.body).expect("JSON body")
}

#[tokio::test]
async fn routes_pick_the_function_and_unknown_paths_are_404() {
    let fake = Fake::answering(json!({"statusCode": 200}));
    let g = gateway(fake.clone());
    g.handle(request("GET", "/orders/42", &[], b"")).await;
    assert_eq!(fake.last().0, "get");
    g.handle(request("POST", "/orders", &[], b"")).await;
    assert_eq!(fake.last().0, "create");
    let r = g.handle(request("DELETE", "/orders", &[], b"")).await;
    assert_eq!(
        (r.status, body_json(&r)),
        (404, json!({"message": "Not Found"}))
    );
    assert!(r.header("apigw-requestid").is_some());
}

#[tokio::test]
async fn v2_event_has_the_documented_shape() {
    let fake = Fake::answering(json!({"statusCode": 200}));
    let g = gateway(fake.clone());
    let headers = [
        ("host", "127.0.0.1:3000"),
        ("user-agent", "test/1"),
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("cookie", "c1=v1; c2=v2"),
        ("content-type", "application/json"),
    ];
    g.handle(request(
        "GET",
        "/orders/a%20b?x=1&x=2&y=%2B&z",
        &headers,
        b"{\"k\":1}",
    ))
    .await;
    let (_, e) = fake.last();
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "GET /orders/{id}");
    assert_eq!(e["rawPath"], "/orders/a%20b");
    assert_eq!(e["rawQueryString"], "x=1&x=2&y=%2B&z");
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(
        e["queryStringParameters"],
        json!({"x": "1,2", "y": "+", "z": ""})
    );
    assert_eq!(e["pathParameters"], json!({"id": "a b"}));
    assert_eq!(e["body"], "{\"k\":1}");
    assert_eq!(e["isBase64Encoded"], false);
    let cx = &e["requestContext"];
    assert_eq!(cx["accountId"], "000000000000");
    assert_eq!(cx["stage"], "$default");
    assert_eq!(cx["routeKey"], "GET /orders/{id}");
    assert_eq!(cx["http"]["method"], "GET");
    assert_eq!(cx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(cx["http"]["userAgent"], "test/1");
    assert_eq!(cx["domainName"], "127.0.0.1:3000");
    assert_eq!(cx["apiId"].as_str().map(str::len), Some(10));
    assert!(cx["timeEpoch"].as_u64().is_some());
    assert!(e.get("stageVariables").is_none());
}

#[tokio::test]
async fn v1_event_has_multi_value_fields() {
    let fake = Fake::answering(json!({"statusCode": 200}));
    let g = gateway(fake.clone());
    let headers = [("x-multi", "a"), ("x-multi", "b")];
    g.handle(request("PUT", "/v1/a/b?x=1&x=2", &headers, b""))
        .await;
    let (function, e) = fake.last();
    assert_eq!(function, "legacy");
    assert_eq!(e["version"], "1.0");
    assert_eq!(e["resource"], "/v1/{proxy+}");
    assert_eq!(e["path"], "/v1/a/b");
    assert_eq!(e["httpMethod"], "PUT");
    assert_eq!(e["headers"]["x-multi"], "b");
    assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
    assert_eq!(e["queryStringParameters"], json!({"x": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"x": ["1", "2"]})
    );
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b"}));
    assert_eq!(e["requestContext"]["resourcePath"], "/v1/{proxy+}");
    assert_eq!(e["requestContext"]["httpMethod"], "PUT");
    assert_eq!(e["stageVariables"], Value::Null);
    assert_eq!(e["body"], Value::Null);
}

#[test]
fn text_media_types_are_not_base64() {
    for text in [
        "text/plain",
        "text/html; charset=utf-8",
        "application/json",
        "application/vnd.api+json",
        "application/xml",
        "image/svg+xml",
        "application/javascript",
    ] {
        assert!(event::is_text(Some(text)), "{text}");
    }
    for binary in [
        "application/octet-stream",
        "image/png",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "nonsense",
    ] {
        assert!(!event::is_text(Some(binary)), "{binary}");
    }
    assert!(!event::is_text(None));
}

#[tokio::test]
async fn binary_bodies_arrive_base64() {
    let fake = Fake::answering(json!({"statusCode": 200}));
    let g = gateway(fake.clone());
    let headers = [("content-type", "application/octet-stream")];
    g.handle(request("POST", "/orders", &headers, &[0, 159, 255]))
        .await;
    let (_, e) = fake.last();
    assert_eq!(e["body"], "AJ//");
    assert_eq!(e["isBase64Encoded"], true);
}

#[test]
fn v2_results_map_as_documented() {
    let check = |v: Value| response::from_v2(v.to_string().as_bytes());
    let r = check(json!({"a": 1})).expect("valid");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(body_json(&r), json!({"a": 1}));
    let r = check(json!([1, 2])).expect("valid");
    assert_eq!(&r.body[..], b"[1,2]");
    let r = check(json!(7)).expect("valid");
    assert_eq!(&r.body[..], b"7");
    let r = check(json!("Hello from Lambda!")).expect("valid");
    assert_eq!(&r.body[..], b"Hello from Lambda!");
    let r = check(json!({
        "statusCode": 201,
        "headers": {"X-Thing": "yes", "x-n": 3},
        "cookies": ["a=1", "b=2; Path=/"],
        "body": "AP8=",
        "isBase64Encoded": true,
    }))
    .expect("valid");
    assert_eq!(r.status, 201);
    assert_eq!(&r.body[..], &[0u8, 255]);
    assert_eq!(r.header("x-thing"), Some("yes"));
    assert_eq!(r.header("x-n"), Some("3"));
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2; Path=/"]);
    assert!(check(json!({"statusCode": "abc"})).is_err());
    assert!(check(json!({"statusCode": 200, "body": {"x": 1}})).is_err());
    assert!(check(json!({"statusCode": 200, "body": "!!", "isBase64Encoded": true})).is_err());
    assert!(response::from_v2(b"not json").is_err());
}

#[test]
fn v1_results_need_a_status_code_and_merge_multi_value_headers() {
    assert_eq!(
        response::from_v1(br#"{"body": "x"}"#),
        Err(MalformedResponse::NoStatusCode)
    );
    let r = response::from_v1(
        json!({
            "statusCode": 200,
            "headers": {"x-one": "1", "x-both": "single"},
            "multiValueHeaders": {"x-both": ["m1", "m2"]},
            "body": "ok",
        })
        .to_string()
        .as_bytes(),
    )
    .expect("valid");
    let both: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "x-both")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(both, ["m1", "m2"]);
    assert_eq!(r.header("x-one"), Some("1"));
}

#[tokio::test]
async fn function_errors_and_malformed_results_are_500() {
    let failing = Fake::raw(Err(InvokeError::Timeout {
        after: Duration::from_secs(1),
    }));
    let r = gateway(failing)
        .handle(request("GET", "/orders", &[], b""))
        .await;
    assert_eq!(
        (r.status, body_json(&r)),
        (500, json!({"message": "Internal Server Error"}))
    );
    let malformed = Fake::raw(Ok(Bytes::from_static(b"{\"statusCode\": true}")));
    let r = gateway(malformed)
        .handle(request("GET", "/orders", &[], b""))
        .await;
    assert_eq!(r.status, 500);
    // Payload 1.0 does not infer a response.
    let bare = Fake::answering(json!({"hello": 1}));
    let r = gateway(bare)
        .handle(request("GET", "/v1/x", &[], b""))
        .await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn the_integration_timeout_is_503() {
    let slow = Arc::new(Fake {
        answer: Ok(Bytes::from_static(b"{}")),
        delay: Duration::from_millis(500),
        events: Mutex::new(Vec::new()),
    });
    let g = Gateway::new();
    g.swap(Arc::new(
        Api::new(&service(), slow).with_integration_timeout(Duration::from_millis(50)),
    ));
    let r = g.handle(request("GET", "/orders", &[], b"")).await;
    assert_eq!(
        (r.status, body_json(&r)),
        (503, json!({"message": "Service Unavailable"}))
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_without_a_function() {
    let fake = Fake::answering(json!({"statusCode": 200}));
    let g = gateway(fake.clone());
    let headers = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let r = g
        .handle(request("OPTIONS", "/anything", &headers, b""))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("300"));
    assert!(fake.events.lock().expect("not poisoned").is_empty());
    // Another origin: answered, but allowed nothing.
    let other = [
        ("origin", "https://evil.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let r = g.handle(request("OPTIONS", "/orders", &other, b"")).await;
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_headers_are_added_to_responses_of_allowed_origins() {
    let fake = Fake::answering(json!({
        "statusCode": 200,
        "headers": {"access-control-allow-origin": "*"},
    }));
    let g = gateway(fake);
    let r = g
        .handle(request(
            "GET",
            "/orders",
            &[("origin", "https://app.example.com")],
            b"",
        ))
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("vary"), Some("origin"));
    let r = g
        .handle(request(
            "GET",
            "/orders",
            &[("origin", "https://evil.example.com")],
            b"",
        ))
        .await;
    // The function's own CORS header is dropped, as API Gateway drops it.
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_the_api_it_started_with() {
    let old = Arc::new(Fake {
        answer: Ok(Bytes::from_static(b"\"old\"")),
        delay: Duration::from_millis(200),
        events: Mutex::new(Vec::new()),
    });
    let g = Arc::new(gateway(old));
    let in_flight = {
        let g = g.clone();
        tokio::spawn(async move { g.handle(request("GET", "/orders", &[], b"")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    g.swap(Arc::new(Api::new(
        &service(),
        Fake::answering(json!("new")),
    )));
    let r = g.handle(request("GET", "/orders", &[], b"")).await;
    assert_eq!(&r.body[..], b"new");
    let r = in_flight.await.expect("joined");
    assert_eq!((r.status, &r.body[..]), (200, &b"old"[..]));
}

#[test]
fn routes_are_described_for_the_cli() {
    let api = Api::new(&service(), Arc::new(NoBackend));
    assert_eq!(
        api.describe(),
        [
            "GET /orders -> list",
            "POST /orders -> create",
            "GET /orders/{id} -> get",
            "ANY /v1/{proxy+} -> legacy (payload 1.0)",
        ]
    );
}
