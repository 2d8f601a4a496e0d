//! The validated service: two stacks, typed addresses, and the links between
//! them. Everything here has passed validation; nothing refers to a missing
//! resource, and every link points from the stateless stack to the stateful one.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::raw::{BucketEventKind, PayloadVersion, StreamStart, StreamView, Target};
pub use crate::route::{Method, Route, Segment};
pub use crate::runtime::{Language, Runtime};
pub use crate::schedule::{RateUnit, Schedule};

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name that validation has already checked.
            pub(crate) fn checked(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// `[a-z][a-z0-9-]{0,39}`: part of every physical name.
    ServiceName
);
name_type!(
    /// A stage: `dev`, `prod`, ...
    StageName
);

impl StageName {
    /// 1-20 lowercase letters, digits and `-`, starting with a letter: part of
    /// physical names and of the `.strata/<stage>` folder, so never a path.
    pub fn is_valid(name: &str) -> bool {
        name.len() <= 20
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
}
name_type!(
    /// A stateful resource's logical name (`Orders`): letters and digits.
    ResourceName
);
name_type!(
    /// A function's logical name (`createOrder`): letters and digits.
    FunctionName
);

/// Which of the two stacks something belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StackKind {
    Stateful,
    Stateless,
}

impl StackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stateful => "stateful",
            Self::Stateless => "stateless",
        }
    }
}

/// What an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Table,
    Bucket,
    Queue,
    Parameter,
    Function,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 5] = [
        Self::Table,
        Self::Bucket,
        Self::Queue,
        Self::Parameter,
        Self::Function,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Bucket => "bucket",
            Self::Queue => "queue",
            Self::Parameter => "parameter",
            Self::Function => "function",
        }
    }

    pub fn stack(self) -> StackKind {
        match self {
            Self::Function => StackKind::Stateless,
            _ => StackKind::Stateful,
        }
    }

    /// Access levels `uses` may grant on this kind.
    pub fn access_levels(self) -> &'static [Access] {
        match self {
            Self::Table | Self::Bucket => &[Access::Read, Access::Write, Access::ReadWrite],
            Self::Queue => &[Access::Send, Access::Consume, Access::SendConsume],
            Self::Parameter => &[Access::Read],
            Self::Function => &[],
        }
    }

    /// Suffix of the environment variable that carries this resource to a function.
    fn env_suffix(self) -> &'static str {
        match self {
            Self::Table => "TABLE",
            Self::Bucket => "BUCKET",
            Self::Queue => "QUEUE_URL",
            Self::Parameter => "PARAM",
            Self::Function => "FUNCTION",
        }
    }
}

/// `table/Orders`, `function/createOrder`: how the CLI, plans and state name things.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: ResourceKind,
    pub name: String,
}

impl Address {
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }

    pub fn stack(&self) -> StackKind {
        self.kind.stack()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an address: expected KIND/NAME with KIND one of table, bucket, queue, parameter, function"
)]
pub struct AddressParseError {
    pub text: String,
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || AddressParseError {
            text: text.to_owned(),
        };
        let (kind, name) = text.split_once('/').ok_or_else(err)?;
        let kind = ResourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(err)?;
        if name.is_empty() || name.contains('/') {
            return Err(err());
        }
        Ok(Self::new(kind, name))
    }
}

/// An access level a function holds on a stateful resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    ReadWrite,
    Send,
    Consume,
    SendConsume,
}

impl Access {
    pub const WORDS: &'static [&'static str] = &[
        "read",
        "write",
        "read_write",
        "send",
        "consume",
        "send_consume",
    ];
    const ALL: [Access; 6] = [
        Self::Read,
        Self::Write,
        Self::ReadWrite,
        Self::Send,
        Self::Consume,
        Self::SendConsume,
    ];

    pub fn as_str(self) -> &'static str {
        Self::WORDS[self as usize]
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == word)
    }

    /// The least level that allows both. Levels of different kinds never meet:
    /// validation gives each resource only levels of its own kind.
    pub fn union(self, other: Access) -> Access {
        match (self, other) {
            _ if self.covers(other) => self,
            _ if other.covers(self) => other,
            (Self::Read | Self::Write, _) => Self::ReadWrite,
            _ => Self::SendConsume,
        }
    }

    /// Whether holding `self` includes everything `other` allows.
    pub fn covers(self, other: Access) -> bool {
        self == other
            || matches!(
                (self, other),
                (Self::ReadWrite, Self::Read | Self::Write)
                    | (Self::SendConsume, Self::Send | Self::Consume)
            )
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OrderEvents` -> `ORDER_EVENTS`: the stem of injected variable names.
pub fn screaming_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            // A new word starts at an upper-case letter after a lower-case one or a
            // digit (`orderEvents`, `s3Bucket`), or at the last capital of an
            // acronym (`APIKeys` -> `API_KEYS`).
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: ServiceName,
    /// `dev` first, then the declared stages in file order.
    pub stages: Vec<Stage>,
    pub stateful: StatefulStack,
    pub stateless: StatelessStack,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: StageName,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StatefulStack {
    /// In file order: tables, buckets, queues, parameters.
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub name: ResourceName,
    #[serde(flatten)]
    pub spec: ResourceSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceSpec {
    Table(Table),
    Bucket(Bucket),
    Queue(Queue),
    Parameter(Parameter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AttributeType {
    S,
    N,
    B,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyAttribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
}

impl fmt::Display for KeyAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}", self.name, self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    pub indexes: Vec<Index>,
    pub stream: Option<StreamView>,
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Index {
    pub name: String,
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub versioning: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Queue {
    pub fifo: bool,
    pub visibility_timeout: u32,
    pub retention: u32,
    pub delay: u32,
    pub dead_letter: Option<DeadLetter>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub queue: ResourceName,
    pub max_receives: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    /// `None` for secure parameters and ones set with `strata param set`.
    pub value: Option<String>,
    pub secure: bool,
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        match self.spec {
            ResourceSpec::Table(_) => ResourceKind::Table,
            ResourceSpec::Bucket(_) => ResourceKind::Bucket,
            ResourceSpec::Queue(_) => ResourceKind::Queue,
            ResourceSpec::Parameter(_) => ResourceKind::Parameter,
        }
    }

    pub fn address(&self) -> Address {
        Address::new(self.kind(), self.name.as_str())
    }

    /// The environment variable a function that uses this resource receives:
    /// `ORDERS_TABLE`, `RECEIPTS_BUCKET`, `ORDER_EVENTS_QUEUE_URL`, `SUPPORT_EMAIL_PARAM`.
    pub fn env_var(&self) -> String {
        env_var(self.kind(), self.name.as_str())
    }
}

pub(crate) fn env_var(kind: ResourceKind, name: &str) -> String {
    format!("{}_{}", screaming_snake(name), kind.env_suffix())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatelessStack {
    pub http: HttpSettings,
    /// In file order.
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSettings {
    pub payload: PayloadVersion,
    pub cors: Option<Cors>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cors {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: FunctionName,
    pub runtime: Runtime,
    /// `None` only for `provided` runtimes, which run `bootstrap`.
    pub handler: Option<String>,
    /// Code directory relative to the manifest's directory.
    pub code: String,
    pub memory: u32,
    pub timeout: u32,
    pub description: Option<String>,
    /// The user's own variables (defaults merged in); injected ones come from `uses`.
    pub env: BTreeMap<String, String>,
    pub uses: Vec<Grant>,
    pub events: Vec<Event>,
}

/// Access granted by `uses` on one stateful resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub resource: Address,
    pub access: Access,
    /// The injected variable, e.g. `ORDERS_TABLE`.
    pub env_var: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Http {
        route: Route,
        payload: PayloadVersion,
    },
    Queue {
        queue: ResourceName,
        batch_size: u32,
        batch_window: u32,
    },
    Schedule {
        schedule: Schedule,
    },
    Bucket {
        bucket: ResourceName,
        on: BucketEventKind,
        prefix: Option<String>,
        suffix: Option<String>,
    },
    /// Item changes read from a table's stream (validation made sure the
    /// table has one).
    Table {
        table: ResourceName,
        batch_size: u32,
        batch_window: u32,
        start: StreamStart,
    },
}

impl Event {
    /// The stateful resource this event reads from, if any.
    pub fn source(&self) -> Option<Address> {
        match self {
            Self::Queue { queue, .. } => Some(Address::new(ResourceKind::Queue, queue.as_str())),
            Self::Bucket { bucket, .. } => {
                Some(Address::new(ResourceKind::Bucket, bucket.as_str()))
            }
            Self::Table { table, .. } => Some(Address::new(ResourceKind::Table, table.as_str())),
            Self::Http { .. } | Self::Schedule { .. } => None,
        }
    }

    /// Short text for graphs and logs: `POST /orders`, `queue OrderEvents (batch 10)`,
    /// `table Orders stream from latest (batch 100)`.
    pub fn summary(&self) -> String {
        match self {
            Self::Http { route, .. } => route.to_string(),
            Self::Queue {
                queue, batch_size, ..
            } => format!("queue {queue} (batch {batch_size})"),
            Self::Schedule { schedule } => schedule.to_string(),
            Self::Bucket {
                bucket,
                on,
                prefix,
                suffix,
            } => {
                let mut s = format!("bucket {bucket} {on}");
                if let Some(p) = prefix {
                    s.push_str(&format!(" prefix {p}"));
                }
                if let Some(x) = suffix {
                    s.push_str(&format!(" suffix {x}"));
                }
                s
            }
            Self::Table {
                table,
                batch_size,
                start,
                ..
            } => format!("table {table} stream from {start} (batch {batch_size})"),
        }
    }
}

impl Function {
    pub fn address(&self) -> Address {
        Address::new(ResourceKind::Function, self.name.as_str())
    }

    /// Every stateful resource this function needs to exist: what it `uses`
    /// and what its events read from (repeats possible).
    pub fn needs(&self) -> impl Iterator<Item = Address> + '_ {
        self.uses
            .iter()
            .map(|g| g.resource.clone())
            .chain(self.events.iter().filter_map(Event::source))
    }

    /// Everything this function may do through `uses`: its grants, plus
    /// `consume` on each queue it has an event on (the trigger reads with the
    /// function's own rights, on AWS as locally). Bucket events carry the
    /// object's key in the event and grant nothing; table events grant the
    /// stream, which is not a `uses` level (see [`Function::streams`]).
    /// Together with `streams` this is what becomes IAM on AWS and the local
    /// endpoint's policy.
    pub fn permissions(&self) -> BTreeMap<Address, Access> {
        let mut out: BTreeMap<Address, Access> = BTreeMap::new();
        let mut grant = |address: Address, access: Access| {
            out.entry(address)
                .and_modify(|a| *a = a.union(access))
                .or_insert(access);
        };
        for g in &self.uses {
            grant(g.resource.clone(), g.access);
        }
        for e in &self.events {
            if let Event::Queue { queue, .. } = e {
                grant(
                    Address::new(ResourceKind::Queue, queue.as_str()),
                    Access::Consume,
                );
            }
        }
        out
    }

    /// The tables whose streams this function reads: one per table event,
    /// sorted and without repeats. Reading a stream (DescribeStream,
    /// GetShardIterator, GetRecords, ListStreams on the stream's ARN) is what
    /// Lambda's event source mapping needs from the function's role; it is
    /// neither `read` nor `write` of the table, so it is kept apart from the
    /// `uses` levels and grants nothing on the items themselves.
    pub fn streams(&self) -> Vec<Address> {
        let mut out: Vec<Address> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Table { table, .. } => {
                    Some(Address::new(ResourceKind::Table, table.as_str()))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// How a function relates to a stateful resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Relation {
    /// Granted through `uses`.
    Uses { access: Access },
    /// The resource triggers the function (queue messages, bucket changes,
    /// table stream records).
    Event { event: String },
}

/// A link always goes from a function (stateless) to a stateful resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub from: Address,
    pub to: Address,
    #[serde(flatten)]
    pub relation: Relation,
}

impl Service {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.as_str() == name)
    }

    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.stateful
            .resources
            .iter()
            .find(|r| r.name.as_str() == name)
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.stateless
            .functions
            .iter()
            .find(|f| f.name.as_str() == name)
    }

    /// Every link, `uses` grants first, then events, in file order.
    pub fn links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        for f in &self.stateless.functions {
            for g in &f.uses {
                links.push(Link {
                    from: f.address(),
                    to: g.resource.clone(),
                    relation: Relation::Uses { access: g.access },
                });
            }
            for e in &f.events {
                if let Some(to) = e.source() {
                    links.push(Link {
                        from: f.address(),
                        to,
                        relation: Relation::Event { event: e.summary() },
                    });
                }
            }
        }
        links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_spec() {
        assert_eq!(env_var(ResourceKind::Table, "Orders"), "ORDERS_TABLE");
        assert_eq!(env_var(ResourceKind::Bucket, "Receipts"), "RECEIPTS_BUCKET");
        assert_eq!(
            env_var(ResourceKind::Queue, "OrderEvents"),
            "ORDER_EVENTS_QUEUE_URL"
        );
        assert_eq!(
            env_var(ResourceKind::Parameter, "SupportEmail"),
            "SUPPORT_EMAIL_PARAM"
        );
    }

    #[test]
    fn screaming_snake_handles_acronyms_and_digits() {
        assert_eq!(screaming_snake("APIKeys"), "API_KEYS");
        assert_eq!(screaming_snake("s3Bucket"), "S3_BUCKET");
        assert_eq!(screaming_snake("Table2"), "TABLE2");
        assert_eq!(screaming_snake("orderEventsDlq"), "ORDER_EVENTS_DLQ");
    }

    #[test]
    fn addresses_round_trip() {
        let a: Address = "table/Orders".parse().expect("valid");
        assert_eq!(a, Address::new(ResourceKind::Table, "Orders"));
        assert_eq!(a.to_string(), "table/Orders");
        assert_eq!(a.stack(), StackKind::Stateful);
        assert!("tables/Orders".parse::<Address>().is_err());
        assert!("table/".parse::<Address>().is_err());
        assert!("Orders".parse::<Address>().is_err());
    }

    #[test]
    fn access_union() {
        assert_eq!(Access::Read.union(Access::Write), Access::ReadWrite);
        assert_eq!(Access::Send.union(Access::Consume), Access::SendConsume);
        assert_eq!(Access::ReadWrite.union(Access::Read), Access::ReadWrite);
        assert_eq!(Access::Consume.union(Access::Consume), Access::Consume);
    }

    #[test]
    fn access_covers() {
        assert!(Access::ReadWrite.covers(Access::Read));
        assert!(!Access::Read.covers(Access::Write));
        assert!(Access::SendConsume.covers(Access::Consume));
    }
}
