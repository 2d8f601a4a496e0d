//! Decoding the YAML [`Node`] tree into the raw manifest types.
//!
//! Serde stops at the first error; a manifest must report all of its mistakes
//! at once. So decoding is ours: each value decodes on its own, records what is
//! wrong in [`Cx`], and the walk goes on. The raw structs are declared through
//! [`manifest_struct!`], which derives the JSON Schema from the same field list
//! the decoder reads, so the schema and the decoder cannot disagree on a key.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::diagnostic::{Diagnostic, Diagnostics, Problem, Span, did_you_mean, one_of};
use crate::yaml::{Key, Node, NodeKind, Scalar};

/// Decoding context: collects diagnostics.
#[derive(Debug, Default)]
pub struct Cx {
    pub diags: Diagnostics,
}

impl Cx {
    pub fn report(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, expected: &'static str) {
        let mut d = Diagnostic::error(
            Problem::WrongType {
                expected,
                found: node.describe(),
            },
            node.span,
        );
        if let NodeKind::Scalar(s) = &node.kind
            && !s.plain
            && (s.as_int().is_some() || s.as_bool().is_some())
        {
            d = d.help("remove the quotes: quoted values are strings");
        }
        self.report(d);
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A type the manifest can hold.
pub trait Decode: Sized {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self>;

    /// The value of an absent key; `None` means the key is required.
    fn when_absent() -> Option<Self> {
        None
    }
}

impl<T: Decode> Decode for Option<T> {
    /// A broken optional value is reported and then treated as absent, so the
    /// mapping around it still decodes and later checks still run.
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        Some(T::decode(node, cx))
    }

    fn when_absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: Decode> Decode for Spanned<T> {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        T::decode(node, cx).map(|value| Spanned::new(value, node.span))
    }
}

fn scalar<'n>(node: &'n Node, cx: &mut Cx, expected: &'static str) -> Option<&'n Scalar> {
    match &node.kind {
        NodeKind::Scalar(s) if !s.is_null() => Some(s),
        _ => {
            cx.wrong_type(node, expected);
            None
        }
    }
}

impl Decode for String {
    /// A string, quoted or not. A plain `8080` or `true` is a number or a
    /// boolean in YAML, so it is refused here with a hint to quote it; the
    /// places that take free text (parameter and environment values) use [`Text`].
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let s = scalar(node, cx, "a string")?;
        if s.plain
            && (s.as_int().is_some() || s.as_bool().is_some() || s.text.parse::<f64>().is_ok())
        {
            cx.report(
                Diagnostic::error(
                    Problem::WrongType {
                        expected: "a string",
                        found: node.describe(),
                    },
                    node.span,
                )
                .help(format!("quote it to make it a string: \"{}\"", s.text)),
            );
            return None;
        }
        Some(s.text.clone())
    }
}

/// Free text: any scalar, read as the text it was written as (`PORT: 8080`
/// is "8080"). For values that end up as strings anyway: environment
/// variables and parameter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Decode for Text {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        scalar(node, cx, "a string").map(|s| Text(s.text.clone()))
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

impl Decode for bool {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let s = scalar(node, cx, "`true` or `false`")?;
        match (s.plain, s.as_bool()) {
            (true, Some(b)) => Some(b),
            _ => {
                let yaml11 = match s.text.to_ascii_lowercase().as_str() {
                    "yes" | "on" | "y" => Some("true"),
                    "no" | "off" | "n" => Some("false"),
                    _ => None,
                };
                match yaml11 {
                    // YAML 1.1 read these as booleans; YAML 1.2 (and Strata) reads strings.
                    Some(word) => cx.report(
                        Diagnostic::error(
                            Problem::WrongType {
                                expected: "`true` or `false`",
                                found: "a string",
                            },
                            node.span,
                        )
                        .help(format!(
                            "write `{word}`: `{}` is a string in YAML 1.2",
                            s.text
                        )),
                    ),
                    None => cx.wrong_type(node, "`true` or `false`"),
                }
                None
            }
        }
    }
}

impl Decode for i64 {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let s = scalar(node, cx, "an integer")?;
        match (s.plain, s.as_int()) {
            (true, Some(n)) => Some(n),
            (true, None) if s.text.chars().all(|c| c.is_ascii_digit() || c == '-') => {
                cx.report(
                    Diagnostic::error(
                        Problem::WrongType {
                            expected: "an integer",
                            found: "a number too large",
                        },
                        node.span,
                    )
                    .help(
                        "no setting takes a number this large; see the limits in `strata schema`",
                    ),
                );
                None
            }
            _ => {
                cx.wrong_type(node, "an integer");
                None
            }
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            NodeKind::Seq(items) => {
                // Decode every item so each one's mistakes are reported, and
                // keep the good ones so the checks that look across items (a
                // route declared twice, a queue that does not exist) still run.
                // A broken item is already reported, so the file fails anyway.
                Some(
                    items
                        .iter()
                        .filter_map(|item| T::decode(item, cx))
                        .collect(),
                )
            }
            _ => {
                cx.wrong_type(node, "a list");
                None
            }
        }
    }
}

/// A mapping from user-chosen names to values, in file order (`tables:`,
/// `functions:`, `env:`, ...). Keys are unique: the YAML layer rejects duplicates.
#[derive(Debug, Clone, PartialEq)]
pub struct Entries<T> {
    pub entries: Vec<(Spanned<String>, T)>,
    /// Names whose value did not decode (already reported). They still count
    /// as declared, so a reference to one does not raise a second error.
    pub broken: Vec<Spanned<String>>,
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self {
            entries: vec![],
            broken: vec![],
        }
    }
}

impl<T> Entries<T> {
    pub fn iter(&self) -> impl Iterator<Item = (&Spanned<String>, &T)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Every declared name, whether its value decoded or not.
    pub fn names(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.entries.iter().map(|(k, _)| k).chain(&self.broken)
    }
}

impl<T: Decode> Decode for Entries<T> {
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let NodeKind::Map(map) = &node.kind else {
            if matches!(&node.kind, NodeKind::Scalar(s) if s.is_null()) {
                return Some(Self::default());
            }
            cx.wrong_type(node, "a mapping of names");
            return None;
        };
        let mut out = Self::default();
        for (key, value) in map {
            let name = Spanned::new(key.text.clone(), key.span);
            match T::decode(value, cx) {
                Some(v) => out.entries.push((name, v)),
                None => out.broken.push(name),
            }
        }
        Some(out)
    }
}

impl<T: JsonSchema> JsonSchema for Entries<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<T>();
        json_schema!({ "type": "object", "additionalProperties": values })
    }
}

/// Reads the keys of one mapping, then reports every key nobody asked for.
pub struct MapReader<'n> {
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    /// Required keys that were absent, reported by `finish`.
    missing: Vec<&'static str>,
    span: Span,
    owner: &'static str,
    keys: &'static [&'static str],
}

impl<'n> MapReader<'n> {
    /// `owner` names the mapping in messages ("a table"); `keys` are all it may hold.
    pub fn new(
        node: &'n Node,
        cx: &mut Cx,
        owner: &'static str,
        keys: &'static [&'static str],
    ) -> Option<Self> {
        static EMPTY: [(Key, Node); 0] = [];
        let entries: &'n [(Key, Node)] = match &node.kind {
            NodeKind::Map(entries) => entries,
            // `OrderEventsDlq:` with nothing after it is an empty mapping.
            NodeKind::Scalar(s) if s.is_null() => &EMPTY,
            _ => {
                cx.report(
                    Diagnostic::error(
                        Problem::WrongType {
                            expected: "a mapping",
                            found: node.describe(),
                        },
                        node.span,
                    )
                    .help(format!("{owner} takes the keys {}", one_of(keys))),
                );
                return None;
            }
        };
        Some(Self {
            entries,
            used: vec![false; entries.len()],
            missing: vec![],
            span: node.span,
            owner,
            keys,
        })
    }

    /// Decodes `key` as `T`; an absent key takes [`Decode::when_absent`].
    pub fn field<T: Decode>(&mut self, cx: &mut Cx, key: &'static str) -> Option<T> {
        debug_assert!(
            self.keys.contains(&key),
            "{key} is not declared for {}",
            self.owner
        );
        match self.entries.iter().position(|(k, _)| k.text == key) {
            Some(i) => {
                self.used[i] = true;
                T::decode(&self.entries[i].1, cx)
            }
            None => {
                let value = T::when_absent();
                if value.is_none() {
                    self.missing.push(key);
                }
                value
            }
        }
    }

    /// The keys that were not read, with their spans.
    pub fn unused(&self) -> impl Iterator<Item = &'n Key> + '_ {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| k)
    }

    /// Reports each key that was not read as unknown, suggesting the nearest
    /// known one, then each required key that is absent, unless an unknown key
    /// already reads as a misspelling of it.
    pub fn finish(self, cx: &mut Cx) {
        let mut suggested = Vec::new();
        for key in self.unused() {
            if let Some(kind) = stateful_kind(self.owner)
                && CODE_REFERENCE_KEYS.contains(&key.text.as_str())
            {
                cx.report(split_violation(key, kind));
                continue;
            }
            // A misspelling is short; comparing a huge key costs time for nothing.
            let near = (key.text.len() <= 64)
                .then(|| did_you_mean(&key.text, self.keys.iter().copied()))
                .flatten();
            suggested.extend(near);
            let help = match near {
                Some(near) => format!("did you mean `{near}`?"),
                None if key.text == "<<" => "YAML merge keys are not supported; repeat the settings, or put shared ones under `stateless.defaults`".to_owned(),
                None => format!("{} takes {}", self.owner, one_of(self.keys)),
            };
            cx.report(
                Diagnostic::error(
                    Problem::UnknownKey {
                        key: shorten(&key.text),
                        owner: self.owner,
                    },
                    key.span,
                )
                .label("unknown key")
                .help(help),
            );
        }
        for key in self.missing.iter().filter(|k| !suggested.contains(k)) {
            cx.report(
                Diagnostic::error(
                    Problem::MissingKey {
                        key,
                        owner: self.owner,
                    },
                    self.span,
                )
                .label(format!("`{key}` is needed here")),
            );
        }
    }
}

/// At most 80 characters of user text in a message; the span shows the rest.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Keys people write on a stateful resource when they mean "call this code".
/// Those get an explanation of the two-stack split instead of a bare "unknown key".
const CODE_REFERENCE_KEYS: &[&str] = &[
    "events",
    "event",
    "notifications",
    "notification",
    "trigger",
    "triggers",
    "handler",
    "function",
    "functions",
    "lambda",
    "consumer",
    "consumers",
    "subscribers",
    "subscriptions",
    "on_created",
    "on_upload",
    "on_message",
    "targets",
];

fn stateful_kind(owner: &str) -> Option<&'static str> {
    match owner {
        "a table" => Some("table"),
        "a bucket" => Some("bucket"),
        "a queue" => Some("queue"),
        "a parameter" => Some("parameter"),
        _ => None,
    }
}

fn split_violation(key: &Key, kind: &'static str) -> Diagnostic {
    let fix = match kind {
        "bucket" => "give the function an event: `events: [ { bucket: NAME, on: created } ]`",
        "queue" => "give the function an event: `events: [ { queue: NAME } ]`",
        _ => "list the resource under the function's `uses`",
    };
    Diagnostic::error(Problem::StatefulRefersToCode { key: key.text.clone(), kind }, key.span)
        .label("stateful resources never point at code")
        .help(format!(
            "the {kind} lives in the stateful stack and outlives any function, so links go from the function to the {kind}: {fix}"
        ))
}

/// Declares a manifest struct: its fields are the keys it takes, and the
/// generated `Decode` reads exactly those keys. Doc comments on fields become
/// descriptions in the JSON Schema.
macro_rules! manifest_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident as $owner:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
        #[schemars(deny_unknown_fields)]
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// The keys this mapping takes, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn decode_map(
                reader: &mut $crate::decode::MapReader<'_>,
                cx: &mut $crate::decode::Cx,
            ) -> Option<Self> {
                $( let $field = reader.field::<$ty>(cx, stringify!($field)); )*
                Some(Self { $( $field: $field?, )* })
            }
        }

        impl $crate::decode::Decode for $name {
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Cx) -> Option<Self> {
                let mut reader = $crate::decode::MapReader::new(node, cx, $owner, Self::KEYS)?;
                let value = Self::decode_map(&mut reader, cx);
                reader.finish(cx);
                value
            }
        }
    };
}
pub(crate) use manifest_struct;

/// Declares a closed set of words (`read`, `write`, ...) that decodes with
/// "did you mean" help and shows up in the schema as an `enum`.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema, serde::Serialize, serde::Deserialize)]
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $word)] $variant, )*
        }

        impl $name {
            pub const WORDS: &'static [&'static str] = &[$($word),*];

            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $word, )* }
            }

            pub fn from_word(word: &str) -> Option<Self> {
                match word { $( $word => Some(Self::$variant), )* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::decode::Decode for $name {
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Cx) -> Option<Self> {
                let word = String::decode(node, cx)?;
                $crate::decode::keyword(node, cx, &word, $what, Self::WORDS, Self::from_word(&word))
            }
        }
    };
}
pub(crate) use keyword_enum;

/// Reports an unknown keyword with the nearest known one.
pub fn keyword<T>(
    node: &Node,
    cx: &mut Cx,
    word: &str,
    what: &'static str,
    words: &[&str],
    found: Option<T>,
) -> Option<T> {
    if found.is_none() {
        let help = match did_you_mean(word, words.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? expected {}", one_of(words)),
            None => format!("expected {}", one_of(words)),
        };
        cx.report(
            Diagnostic::error(
                Problem::UnknownKeyword {
                    value: word.to_owned(),
                    what,
                },
                node.span,
            )
            .help(help),
        );
    }
    found
}
