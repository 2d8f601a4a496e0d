//! Talking to a running `strata dev` of the stage: it writes where its
//! endpoint listens to `.strata/<stage>/dev.json`, and commands that must not
//! open its files (the data directory is that process's) send it HTTP
//! instead: `invoke` through the Lambda Invoke API, `rollback` and
//! `deploy --stack stateless` through its control service.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use miette::{IntoDiagnostic, Result, WrapErr, miette};
use serde_json::Value;
use strata_local::control::TARGET_PREFIX;

use super::dev::{DEV_FILE, stage_root};
use super::local::Stage;

/// The `host:port` of the endpoint of a `strata dev` running for this
/// stage, if its file says there is one.
pub fn running_dev(stage: &Stage) -> Option<String> {
    let text = std::fs::read_to_string(stage_root(stage).join(DEV_FILE)).ok()?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    doc["aws_endpoint"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .map(str::to_owned)
}

/// An answer: the status line and headers (lowercased), and the body.
pub struct Answer {
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.head.starts_with("http/1.1 200")
    }
}

/// One POST on its own connection, signed as the developer (the endpoint
/// reads the credential scope, not the signature). `None` when nothing
/// answers at `host` (a `strata dev` that was killed left its file).
pub fn post(
    host: &str,
    path: &str,
    scope: &str,
    headers: &str,
    body: &[u8],
) -> Result<Option<Answer>> {
    let Ok(mut stream) = TcpStream::connect(host) else {
        return Ok(None);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(960)));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=strata-cli/20260101/us-east-1/{scope}/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot send to strata dev at {host}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .into_diagnostic()
        .wrap_err_with(|| format!("no answer from strata dev at {host}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| miette!("strata dev at {host} sent a malformed answer"))?;
    Ok(Some(Answer {
        head: String::from_utf8_lossy(&response[..split]).to_ascii_lowercase(),
        body: response[split + 4..].to_vec(),
    }))
}

/// A control call to the `strata dev` at `host`: its JSON answer, an error
/// with its message, or `None` when nothing answers there.
pub fn control(host: &str, operation: &str, input: &Value) -> Result<Option<Value>> {
    let headers = format!(
        "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {TARGET_PREFIX}.{operation}\r\n"
    );
    let Some(answer) = post(host, "/", "strata", &headers, input.to_string().as_bytes())? else {
        return Ok(None);
    };
    let doc: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if !answer.ok() {
        return Err(miette!(
            "strata dev refused: {}",
            doc["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&answer.body).into_owned(),
                str::to_owned
            )
        ));
    }
    Ok(Some(doc))
}
