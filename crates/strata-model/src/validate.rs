//! Checks that look across the manifest: names, references between the two
//! stacks, limits AWS enforces, and the files a function needs. Turns a
//! [`RawManifest`] into a [`Service`], reporting every problem it finds.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::CodeTree;
use crate::decode::{Cx, Entries, Spanned};
use crate::diagnostic::{Diagnostic, Problem, Span, did_you_mean, one_of};
use crate::raw::{
    BucketEventKind, PayloadVersion, RawCors, RawEvent, RawFunction, RawManifest, RawQueue,
    RawStateful, RawStateless, RawTable, Target,
};
use crate::route;
use crate::runtime::{Language, Runtime, RuntimeError};
use crate::schedule;
use crate::service::{
    Access, AttributeType, Bucket, Cors, DeadLetter, Event, Function, FunctionName, Grant,
    HttpSettings, Index, KeyAttribute, Parameter, Queue, Resource, ResourceKind, ResourceName,
    ResourceSpec, Service, ServiceName, Stage, StageName, StatefulStack, StatelessStack, Table,
    env_var,
};

/// Environment variables Lambda sets itself and refuses in a function's configuration.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
/// Lambda's limit on a function's environment, names and values together.
const ENV_LIMIT_BYTES: usize = 4096;
/// The longest name AWS Lambda gives a function; ours are `<service>-<stage>-<function>`.
const FUNCTION_NAME_LIMIT: usize = 64;
/// API Gateway HTTP APIs stop waiting for an integration after this many seconds.
const HTTP_TIMEOUT_LIMIT: i64 = 30;

pub(crate) fn validate(raw: &RawManifest, tree: &dyn CodeTree, cx: &mut Cx) -> Option<Service> {
    let name = match &raw.service {
        Some(name) => service_name(name, cx),
        None => {
            cx.report(
                Diagnostic::error(
                    Problem::MissingKey {
                        key: "service",
                        owner: "the manifest",
                    },
                    Span::new(0, 0),
                )
                .help("start the file with `service: NAME`, e.g. `service: orders`"),
            );
            None
        }
    };
    let stages = stages(raw, cx);
    let empty_stateful = RawStateful {
        tables: None,
        buckets: None,
        queues: None,
        parameters: None,
    };
    let stateful = stateful(raw.stateful.as_ref().unwrap_or(&empty_stateful), cx);
    let empty_stateless = RawStateless {
        defaults: None,
        http: None,
        functions: None,
    };
    let stateless = StatelessCheck {
        stateful: &stateful,
        tree,
        service: name.as_deref(),
        stages: &stages,
        functions: raw
            .stateless
            .iter()
            .flat_map(|s| s.functions.iter())
            .flat_map(|f| f.names())
            .map(|n| n.value.as_str())
            .collect(),
        cx,
    }
    .check(raw.stateless.as_ref().unwrap_or(&empty_stateless));
    if cx.diags.has_errors() {
        return None;
    }
    Some(Service {
        name: ServiceName::checked(name?),
        stages,
        stateful: StatefulStack {
            resources: stateful.resources,
        },
        stateless: stateless?,
    })
}

fn invalid_name(cx: &mut Cx, what: &'static str, name: &Spanned<String>, rule: &str) {
    cx.report(
        Diagnostic::error(
            Problem::InvalidName {
                what,
                name: name.value.clone(),
            },
            name.span,
        )
        .help(rule.to_owned()),
    );
}

fn service_name(name: &Spanned<String>, cx: &mut Cx) -> Option<String> {
    let n = &name.value;
    let ok = n.len() <= 40
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-');
    if !ok {
        let mut rule = "a service name is 1-40 lowercase letters, digits and `-`, starting with a letter and not ending with `-` (it is part of every stack, table and bucket name)".to_owned();
        let fixed: String = n
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let fixed = fixed.trim_matches('-');
        if !fixed.is_empty() && fixed != n && fixed.starts_with(|c: char| c.is_ascii_lowercase()) {
            rule = format!("did you mean `{}`? {rule}", &fixed[..fixed.len().min(40)]);
        }
        invalid_name(cx, "service", name, &rule);
        return None;
    }
    Some(n.clone())
}

fn is_logical_name(n: &str) -> bool {
    n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric())
}

const LOGICAL_NAME_RULE: &str = "names are 1-64 ASCII letters and digits, starting with a letter (they become CloudFormation logical ids)";

fn stages(raw: &RawManifest, cx: &mut Cx) -> Vec<Stage> {
    let mut stages = vec![Stage {
        name: StageName::checked("dev"),
        target: Target::Local,
        region: None,
    }];
    for (name, stage) in raw.stages.iter().flat_map(Entries::iter) {
        let n = &name.value;
        if !StageName::is_valid(n) {
            invalid_name(
                cx,
                "stage",
                name,
                "a stage name is 1-20 lowercase letters, digits and `-`, starting with a letter",
            );
            continue;
        }
        let target = stage.target.as_ref().map_or(Target::Local, |t| t.value);
        if n == "dev" && target != Target::Local {
            let span = stage.target.as_ref().map_or(name.span, |t| t.span);
            cx.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: "stage `dev` always targets `local`".into(),
                    },
                    span,
                )
                .help(
                    "give the aws stage another name, e.g. `staging: { target: aws, region: ... }`",
                ),
            );
            continue;
        }
        if let Some(region) = &stage.region
            && !is_region(&region.value)
        {
            cx.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: format!("`{}` is not an AWS region", region.value),
                    },
                    region.span,
                )
                .help("a region looks like `eu-west-1` or `us-east-2`"),
            );
        }
        let region = stage.region.as_ref().map(|r| r.value.clone());
        if n == "dev" {
            stages[0].region = region;
        } else {
            stages.push(Stage {
                name: StageName::checked(n.clone()),
                target,
                region,
            });
        }
    }
    stages
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// The stateful stack as far as it checked out.
struct CheckedStateful {
    /// Resources that passed every check, in file order.
    resources: Vec<Resource>,
    /// Every declared name and its kind, including resources with errors, so a
    /// reference to a broken resource does not raise a second, misleading error.
    declared: HashMap<String, ResourceKind>,
    /// Where each declared name is written, for errors that point back at it.
    declared_at: HashMap<String, Span>,
}

impl CheckedStateful {
    fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name.as_str() == name)
    }
}

fn stateful(raw: &RawStateful, cx: &mut Cx) -> CheckedStateful {
    let mut declared: HashMap<String, ResourceKind> = HashMap::new();
    let mut first_span: HashMap<String, Span> = HashMap::new();
    let mut env_names: HashMap<String, (String, Span)> = HashMap::new();
    let mut valid_names: HashSet<String> = HashSet::new();
    let kinds = [
        (
            ResourceKind::Table,
            raw.tables.as_ref().map(|e| e.names().collect::<Vec<_>>()),
        ),
        (
            ResourceKind::Bucket,
            raw.buckets.as_ref().map(|e| e.names().collect()),
        ),
        (
            ResourceKind::Queue,
            raw.queues.as_ref().map(|e| e.names().collect()),
        ),
        (
            ResourceKind::Parameter,
            raw.parameters.as_ref().map(|e| e.names().collect()),
        ),
    ];
    for (kind, names) in kinds {
        for name in names.into_iter().flatten() {
            if !is_logical_name(&name.value) {
                invalid_name(cx, kind.as_str(), name, LOGICAL_NAME_RULE);
                continue;
            }
            if let Some(other) = declared.get(&name.value) {
                cx.report(
                    Diagnostic::error(
                        Problem::NameClash { what: kind.as_str(), name: name.value.clone(), other: format!("{} {}", other.as_str(), name.value) },
                        name.span,
                    )
                    .label("second resource with this name")
                    .related(first_span[&name.value], "first declared here")
                    .help("`uses` and events refer to stateful resources by name alone, so names are unique across tables, buckets, queues and parameters"),
                );
                continue;
            }
            declared.insert(name.value.clone(), kind);
            first_span.insert(name.value.clone(), name.span);
            let var = env_var(kind, &name.value);
            if let Some((other, span)) = env_names.get(&var) {
                cx.report(
                    Diagnostic::error(
                        Problem::NameClash {
                            what: kind.as_str(),
                            name: name.value.clone(),
                            other: other.clone(),
                        },
                        name.span,
                    )
                    .label(format!("both reach functions as `{var}`"))
                    .related(*span, "the other one")
                    .help("rename one of them so their environment variables differ"),
                );
                continue;
            }
            env_names.insert(var, (name.value.clone(), name.span));
            valid_names.insert(name.value.clone());
        }
    }
    let valid = |name: &Spanned<String>| valid_names.contains(&name.value);

    let mut resources = Vec::new();
    let mut push = |name: &Spanned<String>, spec: Option<ResourceSpec>| {
        if let Some(spec) = spec
            && valid(name)
        {
            resources.push(Resource {
                name: ResourceName::checked(&name.value),
                spec,
            });
        }
    };
    for (name, t) in raw.tables.iter().flat_map(Entries::iter) {
        push(name, table(t, cx).map(ResourceSpec::Table));
    }
    for (name, b) in raw.buckets.iter().flat_map(Entries::iter) {
        push(
            name,
            Some(ResourceSpec::Bucket(Bucket {
                versioning: b.versioning.as_ref().is_some_and(|v| v.value),
            })),
        );
    }
    let queues: Vec<_> = raw.queues.iter().flat_map(Entries::iter).collect();
    dead_letter_cycles(&queues, cx);
    for (name, q) in &queues {
        push(
            name,
            queue(name, q, &queues, &declared, cx).map(ResourceSpec::Queue),
        );
    }
    for (name, p) in raw.parameters.iter().flat_map(Entries::iter) {
        let secure = p.secure.as_ref().is_some_and(|s| s.value);
        if secure && let Some(value) = &p.value {
            cx.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: "a secure parameter's value does not belong in the manifest"
                            .into(),
                    },
                    value.span,
                )
                .label("this secret would be committed with the code")
                .help(format!(
                    "remove `value` and run `strata param set {} VALUE`",
                    name.value
                )),
            );
            continue;
        }
        push(
            name,
            Some(ResourceSpec::Parameter(Parameter {
                value: p.value.as_ref().map(|v| v.value.0.clone()),
                secure,
            })),
        );
    }
    CheckedStateful {
        resources,
        declared,
        declared_at: first_span,
    }
}

fn key_attribute(key: &Spanned<String>, cx: &mut Cx) -> Option<KeyAttribute> {
    let fail = |cx: &mut Cx, help: String| {
        cx.report(
            Diagnostic::error(
                Problem::Invalid {
                    problem: format!("`{}` is not a key attribute", key.value),
                },
                key.span,
            )
            .label("expected NAME:TYPE")
            .help(help),
        );
        None
    };
    let Some((name, kind)) = key.value.rsplit_once(':') else {
        return fail(
            cx,
            format!(
                "add the type: `{}:S` for a string, `:N` for a number, `:B` for binary",
                key.value
            ),
        );
    };
    if name.is_empty() || name.len() > 255 {
        return fail(cx, "the attribute name is 1-255 characters".into());
    }
    let kind = match kind {
        "S" => AttributeType::S,
        "N" => AttributeType::N,
        "B" => AttributeType::B,
        "s" | "n" | "b" => {
            return fail(
                cx,
                format!(
                    "types are upper case: `{name}:{}`",
                    kind.to_ascii_uppercase()
                ),
            );
        }
        "string" | "String" => return fail(cx, format!("write `{name}:S`")),
        "number" | "Number" => return fail(cx, format!("write `{name}:N`")),
        _ => {
            return fail(
                cx,
                "the type is `S` (string), `N` (number) or `B` (binary)".into(),
            );
        }
    };
    Some(KeyAttribute {
        name: name.to_owned(),
        kind,
    })
}

fn table(raw: &RawTable, cx: &mut Cx) -> Option<Table> {
    // DynamoDB declares each key attribute once, with one type, across the
    // table and its indexes; a clash is refused at create time, so catch it here.
    let mut types: HashMap<String, (AttributeType, Span)> = HashMap::new();
    let mut attribute = |key: &Spanned<String>, cx: &mut Cx| -> Option<KeyAttribute> {
        let attr = key_attribute(key, cx)?;
        if let Some((kind, span)) = types.get(&attr.name) {
            if *kind != attr.kind {
                cx.report(
                    Diagnostic::error(
                        Problem::Invalid {
                            problem: format!(
                                "attribute `{}` is declared with two types",
                                attr.name
                            ),
                        },
                        key.span,
                    )
                    .label(format!("here as {:?}", attr.kind))
                    .related(*span, format!("here as {kind:?}"))
                    .help("an attribute has one type in the table and all its indexes"),
                );
                return None;
            }
        } else {
            types.insert(attr.name.clone(), (attr.kind, key.span));
        }
        Some(attr)
    };
    let partition_key = attribute(&raw.partition_key, cx);
    let sort_key = raw.sort_key.as_ref().map(|k| attribute(k, cx));
    if let (Some(pk), Some(Some(sk))) = (&partition_key, &sort_key)
        && pk.name == sk.name
    {
        let span = raw
            .sort_key
            .as_ref()
            .map_or(raw.partition_key.span, |s| s.span);
        cx.report(
            Diagnostic::error(
                Problem::Invalid {
                    problem: "the sort key is the partition key".into(),
                },
                span,
            )
            .help("use two different attributes, or drop `sort_key`"),
        );
    }
    let mut indexes = Vec::new();
    let raw_indexes: Vec<_> = raw.indexes.iter().flat_map(Entries::iter).collect();
    if raw_indexes.len() > 20 {
        cx.report(Diagnostic::error(
            Problem::OutOfRange {
                what: "the number of indexes",
                value: raw_indexes.len() as i64,
                min: 0,
                max: 20,
            },
            raw_indexes[20].0.span,
        ));
    }
    for (name, index) in raw_indexes {
        let n = &name.value;
        if !(3..=255).contains(&n.len())
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            invalid_name(
                cx,
                "index",
                name,
                "an index name is 3-255 letters, digits, `_`, `.` or `-`",
            );
        }
        let pk = attribute(&index.partition_key, cx);
        let sk = index.sort_key.as_ref().map(|k| attribute(k, cx));
        if let (Some(partition_key), sort_key) = (pk, sk.flatten().map(Some).unwrap_or(None)) {
            indexes.push(Index {
                name: n.clone(),
                partition_key,
                sort_key,
            });
        }
    }
    if let Some(ttl) = &raw.ttl
        && (ttl.value.is_empty() || ttl.value.len() > 255)
    {
        cx.report(Diagnostic::error(
            Problem::Invalid {
                problem: "the ttl attribute name is 1-255 characters".into(),
            },
            ttl.span,
        ));
    }
    Some(Table {
        partition_key: partition_key?,
        sort_key: sort_key.flatten(),
        indexes,
        stream: raw.stream.as_ref().map(|s| s.value),
        ttl: raw.ttl.as_ref().map(|t| t.value.clone()),
    })
}

/// Checks `value` against AWS's range and returns it, reporting what is out of it.
fn ranged(
    value: Option<&Spanned<i64>>,
    what: &'static str,
    min: i64,
    max: i64,
    default: i64,
    cx: &mut Cx,
) -> Option<u32> {
    let Some(v) = value else {
        return Some(default as u32);
    };
    if !(min..=max).contains(&v.value) {
        cx.report(Diagnostic::error(
            Problem::OutOfRange {
                what,
                value: v.value,
                min,
                max,
            },
            v.span,
        ));
        return None;
    }
    Some(v.value as u32)
}

fn queue(
    name: &Spanned<String>,
    raw: &RawQueue,
    queues: &[(&Spanned<String>, &RawQueue)],
    declared: &HashMap<String, ResourceKind>,
    cx: &mut Cx,
) -> Option<Queue> {
    let visibility_timeout = ranged(
        raw.visibility_timeout.as_ref(),
        "visibility_timeout",
        0,
        43_200,
        30,
        cx,
    );
    let retention = ranged(
        raw.retention.as_ref(),
        "retention",
        60,
        1_209_600,
        345_600,
        cx,
    );
    let delay = ranged(raw.delay.as_ref(), "delay", 0, 900, 0, cx);
    let fifo = raw.fifo.as_ref().is_some_and(|f| f.value);
    let dead_letter = match &raw.dead_letter {
        None => Some(None),
        Some(dl) => {
            let max_receives = ranged(Some(&dl.value.max_receives), "max_receives", 1, 1000, 0, cx);
            let target = &dl.value.queue;
            let found = queues.iter().find(|(n, _)| n.value == target.value);
            let problem = |reason: String| Problem::InvalidDeadLetter { reason };
            match found {
                _ if target.value == name.value => {
                    cx.report(
                        Diagnostic::error(
                            problem("a queue cannot be its own dead-letter queue".into()),
                            target.span,
                        )
                        .help(format!(
                            "declare another queue, e.g. `{}Dlq: {{}}`, and name it here",
                            name.value
                        )),
                    );
                    None
                }
                // A queue that is declared but broken was reported already.
                None if declared.get(&target.value) == Some(&ResourceKind::Queue) => None,
                None => {
                    let elsewhere = declared.get(&target.value).map(|k| k.as_str());
                    let help = reference_help(
                        &target.value,
                        queues.iter().map(|(n, _)| n.value.as_str()),
                        "queue",
                        elsewhere,
                    );
                    cx.report(
                        Diagnostic::error(
                            problem(format!("no queue is named `{}`", target.value)),
                            target.span,
                        )
                        .help(help),
                    );
                    None
                }
                Some((_, dlq)) => {
                    let dlq_fifo = dlq.fifo.as_ref().is_some_and(|f| f.value);
                    if dlq_fifo != fifo {
                        cx.report(
                            Diagnostic::error(
                                problem(format!(
                                    "`{}` must be {} like `{}`",
                                    target.value,
                                    if fifo {
                                        "a FIFO queue"
                                    } else {
                                        "a standard queue"
                                    },
                                    name.value
                                )),
                                target.span,
                            )
                            .help("SQS moves messages only between queues of the same type"),
                        );
                        None
                    } else {
                        max_receives.map(|max_receives| {
                            Some(DeadLetter {
                                queue: ResourceName::checked(&target.value),
                                max_receives,
                            })
                        })
                    }
                }
            }
        }
    };
    Some(Queue {
        fifo,
        visibility_timeout: visibility_timeout?,
        retention: retention?,
        delay: delay?,
        dead_letter: dead_letter?,
    })
}

/// Queues that redrive to each other in a ring: SQS and CloudFormation both
/// refuse that (each queue would need the other to exist first).
fn dead_letter_cycles(queues: &[(&Spanned<String>, &RawQueue)], cx: &mut Cx) {
    let next: HashMap<&str, &Spanned<String>> = queues
        .iter()
        .filter_map(|(name, q)| {
            q.dead_letter
                .as_ref()
                .map(|d| (name.value.as_str(), &d.value.queue))
        })
        .collect();
    let mut reported: HashSet<&str> = HashSet::new();
    for (start, _) in queues {
        let start = start.value.as_str();
        let mut ring = vec![start];
        let mut at = start;
        while let Some(target) = next.get(at) {
            at = target.value.as_str();
            if at == start || ring.contains(&at) {
                break;
            }
            ring.push(at);
        }
        // A one-queue ring is reported as "its own dead-letter queue" already;
        // a chain that runs into a ring elsewhere is reported from that ring.
        if at != start || ring.len() < 2 || ring.iter().any(|q| reported.contains(q)) {
            continue;
        }
        reported.extend(ring.iter().copied());
        let span = next[start].span;
        let path = ring
            .iter()
            .chain([&start])
            .map(|q| format!("`{q}`"))
            .collect::<Vec<_>>()
            .join(" -> ");
        cx.report(
            Diagnostic::error(Problem::InvalidDeadLetter { reason: format!("dead-letter queues form a ring: {path}") }, span)
                .help("a dead-letter queue must not send its own failures back; give the last queue of the chain no `dead_letter`"),
        );
    }
}

/// "did you mean" plus the list of candidates, for a name that refers to nothing.
fn reference_help<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
    kind: &str,
    elsewhere: Option<&str>,
) -> String {
    if let Some(other) = elsewhere {
        return format!("`{name}` is a {other}, not a {kind}");
    }
    let all: Vec<&str> = candidates.clone().collect();
    match (did_you_mean(name, candidates), all.is_empty()) {
        (Some(near), _) => format!("did you mean `{near}`? {kind}s: {}", one_of(&all)),
        (None, true) => format!("no {kind} is declared; add it under `stateful`"),
        (None, false) => format!("{kind}s declared: {}", one_of(&all)),
    }
}

struct StatelessCheck<'a, 'c> {
    stateful: &'a CheckedStateful,
    tree: &'a dyn CodeTree,
    service: Option<&'a str>,
    stages: &'a [Stage],
    /// Function names, to explain a `uses` or event that names a function.
    functions: Vec<&'a str>,
    cx: &'c mut Cx,
}

impl StatelessCheck<'_, '_> {
    fn report(&mut self, d: Diagnostic) {
        self.cx.report(d);
    }

    fn check(&mut self, raw: &RawStateless) -> Option<StatelessStack> {
        let payload = raw
            .http
            .as_ref()
            .and_then(|h| h.payload.as_ref())
            .map_or(PayloadVersion::V2, |p| p.value);
        let cors = raw
            .http
            .as_ref()
            .and_then(|h| h.cors.as_ref())
            .and_then(|c| self.cors(c));
        let mut functions = Vec::new();
        let mut routes: HashMap<(route::Method, Vec<route::Segment>), (String, Span)> =
            HashMap::new();
        let mut ok = true;
        for (name, f) in raw.functions.iter().flat_map(Entries::iter) {
            match self.function(name, f, raw, payload, &mut routes) {
                Some(function) => functions.push(function),
                None => ok = false,
            }
        }
        ok.then_some(StatelessStack {
            http: HttpSettings { payload, cors },
            functions,
        })
    }

    fn cors(&mut self, cors: &Spanned<RawCors>) -> Option<Cors> {
        let c = &cors.value;
        if c.origins.value.is_empty() {
            self.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: "cors needs at least one origin".into(),
                    },
                    c.origins.span,
                )
                .help("for example `origins: [\"https://example.com\"]`, or `[\"*\"]` for any"),
            );
        }
        let any = c.origins.value.iter().any(|o| o.value == "*");
        for o in &c.origins.value {
            let v = &o.value;
            if v != "*" && !(v.starts_with("http://") || v.starts_with("https://")) {
                self.report(
                    Diagnostic::error(
                        Problem::Invalid {
                            problem: format!("`{v}` is not an origin"),
                        },
                        o.span,
                    )
                    .help("an origin is `*` or a scheme and host, like `https://example.com`"),
                );
            }
        }
        if any && let Some(creds) = c.allow_credentials.as_ref().filter(|c| c.value) {
            self.report(
                Diagnostic::error(Problem::Invalid { problem: "credentials cannot be allowed for every origin".into() }, creds.span)
                    .help("list the origins that may send cookies instead of `*`; browsers and API Gateway refuse `*` with credentials"),
            );
        }
        for m in c.methods.iter().flatten() {
            if m.value != "*"
                && route::Method::parse(&m.value).is_none_or(|m| m == route::Method::Any)
            {
                self.report(
                    Diagnostic::error(
                        Problem::UnknownKeyword {
                            value: m.value.clone(),
                            what: "HTTP method",
                        },
                        m.span,
                    )
                    .help("use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or `*`"),
                );
            }
        }
        let max_age = c
            .max_age
            .as_ref()
            .map(|m| ranged(Some(m), "max_age", 0, 86_400, 0, self.cx));
        Some(Cors {
            origins: c.origins.value.iter().map(|o| o.value.clone()).collect(),
            methods: c
                .methods
                .iter()
                .flatten()
                .map(|m| m.value.clone())
                .collect(),
            headers: c
                .headers
                .iter()
                .flatten()
                .map(|h| h.value.clone())
                .collect(),
            allow_credentials: c.allow_credentials.as_ref().is_some_and(|c| c.value),
            max_age: max_age.flatten(),
        })
    }

    /// A stateful resource by name. `Err(true)` when it is declared but broken
    /// (already reported), `Err(false)` when nothing has that name.
    fn resource(&self, name: &str) -> Result<&Resource, bool> {
        self.stateful
            .resource(name)
            .ok_or_else(|| self.stateful.declared.contains_key(name))
    }

    fn unknown_resource(&mut self, name: &Spanned<String>, kind: Option<ResourceKind>) {
        let mut candidates: Vec<&str> = self
            .stateful
            .declared
            .iter()
            .filter(|(_, k)| kind.is_none_or(|kind| **k == kind))
            .map(|(n, _)| n.as_str())
            .collect();
        candidates.sort();
        let kind_word = kind.map_or("resource", |k| k.as_str());
        let help = if self.functions.contains(&name.value.as_str()) {
            format!(
                "`{}` is a function; functions reach only stateful resources, and call each other through a queue (`send` on one side, a queue event on the other)",
                name.value
            )
        } else {
            reference_help(&name.value, candidates.iter().copied(), kind_word, None)
        };
        self.report(
            Diagnostic::error(
                Problem::UnknownResource {
                    name: name.value.clone(),
                },
                name.span,
            )
            .label("not declared under `stateful`")
            .help(help),
        );
    }

    /// Looks up a resource an event reads from, checking its kind.
    fn event_source(
        &mut self,
        name: &Spanned<String>,
        kind: ResourceKind,
        context: &'static str,
    ) -> Option<Resource> {
        match self.stateful.declared.get(&name.value) {
            None => {
                self.unknown_resource(name, Some(kind));
                None
            }
            Some(found) if *found != kind => {
                let found = found.as_str();
                let mut same_kind: Vec<&str> = self
                    .stateful
                    .declared
                    .iter()
                    .filter(|(_, k)| **k == kind)
                    .map(|(n, _)| n.as_str())
                    .collect();
                same_kind.sort();
                let help =
                    reference_help(&name.value, same_kind.iter().copied(), kind.as_str(), None);
                self.report(
                    Diagnostic::error(
                        Problem::WrongResourceKind {
                            name: name.value.clone(),
                            found,
                            expected: kind.as_str(),
                            context,
                        },
                        name.span,
                    )
                    .help(help),
                );
                None
            }
            Some(_) => self.resource(&name.value).ok().cloned(),
        }
    }

    fn function(
        &mut self,
        name: &Spanned<String>,
        f: &RawFunction,
        raw: &RawStateless,
        payload: PayloadVersion,
        routes: &mut HashMap<(route::Method, Vec<route::Segment>), (String, Span)>,
    ) -> Option<Function> {
        let defaults = raw.defaults.as_ref();
        let mut ok = true;
        if !is_logical_name(&name.value) {
            invalid_name(self.cx, "function", name, LOGICAL_NAME_RULE);
            ok = false;
        }
        if let Some(service) = self.service {
            // The physical name on AWS is `<service>-<stage>-<function>`; check the longest stage.
            if let Some(stage) = self.stages.iter().max_by_key(|s| s.name.as_str().len()) {
                let physical = format!("{service}-{}-{}", stage.name, name.value);
                if physical.len() > FUNCTION_NAME_LIMIT {
                    self.report(
                        Diagnostic::error(Problem::Invalid { problem: format!("function name `{physical}` would be longer than Lambda's {FUNCTION_NAME_LIMIT} characters") }, name.span)
                            .help("shorten the function, stage or service name"),
                    );
                    ok = false;
                }
            }
        }

        let runtime_text = f
            .runtime
            .as_ref()
            .or(defaults.and_then(|d| d.runtime.as_ref()));
        let runtime = match runtime_text {
            None => {
                self.missing(name, "runtime", "set `runtime:` on the function or `stateless.defaults.runtime`, e.g. `python3.12`");
                None
            }
            Some(text) => match Runtime::parse(&text.value) {
                Ok(r) => Some(r),
                Err(RuntimeError::Deprecated { replacement }) => {
                    self.report(
                        Diagnostic::error(
                            Problem::DeprecatedRuntime {
                                runtime: text.value.clone(),
                            },
                            text.span,
                        )
                        .help(format!(
                            "Lambda no longer creates functions on it; use `{replacement}`"
                        )),
                    );
                    None
                }
                Err(RuntimeError::Unknown { suggestion }) => {
                    let known = one_of(Runtime::NAMES);
                    let help = match suggestion {
                        Some(s) => format!("did you mean `{s}`? runtimes: {known}"),
                        None => format!("runtimes: {known}"),
                    };
                    self.report(
                        Diagnostic::error(
                            Problem::UnknownRuntime {
                                runtime: text.value.clone(),
                            },
                            text.span,
                        )
                        .help(help),
                    );
                    None
                }
            },
        };

        let code = f.code.as_ref().or(defaults.and_then(|d| d.code.as_ref()));
        let code_ok = match code {
            None => {
                self.missing(
                    name,
                    "code directory",
                    "set `code:` on the function or `stateless.defaults.code`, e.g. `src`",
                );
                false
            }
            Some(dir) => self.code_dir(dir),
        };

        let handler = match (&runtime, &f.handler) {
            (Some(rt), None) if rt.language() != Language::Provided => {
                self.missing(
                    name,
                    "handler",
                    &format!("set `handler:`, e.g. {}", rt.handler_example()),
                );
                ok = false;
                None
            }
            (Some(rt), Some(h)) => {
                if !rt.handler_form_ok(&h.value) {
                    self.report(
                        Diagnostic::error(
                            Problem::InvalidHandler {
                                handler: h.value.clone(),
                                runtime: rt.id().to_owned(),
                            },
                            h.span,
                        )
                        .help(format!(
                            "a {} handler is written like {}",
                            rt.id(),
                            rt.handler_example()
                        )),
                    );
                    ok = false;
                } else if code_ok && let Some(dir) = code {
                    self.handler_file(rt, &h.value, h.span, &dir.value);
                }
                Some(h.value.clone())
            }
            (Some(rt), None) => {
                if code_ok && let Some(dir) = code {
                    self.handler_file(rt, "bootstrap.handler", name.span, &dir.value);
                }
                None
            }
            (None, h) => h.as_ref().map(|h| h.value.clone()),
        };

        let memory = ranged(
            f.memory
                .as_ref()
                .or(defaults.and_then(|d| d.memory.as_ref())),
            "memory (MB)",
            128,
            10_240,
            128,
            self.cx,
        );
        let timeout_raw = f
            .timeout
            .as_ref()
            .or(defaults.and_then(|d| d.timeout.as_ref()));
        let timeout = ranged(timeout_raw, "timeout (seconds)", 1, 900, 3, self.cx);
        let uses = self.uses(f);
        let env = self.env(f, raw, uses.as_deref().unwrap_or(&[]));
        let events = self.events(name, f, payload, timeout, routes);
        if let (Some(t), Some(events)) = (timeout_raw, &events)
            && t.value > HTTP_TIMEOUT_LIMIT
            && events.iter().any(|e| matches!(e, Event::Http { .. }))
        {
            self.report(
                Diagnostic::warning(
                    Problem::Invalid {
                        problem: format!(
                            "HTTP requests stop waiting after {HTTP_TIMEOUT_LIMIT} seconds"
                        ),
                    },
                    t.span,
                )
                .label(format!("this function may run {} seconds", t.value))
                .help("API Gateway answers 503 after 30 seconds; move long work to a queue event"),
            );
        }
        let (
            Some(runtime),
            Some(code),
            Some(memory),
            Some(timeout),
            Some(uses),
            Some(env),
            Some(events),
            true,
            true,
        ) = (
            runtime, code, memory, timeout, uses, env, events, ok, code_ok,
        )
        else {
            return None;
        };
        Some(Function {
            name: FunctionName::checked(&name.value),
            runtime,
            handler,
            code: code.value.clone(),
            memory,
            timeout,
            description: f.description.as_ref().map(|d| d.value.clone()),
            env,
            uses,
            events,
        })
    }

    fn missing(&mut self, name: &Spanned<String>, what: &'static str, help: &str) {
        self.report(
            Diagnostic::error(
                Problem::MissingFunctionSetting {
                    function: name.value.clone(),
                    what,
                },
                name.span,
            )
            .help(help.to_owned()),
        );
    }

    fn code_dir(&mut self, dir: &Spanned<String>) -> bool {
        let path = dir.value.trim_end_matches('/');
        if path.starts_with('/') {
            self.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: "the code directory must be relative to strata.yaml".into(),
                    },
                    dir.span,
                )
                .help("write a path like `src` or `functions/orders`"),
            );
            return false;
        }
        if !self.tree.is_dir(path) {
            self.report(
                Diagnostic::error(
                    Problem::CodeDirMissing {
                        path: path.to_owned(),
                    },
                    dir.span,
                )
                .label("no such directory next to strata.yaml")
                .help("create it, or point `code:` at the folder that holds the handler"),
            );
            return false;
        }
        true
    }

    fn handler_file(&mut self, rt: &Runtime, handler: &str, span: Span, dir: &str) {
        let dir = dir.trim_end_matches('/');
        let files = rt.handler_files(handler);
        if !files
            .iter()
            .any(|f| self.tree.is_file(&format!("{dir}/{f}")))
        {
            let first = files
                .first()
                .map_or(String::new(), |f| format!("{dir}/{f}"));
            let help = if rt.language() == Language::Provided {
                format!(
                    "a `{}` function runs the executable `{dir}/bootstrap`; build it there (e.g. with cargo lambda)",
                    rt.id()
                )
            } else {
                format!("create `{first}`, or fix the module part of the handler")
            };
            self.report(
                Diagnostic::error(Problem::HandlerFileMissing { path: first }, span).help(help),
            );
        }
    }

    fn uses(&mut self, f: &RawFunction) -> Option<Vec<Grant>> {
        let mut grants = Vec::new();
        let mut ok = true;
        for (name, access) in f.uses.iter().flat_map(Entries::iter) {
            let resource = match self.resource(&name.value) {
                Ok(resource) => resource.clone(),
                Err(declared) => {
                    if !declared {
                        self.unknown_resource(name, None);
                    }
                    ok = false;
                    continue;
                }
            };
            let kind = resource.kind();
            let levels = kind.access_levels();
            match Access::parse(&access.value).filter(|a| levels.contains(a)) {
                Some(a) => grants.push(Grant {
                    resource: resource.address(),
                    access: a,
                    env_var: resource.env_var(),
                }),
                None => {
                    let words: Vec<&str> = levels.iter().map(|a| a.as_str()).collect();
                    let help = match did_you_mean(&access.value, words.iter().copied()) {
                        Some(near) => format!(
                            "did you mean `{near}`? a {} takes {}",
                            kind.as_str(),
                            one_of(&words)
                        ),
                        None => format!("a {} takes {}", kind.as_str(), one_of(&words)),
                    };
                    self.report(
                        Diagnostic::error(
                            Problem::InvalidAccess {
                                access: access.value.clone(),
                                kind: kind.as_str(),
                            },
                            access.span,
                        )
                        .help(help),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(grants)
    }

    fn env(
        &mut self,
        f: &RawFunction,
        raw: &RawStateless,
        grants: &[Grant],
    ) -> Option<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        let mut ok = true;
        let defaults = raw.defaults.as_ref().and_then(|d| d.env.as_ref());
        // Defaults first so a function's own value wins.
        for (key, value) in defaults
            .iter()
            .flat_map(|e| e.iter())
            .chain(f.env.iter().flat_map(Entries::iter))
        {
            let k = &key.value;
            let valid = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                invalid_name(
                    self.cx,
                    "environment variable",
                    key,
                    "a variable name is letters, digits and `_`, not starting with a digit",
                );
                ok = false;
            } else if RESERVED_ENV.contains(&k.as_str()) {
                self.report(
                    Diagnostic::error(Problem::ReservedEnv { name: k.clone() }, key.span)
                        .help("Lambda sets this variable itself; pick another name"),
                );
                ok = false;
            } else if let Some(g) = grants.iter().find(|g| &g.env_var == k) {
                self.report(
                    Diagnostic::error(
                        Problem::NameClash {
                            what: "environment variable",
                            name: k.clone(),
                            other: g.resource.to_string(),
                        },
                        key.span,
                    )
                    .label(format!("`uses` of {} injects this variable", g.resource))
                    .help("Strata injects it; remove this entry or rename it"),
                );
                ok = false;
            }
            env.insert(k.clone(), value.value.0.clone());
        }
        let size: usize = env.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > ENV_LIMIT_BYTES {
            let span = f
                .env
                .as_ref()
                .and_then(|e| e.entries.first())
                .map_or(Span::default(), |(k, _)| k.span);
            self.report(Diagnostic::error(Problem::Invalid { problem: format!("environment variables take {size} bytes, more than Lambda's {ENV_LIMIT_BYTES}") }, span).help("move large values to a parameter and read it at start-up"));
            ok = false;
        }
        ok.then_some(env)
    }

    fn events(
        &mut self,
        function: &Spanned<String>,
        f: &RawFunction,
        payload: PayloadVersion,
        timeout: Option<u32>,
        routes: &mut HashMap<(route::Method, Vec<route::Segment>), (String, Span)>,
    ) -> Option<Vec<Event>> {
        let mut events = Vec::new();
        let mut ok = true;
        let mut streams: HashMap<String, Span> = HashMap::new();
        for event in f.events.iter().flatten() {
            let checked = match &event.value {
                RawEvent::Http(h) => match route::parse(&h.http.value) {
                    Err(e) => {
                        self.report(
                            Diagnostic::error(
                                Problem::InvalidRoute {
                                    route: h.http.value.clone(),
                                    reason: e.reason,
                                },
                                h.http.span,
                            )
                            .maybe_help(e.help),
                        );
                        None
                    }
                    Ok(route) => {
                        if let Some((other, span)) = routes.get(&route.shape()) {
                            self.report(
                                Diagnostic::error(Problem::DuplicateRoute { route: route.to_string() }, h.http.span)
                                    .label("declared again here")
                                    .related(*span, format!("first declared by `{other}`"))
                                    .help("API Gateway sends each method and path to one function; remove one route (paths that differ only in parameter names are the same route)"),
                            );
                            None
                        } else {
                            routes.insert(route.shape(), (function.value.clone(), h.http.span));
                            Some(Event::Http {
                                route,
                                payload: h.payload.as_ref().map_or(payload, |p| p.value),
                            })
                        }
                    }
                },
                RawEvent::Queue(q) => self.queue_event(q, timeout),
                RawEvent::Schedule(s) => match schedule::parse(&s.schedule.value) {
                    Ok(schedule) => Some(Event::Schedule { schedule }),
                    Err(e) => {
                        self.report(
                            Diagnostic::error(
                                Problem::InvalidSchedule {
                                    expression: s.schedule.value.clone(),
                                    reason: e.reason,
                                },
                                s.schedule.span,
                            )
                            .maybe_help(e.help),
                        );
                        None
                    }
                },
                RawEvent::Bucket(b) => {
                    let bucket =
                        self.event_source(&b.bucket, ResourceKind::Bucket, "a bucket event");
                    for filter in [&b.prefix, &b.suffix].into_iter().flatten() {
                        if filter.value.is_empty() || filter.value.len() > 1024 {
                            self.report(
                                Diagnostic::error(
                                    Problem::Invalid {
                                        problem: "a key filter is 1-1024 characters".into(),
                                    },
                                    filter.span,
                                )
                                .help("drop the filter to match every key"),
                            );
                        }
                    }
                    bucket.map(|r| Event::Bucket {
                        bucket: r.name,
                        on: b.on.as_ref().map_or(BucketEventKind::Created, |o| o.value),
                        prefix: b.prefix.as_ref().map(|p| p.value.clone()),
                        suffix: b.suffix.as_ref().map(|s| s.value.clone()),
                    })
                }
                RawEvent::Table(t) => {
                    match self.table_event(t) {
                        // Lambda keeps one event source mapping per function and
                        // stream (a second is a ResourceConflictException).
                        Some(_) if streams.contains_key(&t.table.value) => {
                            self.report(
                            Diagnostic::error(
                                Problem::Invalid {
                                    problem: format!(
                                        "this function already reads the stream of table `{}`",
                                        t.table.value
                                    ),
                                },
                                t.table.span,
                            )
                            .related(streams[&t.table.value], "first table event here")
                            .help("keep one `table` event per table; its handler sees every change"),
                        );
                            None
                        }
                        Some(e) => {
                            streams.insert(t.table.value.clone(), t.table.span);
                            Some(e)
                        }
                        None => None,
                    }
                }
            };
            match checked {
                Some(e) => events.push(e),
                None => ok = false,
            }
        }
        ok.then_some(events)
    }

    fn queue_event(
        &mut self,
        q: &crate::raw::RawQueueEvent,
        timeout: Option<u32>,
    ) -> Option<Event> {
        let resource = self.event_source(&q.queue, ResourceKind::Queue, "a queue event")?;
        let ResourceSpec::Queue(queue) = &resource.spec else {
            return None;
        };
        let window = ranged(
            q.batch_window.as_ref(),
            "batch_window (seconds)",
            0,
            300,
            0,
            self.cx,
        )?;
        // Lambda's SQS event source takes no batching window for a FIFO queue
        // (documented with CreateEventSourceMapping's SQS parameters).
        if queue.fifo
            && let Some(w) = q.batch_window.as_ref().filter(|w| w.value > 0)
        {
            self.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: format!(
                            "queue `{}` is FIFO, which takes no batch window",
                            resource.name
                        ),
                    },
                    w.span,
                )
                .help("remove `batch_window`; a FIFO batch holds at most 10 messages"),
            );
            return None;
        }
        let max = if queue.fifo { 10 } else { 10_000 };
        let size = ranged(q.batch_size.as_ref(), "batch_size", 1, max, 10, self.cx)?;
        if size > 10 && window == 0 {
            let span = q.batch_size.as_ref().map_or(q.queue.span, |b| b.span);
            self.report(
                Diagnostic::error(
                    Problem::Invalid {
                        problem: "a batch of more than 10 messages needs a batch window".into(),
                    },
                    span,
                )
                .help("add `batch_window: 1` (seconds to gather a batch), or use `batch_size: 10`"),
            );
            return None;
        }
        // AWS refuses the event source mapping when a message could become
        // visible again while the function still works on it.
        if let Some(timeout) = timeout
            && timeout > queue.visibility_timeout
        {
            self.report(
                Diagnostic::error(
                    Problem::Invalid { problem: format!("queue `{}` hides a message for {} s, less than this function's timeout of {timeout} s", resource.name, queue.visibility_timeout) },
                    q.queue.span,
                )
                .help(format!("raise `visibility_timeout` of `{}` to at least {timeout} (AWS advises 6x the timeout), or lower the timeout", resource.name)),
            );
            return None;
        }
        Some(Event::Queue {
            queue: resource.name,
            batch_size: size,
            batch_window: window,
        })
    }

    /// A table event reads the table's stream, so the table must have one.
    /// Ranges are those of Lambda's DynamoDB event source mapping.
    fn table_event(&mut self, t: &crate::raw::RawTableEvent) -> Option<Event> {
        let resource = self.event_source(&t.table, ResourceKind::Table, "a table event");
        let size = ranged(t.batch_size.as_ref(), "batch_size", 1, 10_000, 100, self.cx);
        let window = ranged(
            t.batch_window.as_ref(),
            "batch_window (seconds)",
            0,
            300,
            0,
            self.cx,
        );
        let resource = resource?;
        let ResourceSpec::Table(table) = &resource.spec else {
            return None;
        };
        if table.stream.is_none() {
            let mut d = Diagnostic::error(
                Problem::Invalid {
                    problem: format!(
                        "table `{}` has no stream for this event to read",
                        resource.name
                    ),
                },
                t.table.span,
            )
            .label("needs the table's stream")
            .help(format!(
                "add `stream: new_and_old_images` to table `{}` (or keys_only, new_image, old_image)",
                resource.name
            ));
            if let Some(span) = self.stateful.declared_at.get(resource.name.as_str()) {
                d = d.related(*span, "the table is declared here");
            }
            self.report(d);
            return None;
        }
        Some(Event::Table {
            table: resource.name,
            batch_size: size?,
            batch_window: window?,
            start: t
                .start
                .as_ref()
                .map_or(crate::raw::StreamStart::Latest, |s| s.value),
        })
    }
}
