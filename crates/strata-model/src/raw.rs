//! The manifest as written: `RawManifest` and its parts, before any check that
//! looks across values. These types are also the source of the JSON Schema
//! (`strata schema`), so their doc comments are what editors show.

use crate::decode::{Cx, Decode, Entries, Spanned, Text, keyword_enum, manifest_struct};
use crate::diagnostic::{Diagnostic, Problem, one_of};
use crate::yaml::{Node, NodeKind};

manifest_struct! {
    /// strata.yaml: one service as a stateful stack (data) and a stateless stack (code).
    #[schemars(title = "strata.yaml")]
    pub struct RawManifest as "the manifest" {
        /// Service name: lowercase letters, digits and `-`, starting with a letter, at most 40 characters.
        // Required, but checked after decoding so that a missing name does not hide other problems.
        #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,39}$"), required)]
        service: Option<Spanned<String>>,
        /// Named copies of the service. `dev` always exists and targets `local`.
        stages: Option<Entries<RawStage>>,
        /// Resources that hold data: changed only through a plan, never deleted by accident.
        stateful: Option<RawStateful>,
        /// Functions and their events: redeployed, rolled back or destroyed freely.
        stateless: Option<RawStateless>,
    }
}

keyword_enum! {
    /// Where a stage lives.
    pub enum Target as "target" {
        /// Embedded on this machine, no Docker, no cloud account.
        Local = "local",
        /// AWS, through CloudFormation.
        Aws = "aws",
    }
}

manifest_struct! {
    /// A stage: a named copy of the service with its own state and data.
    pub struct RawStage as "a stage" {
        /// `local` (default) or `aws`.
        target: Option<Spanned<Target>>,
        /// AWS region for an `aws` stage, e.g. `eu-west-1`.
        region: Option<Spanned<String>>,
    }
}

manifest_struct! {
    /// The stateful stack. Its resources never refer to functions: functions refer to them.
    pub struct RawStateful as "the stateful stack" {
        /// DynamoDB tables by name.
        tables: Option<Entries<RawTable>>,
        /// S3 buckets by name.
        buckets: Option<Entries<RawBucket>>,
        /// SQS queues by name.
        queues: Option<Entries<RawQueue>>,
        /// SSM parameters by name.
        parameters: Option<Entries<RawParameter>>,
    }
}

manifest_struct! {
    /// A DynamoDB table (on-demand billing).
    pub struct RawTable as "a table" {
        /// Partition key as `NAME:TYPE`, TYPE being `S`, `N` or `B`, e.g. `pk:S`.
        #[schemars(regex(pattern = r"^[^:]+:[SNB]$"))]
        partition_key: Spanned<String>,
        /// Optional sort key as `NAME:TYPE`.
        #[schemars(regex(pattern = r"^[^:]+:[SNB]$"))]
        sort_key: Option<Spanned<String>>,
        /// Global secondary indexes by name.
        indexes: Option<Entries<RawIndex>>,
        /// Change stream: what each record carries. Functions read it with a `table` event.
        stream: Option<Spanned<StreamView>>,
        /// Attribute holding each item's expiry time (epoch seconds).
        ttl: Option<Spanned<String>>,
    }
}

manifest_struct! {
    /// A global secondary index (projects all attributes).
    pub struct RawIndex as "an index" {
        /// Partition key as `NAME:TYPE`.
        #[schemars(regex(pattern = r"^[^:]+:[SNB]$"))]
        partition_key: Spanned<String>,
        /// Optional sort key as `NAME:TYPE`.
        #[schemars(regex(pattern = r"^[^:]+:[SNB]$"))]
        sort_key: Option<Spanned<String>>,
    }
}

keyword_enum! {
    /// What a table's stream carries.
    pub enum StreamView as "stream view" {
        KeysOnly = "keys_only",
        NewImage = "new_image",
        OldImage = "old_image",
        NewAndOldImages = "new_and_old_images",
    }
}

manifest_struct! {
    /// An S3 bucket (public access blocked, encrypted).
    pub struct RawBucket as "a bucket" {
        /// Keep every version of every object.
        versioning: Option<Spanned<bool>>,
    }
}

manifest_struct! {
    /// An SQS queue.
    pub struct RawQueue as "a queue" {
        /// A FIFO queue (ordered per message group, deduplicated).
        fifo: Option<Spanned<bool>>,
        /// Seconds a received message stays hidden (0-43200, default 30).
        visibility_timeout: Option<Spanned<i64>>,
        /// Seconds a message is kept (60-1209600, default 345600 = 4 days).
        retention: Option<Spanned<i64>>,
        /// Seconds each new message is delayed (0-900, default 0).
        delay: Option<Spanned<i64>>,
        /// Where messages go after failing `max_receives` times.
        dead_letter: Option<Spanned<RawDeadLetter>>,
    }
}

manifest_struct! {
    /// Redrive to a dead-letter queue.
    pub struct RawDeadLetter as "a dead_letter setting" {
        /// Name of another queue of this manifest.
        queue: Spanned<String>,
        /// Receives before a message moves there (1-1000).
        max_receives: Spanned<i64>,
    }
}

manifest_struct! {
    /// An SSM parameter.
    pub struct RawParameter as "a parameter" {
        /// The value. Not for secure parameters: set those with `strata param set`.
        value: Option<Spanned<Text>>,
        /// A SecureString: stored encrypted, never printed, set out of band.
        secure: Option<Spanned<bool>>,
    }
}

manifest_struct! {
    /// The stateless stack: functions and what triggers them.
    pub struct RawStateless as "the stateless stack" {
        /// Settings every function takes unless it sets its own.
        defaults: Option<RawDefaults>,
        /// The HTTP API in front of `http` events.
        http: Option<RawHttp>,
        /// Functions by name.
        functions: Option<Entries<RawFunction>>,
    }
}

manifest_struct! {
    /// Function settings shared by every function.
    pub struct RawDefaults as "stateless.defaults" {
        /// Runtime, e.g. `python3.12`, `nodejs22.x`, `provided`.
        runtime: Option<Spanned<String>>,
        /// Code directory, relative to strata.yaml.
        code: Option<Spanned<String>>,
        /// Memory in MB (128-10240).
        memory: Option<Spanned<i64>>,
        /// Timeout in seconds (1-900).
        timeout: Option<Spanned<i64>>,
        /// Environment variables for every function.
        env: Option<Entries<Spanned<Text>>>,
    }
}

manifest_struct! {
    /// HTTP API settings.
    pub struct RawHttp as "the http settings" {
        /// Event payload format version: "2.0" (default) or "1.0".
        payload: Option<Spanned<PayloadVersion>>,
        /// CORS answered by the gateway.
        cors: Option<Spanned<RawCors>>,
    }
}

keyword_enum! {
    /// API Gateway payload format version.
    pub enum PayloadVersion as "payload format version" {
        V1 = "1.0",
        V2 = "2.0",
    }
}

manifest_struct! {
    /// CORS settings of the HTTP API.
    pub struct RawCors as "the cors settings" {
        /// Allowed origins, or `["*"]`.
        origins: Spanned<Vec<Spanned<String>>>,
        /// Allowed methods (default: all).
        methods: Option<Vec<Spanned<String>>>,
        /// Allowed request headers (default: `Content-Type`, `Authorization`).
        headers: Option<Vec<Spanned<String>>>,
        /// Whether credentials (cookies) are allowed; not with `*` origins.
        allow_credentials: Option<Spanned<bool>>,
        /// Seconds browsers may cache a preflight answer (0-86400).
        max_age: Option<Spanned<i64>>,
    }
}

manifest_struct! {
    /// A function.
    pub struct RawFunction as "a function" {
        /// `module.function` for Python, `file.export` for Node; unused for `provided`.
        handler: Option<Spanned<String>>,
        /// Runtime; defaults to `stateless.defaults.runtime`.
        runtime: Option<Spanned<String>>,
        /// Code directory relative to strata.yaml; defaults to `stateless.defaults.code`.
        code: Option<Spanned<String>>,
        /// Memory in MB (128-10240).
        memory: Option<Spanned<i64>>,
        /// Timeout in seconds (1-900).
        timeout: Option<Spanned<i64>>,
        /// Free text.
        description: Option<Spanned<String>>,
        /// Environment variables of your own.
        env: Option<Entries<Spanned<Text>>>,
        /// Stateful resources this function reaches, by name, with an access level.
        uses: Option<Entries<Spanned<String>>>,
        /// What invokes it.
        events: Option<Vec<Spanned<RawEvent>>>,
    }
}

/// One event source of a function: exactly one of `http`, `queue`, `schedule`, `bucket`, `table`.
#[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
#[schemars(untagged)]
pub enum RawEvent {
    Http(RawHttpEvent),
    Queue(RawQueueEvent),
    Schedule(RawScheduleEvent),
    Bucket(RawBucketEvent),
    Table(RawTableEvent),
}

impl RawEvent {
    pub const KINDS: &'static [&'static str] = &["http", "queue", "schedule", "bucket", "table"];
}

impl Decode for RawEvent {
    /// Picks the event kind from its one kind key, then decodes that kind's keys.
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let kinds: Vec<&str> = match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, _)| k.text.as_str())
                .filter(|k| Self::KINDS.contains(k))
                .collect(),
            NodeKind::Scalar(s) if !s.is_null() => {
                let help = format!(
                    "write `- {{ http: {} }}` or another of {}",
                    s.text,
                    one_of(Self::KINDS)
                );
                cx.report(
                    Diagnostic::error(
                        Problem::WrongType {
                            expected: "an event mapping",
                            found: node.describe(),
                        },
                        node.span,
                    )
                    .help(help),
                );
                return None;
            }
            _ => vec![],
        };
        match kinds.as_slice() {
            ["http"] => RawHttpEvent::decode(node, cx).map(Self::Http),
            ["queue"] => RawQueueEvent::decode(node, cx).map(Self::Queue),
            ["schedule"] => RawScheduleEvent::decode(node, cx).map(Self::Schedule),
            ["bucket"] => RawBucketEvent::decode(node, cx).map(Self::Bucket),
            ["table"] => RawTableEvent::decode(node, cx).map(Self::Table),
            [] => {
                let mut d = Diagnostic::error(
                    Problem::Invalid {
                        problem: "event has no kind".into(),
                    },
                    node.span,
                )
                .label("an event needs one kind key")
                .help(format!(
                    "start the event with one of {}",
                    one_of(Self::KINDS)
                ));
                // Serverless Framework and SAM names for the same events.
                let known_as = |key: &str| match key {
                    "sqs" | "SQS" => Some("queue"),
                    "s3" | "S3" => Some("bucket"),
                    "httpApi" | "HttpApi" | "Api" | "api" => Some("http"),
                    "Schedule" | "cron" | "rate" => Some("schedule"),
                    "stream" | "dynamodb" | "DynamoDB" | "dynamodb_stream" => Some("table"),
                    _ => None,
                };
                if let NodeKind::Map(entries) = &node.kind
                    && let Some((key, _)) = entries.first()
                    && let Some(near) = known_as(&key.text).or_else(|| {
                        crate::diagnostic::did_you_mean(&key.text, Self::KINDS.iter().copied())
                    })
                {
                    d = Diagnostic::error(
                        Problem::UnknownKey {
                            key: key.text.clone(),
                            owner: "an event",
                        },
                        key.span,
                    )
                    .label("unknown event kind")
                    .help(format!("did you mean `{near}`?"));
                }
                cx.report(d);
                None
            }
            _ => {
                cx.report(
                    Diagnostic::error(
                        Problem::Invalid {
                            problem: format!("one event has several kinds: {}", kinds.join(", ")),
                        },
                        node.span,
                    )
                    .help(
                        "write each as its own list item: `- { http: ... }` and `- { queue: ... }`",
                    ),
                );
                None
            }
        }
    }
}

manifest_struct! {
    /// An HTTP route of the HTTP API.
    pub struct RawHttpEvent as "an http event" {
        /// `METHOD /path`, e.g. `GET /orders/{id}`; METHOD may be `ANY`; `{proxy+}` matches the rest.
        #[schemars(regex(pattern = r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /"))]
        http: Spanned<String>,
        /// Payload format for this route; defaults to `stateless.http.payload`.
        payload: Option<Spanned<PayloadVersion>>,
    }
}

manifest_struct! {
    /// Messages of a queue of the stateful stack, delivered in batches.
    pub struct RawQueueEvent as "a queue event" {
        /// Name of the queue.
        queue: Spanned<String>,
        /// Messages per invocation (1-10; up to 10000 with `batch_window`).
        batch_size: Option<Spanned<i64>>,
        /// Seconds to gather a batch (0-300).
        batch_window: Option<Spanned<i64>>,
    }
}

manifest_struct! {
    /// A timer.
    pub struct RawScheduleEvent as "a schedule event" {
        /// `rate(N unit)` or `cron(min hour day-of-month month day-of-week year)`, as EventBridge takes them.
        schedule: Spanned<String>,
    }
}

keyword_enum! {
    /// Which object changes fire a bucket event.
    pub enum BucketEventKind as "bucket event" {
        /// An object was written (put, copy, multipart upload).
        Created = "created",
        /// An object was deleted.
        Removed = "removed",
    }
}

manifest_struct! {
    /// Object changes in a bucket of the stateful stack.
    pub struct RawBucketEvent as "a bucket event" {
        /// Name of the bucket.
        bucket: Spanned<String>,
        /// `created` (default) or `removed`.
        on: Option<Spanned<BucketEventKind>>,
        /// Only keys starting with this.
        prefix: Option<Spanned<String>>,
        /// Only keys ending with this.
        suffix: Option<Spanned<String>>,
    }
}

keyword_enum! {
    /// Where a new table event starts reading the table's stream.
    pub enum StreamStart as "stream start position" {
        /// Only changes made after the event is deployed.
        Latest = "latest",
        /// The oldest record the stream still holds (24 hours on AWS).
        TrimHorizon = "trim_horizon",
    }
}

manifest_struct! {
    /// Item changes of a table of the stateful stack, read from its stream in order.
    pub struct RawTableEvent as "a table event" {
        /// Name of the table; it must declare `stream:`.
        table: Spanned<String>,
        /// Records per invocation (1-10000, default 100).
        batch_size: Option<Spanned<i64>>,
        /// Seconds to gather a batch (0-300, default 0).
        batch_window: Option<Spanned<i64>>,
        /// `latest` (default) or `trim_horizon`.
        start: Option<Spanned<StreamStart>>,
    }
}
