//! The socket side of the gateway: bind on loopback, turn each HTTP
//! request into an [`HttpRequest`] (body read under a hard cap, never
//! buffering more than [`BODY_LIMIT`]), let the [`Gateway`] answer, and shut
//! down gracefully, mirroring the AWS endpoint's `Endpoint`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use bytes::BytesMut;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::event::HttpRequest;
use super::response::GatewayResponse;
use super::{BODY_LIMIT, Gateway};

/// Why the gateway could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP API stopped with an I/O error")]
    Serve(#[source] std::io::Error),
}

/// A bound HTTP API, ready to serve.
#[derive(Debug)]
pub struct GatewayServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    gateway: Arc<Gateway>,
}

impl GatewayServer {
    /// Bind now, so the caller can print the real address (port 0
    /// included) before serving. Strata passes a loopback address (SPEC §5).
    pub async fn bind(addr: SocketAddr, gateway: Arc<Gateway>) -> Result<Self, GatewayError> {
        let bind_err = |source| GatewayError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Self {
            listener,
            local_addr,
            gateway,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serve until `shutdown` resolves, then stop accepting, let requests
    /// in flight finish, and return.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let router = Router::new()
            .fallback(handle)
            .with_state((self.gateway, self.local_addr.port()));
        // No Nagle delay, for the same reason as the endpoint's.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(GatewayError::Serve)
    }
}

/// A gateway serving on its own task, until [`RunningGateway::stop`].
#[derive(Debug)]
pub struct RunningGateway {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), GatewayError>>,
}

impl GatewayServer {
    /// Serve on a task of its own; the caller keeps the handle to stop it.
    pub fn spawn(self) -> RunningGateway {
        let local_addr = self.local_addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(async {
            let _ = stopped.await;
        }));
        RunningGateway {
            local_addr,
            stop,
            task,
        }
    }
}

impl RunningGateway {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting and wait up to `grace` for requests in flight; past
    /// that they are dropped (a request can wait on a function for up to the
    /// 30 s integration timeout, longer than anyone waits for Ctrl-C).
    pub async fn stop(self, grace: Duration) -> Result<(), GatewayError> {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

async fn handle(
    State((gateway, local_port)): State<(Arc<Gateway>, u16)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    forwarded(&mut headers, peer, local_port);
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body = match read_body(body, declared).await {
        Ok(body) => body,
        Err(response) => {
            // Answered before any route: the request id is still added.
            let mut response = response;
            response
                .headers
                .push(("apigw-requestid".to_owned(), super::apigw_request_id()));
            return into_http(response);
        }
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        raw_path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
        source_ip: peer.ip().to_string(),
        protocol: format!("{:?}", parts.version),
    };
    into_http(gateway.handle(request).await)
}

/// The headers API Gateway adds before the request reaches the function:
/// the client's address appended to `x-forwarded-for`, the port and
/// protocol it came in on, and a trace id.
fn forwarded(headers: &mut Vec<(String, String)>, peer: SocketAddr, local_port: u16) {
    let ip = peer.ip().to_string();
    match headers.iter_mut().find(|(n, _)| n == "x-forwarded-for") {
        Some((_, value)) => {
            value.push_str(", ");
            value.push_str(&ip);
        }
        None => headers.push(("x-forwarded-for".to_owned(), ip)),
    }
    for (name, value) in [
        ("x-forwarded-port", local_port.to_string()),
        ("x-forwarded-proto", "http".to_owned()),
        ("x-amzn-trace-id", trace_id()),
    ] {
        headers.retain(|(n, _)| n != name);
        headers.push((name.to_owned(), value));
    }
}

/// `Root=1-<epoch seconds in hex>-<24 hex digits>`, X-Ray's format.
fn trace_id() -> String {
    let mut bytes = [0u8; 12];
    // Zeros on failure only make trace ids repeat.
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{:08x}-{hex}", crate::compute::now_ms() / 1000)
}

/// Read the body, refusing more than [`BODY_LIMIT`]. An oversized body is
/// drained (up to four times the limit, discarding it) so that a client that
/// sends everything before reading gets the 413 instead of a reset
/// connection; a declared length past that is refused without reading.
async fn read_body(
    mut body: Body,
    declared: Option<usize>,
) -> Result<bytes::Bytes, GatewayResponse> {
    const DRAIN_CAP: usize = 4 * BODY_LIMIT;
    if declared.is_some_and(|n| n > DRAIN_CAP) {
        return Err(GatewayResponse::too_large());
    }
    let mut buffer = BytesMut::new();
    let mut seen: usize = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(GatewayResponse::message(400, "Bad Request"));
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_CAP {
            break;
        }
        if seen <= BODY_LIMIT {
            buffer.extend_from_slice(&data);
        }
    }
    if seen > BODY_LIMIT {
        return Err(GatewayResponse::too_large());
    }
    Ok(buffer.freeze())
}

/// The gateway's response on the wire. A header the function named that
/// HTTP cannot carry is left out rather than failing the whole response.
fn into_http(response: GatewayResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, Body::from(response.body)).into_response();
    let headers = out.headers_mut();
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    out
}
