//! Diagnostics for user input: what went wrong, where (a byte span into the
//! manifest), and how to fix it. The model never prints; the CLI renders these.

use std::fmt;

/// A byte range into the manifest text. Rendering turns it into line:column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub problem: Problem,
    pub span: Span,
    /// Short text shown under the span.
    pub label: Option<String>,
    /// How to fix it, when a fix is obvious.
    pub help: Option<String>,
    /// Other places that explain this one ("first defined here").
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(problem: Problem, span: Span) -> Self {
        Self {
            severity: Severity::Error,
            problem,
            span,
            label: None,
            help: None,
            related: vec![],
        }
    }

    pub fn warning(problem: Problem, span: Span) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(problem, span)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help.or(self.help);
        self
    }

    pub fn related(mut self, span: Span, text: impl Into<String>) -> Self {
        self.related.push((span, text.into()));
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

/// Every kind of mistake a manifest can hold. Fields are structured so that
/// callers (and tests) can match on them; `Display` is the one-line message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("the manifest is not valid UTF-8")]
    NotUtf8,
    #[error("the manifest is empty")]
    Empty,
    #[error("the manifest is {bytes} bytes, more than the {limit} bytes strata.yaml may have")]
    TooLarge { bytes: usize, limit: usize },
    #[error("YAML syntax error: {message}")]
    Syntax { message: String },
    #[error("the manifest nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("the manifest expands to more than {limit} YAML nodes")]
    TooManyNodes { limit: usize },
    #[error("the manifest holds more than one YAML document")]
    MultipleDocuments,
    #[error("YAML tag `{tag}` is not supported here")]
    UnsupportedTag { tag: String },
    #[error("a mapping key must be a plain string")]
    NonScalarKey,
    #[error("duplicate key `{key}`")]
    DuplicateKey { key: String },
    #[error("unknown key `{key}` in {owner}")]
    UnknownKey { key: String, owner: &'static str },
    #[error("{owner} is missing `{key}`")]
    MissingKey {
        key: &'static str,
        owner: &'static str,
    },
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("`{value}` is not a valid {what}")]
    UnknownKeyword { value: String, what: &'static str },
    #[error("{what} must be between {min} and {max}, found {value}")]
    OutOfRange {
        what: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("invalid {what} name `{name}`")]
    InvalidName { what: &'static str, name: String },
    #[error("{what} `{name}` clashes with `{other}`")]
    NameClash {
        what: &'static str,
        name: String,
        other: String,
    },
    #[error("no stateful resource is named `{name}`")]
    UnknownResource { name: String },
    #[error("`{name}` is a {found}, but {context} needs a {expected}")]
    WrongResourceKind {
        name: String,
        found: &'static str,
        expected: &'static str,
        context: &'static str,
    },
    #[error("`{access}` is not an access level for a {kind}")]
    InvalidAccess { access: String, kind: &'static str },
    #[error("a {kind} cannot refer to a function (`{key}`)")]
    StatefulRefersToCode { key: String, kind: &'static str },
    #[error("invalid dead-letter queue: {reason}")]
    InvalidDeadLetter { reason: String },
    #[error("invalid http route `{route}`: {reason}")]
    InvalidRoute { route: String, reason: String },
    #[error("route `{route}` is declared twice")]
    DuplicateRoute { route: String },
    #[error("invalid schedule `{expression}`: {reason}")]
    InvalidSchedule { expression: String, reason: String },
    #[error("unknown runtime `{runtime}`")]
    UnknownRuntime { runtime: String },
    #[error("runtime `{runtime}` is deprecated by AWS Lambda")]
    DeprecatedRuntime { runtime: String },
    #[error("handler `{handler}` does not fit runtime `{runtime}`")]
    InvalidHandler { handler: String, runtime: String },
    #[error("function `{function}` has no {what}")]
    MissingFunctionSetting {
        function: String,
        what: &'static str,
    },
    #[error("code directory `{path}` does not exist")]
    CodeDirMissing { path: String },
    #[error("handler file `{path}` does not exist")]
    HandlerFileMissing { path: String },
    #[error("environment variable `{name}` is reserved by AWS Lambda")]
    ReservedEnv { name: String },
    #[error("{problem}")]
    Invalid { problem: String },
    #[error("stage `{stage}` is not declared")]
    UnknownStage { stage: String },
}

/// The result of checking a manifest: every diagnostic, errors and warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Sorts by position so that output follows the file from top to
    /// bottom, and drops exact repeats: a mistake in `defaults` is found once
    /// for each function that inherits it, but is one mistake.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.span.start, d.span.end));
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(self.0.len());
        for d in self.0.drain(..) {
            let repeat = kept
                .iter()
                .rev()
                .take_while(|k| k.span == d.span)
                .any(|k| *k == d);
            if !repeat {
                kept.push(d);
            }
        }
        self.0 = kept;
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    // Offsets from the parser sit on character boundaries; be safe anyway.
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// `file:line:col: error: message` with label, help and related notes indented
/// below: the form for logs, CI and snapshot tests.
pub fn render_plain(file: &str, text: &str, diagnostics: &Diagnostics) -> String {
    let mut out = String::new();
    for d in &diagnostics.0 {
        let (line, col) = line_col(text, d.span.start);
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{file}:{line}:{col}: {severity}: {}\n", d.problem));
        if let Some(label) = &d.label {
            out.push_str(&format!("    label: {label}\n"));
        }
        for (span, note) in &d.related {
            let (line, col) = line_col(text, span.start);
            out.push_str(&format!("    note: {file}:{line}:{col}: {note}\n"));
        }
        if let Some(help) = &d.help {
            out.push_str(&format!("    help: {help}\n"));
        }
    }
    out
}

/// "did you mean `x`?" for a misspelt word among the known ones.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (k, strsim::jaro_winkler(&lower, &k.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// `a`, `b` or `c` — a list of choices for help texts.
pub fn one_of<S: AsRef<str>>(choices: &[S]) -> String {
    let quoted: Vec<String> = choices
        .iter()
        .map(|c| format!("`{}`", c.as_ref()))
        .collect();
    match quoted.as_slice() {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
