//! `strata logs [FUNCTION] [--follow]`: what functions wrote, in time order,
//! from the files `strata dev` and `strata invoke` keep under
//! `.strata/<stage>/logs/`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use miette::{IntoDiagnostic, Result, miette};
use strata_local::compute::{LogFiles, LogLine, LogStream};

use super::dev::stage_root;
use super::local::Stage;
use crate::cli::{Global, LogsArgs};

pub fn run(g: &Global, args: &LogsArgs) -> Result<ExitCode> {
    let stage = Stage::load(g)?;
    if let Some(name) = &args.function
        && stage.service.function(name).is_none()
    {
        return Err(miette!(
            help = "`strata graph` lists the functions",
            "no function `{name}` in strata.yaml"
        ));
    }
    let files = LogFiles::new(stage_root(&stage).join("logs"));
    let mut offsets: BTreeMap<String, u64> = BTreeMap::new();
    let mut first = true;
    loop {
        let functions = match &args.function {
            Some(name) => vec![name.clone()],
            None => files.functions().into_diagnostic()?,
        };
        let mut lines: Vec<LogLine> = Vec::new();
        for function in functions {
            let offset = offsets.entry(function.clone()).or_insert(0);
            let (new, next) = files.read_from(&function, *offset).into_diagnostic()?;
            *offset = next;
            lines.extend(new);
        }
        lines.sort_by_key(|l| l.time_ms);
        for line in &lines {
            outln!("{}", format_line(line));
        }
        if first && lines.is_empty() && !args.follow {
            errln!(
                "no logs yet for stage {}; they are written by `strata dev` and `strata invoke`",
                stage.name
            );
        }
        first = false;
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `2026-12-03T20:01:02.123Z createOrder 8a3f2c1d message`.
fn format_line(line: &LogLine) -> String {
    let time = i64::try_from(line.time_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    let request = line.request_id.get(..8).unwrap_or(&line.request_id);
    let request = if request.is_empty() { "-" } else { request };
    let marker = match line.stream {
        LogStream::Stderr => " !",
        LogStream::Stdout | LogStream::Platform => "",
    };
    format!("{time} {} {request}{marker} {}", line.function, line.text)
}
