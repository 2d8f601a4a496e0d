//! `strata graph`: the two stacks and the links between them, as text, dot or JSON.

use std::fmt::Write;
use std::process::ExitCode;

use miette::Result;
use serde_json::json;
use strata_model::{Relation, ResourceSpec, Service, Stage};

use crate::cli::{Global, GraphFormat};
use crate::manifest;

pub fn run(g: &Global, format: GraphFormat) -> Result<ExitCode> {
    let (_, service) = manifest::load(&g.dir, &g.stage)?;
    let stage = manifest::stage_of(&service, &g.stage)?;
    let out = match format {
        GraphFormat::Text => text(&service, stage),
        GraphFormat::Dot => dot(&service),
        GraphFormat::Json => {
            serde_json::to_string_pretty(&to_json(&service, stage)).expect("serializable")
        }
    };
    outln!("{}", out.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// One line of detail per resource: what a reader needs to recognise it.
fn detail(spec: &ResourceSpec) -> String {
    match spec {
        ResourceSpec::Table(t) => {
            let mut s = format!("key {}", t.partition_key);
            if let Some(sk) = &t.sort_key {
                let _ = write!(s, " + {sk}");
            }
            if !t.indexes.is_empty() {
                let names: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
                let _ = write!(s, ", indexes {}", names.join(", "));
            }
            if let Some(stream) = t.stream {
                let _ = write!(s, ", stream {stream}");
            }
            if let Some(ttl) = &t.ttl {
                let _ = write!(s, ", ttl {ttl}");
            }
            s
        }
        ResourceSpec::Bucket(b) => if b.versioning {
            "versioned"
        } else {
            "unversioned"
        }
        .to_owned(),
        ResourceSpec::Queue(q) => {
            let mut s = format!(
                "{}visibility {}s",
                if q.fifo { "fifo, " } else { "" },
                q.visibility_timeout
            );
            if let Some(dl) = &q.dead_letter {
                let _ = write!(
                    s,
                    ", dead letters to {} after {}",
                    dl.queue, dl.max_receives
                );
            }
            s
        }
        ResourceSpec::Parameter(p) => match (&p.value, p.secure) {
            (_, true) => "secure, set with `strata param set`".to_owned(),
            (Some(v), false) => format!("value {v:?}"),
            (None, false) => "set with `strata param set`".to_owned(),
        },
    }
}

fn text(service: &Service, stage: &Stage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "service {} · stage {} · target {}\n",
        service.name, stage.name, stage.target
    );
    let resources = &service.stateful.resources;
    let _ = writeln!(
        out,
        "stateful stack ({}, changed only through a plan)",
        crate::report::plural(resources.len(), "resource")
    );
    let width = resources
        .iter()
        .map(|r| r.address().to_string().len())
        .chain(
            service
                .stateless
                .functions
                .iter()
                .map(|f| f.address().to_string().len()),
        )
        .max()
        .unwrap_or(0);
    for r in resources {
        let _ = writeln!(
            out,
            "  {:width$}  {}",
            r.address().to_string(),
            detail(&r.spec)
        );
    }
    let functions = &service.stateless.functions;
    let _ = writeln!(
        out,
        "\nstateless stack ({}, replaced freely)",
        crate::report::plural(functions.len(), "function")
    );
    for f in functions {
        let events: Vec<String> = f.events.iter().map(|e| e.summary()).collect();
        let trigger = if events.is_empty() {
            "invoke only".to_owned()
        } else {
            events.join("; ")
        };
        let _ = writeln!(
            out,
            "  {:width$}  {} {}MB {}s · {trigger}",
            f.address().to_string(),
            f.runtime,
            f.memory,
            f.timeout
        );
    }
    let links = service.links();
    let _ = writeln!(
        out,
        "\n{} (all stateless -> stateful)",
        crate::report::plural(links.len(), "link")
    );
    for l in &links {
        let what = match &l.relation {
            Relation::Uses { access } => format!("uses {access}"),
            Relation::Event { event } => format!("event {event}"),
        };
        let _ = writeln!(
            out,
            "  {:width$} -> {:width$}  {what}",
            l.from.to_string(),
            l.to.to_string()
        );
    }
    out
}

fn dot(service: &Service) -> String {
    let mut out = String::new();
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let _ = writeln!(
        out,
        "digraph {} {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];",
        q(service.name.as_str())
    );
    let _ = writeln!(
        out,
        "  subgraph cluster_stateless {{\n    label=\"stateless stack\";\n    style=dashed;"
    );
    for f in &service.stateless.functions {
        // `\n` is DOT's line break inside a label; names and runtimes need no escaping.
        let label = format!("\"{}\\n{}\"", f.name, f.runtime);
        let _ = writeln!(
            out,
            "    {} [shape=box, label={label}];",
            q(&f.address().to_string())
        );
    }
    let _ = writeln!(
        out,
        "  }}\n  subgraph cluster_stateful {{\n    label=\"stateful stack\";\n    style=bold;"
    );
    for r in &service.stateful.resources {
        let _ = writeln!(
            out,
            "    {} [shape=cylinder, label={}];",
            q(&r.address().to_string()),
            q(&r.address().to_string())
        );
    }
    let _ = writeln!(out, "  }}");
    for l in service.links() {
        let (label, style) = match &l.relation {
            Relation::Uses { access } => (access.to_string(), "solid"),
            Relation::Event { event } => (event.clone(), "dashed"),
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, style={style}];",
            q(&l.from.to_string()),
            q(&l.to.to_string()),
            q(&label)
        );
    }
    out.push_str("}\n");
    out
}

/// Stable machine output: both stacks with their members, and every link.
fn to_json(service: &Service, stage: &Stage) -> serde_json::Value {
    let stateful: Vec<_> = service
        .stateful
        .resources
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).expect("serializable");
            v["address"] = json!(r.address());
            v
        })
        .collect();
    let stateless: Vec<_> = service
        .stateless
        .functions
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).expect("serializable");
            v["address"] = json!(f.address());
            let permissions: serde_json::Map<String, serde_json::Value> = f
                .permissions()
                .into_iter()
                .map(|(a, access)| (a.to_string(), json!(access)))
                .collect();
            v["permissions"] = json!(permissions);
            // Tables whose streams the function's table events read: a right
            // of its own, not a `uses` level.
            let streams = f.streams();
            if !streams.is_empty() {
                v["streams"] = json!(streams);
            }
            v
        })
        .collect();
    json!({
        "service": service.name,
        "stage": stage,
        "stacks": {
            "stateful": { "resources": stateful },
            "stateless": { "http": service.stateless.http, "functions": stateless },
        },
        "links": service.links(),
    })
}
