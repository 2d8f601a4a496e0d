//! One worker: a function process and the Lambda Runtime API listener it
//! talks to.
//!
//! Each worker gets its own loopback listener, so `AWS_LAMBDA_RUNTIME_API`
//! (plain `host:port`, as Lambda sets it) identifies the worker without any
//! header or path of Strata's own: AWS's runtime clients work unchanged. A
//! worker holds at most one request at a time, in one slot: the pool puts a
//! [`Job`] there, the runtime's `GET /invocation/next` takes it, and its
//! `/response` or `/error` answers the job's reply channel.
//!
//! The process runs in its own process group and the whole group is killed
//! when the [`Worker`] is dropped (timeout, crash, retirement), so a
//! `provided` bootstrap that forks leaves nothing behind.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use super::deployment::FunctionSpec;
use super::logs::{LogLine, LogSink, LogStream};
use super::{InvokeError, now_ms};

/// Lambda's limit on a synchronous response (and on an error document).
pub(super) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// How long a process may take from start to its first `/next` before it
/// is treated as failed to start, as Lambda's 10-second init limit.
pub(super) const INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) type Reply = oneshot::Sender<Result<Bytes, InvokeError>>;

/// One request on its way to a worker.
#[derive(Debug)]
pub(super) struct Job {
    pub request_id: String,
    pub event: Bytes,
    pub deadline_ms: u64,
    pub reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Started, has not asked for work yet (importing the handler).
    Starting,
    /// Has called `/next` at least once.
    Ready,
    Exited,
}

#[derive(Debug)]
struct Shared {
    spec: Arc<FunctionSpec>,
    /// The job waiting for `/next`, if any.
    pending: Mutex<Option<Job>>,
    /// Rung when `pending` is filled.
    wake: Notify,
    /// The job a runtime took and has not answered.
    current: Mutex<Option<(String, Reply)>>,
    /// The id of the last request handed over: output that arrives after
    /// its answer (pipes lag behind the Runtime API) still belongs to it.
    last_request: Mutex<String>,
    /// What the runtime posted to `/init/error`.
    init_error: Mutex<Option<InvokeError>>,
    status: watch::Sender<Status>,
}

impl Shared {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_request_id(&self) -> String {
        Self::lock(&self.current)
            .as_ref()
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| Self::lock(&self.last_request).clone())
    }

    /// The process is gone: answer whatever it held.
    fn exited(&self, status: String) {
        let init = Self::lock(&self.init_error).clone();
        let error = init.unwrap_or(InvokeError::Exited { status });
        if let Some((_, reply)) = Self::lock(&self.current).take() {
            let _ = reply.send(Err(error.clone()));
        }
        if let Some(job) = Self::lock(&self.pending).take() {
            let _ = job.reply.send(Err(error));
        }
        self.status.send_replace(Status::Exited);
    }
}

/// A running worker. Dropping it kills the process group.
#[derive(Debug)]
pub(super) struct Worker {
    shared: Arc<Shared>,
    pid: Option<u32>,
    status: watch::Receiver<Status>,
    server: JoinHandle<()>,
    killed: AtomicBool,
}

impl Worker {
    /// Start a worker of `spec`. Returns once the process is running; it
    /// may still be importing its handler.
    pub async fn spawn(
        spec: Arc<FunctionSpec>,
        log_stream_name: &str,
        sink: Arc<dyn LogSink>,
    ) -> Result<Self, InvokeError> {
        let start_error = |what: &str, e: std::io::Error| InvokeError::Start {
            message: format!("{what}: {e}"),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| start_error("cannot open the Runtime API listener", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| start_error("cannot open the Runtime API listener", e))?;
        let (status, status_rx) = watch::channel(Status::Starting);
        let shared = Arc::new(Shared {
            spec: spec.clone(),
            pending: Mutex::new(None),
            wake: Notify::new(),
            current: Mutex::new(None),
            last_request: Mutex::new(String::new()),
            init_error: Mutex::new(None),
            status,
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            // Ends only when the worker is dropped (the task is aborted).
            // No Nagle delay: a response body written after its headers
            // would otherwise wait for the worker's delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, router).await;
        });

        let process = match launch(&spec, addr, log_stream_name, &sink).await {
            Ok(process) => process,
            Err(e) => {
                server.abort();
                return Err(start_error(
                    &format!("cannot run {}", spec.program.display()),
                    e,
                ));
            }
        };
        let pid = Some(process.pid);
        pump(
            process.stdout,
            LogStream::Stdout,
            shared.clone(),
            sink.clone(),
        );
        pump(process.stderr, LogStream::Stderr, shared.clone(), sink);
        let monitored = shared.clone();
        tokio::spawn(async move {
            let status = process.exit.await;
            monitored.exited(status);
        });
        Ok(Self {
            shared,
            pid,
            status: status_rx,
            server,
            killed: AtomicBool::new(false),
        })
    }

    /// Hand a job to the worker. The worker must be idle.
    pub fn dispatch(&self, job: Job) {
        if *self.status.borrow() == Status::Exited {
            let error =
                Shared::lock(&self.shared.init_error)
                    .clone()
                    .unwrap_or(InvokeError::Exited {
                        status: "the process had exited".to_owned(),
                    });
            let _ = job.reply.send(Err(error));
            return;
        }
        *Shared::lock(&self.shared.pending) = Some(job);
        self.shared.wake.notify_one();
        // The process may have died between the check and the store.
        if *self.status.borrow() == Status::Exited {
            self.shared.exited("the process had exited".to_owned());
        }
    }

    /// Wait until the runtime asks for work, exits, or `INIT_TIMEOUT` passes.
    /// Returns its init error when it failed to start.
    pub async fn ready(&self) -> Result<(), InvokeError> {
        let mut status = self.status.clone();
        let waited =
            tokio::time::timeout(INIT_TIMEOUT, status.wait_for(|s| *s != Status::Starting)).await;
        match waited {
            Ok(Ok(s)) if *s == Status::Ready => Ok(()),
            Err(_) => Err(InvokeError::Start {
                message: format!(
                    "the runtime did not ask for work within {} seconds",
                    INIT_TIMEOUT.as_secs()
                ),
            }),
            _ => {
                Err(Shared::lock(&self.shared.init_error)
                    .clone()
                    .unwrap_or(InvokeError::Exited {
                        status: "the process exited before asking for work".to_owned(),
                    }))
            }
        }
    }

    pub fn is_alive(&self) -> bool {
        !self.killed.load(Ordering::Relaxed) && *self.status.borrow() != Status::Exited
    }

    /// Kill the process group now.
    pub fn kill(&self) {
        if self.killed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            // The group leader's pid is the group id (`process_group(0)`).
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

/// A started worker process, however it was started.
struct Launched {
    pid: u32,
    stdout: Pin<Box<dyn AsyncRead + Send>>,
    stderr: Pin<Box<dyn AsyncRead + Send>>,
    /// Resolves to the exit status once the process is gone.
    exit: Pin<Box<dyn Future<Output = String> + Send>>,
}

/// Start the process of `spec`: forked from its zygote when it has a working
/// one, else spawned. Either way it has exactly the spec's environment plus
/// the Runtime API address, and its own process group.
async fn launch(
    spec: &FunctionSpec,
    runtime_api: SocketAddr,
    log_stream_name: &str,
    sink: &Arc<dyn LogSink>,
) -> std::io::Result<Launched> {
    let mut env = spec.env.clone();
    env.insert("AWS_LAMBDA_RUNTIME_API".to_owned(), runtime_api.to_string());
    env.insert(
        "AWS_LAMBDA_LOG_STREAM_NAME".to_owned(),
        log_stream_name.to_owned(),
    );
    if let (Some(zygote), Some(script)) = (
        spec.zygote.as_ref().filter(|z| z.enabled()),
        spec.args.last(),
    ) {
        match zygote
            .fork(std::path::Path::new(script), &spec.task_root, &env)
            .await
        {
            Ok(forked) => {
                return Ok(Launched {
                    pid: forked.pid,
                    stdout: Box::pin(forked.stdout),
                    stderr: Box::pin(forked.stderr),
                    exit: Box::pin(async move {
                        forked
                            .exit
                            .await
                            .unwrap_or_else(|_| "the Python zygote exited".to_owned())
                    }),
                });
            }
            Err(e) => {
                zygote.disable();
                sink.emit(LogLine {
                    time_ms: now_ms(),
                    function: spec.name.clone(),
                    request_id: String::new(),
                    stream: LogStream::Platform,
                    text: format!(
                        "cannot fork a Python worker ({e}); starting Python workers without the preloaded interpreter"
                    ),
                });
            }
        }
    }
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .current_dir(&spec.task_root)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()?;
    let (Some(pid), Some(stdout), Some(stderr)) =
        (child.id(), child.stdout.take(), child.stderr.take())
    else {
        return Err(std::io::Error::other("the process has no pid or pipes"));
    };
    Ok(Launched {
        pid,
        stdout: Box::pin(stdout),
        stderr: Box::pin(stderr),
        exit: Box::pin(async move {
            match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("cannot wait for the process: {e}"),
            }
        }),
    })
}

/// Forward each line of a worker's output to the sink, tagged with the
/// request the worker is serving.
fn pump(
    stream: impl AsyncRead + Send + 'static,
    kind: LogStream,
    shared: Arc<Shared>,
    sink: Arc<dyn LogSink>,
) {
    tokio::spawn(async move {
        let mut reader = Box::pin(BufReader::new(stream));
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    sink.emit(LogLine {
                        time_ms: now_ms(),
                        function: shared.spec.name.clone(),
                        request_id: shared.current_request_id(),
                        stream: kind,
                        text: text.trim_end_matches(['\n', '\r']).to_owned(),
                    });
                }
            }
        }
    });
}

// ---- the Runtime API -------------------------------------------------------

/// `GET /2018-06-01/runtime/invocation/next`: wait for a job and hand it over
/// with the documented headers.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.status.send_if_modified(|s| {
        let first = *s == Status::Starting;
        if first {
            *s = Status::Ready;
        }
        first
    });
    let job = loop {
        let taken = Shared::lock(&shared.pending).take();
        if let Some(job) = taken {
            break job;
        }
        // `notify_one` stores a permit when nobody waits, so a job stored
        // between the check above and this await is not missed.
        shared.wake.notified().await;
    };
    let Job {
        request_id,
        event,
        deadline_ms,
        reply,
    } = job;
    request_id.clone_into(&mut Shared::lock(&shared.last_request));
    *Shared::lock(&shared.current) = Some((request_id.clone(), reply));
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &request_id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &shared.spec.function_arn,
    );
    set(
        "lambda-runtime-trace-id",
        &format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            deadline_ms / 1000,
            &request_id.replace('-', "")[..24],
            &request_id.replace('-', "")[..16]
        ),
    );
    set("content-type", "application/json");
    (StatusCode::OK, headers, event).into_response()
}

/// Read a runtime's post, up to Lambda's response limit.
async fn read_limited(body: Body) -> Result<Bytes, ()> {
    match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(()),
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string(),
    )
        .into_response()
}

/// Take the current job if `id` names it.
fn take_current(shared: &Shared, id: &str) -> Option<Reply> {
    let mut current = Shared::lock(&shared.current);
    match current.as_ref() {
        Some((current_id, _)) if current_id == id => current.take().map(|(_, reply)| reply),
        _ => None,
    }
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`.
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let Some(reply) = take_current(&shared, &id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    match read_limited(body).await {
        Ok(bytes) => {
            let _ = reply.send(Ok(bytes));
            accepted()
        }
        Err(()) => {
            let message = format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            );
            let _ = reply.send(Err(InvokeError::Function {
                error_type: "Function.ResponseSizeTooLarge".to_owned(),
                message: message.clone(),
                body: Bytes::new(),
            }));
            runtime_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &message,
            )
        }
    }
}

/// The `errorType` and `errorMessage` of a runtime's error document, with
/// the header's type as the fallback.
fn error_fields(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok());
    let error_type = doc["errorType"]
        .as_str()
        .or(header_type)
        .unwrap_or("Unhandled")
        .to_owned();
    let message = doc["errorMessage"].as_str().unwrap_or_default().to_owned();
    (error_type, message)
}

/// `POST /2018-06-01/runtime/invocation/{id}/error`.
async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(reply) = take_current(&shared, &id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        );
    };
    let body = read_limited(body).await.unwrap_or_default();
    let (error_type, message) = error_fields(&headers, &body);
    let _ = reply.send(Err(InvokeError::Function {
        error_type,
        message,
        body,
    }));
    accepted()
}

/// `POST /2018-06-01/runtime/init/error`: remembered, and given to whatever
/// request was waiting for this worker when the process exits.
async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = read_limited(body).await.unwrap_or_default();
    let (error_type, message) = error_fields(&headers, &body);
    *Shared::lock(&shared.init_error) = Some(InvokeError::Init {
        error_type,
        message,
        body,
    });
    accepted()
}
