//! The one AWS-compatible HTTP endpoint of the local target.
//!
//! Every request goes through [`handle`]: read the SigV4 scope and
//! `X-Amz-Target` from the headers, pick the service from the
//! [`ServiceTable`], read the body up to the size limit (or hand it over
//! unread to a service that streams, S3), map the access key to
//! a [`Principal`], and let the service answer on its own task. Nothing on
//! that path panics or drops a connection on bad input: a request no service
//! claims gets the JSON protocol's `UnknownOperationException`, everything
//! else is answered in the claiming service's error shape.

mod service;
mod sigv4;

use std::future::{Future, IntoFuture as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use self::service::{
    AwsService, DuplicateRoute, Rejection, Route, ServiceFuture, ServiceRequest, ServiceTable,
};
pub use self::sigv4::CredentialScope;
use crate::access::{AccessRegistry, Principal};

/// Where and how the endpoint listens.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Loopback by default (SPEC §5); port 0 asks the OS for a free one.
    pub addr: SocketAddr,
    /// Largest request body accepted. DynamoDB's own limit is 16 MB.
    pub body_limit: usize,
}

impl EndpointConfig {
    pub const DEFAULT_PORT: u16 = 4566;
    pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

    pub fn loopback(port: u16) -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            body_limit: Self::DEFAULT_BODY_LIMIT,
        }
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self::loopback(Self::DEFAULT_PORT)
    }
}

/// Why the endpoint could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the endpoint stopped with an I/O error")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Route(#[from] DuplicateRoute),
}

/// A bound endpoint, ready to serve.
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    services: ServiceTable,
    access: Arc<AccessRegistry>,
    body_limit: usize,
    /// Cancelled once the shutdown future resolves.
    stopping: CancellationToken,
}

/// How long a stopping endpoint waits for the requests in flight. Long polls
/// end at once when it stops, so only a stuck client (one that never
/// finishes sending its request) can hold it that long; a write that began is
/// committed or not at all either way, as after `kill -9`.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Endpoint {
    /// Bind the socket now, so the caller can report the real address (port
    /// 0 included) before serving.
    pub async fn bind(
        config: &EndpointConfig,
        services: ServiceTable,
        access: Arc<AccessRegistry>,
    ) -> Result<Self, EndpointError> {
        let bind_err = |source| EndpointError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                services,
                access,
                body_limit: config.body_limit,
                stopping: CancellationToken::new(),
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until `shutdown` resolves, then stop accepting, end long polls,
    /// let the requests in flight finish for up to [`DRAIN_LIMIT`], and
    /// return.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EndpointError> {
        let stopping = self.shared.stopping.clone();
        let router = Router::new().fallback(handle).with_state(self.shared);
        // Without TCP_NODELAY, a streamed answer (an S3 GET: the head, then
        // the body from its file) waits in Nagle's algorithm for the client's
        // delayed ACK of the head, about 40 ms per small object. A socket
        // that refuses the option still serves, only slower.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let stop = stopping.clone();
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.cancel();
            })
            .into_future();
        tokio::select! {
            result = served => result.map_err(EndpointError::Serve),
            () = async {
                stopping.cancelled().await;
                tokio::time::sleep(DRAIN_LIMIT).await;
            } => Ok(()),
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, never resolve from this arm:
        // the other signal (or the process being killed) still stops us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let scope = CredentialScope::of_request(&parts.headers, &parts.uri);
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let Some(route) = shared.services.route(target, scope.as_ref()) else {
        return unroutable();
    };
    let service = Arc::clone(route.service);
    let operation = route.operation.map(str::to_owned);
    let (body, stream) = if service.streams_body() {
        (Bytes::new(), Some(body))
    } else {
        match read_body(body, shared.body_limit).await {
            Ok(body) => (body, None),
            Err(rejection) => return service.reject(rejection),
        }
    };
    let principal: Principal = shared
        .access
        .principal(scope.as_ref().map(|s| s.access_key_id.as_str()));
    let request = ServiceRequest {
        principal,
        operation,
        scope,
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
        stream,
        hung_up: CancellationToken::new(),
        stopping: shared.stopping.clone(),
    };
    // hyper drops this handler when the client hangs up before the answer;
    // the guard then tells the service, whose task goes on (a write that
    // spans several steps still finishes them).
    let hung_up = request.hung_up.clone().drop_guard();
    // Its own task, so that a panic in a service answers 500 in the service's
    // shape instead of tearing down the connection.
    let response = match tokio::spawn(service.call(request)).await {
        Ok(response) => response,
        Err(_) => service.reject(Rejection::Internal),
    };
    hung_up.disarm();
    response
}

/// Read the whole body, refusing more than `limit` bytes. An oversized body is
/// still drained (up to a hard cap, discarding it) so that the client, which
/// typically sends everything before reading, gets the error response instead
/// of a reset connection.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, Rejection> {
    const DRAIN_CAP_FACTOR: usize = 4;
    let mut buffer = BytesMut::new();
    let mut seen: usize = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Rejection::BodyUnreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > limit.saturating_mul(DRAIN_CAP_FACTOR) {
            break;
        }
        if seen <= limit {
            buffer.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(Rejection::BodyTooLarge { limit });
    }
    Ok(buffer.freeze())
}

/// The JSON protocol's answer to a request no service claims.
fn unroutable() -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#,
    )
        .into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}
