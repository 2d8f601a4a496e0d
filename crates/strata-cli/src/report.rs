//! Rendering for people: manifest diagnostics through miette (colour only on
//! a terminal) and plain errors, and `outln!` for standard output.

/// `println!` that stops quietly when the reader has gone (`strata schema |
/// head`): a closed pipe is not an error of ours, and must not panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` with the same closed-pipe behaviour as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

/// `eprintln!` that ignores a closed stderr (`strata validate 2>&1 | head`)
/// instead of panicking; available to every module (`#[macro_use]`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` with the same closed-pipe behaviour as [`errln!`].
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

use std::io::IsTerminal;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use strata_model::diagnostic::render_plain;
use strata_model::{Diagnostics, Severity};

use crate::manifest::Manifest;

fn handler() -> GraphicalReportHandler {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_width(100)
}

/// Renders each diagnostic with the manifest's source around it.
pub fn render(manifest: &Manifest, diags: &Diagnostics) -> String {
    // One shared copy of the text: each report holds the source.
    let text: std::sync::Arc<str> = manifest.text.as_str().into();
    let source = NamedSource::new(manifest.path.display().to_string(), text);
    let handler = handler();
    let mut out = String::new();
    for d in diags.0.iter().take(MAX_RENDERED) {
        if !out.is_empty() {
            out.push('\n');
        }
        // A snippet of a line thousands of characters long helps nobody;
        // such lines get the one-line form instead.
        if line_around(&manifest.text, d.span.start).len() > MAX_SNIPPET_LINE {
            let one = Diagnostics(vec![d.clone()]);
            out.push_str(&render_plain(
                &manifest.path.display().to_string(),
                &manifest.text,
                &one,
            ));
            continue;
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            d.label.clone(),
            (d.span.start, d.span.len()),
        )];
        labels.extend(d.related.iter().map(|(span, text)| {
            LabeledSpan::new_with_span(Some(text.clone()), (span.start, span.len()))
        }));
        let mut diagnostic = MietteDiagnostic::new(d.problem.to_string())
            .with_severity(match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
            .with_labels(labels);
        if let Some(help) = &d.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        let report = Report::new(diagnostic).with_source_code(source.clone());
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, report.as_ref());
    }
    if diags.0.len() > MAX_RENDERED {
        out.push_str(&format!(
            "\n… and {} more; `strata validate --json` lists them all\n",
            diags.0.len() - MAX_RENDERED
        ));
    }
    out
}

/// A person fixes the first problems first; past this many, a longer list
/// only scrolls them away (and each snippet costs a pass over the file).
const MAX_RENDERED: usize = 50;

const MAX_SNIPPET_LINE: usize = 240;

fn line_around(text: &str, offset: usize) -> &str {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    &text[start..end]
}

pub fn diagnostics(manifest: &Manifest, diags: &Diagnostics) {
    if !diags.0.is_empty() {
        err!("{}", render(manifest, diags));
    }
}

/// "1 link", "3 links"
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// "3 errors, 1 warning"
pub fn count(diags: &Diagnostics) -> String {
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    match warnings {
        0 => plural(errors, "error"),
        _ => format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}

/// A command's failure: message, causes and help.
pub fn error(err: &Report) {
    let mut out = String::new();
    let _ = handler().render_report(&mut out, err.as_ref());
    err!("{out}");
}
