//! `strata invoke FUNCTION [--event FILE|-]`: one invocation, its result on
//! standard output. With a `strata dev` running for the stage, the call goes
//! to its Lambda Invoke API (the data directory belongs to that process);
//! otherwise the local target is started in this process for the call, with
//! the function's output on standard error.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_local::compute::{LogFiles, request_id};
use tokio::sync::oneshot;

use super::dev::{ConsoleSink, Local, Record, stage_root};
use super::local::Stage;
use super::remote::{post, running_dev};
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
        let (local, endpoint) = Local::start(&stage, provider, 0, 1, sink, None).await?;
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

/// POST to the Lambda Invoke API of a running `strata dev`. `None` when
/// nothing answers there (a `strata dev` that was killed left its file).
fn remote(host: &str, function: &str, event: &[u8]) -> Result<Option<(bool, Vec<u8>)>> {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let Some(answer) = post(
        host,
        &path,
        "lambda",
        "Content-Type: application/json\r\n",
        event,
    )?
    else {
        return Ok(None);
    };
    if !answer.ok() {
        return Err(miette!(
            "strata dev at {host} refused the call: {}",
            String::from_utf8_lossy(&answer.body)
        ));
    }
    let failed = answer.head.contains("\r\nx-amz-function-error:");
    Ok(Some((failed, answer.body)))
}
