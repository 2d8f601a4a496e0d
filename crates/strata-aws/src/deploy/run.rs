//! The deploy, plan and destroy of an aws stage, over any `Cloud`.
//!
//! Order of a deploy: synthesize (quotas are checked here, before any call),
//! check the credentials (STS), make sure the bootstrap bucket exists, upload
//! the code zips not there yet, then the stacks. The stateful change set is
//! always created and checked first, so a refusal (S2) comes before anything
//! executes. Then S4's order: when the stateful change set removes anything,
//! the stateless stack goes first (it stops reading what is about to go);
//! otherwise the stateful stack goes first (the stateless one reads what it
//! publishes).
//!
//! What a killed run leaves behind, and what the next run does with it: a
//! stack operation still running is waited for (its events are printed); a
//! change set of ours (`strata-...`) that was never executed is deleted; a
//! stack left in `REVIEW_IN_PROGRESS` (a change set was made for a new stack,
//! and nothing ran) is created again from a new change set. A stateless or
//! bootstrap stack whose first creation rolled back is deleted and created
//! again; a stateful one is reported, since it may hold retained data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use strata_engine::{AllowDestroy, Refusal};
use strata_model::Service;

use super::bootstrap;
use super::changes::{self, Row, Side};
use super::cloud::{
    ChangeSetInfo, ChangeSetRequest, ChangeSetType, Cloud, CloudError, StackEvent, StackInfo,
    TemplateSource,
};
use crate::synth::{
    self, CODE_BUCKET_PARAMETER, CodeAsset, DIRECT_UPLOAD_MAX_BYTES, StackTemplate, SynthError,
    code_key_parameter,
};

/// Prefix of every change set Strata makes; others' are left alone.
pub const CHANGE_SET_PREFIX: &str = "strata-";
/// Longest wait for a change set to be computed.
const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Longest wait for a stack operation (CloudFormation's own limits are in hours
/// for some resources; an hour covers every type Strata synthesizes).
const STACK_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const FIRST_POLL: Duration = Duration::from_millis(250);
const LONGEST_POLL: Duration = Duration::from_secs(5);

/// Which of a stage's stacks (or the shared bootstrap) a stack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Bootstrap,
    Stateful,
    Stateless,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Stateful => "stateful",
            Self::Stateless => "stateless",
        }
    }
}

/// Where a stack plan's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A change set CloudFormation computed.
    ChangeSet,
    /// Strata's diff of the templates: no change set can be made yet.
    Template,
}

/// What will change in one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackPlan {
    pub stack: String,
    pub role: Role,
    /// Whether the stack exists (a change set of type UPDATE).
    pub exists: bool,
    pub source: Source,
    /// Why the rows come from the templates, when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub rows: Vec<Row>,
    pub refusals: Vec<Refusal>,
}

impl StackPlan {
    pub fn has_changes(&self) -> bool {
        !self.rows.is_empty()
    }
}

/// A resource that failed, from the stack's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Boxed: a synthesis error is large and rare.
    #[error(transparent)]
    Synth(Box<SynthError>),
    #[error("{doing}: {source}")]
    Cloud {
        doing: String,
        #[source]
        source: CloudError,
    },
    #[error("CloudFormation rejected the change set for {stack}: {reason}")]
    ChangeSetRejected { stack: String, reason: String },
    #[error("{stack} ended in {status}; {}", failures_text(.failures))]
    StackFailed {
        stack: String,
        status: String,
        failures: Vec<Failure>,
    },
    #[error("{stack} is in {status}{}, which no deploy can change", reason_text(.reason))]
    StackStuck {
        stack: String,
        status: String,
        reason: Option<String>,
    },
    #[error("gave up waiting for {what} of {stack} after {} s (last status {status})", .waited.as_secs())]
    Timeout {
        stack: String,
        what: &'static str,
        status: String,
        waited: Duration,
    },
    #[error("the bootstrap stack {stack} has no {output} output")]
    NoBootstrapBucket { stack: String, output: &'static str },
    #[error(
        "the {stack} template is {bytes} bytes, over the {max} CloudFormation takes inline, and the artifact bucket to upload it to does not exist yet"
    )]
    NeedsBootstrap {
        stack: String,
        bytes: usize,
        max: usize,
    },
}

impl From<SynthError> for DeployError {
    fn from(e: SynthError) -> Self {
        Self::Synth(Box::new(e))
    }
}

fn failures_text(failures: &[Failure]) -> String {
    if failures.is_empty() {
        return "no resource reported why".to_owned();
    }
    failures
        .iter()
        .map(|f| {
            format!(
                "{} ({}) {}: {}",
                f.logical_id, f.resource_type, f.status, f.reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn reason_text(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

pub(super) fn ctx(doing: impl Into<String>) -> impl FnOnce(CloudError) -> DeployError {
    let doing = doing.into();
    move |source| DeployError::Cloud { doing, source }
}

/// Progress a command shows while it runs.
#[derive(Debug)]
pub enum Note<'a> {
    Account {
        account: &'a str,
        region: &'a str,
        endpoint: &'a str,
    },
    /// A stack operation (ours killed, or another tool's) is running.
    Waiting {
        stack: &'a str,
        status: &'a str,
    },
    /// An unexecuted change set of an earlier run, now deleted.
    LeftoverChangeSet {
        stack: &'a str,
        name: &'a str,
    },
    /// A stack whose creation had failed, deleted to be created again.
    DeletingFailed {
        stack: &'a str,
        status: &'a str,
    },
    Bootstrapping {
        stack: &'a str,
    },
    Uploaded {
        key: &'a str,
        bytes: usize,
    },
    AlreadyUploaded {
        key: &'a str,
    },
    /// The change set about to run.
    Plan(&'a StackPlan),
    NoChanges {
        stack: &'a str,
    },
    Event(&'a StackEvent),
    Completed {
        stack: &'a str,
        status: &'a str,
    },
    Deleted {
        stack: &'a str,
    },
    Warning(String),
}

/// Sees the progress and approves each change set before it runs.
pub trait Observer {
    fn note(&mut self, note: Note<'_>);
    /// `false` stops the deploy; the change set is deleted, nothing runs.
    fn approve(&mut self, plan: &StackPlan) -> bool;
}

/// One aws stage of a service.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub service: &'a Service,
    pub stage: &'a str,
    /// The manifest's directory (code folders are relative to it).
    pub root: &'a Path,
}

/// What a stack ended as after a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackResult {
    pub stack: String,
    pub role: Role,
    /// Whether a change set was executed.
    pub changed: bool,
    pub status: Option<String>,
}

#[derive(Debug)]
pub enum DeployOutcome {
    /// Everything applied (or there was nothing to do).
    Done(Vec<StackResult>),
    /// S2: the stateful change set replaces or removes data; nothing ran.
    Refused(StackPlan),
    /// The user said no to this stack's change set; what came before it ran.
    Declined {
        stack: String,
        done: Vec<StackResult>,
    },
}

/// A change set made and read, not executed yet.
#[derive(Debug)]
struct Prepared {
    plan: StackPlan,
    change_set: String,
}

/// The stage's templates with the artifacts they need.
struct Work {
    stateful: StackTemplate,
    stateless: StackTemplate,
    stack_policy: String,
    code: Vec<CodeAsset>,
}

impl Work {
    fn new(target: Target<'_>) -> Result<Self, DeployError> {
        let templates = synth::templates(target.service, target.stage)?;
        let code = synth::package_code(target.service, target.root)?;
        Ok(Self {
            stateful: templates.stateful,
            stateless: templates.stateless,
            stack_policy: templates.stack_policy,
            code,
        })
    }

    /// CodeBucket and each function's code key.
    fn stateless_parameters(&self, bucket: &str) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert(CODE_BUCKET_PARAMETER.to_owned(), bucket.to_owned());
        for asset in &self.code {
            for f in &asset.functions {
                p.insert(
                    code_key_parameter(f.as_str()),
                    bootstrap::code_key(&asset.package.sha256.to_string()),
                );
            }
        }
        p
    }
}

/// The compact form of a rendered template: what is sent, and what the
/// quotas were measured on.
fn compact(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => serde_json::to_string(&v).expect("a JSON value always serializes"),
        Err(_) => body.to_owned(),
    }
}

fn parse(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

/// Unique per stack and run: moto finds change sets by name across stacks.
fn change_set_name(role: Role) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{CHANGE_SET_PREFIX}{}-{millis}", role.as_str())
}

fn is_no_change(info: &ChangeSetInfo) -> bool {
    info.status == "FAILED"
        && info.reason.as_deref().is_some_and(|r| {
            r.contains("didn't contain changes") || r.contains("No updates are to be performed")
        })
}

fn succeeded(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// Polling with a doubling pause, up to `LONGEST_POLL`.
pub(super) struct Poll {
    next: Duration,
    pub(super) waited: Duration,
}

impl Poll {
    pub(super) fn new() -> Self {
        Self {
            next: FIRST_POLL,
            waited: Duration::ZERO,
        }
    }

    pub(super) async fn wait<C: Cloud>(&mut self, cloud: &C) {
        cloud.pause(self.next).await;
        self.waited += self.next;
        self.next = (self.next * 2).min(LONGEST_POLL);
    }
}

/// Shows each event not seen yet, oldest first.
async fn show_events<C: Cloud>(
    cloud: &C,
    stack: &str,
    seen: &mut BTreeSet<String>,
    obs: &mut dyn Observer,
) -> Result<Vec<StackEvent>, DeployError> {
    let events = cloud
        .stack_events(stack)
        .await
        .map_err(ctx(format!("reading the events of {stack}")))?;
    let mut fresh: Vec<StackEvent> = events
        .into_iter()
        .filter(|e| !seen.contains(&e.id))
        .collect();
    fresh.reverse();
    for e in &fresh {
        seen.insert(e.id.clone());
        obs.note(Note::Event(e));
    }
    Ok(fresh)
}

async fn seen_events<C: Cloud>(cloud: &C, stack: &str) -> Result<BTreeSet<String>, DeployError> {
    Ok(cloud
        .stack_events(stack)
        .await
        .map_err(ctx(format!("reading the events of {stack}")))?
        .into_iter()
        .map(|e| e.id)
        .collect())
}

/// Waits until no operation runs on the stack, printing its events; gives
/// the stack as it then is (`None` once deleted) and the events seen.
async fn wait_stack<C: Cloud>(
    cloud: &C,
    stack: &str,
    seen: &mut BTreeSet<String>,
    obs: &mut dyn Observer,
) -> Result<(Option<StackInfo>, Vec<StackEvent>), DeployError> {
    let mut poll = Poll::new();
    let mut events = Vec::new();
    loop {
        let info = cloud
            .describe_stack(stack)
            .await
            .map_err(ctx(format!("reading the status of {stack}")))?;
        if info.is_some() {
            events.extend(show_events(cloud, stack, seen, obs).await?);
        }
        match info {
            Some(i) if i.is_busy() => {
                if poll.waited >= STACK_TIMEOUT {
                    return Err(DeployError::Timeout {
                        stack: stack.to_owned(),
                        what: "the stack operation",
                        status: i.status,
                        waited: poll.waited,
                    });
                }
                poll.wait(cloud).await;
            }
            Some(i) if i.status == "DELETE_COMPLETE" => return Ok((None, events)),
            other => return Ok((other, events)),
        }
    }
}

/// Deletes the change sets of earlier runs that never executed.
async fn delete_leftovers<C: Cloud>(
    cloud: &C,
    stack: &str,
    obs: &mut dyn Observer,
) -> Result<(), DeployError> {
    let sets = cloud
        .list_change_sets(stack)
        .await
        .map_err(ctx(format!("listing the change sets of {stack}")))?;
    for cs in sets {
        let ran = matches!(
            cs.execution_status.as_deref(),
            Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE" | "EXECUTE_FAILED")
        );
        if cs.stack != stack || !cs.name.starts_with(CHANGE_SET_PREFIX) || ran {
            continue;
        }
        cloud
            .delete_change_set(stack, &cs.name)
            .await
            .map_err(ctx(format!(
                "deleting the change set {} of {stack}",
                cs.name
            )))?;
        obs.note(Note::LeftoverChangeSet {
            stack,
            name: &cs.name,
        });
    }
    Ok(())
}

/// The stack as it is once no operation runs on it: one a killed run left
/// going is waited for (with its events shown) first.
async fn describe_idle<C: Cloud>(
    cloud: &C,
    stack: &str,
    obs: &mut dyn Observer,
) -> Result<Option<StackInfo>, DeployError> {
    let info = cloud
        .describe_stack(stack)
        .await
        .map_err(ctx(format!("reading the status of {stack}")))?;
    match info {
        Some(i) if i.is_busy() => {
            obs.note(Note::Waiting {
                stack,
                status: &i.status,
            });
            let mut seen = seen_events(cloud, stack).await?;
            Ok(wait_stack(cloud, stack, &mut seen, obs).await?.0)
        }
        other => Ok(other),
    }
}

/// Brings a stack to a state a change set can be made for: `None` for a
/// stack to create, its description for one to update.
async fn settle<C: Cloud>(
    cloud: &C,
    stack: &str,
    role: Role,
    obs: &mut dyn Observer,
) -> Result<Option<StackInfo>, DeployError> {
    let info = describe_idle(cloud, stack, obs).await?;
    let Some(i) = info else { return Ok(None) };
    match i.status.as_str() {
        "REVIEW_IN_PROGRESS" => {
            delete_leftovers(cloud, stack, obs).await?;
            Ok(None)
        }
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" if role != Role::Stateful => {
            obs.note(Note::DeletingFailed {
                stack,
                status: &i.status,
            });
            delete_and_wait(cloud, stack, obs).await?;
            Ok(None)
        }
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "DELETE_FAILED" | "UPDATE_ROLLBACK_FAILED" => {
            Err(DeployError::StackStuck {
                stack: stack.to_owned(),
                status: i.status.clone(),
                reason: i.status_reason.clone(),
            })
        }
        _ => {
            delete_leftovers(cloud, stack, obs).await?;
            Ok(Some(i))
        }
    }
}

async fn delete_and_wait<C: Cloud>(
    cloud: &C,
    stack: &str,
    obs: &mut dyn Observer,
) -> Result<(), DeployError> {
    let mut seen = seen_events(cloud, stack).await?;
    cloud
        .delete_stack(stack)
        .await
        .map_err(ctx(format!("deleting {stack}")))?;
    let (left, events) = wait_stack(cloud, stack, &mut seen, obs).await?;
    match left {
        None => {
            obs.note(Note::Deleted { stack });
            Ok(())
        }
        Some(i) => Err(DeployError::StackFailed {
            stack: stack.to_owned(),
            status: i.status,
            failures: failures(&events),
        }),
    }
}

fn failures(events: &[StackEvent]) -> Vec<Failure> {
    events
        .iter()
        .filter(|e| e.status.ends_with("_FAILED"))
        .map(|e| Failure {
            logical_id: e.logical_id.clone(),
            resource_type: e.resource_type.clone(),
            status: e.status.clone(),
            reason: e
                .reason
                .clone()
                .unwrap_or_else(|| "no reason given".to_owned()),
        })
        .collect()
}

/// One stack's template with what it is sent with.
struct StackInput<'t> {
    stack: &'t str,
    role: Role,
    body: String,
    parameters: BTreeMap<String, String>,
}

impl<'t> StackInput<'t> {
    fn of(t: &'t StackTemplate, role: Role, parameters: BTreeMap<String, String>) -> Self {
        Self {
            stack: &t.stack_name,
            role,
            body: compact(&t.rendered.body),
            parameters,
        }
    }
}

/// Inline, or uploaded to the artifact bucket (HeadObject first) when too large.
async fn template_source<C: Cloud>(
    cloud: &C,
    input: &StackInput<'_>,
    bucket: Option<&str>,
    obs: &mut dyn Observer,
) -> Result<TemplateSource, DeployError> {
    if input.body.len() <= DIRECT_UPLOAD_MAX_BYTES {
        return Ok(TemplateSource::Body(input.body.clone()));
    }
    let Some(bucket) = bucket else {
        return Err(DeployError::NeedsBootstrap {
            stack: input.stack.to_owned(),
            bytes: input.body.len(),
            max: DIRECT_UPLOAD_MAX_BYTES,
        });
    };
    let key = bootstrap::template_key(input.stack, &input.body);
    upload(cloud, bucket, &key, input.body.as_bytes(), obs).await?;
    Ok(TemplateSource::Url(cloud.object_url(bucket, &key)))
}

async fn upload<C: Cloud>(
    cloud: &C,
    bucket: &str,
    key: &str,
    bytes: &[u8],
    obs: &mut dyn Observer,
) -> Result<(), DeployError> {
    let exists = cloud
        .object_exists(bucket, key)
        .await
        .map_err(ctx(format!("looking for s3://{bucket}/{key}")))?;
    if exists {
        obs.note(Note::AlreadyUploaded { key });
        return Ok(());
    }
    cloud
        .put_object(bucket, key, bytes.to_vec())
        .await
        .map_err(ctx(format!("uploading s3://{bucket}/{key}")))?;
    obs.note(Note::Uploaded {
        key,
        bytes: bytes.len(),
    });
    Ok(())
}

/// Creates the change set, waits for it and reads it against the rules.
/// `None` when it holds no change (it is deleted then).
async fn prepare<C: Cloud>(
    cloud: &C,
    input: &StackInput<'_>,
    bucket: Option<&str>,
    allow: &AllowDestroy,
    obs: &mut dyn Observer,
) -> Result<Option<Prepared>, DeployError> {
    let stack = input.stack;
    let existing = settle(cloud, stack, input.role, obs).await?;
    let template = template_source(cloud, input, bucket, obs).await?;
    let kind = if existing.is_some() {
        ChangeSetType::Update
    } else {
        ChangeSetType::Create
    };
    let name = change_set_name(input.role);
    let request = ChangeSetRequest {
        stack: stack.to_owned(),
        name: name.clone(),
        kind,
        template,
        parameters: input
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        description: format!("strata deploy of the {} stack", input.role.as_str()),
    };
    cloud
        .create_change_set(&request)
        .await
        .map_err(ctx(format!("creating a change set for {stack}")))?;

    let mut poll = Poll::new();
    let info = loop {
        let info = cloud
            .describe_change_set(stack, &name)
            .await
            .map_err(ctx(format!("reading the change set {name} of {stack}")))?;
        if !matches!(
            info.status.as_str(),
            "CREATE_PENDING" | "CREATE_IN_PROGRESS"
        ) {
            break info;
        }
        if poll.waited >= CHANGE_SET_TIMEOUT {
            return Err(DeployError::Timeout {
                stack: stack.to_owned(),
                what: "the change set",
                status: info.status,
                waited: poll.waited,
            });
        }
        poll.wait(cloud).await;
    };

    let (old, old_parameters) = match &existing {
        Some(deployed) => (
            cloud
                .get_template(stack)
                .await
                .map_err(ctx(format!("reading the deployed template of {stack}")))?
                .as_deref()
                .and_then(parse),
            // Only the parameters Strata gives values to: the SSM-typed ones
            // keep their defaults on both sides.
            deployed
                .parameters
                .iter()
                .filter(|(k, _)| input.parameters.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => (None, BTreeMap::new()),
    };
    let new = parse(&input.body);
    let old_side = Side {
        template: old.as_ref(),
        parameters: &old_parameters,
    };
    let new_side = Side {
        template: new.as_ref(),
        parameters: &input.parameters,
    };
    // moto lists no row for a change of parameters alone (a new code key),
    // though executing applies it: then Strata's diff gives the rows.
    let listed_nothing = info.status != "FAILED" && info.changes.is_empty();
    let rows = if listed_nothing {
        changes::rows_from_diff(old_side, new_side)
    } else {
        changes::rows(&info.changes, old_side, new_side)
    };
    let empty = is_no_change(&info) || (listed_nothing && rows.is_empty());
    if empty || info.status == "FAILED" {
        discard(cloud, stack, &name, kind).await?;
        if empty {
            obs.note(Note::NoChanges { stack });
            return Ok(None);
        }
        return Err(DeployError::ChangeSetRejected {
            stack: stack.to_owned(),
            reason: info.reason.unwrap_or_else(|| "no reason given".to_owned()),
        });
    }

    let refusals = changes::refusals(&rows, allow);
    Ok(Some(Prepared {
        plan: StackPlan {
            stack: stack.to_owned(),
            role: input.role,
            exists: existing.is_some(),
            source: Source::ChangeSet,
            note: listed_nothing.then(|| {
                "the endpoint's change set lists no row (a change of parameters alone); these come from Strata's diff".to_owned()
            }),
            rows,
            refusals,
        },
        change_set: name,
    }))
}

/// Deletes a change set that will not run; a stack that existed only for it
/// (`REVIEW_IN_PROGRESS`) goes too, so a plan leaves nothing behind.
async fn discard<C: Cloud>(
    cloud: &C,
    stack: &str,
    name: &str,
    kind: ChangeSetType,
) -> Result<(), DeployError> {
    cloud
        .delete_change_set(stack, name)
        .await
        .map_err(ctx(format!("deleting the change set {name} of {stack}")))?;
    if kind == ChangeSetType::Create {
        let review = cloud
            .describe_stack(stack)
            .await
            .map_err(ctx(format!("reading the status of {stack}")))?
            .is_some_and(|i| i.status == "REVIEW_IN_PROGRESS");
        if review {
            cloud
                .delete_stack(stack)
                .await
                .map_err(ctx(format!("deleting the empty stack {stack}")))?;
        }
    }
    Ok(())
}

fn kind_of(plan: &StackPlan) -> ChangeSetType {
    if plan.exists {
        ChangeSetType::Update
    } else {
        ChangeSetType::Create
    }
}

/// The stack policy while a change set runs: the stage's policy, minus the
/// logical ids whose destruction `--allow-destroy` allowed.
fn policy_allowing(policy: &str, allowed: &[String]) -> String {
    if allowed.is_empty() {
        return policy.to_owned();
    }
    let Ok(mut value) = serde_json::from_str::<Value>(policy) else {
        return policy.to_owned();
    };
    if let Some(statements) = value.get_mut("Statement").and_then(Value::as_array_mut) {
        for s in statements.iter_mut() {
            if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
                continue;
            }
            if let Some(resources) = s.get_mut("Resource").and_then(Value::as_array_mut) {
                resources.retain(|r| {
                    r.as_str().is_none_or(|r| {
                        !allowed
                            .iter()
                            .any(|id| r == format!("LogicalResourceId/{id}"))
                    })
                });
            }
        }
        statements.retain(|s| {
            s.get("Resource")
                .and_then(Value::as_array)
                .is_none_or(|r| !r.is_empty())
        });
    }
    serde_json::to_string(&value).expect("a JSON value always serializes")
}

/// Runs an approved change set and waits for the stack, printing events.
async fn execute<C: Cloud>(
    cloud: &C,
    prepared: &Prepared,
    protect: Option<(&str, &AllowDestroy)>,
    obs: &mut dyn Observer,
) -> Result<StackResult, DeployError> {
    let plan = &prepared.plan;
    let stack = plan.stack.as_str();
    let mut seen = seen_events(cloud, stack).await?;
    if let (Some((policy, allow)), true) = (protect, plan.exists) {
        let allowed = changes::allowed_destructions(&plan.rows, allow);
        let during = policy_allowing(policy, &allowed);
        cloud
            .set_stack_policy(stack, &during)
            .await
            .map_err(ctx(format!("setting the stack policy of {stack}")))?;
    }
    cloud
        .execute_change_set(stack, &prepared.change_set)
        .await
        .map_err(ctx(format!(
            "executing the change set {} of {stack}",
            prepared.change_set
        )))?;
    let (info, events) = wait_stack(cloud, stack, &mut seen, obs).await?;
    let status = info.as_ref().map(|i| i.status.clone());
    match status.as_deref() {
        Some(s) if succeeded(s) => {
            obs.note(Note::Completed { stack, status: s });
        }
        _ => {
            return Err(DeployError::StackFailed {
                stack: stack.to_owned(),
                status: status.unwrap_or_else(|| "DELETE_COMPLETE".to_owned()),
                failures: failures(&events),
            });
        }
    }
    if let Some((policy, _)) = protect {
        protect_stateful(cloud, stack, policy, info.as_ref(), obs).await?;
    }
    Ok(StackResult {
        stack: stack.to_owned(),
        role: plan.role,
        changed: true,
        status,
    })
}

/// The stack policy (again in full) and termination protection.
async fn protect_stateful<C: Cloud>(
    cloud: &C,
    stack: &str,
    policy: &str,
    info: Option<&StackInfo>,
    obs: &mut dyn Observer,
) -> Result<(), DeployError> {
    cloud
        .set_stack_policy(stack, &compact(policy))
        .await
        .map_err(ctx(format!("setting the stack policy of {stack}")))?;
    if info.is_some_and(|i| i.termination_protection) {
        return Ok(());
    }
    match cloud.set_termination_protection(stack, true).await {
        Ok(()) => Ok(()),
        // moto has no UpdateTerminationProtection; the stack policy and
        // `Retain` still keep the data, so the deploy goes on, and says so.
        Err(CloudError::NotImplemented { detail, .. }) => {
            obs.note(Note::Warning(format!(
                "termination protection of {stack} is not on: the endpoint does not implement UpdateTerminationProtection ({detail})"
            )));
            Ok(())
        }
        Err(e) => Err(ctx(format!("turning on termination protection of {stack}"))(e)),
    }
}

/// Checks credentials and endpoint, and says where the run goes.
async fn hello<C: Cloud>(cloud: &C, obs: &mut dyn Observer) -> Result<String, DeployError> {
    let account = cloud
        .account()
        .await
        .map_err(ctx("checking the AWS credentials (STS GetCallerIdentity)"))?;
    let endpoint = cloud.endpoint();
    obs.note(Note::Account {
        account: &account,
        region: cloud.region(),
        endpoint: &endpoint,
    });
    Ok(account)
}

/// The artifact bucket, creating the bootstrap stack when it is missing.
pub async fn ensure_bootstrap<C: Cloud>(
    cloud: &C,
    obs: &mut dyn Observer,
) -> Result<String, DeployError> {
    let stack = bootstrap::STACK;
    let existing = settle(cloud, stack, Role::Bootstrap, obs).await?;
    let info = match existing {
        Some(info) => info,
        None => {
            obs.note(Note::Bootstrapping { stack });
            let input = StackInput {
                stack,
                role: Role::Bootstrap,
                body: bootstrap::template(),
                parameters: BTreeMap::new(),
            };
            let prepared = prepare(cloud, &input, None, &AllowDestroy::default(), obs)
                .await?
                .ok_or_else(|| DeployError::NoBootstrapBucket {
                    stack: stack.to_owned(),
                    output: bootstrap::BUCKET_OUTPUT,
                })?;
            execute(cloud, &prepared, None, obs).await?;
            cloud
                .describe_stack(stack)
                .await
                .map_err(ctx(format!("reading the outputs of {stack}")))?
                .unwrap_or_default()
        }
    };
    bucket_of(cloud, &info)
        .await?
        .ok_or_else(|| DeployError::NoBootstrapBucket {
            stack: stack.to_owned(),
            output: bootstrap::BUCKET_OUTPUT,
        })
}

/// The artifact bucket of the bootstrap stack: its output, or the bucket's
/// physical id where the endpoint shows no outputs (moto, for stacks made
/// through a change set).
async fn bucket_of<C: Cloud>(cloud: &C, info: &StackInfo) -> Result<Option<String>, DeployError> {
    if let Some(bucket) = info.outputs.get(bootstrap::BUCKET_OUTPUT) {
        return Ok(Some(bucket.clone()));
    }
    cloud
        .physical_id(bootstrap::STACK, bootstrap::BUCKET_OUTPUT)
        .await
        .map_err(ctx(format!("reading the bucket of {}", bootstrap::STACK)))
}

/// Uploads each code zip the bucket does not hold yet.
pub async fn upload_code<C: Cloud>(
    cloud: &C,
    bucket: &str,
    code: &[CodeAsset],
    obs: &mut dyn Observer,
) -> Result<(), DeployError> {
    for asset in code {
        let key = bootstrap::code_key(&asset.package.sha256.to_string());
        upload(cloud, bucket, &key, &asset.package.bytes, obs).await?;
    }
    Ok(())
}

/// Which stacks of the stage a deploy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stacks {
    pub stateful: bool,
    pub stateless: bool,
}

impl Stacks {
    pub const BOTH: Self = Self {
        stateful: true,
        stateless: true,
    };

    fn has(self, role: Role) -> bool {
        match role {
            Role::Stateful => self.stateful,
            Role::Stateless => self.stateless,
            Role::Bootstrap => true,
        }
    }
}

/// `strata deploy` of an aws stage: the bootstrap when missing, the code,
/// then the stacks in `stacks`.
pub async fn deploy<C: Cloud>(
    cloud: &C,
    target: Target<'_>,
    stacks: Stacks,
    allow: &AllowDestroy,
    obs: &mut dyn Observer,
) -> Result<DeployOutcome, DeployError> {
    let work = Work::new(target)?;
    hello(cloud, obs).await?;
    let bucket = ensure_bootstrap(cloud, obs).await?;
    upload_code(cloud, &bucket, &work.code, obs).await?;

    let stateful_input = StackInput::of(&work.stateful, Role::Stateful, BTreeMap::new());
    let stateless_input = StackInput::of(
        &work.stateless,
        Role::Stateless,
        work.stateless_parameters(&bucket),
    );
    let protect = Some((work.stack_policy.as_str(), allow));

    let stateful = if stacks.stateful {
        prepare(cloud, &stateful_input, Some(&bucket), allow, obs).await?
    } else {
        None
    };
    if let Some(p) = &stateful
        && !p.plan.refusals.is_empty()
    {
        discard(cloud, &p.plan.stack, &p.change_set, kind_of(&p.plan)).await?;
        return Ok(DeployOutcome::Refused(p.plan.clone()));
    }
    let mut done = Vec::new();
    let removing = stateful
        .as_ref()
        .is_some_and(|p| p.plan.rows.iter().any(|r| r.action == "Remove"));
    let stateless_exists = cloud
        .describe_stack(stateless_input.stack)
        .await
        .map_err(ctx(format!(
            "reading the status of {}",
            stateless_input.stack
        )))?
        .is_some_and(|i| i.status != "REVIEW_IN_PROGRESS");

    // S4: removals stateless first, everything else stateful first.
    let order: [Role; 2] = if removing && stateless_exists {
        [Role::Stateless, Role::Stateful]
    } else {
        [Role::Stateful, Role::Stateless]
    };
    let mut stateful = stateful;
    for role in order.into_iter().filter(|r| stacks.has(*r)) {
        let prepared = match role {
            Role::Stateful => stateful.take(),
            _ => prepare(cloud, &stateless_input, Some(&bucket), allow, obs).await?,
        };
        let Some(prepared) = prepared else {
            let stack = match role {
                Role::Stateful => stateful_input.stack,
                _ => stateless_input.stack,
            };
            if role == Role::Stateful {
                // Nothing to change, but a stack deployed by an older run (or
                // by moto, which lacks it) may still miss its protection.
                let info = cloud
                    .describe_stack(stack)
                    .await
                    .map_err(ctx(format!("reading the status of {stack}")))?;
                if info.is_some() {
                    protect_stateful(cloud, stack, &work.stack_policy, info.as_ref(), obs).await?;
                }
            }
            done.push(StackResult {
                stack: stack.to_owned(),
                role,
                changed: false,
                status: None,
            });
            continue;
        };
        obs.note(Note::Plan(&prepared.plan));
        if !obs.approve(&prepared.plan) {
            discard(
                cloud,
                &prepared.plan.stack,
                &prepared.change_set,
                kind_of(&prepared.plan),
            )
            .await?;
            // A stateful change set made up front and not reached yet.
            if let Some(p) = stateful.take() {
                discard(cloud, &p.plan.stack, &p.change_set, kind_of(&p.plan)).await?;
            }
            return Ok(DeployOutcome::Declined {
                stack: prepared.plan.stack.clone(),
                done,
            });
        }
        let guard = if role == Role::Stateful {
            protect
        } else {
            None
        };
        done.push(execute(cloud, &prepared, guard, obs).await?);
    }
    Ok(DeployOutcome::Done(done))
}

/// The SSM names a template's parameters read (`AWS::SSM::Parameter::Value<...>`).
fn ssm_inputs(template: &Value) -> Vec<String> {
    let Some(params) = template.get("Parameters").and_then(Value::as_object) else {
        return vec![];
    };
    params
        .values()
        .filter(|p| {
            p.get("Type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value"))
        })
        .filter_map(|p| p.get("Default").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The names of the `AWS::SSM::Parameter`s a template creates.
fn published_parameters(template: &Value) -> BTreeSet<String> {
    resources_of(template)
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::SSM::Parameter"))
        .filter_map(|r| {
            r.get("Properties")?
                .get("Name")?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn resources_of(template: &Value) -> impl Iterator<Item = &Value> {
    template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
}

/// `strata plan` of an aws stage: change sets made, read and deleted.
pub async fn plan<C: Cloud>(
    cloud: &C,
    target: Target<'_>,
    allow: &AllowDestroy,
    obs: &mut dyn Observer,
) -> Result<Vec<StackPlan>, DeployError> {
    let work = Work::new(target)?;
    hello(cloud, obs).await?;
    let bucket = match cloud
        .describe_stack(bootstrap::STACK)
        .await
        .map_err(ctx(format!("reading the status of {}", bootstrap::STACK)))?
    {
        Some(info) => bucket_of(cloud, &info).await?,
        None => None,
    };
    let mut plans = Vec::new();

    let stateful_input = StackInput::of(&work.stateful, Role::Stateful, BTreeMap::new());
    let stateful = prepare(cloud, &stateful_input, bucket.as_deref(), allow, obs).await?;
    let stateful_exists = match &stateful {
        Some(p) => {
            discard(cloud, &p.plan.stack, &p.change_set, kind_of(&p.plan)).await?;
            p.plan.exists
        }
        None => true,
    };
    plans.push(stateful.map_or_else(
        || empty_plan(stateful_input.stack, Role::Stateful),
        |p| p.plan,
    ));

    // Without the bucket the code keys have nowhere to point; a placeholder
    // shows the same resources.
    let code_bucket = bucket
        .clone()
        .unwrap_or_else(|| "<artifact bucket>".to_owned());
    let stateless_input = StackInput::of(
        &work.stateless,
        Role::Stateless,
        work.stateless_parameters(&code_bucket),
    );
    let new = parse(&stateless_input.body);
    let inputs = new.as_ref().map(ssm_inputs).unwrap_or_default();
    // What the deployed stateful stack publishes: the SSM names of its
    // parameters, read from its template (no SSM client needed).
    let published: BTreeSet<String> = if stateful_exists {
        cloud
            .get_template(stateful_input.stack)
            .await
            .map_err(ctx(format!(
                "reading the deployed template of {}",
                stateful_input.stack
            )))?
            .as_deref()
            .and_then(parse)
            .map(|t| published_parameters(&t))
            .unwrap_or_default()
    } else {
        BTreeSet::new()
    };
    let missing: Vec<String> = inputs
        .into_iter()
        .filter(|name| !published.contains(name))
        .collect();
    if missing.is_empty() && bucket.is_some() {
        let p = prepare(cloud, &stateless_input, bucket.as_deref(), allow, obs).await?;
        match p {
            Some(p) => {
                discard(cloud, &p.plan.stack, &p.change_set, kind_of(&p.plan)).await?;
                plans.push(p.plan);
            }
            None => plans.push(empty_plan(stateless_input.stack, Role::Stateless)),
        }
    } else {
        let stack = stateless_input.stack;
        let existing = cloud
            .describe_stack(stack)
            .await
            .map_err(ctx(format!("reading the status of {stack}")))?
            .filter(|i| i.status != "REVIEW_IN_PROGRESS");
        let old = match existing {
            Some(_) => cloud
                .get_template(stack)
                .await
                .map_err(ctx(format!("reading the deployed template of {stack}")))?
                .as_deref()
                .and_then(parse),
            None => None,
        };
        let rows = changes::rows_from_diff(
            Side {
                template: old.as_ref(),
                parameters: &stateless_input.parameters,
            },
            Side {
                template: new.as_ref(),
                parameters: &stateless_input.parameters,
            },
        );
        let note = if bucket.is_none() {
            "the artifact bucket does not exist yet; deploy creates it (stack strata-bootstrap) first"
                .to_owned()
        } else {
            format!(
                "reads {} output{} the stateful deploy publishes first, so CloudFormation cannot make its change set yet",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" }
            )
        };
        plans.push(StackPlan {
            stack: stack.to_owned(),
            role: Role::Stateless,
            exists: old.is_some(),
            source: Source::Template,
            note: Some(note),
            refusals: changes::refusals(&rows, allow),
            rows,
        });
    }
    Ok(plans)
}

fn empty_plan(stack: &str, role: Role) -> StackPlan {
    StackPlan {
        stack: stack.to_owned(),
        role,
        exists: true,
        source: Source::ChangeSet,
        note: None,
        rows: vec![],
        refusals: vec![],
    }
}

/// `strata destroy --stack stateless` of an aws stage. `false` when there
/// was no stack to delete.
pub async fn destroy_stateless<C: Cloud>(
    cloud: &C,
    target: Target<'_>,
    obs: &mut dyn Observer,
) -> Result<bool, DeployError> {
    let templates = synth::templates(target.service, target.stage)?;
    hello(cloud, obs).await?;
    let stack = templates.stateless.stack_name.as_str();
    let info = describe_idle(cloud, stack, obs).await?;
    if info.is_none() {
        return Ok(false);
    }
    delete_leftovers(cloud, stack, obs).await?;
    delete_and_wait(cloud, stack, obs).await?;
    Ok(true)
}
