//! YAML text -> a tree of [`Node`]s that keeps the byte span of every value.
//!
//! We build the tree from parser events ourselves instead of using a YAML
//! value type because we need what those types throw away: duplicate keys are
//! an error here (never last-wins), every node knows where it came from, and
//! hostile input (alias bombs, deep nesting, huge files) is cut off with a
//! clear diagnostic before it costs memory or time.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle};

use crate::diagnostic::{Diagnostic, Diagnostics, Problem, Span};

/// The largest manifest we read. CloudFormation caps a template at 1 MB; a
/// manifest several times that is a mistake, not a service.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Deeper than any real manifest nests (the deepest path is about 7).
pub const MAX_DEPTH: usize = 64;
/// Nodes after alias expansion; stops "billion laughs" long before memory does.
pub const MAX_NODES: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order. Keys are unique: duplicates are reported and dropped.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Unquoted (plain) scalars are the only ones YAML types as numbers,
    /// booleans or null; a quoted `"256"` stays a string.
    pub plain: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub span: Span,
}

impl Node {
    /// What this node is, in the words a user knows, for "expected X, found Y".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar(s) if s.is_null() => "nothing (null)",
            NodeKind::Scalar(s) if s.plain && s.as_bool().is_some() => "a boolean",
            NodeKind::Scalar(s) if s.plain && s.as_int().is_some() => "an integer",
            NodeKind::Scalar(s) if s.plain && s.text.parse::<f64>().is_ok() => "a number",
            NodeKind::Scalar(_) => "a string",
        }
    }
}

impl Scalar {
    pub fn is_null(&self) -> bool {
        self.plain && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        let t = self.text.replace('_', "");
        t.parse().ok()
    }
}

/// Parses `text` into one document's root node, or reports why it cannot.
/// An empty document yields `Ok(None)`; callers decide whether that is an error.
pub fn parse(text: &str) -> Result<Option<Node>, Diagnostics> {
    let mut diags = Diagnostics::default();
    if text.len() > MAX_BYTES {
        diags.push(
            Diagnostic::error(
                Problem::TooLarge {
                    bytes: text.len(),
                    limit: MAX_BYTES,
                },
                Span::new(0, 0),
            )
            .help("split the service into several manifests"),
        );
        return Err(diags);
    }
    let mut builder = Builder {
        lines: LineIndex::new(text),
        stack: vec![],
        aliased: false,
        anchors: vec![],
        nodes: 0,
        root: None,
        documents: 0,
        diags,
    };
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                let span = builder.lines.span(span.start, span.end);
                if let Err(stop) = builder.event(event, span) {
                    builder.diags.push(*stop);
                    return Err(builder.diags);
                }
            }
            Err(e) => {
                let at = builder.lines.offset(e.marker());
                // The scanner has its own nesting limit, which it may reach
                // before our depth check sees the events.
                let at = Span::new(at, at);
                let diagnostic = if e.info().contains("recursion limit") {
                    Diagnostic::error(Problem::TooDeep { limit: MAX_DEPTH }, at)
                } else {
                    let message = e.info().to_owned();
                    let tab = message.contains("tab");
                    Diagnostic::error(Problem::Syntax { message }, at)
                        .label("here")
                        .maybe_help(
                            tab.then(|| "YAML indents with spaces; replace the tabs".to_owned()),
                        )
                };
                builder.diags.push(diagnostic);
                return Err(builder.diags);
            }
        }
    }
    if builder.diags.has_errors() {
        return Err(builder.diags);
    }
    Ok(builder.root)
}

/// Why parsing stopped early: boxed, since it is rare and a `Diagnostic` is large.
type Stop = Box<Diagnostic>;

fn stop(diagnostic: Diagnostic) -> Result<(), Stop> {
    Err(Box::new(diagnostic))
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        /// Where each key was first written: finds duplicates without a scan,
        /// so a map of many thousand keys stays linear.
        first: HashMap<String, Span>,
        pending_key: Option<Result<Key, ()>>,
    },
}

struct Builder<'a> {
    lines: LineIndex<'a>,
    stack: Vec<Frame>,
    /// Whether any alias was expanded, for the node-limit message.
    aliased: bool,
    /// Anchored nodes by anchor id; aliases clone them (counted against MAX_NODES).
    anchors: Vec<Option<Node>>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
    diags: Diagnostics,
}

impl Builder<'_> {
    /// Handles one parser event. `Err` stops parsing: the input is hostile or broken.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Stop> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return stop(
                        Diagnostic::error(Problem::MultipleDocuments, span)
                            .label("a second document starts here")
                            .help("keep one service per strata.yaml, without `---` separators"),
                    );
                }
            }
            Event::Alias(id) => {
                self.aliased = true;
                let Some(Some(anchored)) = self.anchors.get(id) else {
                    let message = "alias to an unknown anchor".to_owned();
                    return stop(Diagnostic::error(Problem::Syntax { message }, span));
                };
                // The anchored node was built within MAX_NODES, so one clone is
                // bounded; counting it stops the expansion at the next alias.
                let size = count_nodes(anchored);
                let kind = anchored.kind.clone();
                self.count(size, span)?;
                self.push(Node { kind, span }, 0)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if let Some(tag) = tag {
                    self.unsupported_tag(&tag.handle, &tag.suffix, span);
                }
                self.count(1, span)?;
                // For quoted scalars the span covers the quotes; that is what a user points at.
                let node = Node {
                    kind: NodeKind::Scalar(Scalar {
                        text: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    }),
                    span,
                };
                self.push(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                if let Some(tag) = tag {
                    self.unsupported_tag(&tag.handle, &tag.suffix, span);
                }
                self.open(
                    Frame::Seq {
                        start: span,
                        anchor,
                        items: vec![],
                    },
                    span,
                )?;
            }
            Event::MappingStart(anchor, tag) => {
                if let Some(tag) = tag {
                    self.unsupported_tag(&tag.handle, &tag.suffix, span);
                }
                self.open(
                    Frame::Map {
                        start: span,
                        anchor,
                        entries: vec![],
                        first: HashMap::new(),
                        pending_key: None,
                    },
                    span,
                )?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self
                    .stack
                    .pop()
                    .expect("the parser balances start and end events");
                let (node, anchor) = match frame {
                    Frame::Seq {
                        start,
                        anchor,
                        items,
                    } => {
                        let end = items.last().map_or(span.end, |n| n.span.end.max(start.end));
                        (
                            Node {
                                kind: NodeKind::Seq(items),
                                span: Span::new(start.start, end),
                            },
                            anchor,
                        )
                    }
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    } => {
                        let end = entries
                            .last()
                            .map_or(span.end, |(_, n)| n.span.end.max(start.end));
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                span: Span::new(start.start, end),
                            },
                            anchor,
                        )
                    }
                };
                self.push(node, anchor)?;
            }
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, span: Span) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            return stop(
                Diagnostic::error(Problem::TooDeep { limit: MAX_DEPTH }, span)
                    .label("too deep from here on"),
            );
        }
        self.count(1, span)?;
        self.stack.push(frame);
        Ok(())
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), Stop> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return stop(Diagnostic::error(Problem::TooManyNodes { limit: MAX_NODES }, span)
                .label("the limit is reached here")
                .help(if self.aliased {
                    "aliases (`*name`) repeat what they point at; an alias of an alias multiplies"
                } else {
                    "a manifest this large is likely generated by mistake; split the service"
                }));
        }
        Ok(())
    }

    fn unsupported_tag(&mut self, handle: &str, suffix: &str, span: Span) {
        // `!!str` and friends are plain YAML and harmless; anything else is
        // usually a CloudFormation short form pasted from a template.
        if handle == "tag:yaml.org,2002:" || handle == "!!" {
            return;
        }
        let tag = format!("{handle}{suffix}");
        self.diags.push(
            Diagnostic::error(Problem::UnsupportedTag { tag }, span)
                .label("tag")
                .help("strata.yaml has no CloudFormation functions: refer to a resource by its name in `uses`, and its name, ARN or URL reaches the function as an environment variable"),
        );
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Stop> {
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                first,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let NodeKind::Scalar(scalar) = node.kind else {
                        self.diags.push(
                            Diagnostic::error(Problem::NonScalarKey, node.span)
                                .label("this key is not a string"),
                        );
                        *pending_key = Some(Err(()));
                        return Ok(());
                    };
                    if let Some(first) = first.get(&scalar.text) {
                        self.diags.push(
                            Diagnostic::error(
                                Problem::DuplicateKey {
                                    key: scalar.text.clone(),
                                },
                                node.span,
                            )
                            .label("defined again here")
                            .related(*first, "first defined here")
                            .help("YAML keeps only one of them; remove or merge the other"),
                        );
                    }
                    first.entry(scalar.text.clone()).or_insert(node.span);
                    *pending_key = Some(Ok(Key {
                        text: scalar.text,
                        span: node.span,
                    }));
                }
                Some(Err(())) => {}
                Some(Ok(key)) => {
                    // Keep the first of duplicate keys (the duplicate is reported) so
                    // the rest of the file is still checked against something sensible.
                    if first.get(&key.text) == Some(&key.span) {
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(_, v)| 1 + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// Turns the parser's character offsets into byte offsets. Events arrive in
/// file order, so a cursor that only moves forward keeps this linear even for a
/// manifest written on one long line.
struct LineIndex<'a> {
    text: &'a str,
    /// (character offset, byte offset) of the last lookup.
    cursor: (usize, usize),
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            cursor: (0, 0),
        }
    }

    fn offset(&mut self, marker: &Marker) -> usize {
        let target = marker.index();
        let (mut chars, mut bytes) = self.cursor;
        // Spans overlap a little (an end, then the next start), so walking
        // back is rare and short.
        while chars > target {
            let c = self.text[..bytes]
                .chars()
                .next_back()
                .expect("chars > 0 means bytes > 0");
            chars -= 1;
            bytes -= c.len_utf8();
        }
        for c in self.text[bytes..].chars() {
            if chars == target {
                break;
            }
            chars += 1;
            bytes += c.len_utf8();
        }
        self.cursor = (chars, bytes);
        bytes
    }

    fn span(&mut self, start: Marker, end: Marker) -> Span {
        Span::new(self.offset(&start), self.offset(&end))
    }
}
