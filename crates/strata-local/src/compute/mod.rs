//! Local compute: functions run as real processes speaking the Lambda
//! Runtime API, kept warm in a pool per function, swapped atomically when a
//! new release of the stateless stack is activated.
//!
//! From the caller inwards:
//! - [`Compute`] holds the active [`Deployment`] (one release: a pool per
//!   function) and swaps it in one step; an invocation keeps the deployment it
//!   started on, so requests in flight finish on the old code.
//! - [`pool`] runs one function: idle workers are reused, new ones are started
//!   up to the concurrency limit, the deadline is enforced by killing the
//!   worker.
//! - [`worker`] is one process and the Runtime API listener it talks to.
//! - [`bootstrap`] holds the Python and Node runtimes shipped in the binary.
//! - [`package`] turns a code folder into a release artifact and the folder a
//!   worker runs from, with dependencies installed once per manifest hash.
//! - [`triggers`] feed queues, schedules and bucket events to functions.
//! - [`lambda_api`] is the Lambda Invoke API on the shared endpoint.
//! - [`logs`] carries each line a function prints, with its request id.

pub mod bootstrap;
mod deployment;
pub mod lambda_api;
pub mod logs;
pub mod package;
mod pool;
pub mod triggers;
mod worker;
mod zygote;

use std::time::Duration;

use bytes::Bytes;

pub use deployment::{
    Compute, ComputeConfig, Deployment, DeploymentError, FunctionSpec, output_attribute,
};
pub use logs::{LogFiles, LogLine, LogSink, LogStream};
pub use pool::FunctionPool;

/// Why an invocation returned no response. Each variant knows the
/// `errorType` and message AWS Lambda would report for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The handler raised (or the runtime reported an error for this
    /// request): the runtime's error document is passed on as it came.
    #[error("{error_type}: {message}")]
    Function {
        error_type: String,
        message: String,
        /// The error document as the runtime posted it.
        body: Bytes,
    },
    /// The handler ran past the function's timeout; the worker was killed.
    #[error("task timed out after {:.2} seconds", .after.as_secs_f64())]
    Timeout { after: Duration },
    /// The process exited (crash, `exit()`, killed) before answering.
    #[error("runtime exited with error: {status}")]
    Exited { status: String },
    /// The function's code failed before it could take a request (import
    /// error, missing handler): the runtime's `/init/error` document.
    #[error("{error_type}: {message}")]
    Init {
        error_type: String,
        message: String,
        body: Bytes,
    },
    /// The process could not be started at all.
    #[error("cannot start the function: {message}")]
    Start { message: String },
    /// No function of that name in the active release.
    #[error("function `{name}` does not exist")]
    NotFound { name: String },
}

impl InvokeError {
    /// Lambda's `errorType` for this failure.
    pub fn error_type(&self) -> &str {
        match self {
            Self::Function { error_type, .. } | Self::Init { error_type, .. } => error_type,
            Self::Timeout { .. } => "Sandbox.Timedout",
            Self::Exited { .. } => "Runtime.ExitError",
            Self::Start { .. } => "Runtime.InvalidEntrypoint",
            Self::NotFound { .. } => "ResourceNotFoundException",
        }
    }

    /// The error document Lambda returns to an invoker: the runtime's own
    /// when it sent one, else `{"errorMessage", "errorType"}`.
    pub fn document(&self, request_id: &str) -> Bytes {
        match self {
            Self::Function { body, .. } | Self::Init { body, .. } if !body.is_empty() => {
                body.clone()
            }
            _ => {
                let message = match self {
                    Self::Timeout { .. } | Self::Exited { .. } => {
                        format!("RequestId: {request_id} Error: {self}")
                    }
                    _ => self.to_string(),
                };
                Bytes::from(
                    serde_json::json!({
                        "errorMessage": message,
                        "errorType": self.error_type(),
                    })
                    .to_string(),
                )
            }
        }
    }
}

/// A fresh request id in the UUID form Lambda uses.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    // A failed read of the OS's random source leaves zeros: ids then repeat,
    // which only makes log lines harder to tell apart.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
