//! `strata validate`: every problem of strata.yaml at once.

use std::process::ExitCode;

use miette::Result;
use serde_json::json;
use strata_model::Diagnostics;
use strata_model::diagnostic::line_col;

use crate::cli::Global;
use crate::manifest::{self, Manifest};
use crate::report;

pub fn run(g: &Global, as_json: bool) -> Result<ExitCode> {
    let (manifest, checked) = match manifest::check(&g.dir) {
        Ok(found) => found,
        // CI reading --json gets JSON even when there is no manifest to read.
        Err(err) if as_json => {
            let v = serde_json::json!({ "file": null, "valid": false, "error": err.to_string(), "diagnostics": [] });
            outln!(
                "{}",
                serde_json::to_string_pretty(&v).expect("serializable")
            );
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err),
    };
    let diags = match &checked {
        Ok(c) => &c.warnings,
        Err(d) => d,
    };
    if let Ok(c) = &checked {
        // A stage that does not exist is an error of this run, not of the file.
        manifest::stage_of(&c.service, &g.stage)?;
    }
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&to_json(&manifest, diags, checked.is_ok()))
                .expect("serializable")
        );
    } else {
        report::diagnostics(&manifest, diags);
    }
    match checked {
        Ok(c) => {
            if !as_json {
                let s = &c.service;
                let links = s.links().len();
                outln!(
                    "{} is valid: service {}, {}, {}, {}",
                    manifest.path.display(),
                    s.name,
                    report::plural(s.stateful.resources.len(), "stateful resource"),
                    report::plural(s.stateless.functions.len(), "function"),
                    report::plural(links, "link"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            if !as_json {
                errln!("{}: {}", manifest.path.display(), report::count(&diags));
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn to_json(manifest: &Manifest, diags: &Diagnostics, valid: bool) -> serde_json::Value {
    let at = |offset: usize| {
        let (line, column) = line_col(&manifest.text, offset);
        json!({ "line": line, "column": column })
    };
    let items: Vec<_> = diags
        .0
        .iter()
        .map(|d| {
            let (line, column) = line_col(&manifest.text, d.span.start);
            json!({
                "severity": d.severity,
                "message": d.problem.to_string(),
                "line": line,
                "column": column,
                "label": d.label,
                "help": d.help,
                "related": d.related.iter().map(|(span, text)| {
                    let mut v = at(span.start);
                    v["message"] = json!(text);
                    v
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "file": manifest.path.display().to_string(), "valid": valid, "diagnostics": items })
}
