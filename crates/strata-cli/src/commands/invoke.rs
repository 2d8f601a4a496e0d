//! `strata invoke FUNCTION [--event FILE|-]`: one invocation, its result on
//! standard output. With a `strata dev` running for the stage, the call goes
//! to its Lambda Invoke API (the data directory belongs to that process);
//! otherwise the local target is started in this process for the call, with
//! the function's output on standard error.

use crate::report::outln;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_local::compute::{LogFiles, request_id};
use tokio::sync::oneshot;

use super::dev::{ConsoleSink, DEV_FILE, Local, Record, stage_root};
use super::local::Stage;
use crate::cli::{Global, InvokeArgs};

pub fn run(g: &Global, args: &InvokeArgs) -> Result<ExitCode> {
    let event = read_event(args.event.as_deref())?;
    let stage = Stage::load(g)?;
    if stage.service.function(&args.function).is_none() {
        let names: Vec<&str> = stage
            .service
            .stateless
            .functions
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        return Err(miette!(
            help = format!("functions of this service: {}", names.join(", ")),
            "no function `{}` in strata.yaml",
            args.function
        ));
    }
    if let Some(endpoint) = running_dev(&stage)
        && let Some(answer) = remote(&endpoint, &args.function, &event)?
    {
        return Ok(print_answer(answer.0, &answer.1));
    }
    let provider = Arc::new(stage.provider()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    let function = args.function.clone();
    runtime.block_on(async move {
        let sink = Arc::new(ConsoleSink::new(
            Some(LogFiles::new(stage_root(&stage).join("logs"))),
            true,
        ));
        let (local, endpoint) = Local::start(&stage, provider, 0, 1, sink).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(endpoint.serve(async {
            let _ = stopped.await;
        }));
        // Only the invoked function: the others may use resources that are
        // not deployed, which must not stop this one.
        let mut service = stage.service.clone();
        service
            .stateless
            .functions
            .retain(|f| f.name.as_str() == function);
        let deployment = local
            .release(Arc::new(service), &stage.dir, Record::No)
            .await?;
        local.compute.activate(deployment.clone());
        let pool = deployment
            .pool(&function)
            .cloned()
            .ok_or_else(|| miette!("no function `{function}`"))?;
        let id = request_id();
        let result = pool.invoke_with_id(event, id.clone()).await;
        local.compute.stop();
        let _ = stop.send(());
        let _ = served.await;
        Ok(match result {
            Ok(body) => print_answer(false, &body),
            Err(e) => print_answer(true, &e.document(&id)),
        })
    })
}

fn print_answer(failed: bool, body: &[u8]) -> ExitCode {
    outln!("{}", String::from_utf8_lossy(body));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The event: a file, standard input, or `{}`. Must be JSON, as Lambda
/// requires of an invocation payload.
fn read_event(source: Option<&Path>) -> Result<Bytes> {
    let bytes = match source {
        None => return Ok(Bytes::from_static(b"{}")),
        Some(p) if p == Path::new("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .into_diagnostic()
                .wrap_err("cannot read the event from standard input")?;
            buf
        }
        Some(p) => std::fs::read(p)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read the event file {}", p.display()))?,
    };
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        let place = source.map_or_else(String::new, |p| p.display().to_string());
        return Err(miette!(
            help = "an event is one JSON document, e.g. {\"key\": \"value\"}",
            "the event {place} is not JSON: {e}"
        ));
    }
    Ok(Bytes::from(bytes))
}

/// The endpoint of a `strata dev` running for this stage, if its file says
/// there is one.
fn running_dev(stage: &Stage) -> Option<String> {
    let text = std::fs::read_to_string(stage_root(stage).join(DEV_FILE)).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["aws_endpoint"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .map(str::to_owned)
}

/// POST to the Lambda Invoke API of a running `strata dev`. `None` when
/// nothing answers there (a `strata dev` that was killed left its file).
fn remote(host: &str, function: &str, event: &[u8]) -> Result<Option<(bool, Vec<u8>)>> {
    let Ok(mut stream) = TcpStream::connect(host) else {
        return Ok(None);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(960)));
    let head = format!(
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=strata-cli/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n",
        event.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(event))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot send the event to strata dev at {host}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .into_diagnostic()
        .wrap_err_with(|| format!("no answer from strata dev at {host}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| miette!("strata dev at {host} sent a malformed answer"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let body = response[split + 4..].to_vec();
    let status_ok = head.starts_with("http/1.1 200");
    if !status_ok {
        return Err(miette!(
            "strata dev at {host} refused the call: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let failed = head.contains("\r\nx-amz-function-error:");
    Ok(Some((failed, body)))
}
