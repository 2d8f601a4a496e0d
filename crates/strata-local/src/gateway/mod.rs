//! The HTTP gateway: API Gateway HTTP API behaviour in front of the
//! functions of the active release.
//!
//! From the socket inwards:
//! - [`server`] accepts HTTP on loopback, reads the body under the 10 MB
//!   cap and hands a [`HttpRequest`] to [`Gateway::handle`];
//! - [`Gateway`] holds the current [`Api`] behind one swap point;
//! - [`routes`] picks the route (most specific path, then explicit method
//!   over `ANY`), [`event`] builds the payload 2.0 or 1.0 event,
//!   [`response`] maps the function's result back, [`cors`] answers
//!   preflights and decorates responses.
//!
//! **Invariant (hot swap):** a request takes one snapshot of the [`Api`]
//! when it starts and finishes on it. The snapshot holds the backend (the
//! release's [`Deployment`]), so a request in flight during a swap is
//! answered by the old code and the next one by the new, and none fails
//! because of the swap.
//!
//! Errors map as HTTP APIs map them: no route 404 `Not Found`, a body over
//! 10 MB 413 `Request Entity Too Large`, a function error (raised, crashed,
//! init failure, its own timeout) or a malformed result 500 `Internal
//! Server Error`, no answer within the 30 s integration timeout 503
//! `Service Unavailable`.

pub mod cors;
pub mod event;
pub mod response;
pub mod routes;
mod server;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use strata_model::{PayloadVersion, Service};

pub use self::cors::CorsPolicy;
pub use self::event::{EventContext, HttpRequest};
pub use self::response::{GatewayResponse, MalformedResponse};
pub use self::routes::{RouteEntry, RouteMatch, RouteTable};
pub use self::server::{GatewayError, GatewayServer, RunningGateway};
use crate::compute::{Deployment, InvokeError, LogLine, LogSink, LogStream};

/// HTTP APIs refuse request bodies over 10 MB.
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// HTTP APIs wait at most 30 seconds for a Lambda integration.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The future of one invocation; `'static` so it can run on its own task.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Bytes, InvokeError>> + Send>>;

/// What runs a route's function. The release's [`Deployment`] in
/// `strata dev`; a fake in unit tests.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    fn invoke(&self, function: &str, event: Bytes) -> InvokeFuture;
}

impl Backend for Deployment {
    fn invoke(&self, function: &str, event: Bytes) -> InvokeFuture {
        match self.pool(function).cloned() {
            Some(pool) => Box::pin(async move { pool.invoke(event).await }),
            None => {
                let name = function.to_owned();
                Box::pin(async move { Err(InvokeError::NotFound { name }) })
            }
        }
    }
}

/// No functions: what the gateway serves before the first release.
#[derive(Debug)]
struct NoBackend;

impl Backend for NoBackend {
    fn invoke(&self, function: &str, _event: Bytes) -> InvokeFuture {
        let name = function.to_owned();
        Box::pin(async move { Err(InvokeError::NotFound { name }) })
    }
}

/// One release's HTTP API: its routes, its CORS and what invokes its
/// functions.
#[derive(Debug)]
pub struct Api {
    routes: RouteTable,
    cors: Option<CorsPolicy>,
    api_id: String,
    backend: Arc<dyn Backend>,
    integration_timeout: Duration,
    /// Where the gateway says why it answered 500 or 503 for a function
    /// (AWS puts that in the access log's `integrationErrorMessage`).
    log: Option<Arc<dyn LogSink>>,
}

impl Api {
    /// The API of `service`, invoking through `backend`.
    pub fn new(service: &Service, backend: Arc<dyn Backend>) -> Self {
        Self {
            routes: RouteTable::from_service(service),
            cors: service.stateless.http.cors.as_ref().map(CorsPolicy::new),
            api_id: api_id(service.name.as_str()),
            backend,
            integration_timeout: INTEGRATION_TIMEOUT,
            log: None,
        }
    }

    /// The API of a deployment, which then lives as long as a request uses it.
    pub fn for_deployment(deployment: Arc<Deployment>) -> Self {
        let service = deployment.service.clone();
        Self::new(&service, deployment)
    }

    /// No routes: every request is 404.
    pub fn empty() -> Self {
        Self {
            routes: RouteTable::default(),
            cors: None,
            api_id: api_id(""),
            backend: Arc::new(NoBackend),
            integration_timeout: INTEGRATION_TIMEOUT,
            log: None,
        }
    }

    /// Replace the 30 s integration timeout (tests).
    pub fn with_integration_timeout(mut self, timeout: Duration) -> Self {
        self.integration_timeout = timeout;
        self
    }

    /// Report malformed results and integration timeouts to `sink`, as
    /// platform lines of the function.
    pub fn with_log(mut self, sink: Arc<dyn LogSink>) -> Self {
        self.log = Some(sink);
        self
    }

    fn report(&self, function: &str, request_id: &str, text: String) {
        if let Some(log) = &self.log {
            log.emit(LogLine {
                time_ms: crate::compute::now_ms(),
                function: function.to_owned(),
                request_id: request_id.to_owned(),
                stream: LogStream::Platform,
                text,
            });
        }
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// `GET /orders/{id} -> getOrder`, one line per route, for the CLI.
    pub fn describe(&self) -> Vec<String> {
        self.routes
            .entries()
            .iter()
            .map(|e| {
                let payload = match e.payload {
                    PayloadVersion::V1 => " (payload 1.0)",
                    PayloadVersion::V2 => "",
                };
                format!("{} -> {}{payload}", e.key(), e.function)
            })
            .collect()
    }
}

/// Holds the current [`Api`]; [`Gateway::swap`] replaces it in one step.
#[derive(Debug)]
pub struct Gateway {
    current: RwLock<Arc<Api>>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    pub fn new() -> Self {
        Self {
            current: RwLock::new(Arc::new(Api::empty())),
        }
    }

    /// Make `api` the one new requests get; returns the previous one, which
    /// lives on while requests still hold it.
    pub fn swap(&self, api: Arc<Api>) -> Arc<Api> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, api)
    }

    pub fn current(&self) -> Arc<Api> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answer one request (its body already read) on the current API.
    pub async fn handle(&self, request: HttpRequest) -> GatewayResponse {
        let api = self.current();
        let request_id = apigw_request_id();
        let mut response = respond(&api, &request, &request_id).await;
        // A preflight's answer carries its own CORS headers.
        if let Some(cors) = &api.cors
            && !CorsPolicy::is_preflight(&request)
        {
            cors.decorate(&request, &mut response);
        }
        response
            .headers
            .push(("apigw-requestid".to_owned(), request_id));
        response
    }
}

/// The answer before the headers every response gets.
async fn respond(api: &Arc<Api>, request: &HttpRequest, request_id: &str) -> GatewayResponse {
    if let Some(cors) = &api.cors
        && CorsPolicy::is_preflight(request)
    {
        return cors.preflight(request);
    }
    let Some(matched) = api.routes.find(&request.method, &request.raw_path) else {
        return GatewayResponse::not_found();
    };
    let cx = EventContext {
        api_id: api.api_id.clone(),
        request_id: request_id.to_owned(),
        time_ms: crate::compute::now_ms(),
    };
    let payload = matched.entry.payload;
    let event = match payload {
        PayloadVersion::V2 => event::v2(request, &matched, &cx),
        PayloadVersion::V1 => event::v1(request, &matched, &cx),
    };
    let function = matched.entry.function.clone();
    let name = function.clone();
    // The invocation runs on its own task holding the API snapshot (and so
    // the deployment): when the integration timeout gives up on it, the
    // function still runs to its own deadline, as Lambda's would, and its
    // worker is returned to the pool instead of being abandoned mid-request.
    let held = api.clone();
    let invocation = tokio::spawn(async move {
        held.backend
            .invoke(&function, Bytes::from(event.to_string()))
            .await
    });
    let output = match tokio::time::timeout(api.integration_timeout, invocation).await {
        Err(_) => {
            api.report(
                &name,
                request_id,
                format!(
                    "HTTP API: no answer within the {} s integration timeout; answered 503",
                    api.integration_timeout.as_secs()
                ),
            );
            return GatewayResponse::service_unavailable();
        }
        Ok(Err(_)) => return GatewayResponse::internal_error(),
        Ok(Ok(Err(e))) => {
            // The function's own output already shows a handler's exception;
            // this line says what the caller got, and why when nothing else
            // does (a response over Lambda's 6 MB limit, a crash).
            api.report(
                &name,
                request_id,
                format!("HTTP API: the invocation failed ({e}); answered 500"),
            );
            return GatewayResponse::internal_error();
        }
        Ok(Ok(Ok(output))) => output,
    };
    let mapped = match payload {
        PayloadVersion::V2 => response::from_v2(&output),
        PayloadVersion::V1 => response::from_v1(&output),
    };
    let mut response = mapped.unwrap_or_else(|e| {
        api.report(
            &name,
            request_id,
            format!("HTTP API: malformed Lambda proxy response: {e}; answered 500"),
        );
        GatewayResponse::internal_error()
    });
    if request.method == "HEAD" {
        response.body = Bytes::new();
    }
    response
}

/// A stable id for the service's API, in API Gateway's shape (10
/// lowercase letters and digits).
fn api_id(service: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Sha256::digest(service.as_bytes())
        .iter()
        .take(10)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// A request id like API Gateway's (`JKJaXmPLvHcESHA=`).
fn apigw_request_id() -> String {
    let mut bytes = [0u8; 10];
    // A failed read of the OS's random source leaves zeros: ids then
    // repeat, which only makes them less useful in logs.
    let _ = getrandom::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;
