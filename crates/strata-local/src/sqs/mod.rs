//! SQS (JSON protocol 1.0, target prefix `AmazonSQS`) on the stage's own
//! SQLite file, `<data>/sqs.sqlite`.
//!
//! This file is the operation table: it decodes each request, checks the
//! caller's access, runs the queue logic of [`store`] on the database's own
//! thread, and shapes the answer. Long polls (`WaitTimeSeconds`) wait on a per-queue
//! [`Notify`] that sends and visibility changes ring, with a timer set to the
//! next moment a message becomes visible, so a waiting receive costs nothing
//! until something can be delivered.

mod attributes;
mod digest;
mod message;
mod queues;
mod store;
mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::header::HOST;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use strata_model::{Access, Address, ResourceKind};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::attributes::Attributes;
pub use self::queues::{QueueInfo, QueueSettings};
use self::store::{NewMessage, Queue};
pub use self::wire::SqsError;
use crate::access::{Action, Need, Principal};
use crate::durability::Durability;
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};
use crate::sqlite::{Db, DbError, now_ms};
use crate::store::DataDir;

/// The `X-Amz-Target` prefix of SQS's JSON protocol.
pub const TARGET_PREFIX: &str = "AmazonSQS";
/// The file queues and messages live in, inside the data directory.
pub const DATABASE_FILE: &str = "sqs.sqlite";

// The fixed account local AWS emulators use; the DynamoDB side uses the same
// one in its ARNs.
pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const REGION: &str = "us-east-1";

/// Longest `WaitTimeSeconds` SQS accepts.
const MAX_WAIT_S: i64 = 20;
/// Total payload of one SendMessageBatch.
const MAX_BATCH_BYTES: usize = 1_048_576;

/// The SQS service of one stage.
#[derive(Debug, Clone)]
pub struct Sqs {
    db: Db,
    /// Long-poll wake-ups, by queue name. Entries are tiny and bounded by
    /// the number of queue names ever polled in this process.
    wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    /// Last PurgeQueue per queue (ms): SQS allows one per minute.
    purges: Arc<Mutex<HashMap<String, i64>>>,
}

impl Sqs {
    pub fn open(data: &DataDir, durability: Durability) -> Result<Self, DbError> {
        Ok(Self {
            db: Db::open(data, DATABASE_FILE, durability, store::SCHEMA)?,
            wakers: Arc::default(),
            purges: Arc::default(),
        })
    }

    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut map = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(queue.to_owned()).or_default())
    }

    /// Wake up to `messages` long polls on `queue`: one per message that may
    /// have become receivable (or that a poll must set its timer for, when
    /// delayed). Waking every poll on every send made each send re-run the
    /// receive of every waiting poll: 2,000 sends behind 2,000 waiting polls
    /// took 15-18 s instead of 2 s. A woken poll that goes away unreceived
    /// hands its wake-up to the next one (`Notify::notify_one`).
    fn wake(&self, queue: &str, messages: usize) {
        let waker = self.waker(queue);
        for _ in 0..messages {
            waker.notify_one();
        }
    }

    /// In a FIFO queue a deleted message unblocks the next one of its
    /// group, which a waiting poll should get now rather than at the end of
    /// its wait. A standard queue has nothing to wake for.
    fn wake_after_delete(&self, queue: &str, fifo: bool, deleted: usize) {
        if fifo {
            self.wake(queue, deleted);
        }
    }

    /// Wake every long poll on `queue`, which is gone: each answers
    /// QueueDoesNotExist.
    fn wake_all(&self, queue: &str) {
        self.waker(queue).notify_waiters();
    }
}

impl AwsService for Sqs {
    fn signing_name(&self) -> &'static str {
        "sqs"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[TARGET_PREFIX]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let sqs = self.clone();
        Box::pin(async move {
            match sqs.answer(request).await {
                Ok(body) => wire::ok(&body),
                Err(error) => error.into_response(),
            }
        })
    }

    fn reject(&self, rejection: Rejection) -> Response {
        match rejection {
            Rejection::BodyTooLarge { limit } => SqsError::TooLarge { limit },
            Rejection::BodyUnreadable => SqsError::Serialization,
            Rejection::Internal => SqsError::Internal,
        }
        .into_response()
    }
}

/// Who is asking, and from which host name (queue URLs use it).
struct Caller {
    principal: Principal,
    host: String,
    sender: String,
    /// Ends a long poll early: the client hung up (a receive now would hide
    /// messages from everyone for their visibility timeout) or the endpoint
    /// is stopping.
    hung_up: CancellationToken,
    stopping: CancellationToken,
}

/// The resource address a queue answers to in `uses`: its name without the
/// `.fifo` suffix, which is how strata.yaml names it.
pub fn queue_address(queue: &str) -> Address {
    Address::new(
        ResourceKind::Queue,
        queue.strip_suffix(".fifo").unwrap_or(queue),
    )
}

/// What each operation needs from its queue. Mirrors the IAM actions the aws
/// target grants per level (`strata-aws/src/synth/iam.rs`): send gives
/// SendMessage and GetQueueAttributes; consume gives ReceiveMessage,
/// DeleteMessage, ChangeMessageVisibility and GetQueueAttributes.
fn needs(operation: &str) -> &'static [Need] {
    const SEND: &[Need] = &[Need::Level(Access::Send)];
    const CONSUME: &[Need] = &[Need::Level(Access::Consume)];
    const EITHER: &[Need] = &[Need::Level(Access::Send), Need::Level(Access::Consume)];
    const MANAGE: &[Need] = &[Need::Manage];
    match operation {
        "SendMessage" | "SendMessageBatch" => SEND,
        "ReceiveMessage"
        | "DeleteMessage"
        | "DeleteMessageBatch"
        | "ChangeMessageVisibility"
        | "ChangeMessageVisibilityBatch" => CONSUME,
        "GetQueueAttributes" => EITHER,
        _ => MANAGE,
    }
}

/// Allow `operation` on `queue` (or the account) if any of its needs is met.
pub fn authorize(
    principal: &Principal,
    operation: &str,
    queue: Option<&str>,
) -> Result<(), SqsError> {
    let address = queue.map(queue_address);
    let action = format!("sqs:{operation}");
    let mut last = None;
    for &need in needs(operation) {
        match principal.authorize(&Action {
            operation: &action,
            resource: address.as_ref(),
            need,
        }) {
            Ok(()) => return Ok(()),
            Err(denied) => last = Some(denied),
        }
    }
    Err(last.map_or(SqsError::Internal, SqsError::AccessDenied))
}

// ---- request decoding -------------------------------------------------------

fn opt_str<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, SqsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SqsError::Serialization),
    }
}

fn req_str<'a>(body: &'a Value, key: &'static str) -> Result<&'a str, SqsError> {
    opt_str(body, key)?
        .filter(|s| !s.is_empty())
        .ok_or(SqsError::MissingParameter { parameter: key })
}

fn opt_int(body: &Value, key: &str, low: i64, high: i64) -> Result<Option<i64>, SqsError> {
    let value = match body.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64().ok_or(SqsError::Serialization)?,
        Some(_) => return Err(SqsError::Serialization),
    };
    if (low..=high).contains(&value) {
        Ok(Some(value))
    } else {
        Err(SqsError::invalid(format!(
            "Value {value} for parameter {key} is invalid. Reason: Must be between {low} and {high}, if provided."
        )))
    }
}

fn str_list(body: &Value, key: &str) -> Result<Vec<String>, SqsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(SqsError::Serialization))
            .collect(),
        Some(_) => Err(SqsError::Serialization),
    }
}

fn str_map(body: &Value, key: &str) -> Result<Attributes, SqsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Attributes::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or(SqsError::Serialization)
            })
            .collect(),
        Some(_) => Err(SqsError::Serialization),
    }
}

/// The queue name of a `QueueUrl`: its last path segment. Any host is
/// accepted (SDKs sometimes rebuild URLs on the regional host name).
fn queue_name(body: &Value) -> Result<String, SqsError> {
    let url = req_str(body, "QueueUrl")?;
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if name.is_empty() || name.contains(':') && !url.contains('/') {
        return Err(SqsError::invalid(format!(
            "Value {url} for parameter QueueUrl is invalid. Reason: Unable to parse."
        )));
    }
    Ok(name.to_owned())
}

fn valid_queue_name(name: &str) -> bool {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    !stem.is_empty()
        && name.len() <= 80
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// MessageGroupId and MessageDeduplicationId: 1 to 128 printable ASCII
/// letters, digits and punctuation.
fn valid_fifo_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

fn valid_batch_id(id: &str) -> bool {
    (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Check a batch's entries (count, ids) and return them.
fn batch_entries(body: &Value) -> Result<&Vec<Value>, SqsError> {
    let entries = match body.get("Entries") {
        None | Some(Value::Null) => return Err(SqsError::EmptyBatch),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(SqsError::Serialization),
    };
    if entries.is_empty() {
        return Err(SqsError::EmptyBatch);
    }
    if entries.len() > 10 {
        return Err(SqsError::TooManyEntries {
            count: entries.len(),
        });
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let id = req_str(entry, "Id")?;
        if !valid_batch_id(id) {
            return Err(SqsError::InvalidBatchEntryId { id: id.to_owned() });
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchIdsNotDistinct { id: id.to_owned() });
        }
    }
    Ok(entries)
}

fn arn(queue: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}")
}

impl Caller {
    fn url(&self, queue: &str) -> String {
        format!("http://{}/{ACCOUNT}/{queue}", self.host)
    }
}

// ---- operations -------------------------------------------------------------

impl Sqs {
    async fn answer(&self, request: ServiceRequest) -> Result<Value, SqsError> {
        let operation = request.operation.clone().unwrap_or_default();
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(value @ Value::Object(_)) => value,
            // The AWS CLI and some SDKs send an empty body for operations
            // without required members.
            _ if request.body.is_empty() => Value::Object(Map::new()),
            _ => return Err(SqsError::Serialization),
        };
        let caller = Caller {
            principal: request.principal.clone(),
            host: request
                .headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:4566")
                .to_owned(),
            sender: request
                .scope
                .as_ref()
                .map_or_else(|| "AIDAEXAMPLE".to_owned(), |s| s.access_key_id.clone()),
            hung_up: request.hung_up.clone(),
            stopping: request.stopping.clone(),
        };
        self.dispatch(&caller, operation, body).await
    }

    /// One operation for an in-process caller (the queue trigger of local
    /// compute), with the same access checks and semantics as over HTTP.
    pub async fn call_json(
        &self,
        principal: Principal,
        operation: &str,
        body: Value,
    ) -> Result<Value, SqsError> {
        let caller = Caller {
            principal,
            host: "127.0.0.1:4566".to_owned(),
            sender: "AROALOCALLAMBDATRIGGER".to_owned(),
            hung_up: CancellationToken::new(),
            stopping: CancellationToken::new(),
        };
        self.dispatch(&caller, operation.to_owned(), body).await
    }

    async fn dispatch(
        &self,
        caller: &Caller,
        operation: String,
        body: Value,
    ) -> Result<Value, SqsError> {
        match operation.as_str() {
            "CreateQueue" => self.create_queue(caller, body).await,
            "GetQueueUrl" => self.get_queue_url(caller, body).await,
            "DeleteQueue" => self.delete_queue(caller, body).await,
            "ListQueues" => self.list_queues(caller, body).await,
            "GetQueueAttributes" => self.get_queue_attributes(caller, body).await,
            "SetQueueAttributes" => self.set_queue_attributes(caller, body).await,
            "SendMessage" => self.send_message(caller, body).await,
            "SendMessageBatch" => self.send_message_batch(caller, body).await,
            "ReceiveMessage" => self.receive_message(caller, body).await,
            "DeleteMessage" => self.delete_message(caller, body).await,
            "DeleteMessageBatch" => self.delete_message_batch(caller, body).await,
            "ChangeMessageVisibility" => self.change_visibility(caller, body).await,
            "ChangeMessageVisibilityBatch" => self.change_visibility_batch(caller, body).await,
            "PurgeQueue" => self.purge_queue(caller, body).await,
            _ => Err(SqsError::UnknownOperation { operation }),
        }
    }

    async fn create_queue(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = req_str(&body, "QueueName")?.to_owned();
        authorize(&caller.principal, "CreateQueue", Some(&name))?;
        let given = str_map(&body, "Attributes")?;
        let tags = str_map(&body, "tags")?;
        let fifo_name = name.ends_with(".fifo");
        let fifo_attr = given.get("FifoQueue").is_some_and(|v| v == "true");
        if !valid_queue_name(&name) || fifo_name != fifo_attr {
            return Err(SqsError::invalid(if fifo_name || fifo_attr {
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, \
                 or underscores, must end with .fifo suffix and be 1 to 80 in length."
            } else {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            }));
        }
        let attrs = attributes::for_new_queue(&given, fifo_name)?;
        let url = caller.url(&name);
        self.db
            .run(move |conn, _| {
                check_redrive_target(conn, &attrs, fifo_name)?;
                if let Some(existing) = store::get_queue(conn, &name)? {
                    // Creating an existing queue is idempotent only when every
                    // attribute given matches what it has.
                    if given
                        .iter()
                        .any(|(k, v)| existing.attributes.get(k) != Some(v))
                    {
                        return Err(SqsError::QueueNameExists { queue: name });
                    }
                    return Ok(());
                }
                let now_s = now_ms() / 1000;
                store::insert_queue(
                    conn,
                    &Queue {
                        name,
                        attributes: attrs,
                        tags,
                        created_s: now_s,
                        modified_s: now_s,
                    },
                )
            })
            .await?;
        Ok(json!({ "QueueUrl": url }))
    }

    async fn get_queue_url(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = req_str(&body, "QueueName")?.to_owned();
        authorize(&caller.principal, "GetQueueUrl", Some(&name))?;
        let checked = name.clone();
        self.db
            .run(move |conn, _| store::require_queue(conn, &checked).map(drop))
            .await?;
        Ok(json!({ "QueueUrl": caller.url(&name) }))
    }

    async fn delete_queue(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "DeleteQueue", Some(&name))?;
        let deleted = name.clone();
        self.db
            .run(move |conn, _| {
                store::require_queue(conn, &deleted)?;
                store::delete_queue(conn, &deleted)
            })
            .await?;
        self.wake_all(&name);
        Ok(json!({}))
    }

    async fn list_queues(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        authorize(&caller.principal, "ListQueues", None)?;
        let prefix = opt_str(&body, "QueueNamePrefix")?
            .unwrap_or_default()
            .to_owned();
        let max = opt_int(&body, "MaxResults", 1, 1000)?;
        let after = match opt_str(&body, "NextToken")? {
            Some(token) => Some(
                B64URL
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| SqsError::invalid("Invalid NextToken value."))?,
            ),
            None => None,
        };
        let names = self.db.run(|conn, _| store::queue_names(conn)).await?;
        let matching: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .filter(|n| after.as_ref().is_none_or(|a| n.as_str() > a.as_str()))
            .collect();
        let limit = max.map_or(1000, |m| m as usize);
        let page = &matching[..matching.len().min(limit)];
        let mut out = Map::new();
        if !page.is_empty() {
            out.insert(
                "QueueUrls".to_owned(),
                page.iter().map(|n| Value::String(caller.url(n))).collect(),
            );
        }
        // SQS pages only when the caller asked for a page size.
        if max.is_some()
            && matching.len() > page.len()
            && let Some(last) = page.last()
        {
            out.insert("NextToken".to_owned(), B64URL.encode(last).into());
        }
        Ok(Value::Object(out))
    }

    async fn get_queue_attributes(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "GetQueueAttributes", Some(&name))?;
        let wanted = str_list(&body, "AttributeNames")?;
        if let Some(bad) = wanted
            .iter()
            .find(|n| *n != "All" && !attributes::is_known(n))
        {
            return Err(SqsError::InvalidAttributeName { name: bad.clone() });
        }
        let (queue, (visible, in_flight, delayed)) = self
            .db
            .run(move |conn, _| {
                let queue = store::require_queue(conn, &name)?;
                let now = now_ms();
                store::expire(conn, &queue, now)?;
                let counts = store::counts(conn, &queue.name, now)?;
                Ok::<_, SqsError>((queue, counts))
            })
            .await?;
        let mut all: BTreeMap<&str, String> = queue
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        all.insert("ApproximateNumberOfMessages", visible.to_string());
        all.insert(
            "ApproximateNumberOfMessagesNotVisible",
            in_flight.to_string(),
        );
        all.insert("ApproximateNumberOfMessagesDelayed", delayed.to_string());
        all.insert("CreatedTimestamp", queue.created_s.to_string());
        all.insert("LastModifiedTimestamp", queue.modified_s.to_string());
        all.insert("QueueArn", arn(&queue.name));
        let every = wanted.iter().any(|n| n == "All");
        let selected: Map<String, Value> = all
            .into_iter()
            .filter(|(k, _)| every || wanted.iter().any(|w| w == k))
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        if selected.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "Attributes": selected }))
    }

    async fn set_queue_attributes(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "SetQueueAttributes", Some(&name))?;
        let given = str_map(&body, "Attributes")?;
        self.db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                let queue = store::require_queue(&tx, &name)?;
                let fifo = queue.settings().fifo;
                if let Some(v) = given.get("FifoQueue")
                    && (v == "true") != fifo
                {
                    return Err(SqsError::InvalidAttributeValue {
                        name: "FifoQueue".to_owned(),
                        message: "Modifying queue type is not supported.".to_owned(),
                    });
                }
                let mut attrs = queue.attributes.clone();
                attributes::merge(&mut attrs, &given, fifo)?;
                check_redrive_target(&tx, &attrs, fifo)?;
                store::update_attributes(&tx, &name, &attrs, now_ms() / 1000)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    async fn send_message(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "SendMessage", Some(&name))?;
        let sender = caller.sender.clone();
        let queue_for_wake = name.clone();
        let sent = self
            .db
            .run(move |conn, _| {
                let queue = store::require_queue(conn, &name)?;
                let msg = new_message(&queue, &body, sender)?;
                store::send(conn, &queue, msg, now_ms())
            })
            .await?;
        self.wake(&queue_for_wake, 1);
        Ok(sent_json(&sent, None))
    }

    async fn send_message_batch(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "SendMessageBatch", Some(&name))?;
        let entries = batch_entries(&body)?.clone();
        let total: usize = entries
            .iter()
            .map(|e| {
                let text = e
                    .get("MessageBody")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let attrs =
                    message::parse_attributes(e.get("MessageAttributes")).unwrap_or_default();
                message::size(text, &attrs)
            })
            .sum();
        if total > MAX_BATCH_BYTES {
            return Err(SqsError::BatchRequestTooLong {
                size: total,
                limit: MAX_BATCH_BYTES,
            });
        }
        let sender = caller.sender.clone();
        let queue_for_wake = name.clone();
        let (successful, failed) = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                let queue = store::require_queue(&tx, &name)?;
                let now = now_ms();
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for entry in &entries {
                    let id = entry.get("Id").and_then(Value::as_str).unwrap_or_default();
                    let result = new_message(&queue, entry, sender.clone())
                        .and_then(|msg| store::send(&tx, &queue, msg, now));
                    match result {
                        Ok(sent) => ok.push(sent_json(&sent, Some(id))),
                        Err(SqsError::Db(e)) => return Err(SqsError::Db(e)),
                        Err(e) => failed.push(e.batch_entry(id)),
                    }
                }
                // All accepted entries are committed together, before the
                // answer lists them as successful.
                tx.commit()?;
                Ok((ok, failed))
            })
            .await?;
        self.wake(&queue_for_wake, successful.len());
        Ok(json!({ "Successful": successful, "Failed": failed }))
    }

    async fn receive_message(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "ReceiveMessage", Some(&name))?;
        let max = opt_int(&body, "MaxNumberOfMessages", 1, 10)?.unwrap_or(1) as usize;
        let visibility = opt_int(&body, "VisibilityTimeout", 0, 43_200)?;
        let wait = opt_int(&body, "WaitTimeSeconds", 0, MAX_WAIT_S)?;
        let mut system = str_list(&body, "AttributeNames")?;
        system.extend(str_list(&body, "MessageSystemAttributeNames")?);
        let user = str_list(&body, "MessageAttributeNames")?;

        let queue = {
            let name = name.clone();
            self.db
                .run(move |conn, _| store::require_queue(conn, &name))
                .await?
        };
        let settings = queue.settings();
        let visibility = visibility.unwrap_or(settings.visibility_s);
        let wait = wait.unwrap_or(settings.wait_s);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.unsigned_abs());
        let waker = self.waker(&name);
        loop {
            // Register interest before looking, so a send that lands between
            // the look and the wait still wakes this poll.
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let name = name.clone();
            let (outcome, next_visible, now) = self
                .db
                .run(move |conn, _| {
                    // Re-read: the queue may have been reconfigured or deleted
                    // while this poll waited.
                    let queue = store::require_queue(conn, &name)?;
                    let now = now_ms();
                    let outcome = store::receive(conn, &queue, max, visibility, now)?;
                    let next = store::next_visible_ms(conn, &queue.name, now)?;
                    Ok::<_, SqsError>((outcome, next, now))
                })
                .await?;
            // At most `max` messages moved, to each dead-letter queue named.
            for dlq in &outcome.redriven_to {
                self.wake(dlq, max);
            }
            if !outcome.messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(received_json(
                    &outcome.messages,
                    &system,
                    &user,
                    settings.fifo,
                ));
            }
            let wake_at = next_visible.map_or(deadline, |at| {
                let until = u64::try_from(at - now).unwrap_or(0);
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(until))
            });
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake_at) => {}
                // An empty receive, as when the wait runs out.
                () = caller.hung_up.cancelled() => return Ok(json!({})),
                () = caller.stopping.cancelled() => return Ok(json!({})),
            }
        }
    }

    async fn delete_message(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "DeleteMessage", Some(&name))?;
        let handle = req_str(&body, "ReceiptHandle")?.to_owned();
        let queue = name.clone();
        let fifo = self
            .db
            .run(move |conn, _| {
                let fifo = store::require_queue(conn, &queue)?.settings().fifo;
                store::delete(conn, &queue, &handle).map(|()| fifo)
            })
            .await?;
        self.wake_after_delete(&name, fifo, 1);
        Ok(json!({}))
    }

    async fn delete_message_batch(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "DeleteMessageBatch", Some(&name))?;
        let entries = batch_entries(&body)?.clone();
        let queue = name.clone();
        let (ok, failed, fifo) = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                let fifo = store::require_queue(&tx, &queue)?.settings().fifo;
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for entry in &entries {
                    let id = entry.get("Id").and_then(Value::as_str).unwrap_or_default();
                    let result =
                        req_str(entry, "ReceiptHandle").and_then(|h| store::delete(&tx, &queue, h));
                    match result {
                        Ok(()) => ok.push(json!({ "Id": id })),
                        Err(SqsError::Db(e)) => return Err(SqsError::Db(e)),
                        Err(e) => failed.push(e.batch_entry(id)),
                    }
                }
                tx.commit()?;
                Ok((ok, failed, fifo))
            })
            .await?;
        self.wake_after_delete(&name, fifo, ok.len());
        Ok(json!({ "Successful": ok, "Failed": failed }))
    }

    async fn change_visibility(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "ChangeMessageVisibility", Some(&name))?;
        let handle = req_str(&body, "ReceiptHandle")?.to_owned();
        let timeout =
            opt_int(&body, "VisibilityTimeout", 0, 43_200)?.ok_or(SqsError::MissingParameter {
                parameter: "VisibilityTimeout",
            })?;
        let queue = name.clone();
        self.db
            .run(move |conn, _| {
                store::require_queue(conn, &queue)?;
                store::change_visibility(conn, &queue, &handle, timeout, now_ms())
            })
            .await?;
        self.wake(&name, 1);
        Ok(json!({}))
    }

    async fn change_visibility_batch(
        &self,
        caller: &Caller,
        body: Value,
    ) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(
            &caller.principal,
            "ChangeMessageVisibilityBatch",
            Some(&name),
        )?;
        let entries = batch_entries(&body)?.clone();
        let queue = name.clone();
        let (ok, failed) = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                store::require_queue(&tx, &queue)?;
                let now = now_ms();
                let mut ok = Vec::new();
                let mut failed = Vec::new();
                for entry in &entries {
                    let id = entry.get("Id").and_then(Value::as_str).unwrap_or_default();
                    let result = req_str(entry, "ReceiptHandle").and_then(|h| {
                        let timeout = opt_int(entry, "VisibilityTimeout", 0, 43_200)?.ok_or(
                            SqsError::MissingParameter {
                                parameter: "VisibilityTimeout",
                            },
                        )?;
                        store::change_visibility(&tx, &queue, h, timeout, now)
                    });
                    match result {
                        Ok(()) => ok.push(json!({ "Id": id })),
                        Err(SqsError::Db(e)) => return Err(SqsError::Db(e)),
                        Err(e) => failed.push(e.batch_entry(id)),
                    }
                }
                tx.commit()?;
                Ok((ok, failed))
            })
            .await?;
        self.wake(&name, ok.len());
        Ok(json!({ "Successful": ok, "Failed": failed }))
    }

    async fn purge_queue(&self, caller: &Caller, body: Value) -> Result<Value, SqsError> {
        let name = queue_name(&body)?;
        authorize(&caller.principal, "PurgeQueue", Some(&name))?;
        {
            let checked = name.clone();
            self.db
                .run(move |conn, _| store::require_queue(conn, &checked).map(drop))
                .await?;
        }
        let now = now_ms();
        {
            let mut purges = self.purges.lock().unwrap_or_else(PoisonError::into_inner);
            if purges.get(&name).is_some_and(|&at| now - at < 60_000) {
                return Err(SqsError::PurgeQueueInProgress { queue: name });
            }
            purges.insert(name.clone(), now);
        }
        self.db
            .run(move |conn, _| store::purge(conn, &name))
            .await?;
        Ok(json!({}))
    }
}

/// Validate one SendMessage (or batch entry) against its queue.
fn new_message(queue: &Queue, body: &Value, sender: String) -> Result<NewMessage, SqsError> {
    let settings = queue.settings();
    let text = req_str(body, "MessageBody")?.to_owned();
    if !message::valid_body(&text) {
        return Err(SqsError::InvalidMessageContents);
    }
    let attributes = message::parse_attributes(body.get("MessageAttributes"))?;
    if message::size(&text, &attributes) > settings.max_size {
        return Err(SqsError::invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            settings.max_size
        )));
    }
    let delay = opt_int(body, "DelaySeconds", 0, 900)?;
    let group_id = opt_str(body, "MessageGroupId")?.map(str::to_owned);
    let dedup_id = opt_str(body, "MessageDeduplicationId")?.map(str::to_owned);
    let wrong_type = |param: &str, value: &str| {
        SqsError::invalid(format!(
            "Value {value} for parameter {param} is invalid. Reason: The request include parameter that is not valid for this queue type."
        ))
    };
    for (param, id) in [
        ("MessageGroupId", &group_id),
        ("MessageDeduplicationId", &dedup_id),
    ] {
        if let Some(id) = id
            && !valid_fifo_id(id)
        {
            return Err(SqsError::invalid(format!(
                "Value {id} for parameter {param} is invalid. Reason: {param} can only include \
                 alphanumeric and punctuation characters. 1 to 128 in length."
            )));
        }
    }
    if settings.fifo {
        // FIFO queues have no per-message delay (only the queue's).
        if let Some(d) = delay {
            return Err(wrong_type("DelaySeconds", &d.to_string()));
        }
        if group_id.is_none() {
            return Err(SqsError::MissingParameter {
                parameter: "MessageGroupId",
            });
        }
        let dedup_id = match dedup_id {
            Some(id) => Some(id),
            // Content-based deduplication: SHA-256 of the body, as SQS does.
            None if settings.content_dedup => Some(
                Sha256::digest(text.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            None => {
                return Err(SqsError::invalid(
                    "The queue should either have ContentBasedDeduplication enabled or \
                     MessageDeduplicationId provided explicitly",
                ));
            }
        };
        return Ok(NewMessage {
            body: text,
            attributes,
            delay_s: settings.delay_s,
            group_id,
            dedup_id,
            sender,
        });
    }
    if let Some(id) = &dedup_id {
        return Err(wrong_type("MessageDeduplicationId", id));
    }
    Ok(NewMessage {
        body: text,
        attributes,
        delay_s: delay.unwrap_or(settings.delay_s),
        // Standard queues accept a group id (fair queues) and only store it.
        group_id,
        dedup_id: None,
        sender,
    })
}

/// A RedrivePolicy must name an existing queue of the same type.
fn check_redrive_target(
    conn: &rusqlite::Connection,
    attrs: &Attributes,
    fifo: bool,
) -> Result<(), SqsError> {
    let Some(policy) = attrs.get("RedrivePolicy") else {
        return Ok(());
    };
    let redrive = attributes::parse_redrive(policy)?;
    let bad = |reason: &str| {
        SqsError::invalid(format!(
            "Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    match store::get_queue(conn, &redrive.target_queue)? {
        None => Err(bad("Dead letter target does not exist.")),
        Some(target) if target.settings().fifo != fifo => Err(bad(
            "Dead-letter queue must be same type of queue as the source.",
        )),
        Some(_) => Ok(()),
    }
}

fn sent_json(sent: &store::Sent, id: Option<&str>) -> Value {
    let mut out = Map::new();
    if let Some(id) = id {
        out.insert("Id".to_owned(), id.into());
    }
    out.insert("MessageId".to_owned(), sent.message_id.clone().into());
    out.insert("MD5OfMessageBody".to_owned(), sent.md5_body.clone().into());
    if let Some(md5) = &sent.md5_attributes {
        out.insert("MD5OfMessageAttributes".to_owned(), md5.clone().into());
    }
    if let Some(seq) = &sent.sequence_number {
        out.insert("SequenceNumber".to_owned(), seq.clone().into());
    }
    Value::Object(out)
}

fn received_json(
    messages: &[store::Received],
    system: &[String],
    user: &[String],
    fifo: bool,
) -> Value {
    if messages.is_empty() {
        return json!({});
    }
    let all = system.iter().any(|s| s == "All");
    let wants = |name: &str| all || system.iter().any(|s| s == name);
    let list: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut attrs = Map::new();
            let mut put = |k: &str, v: String| {
                if wants(k) {
                    attrs.insert(k.to_owned(), Value::String(v));
                }
            };
            put("SenderId", m.sender.clone());
            put("SentTimestamp", m.sent_ms.to_string());
            put("ApproximateReceiveCount", m.receive_count.to_string());
            put(
                "ApproximateFirstReceiveTimestamp",
                m.first_receive_ms.to_string(),
            );
            if fifo {
                put("SequenceNumber", m.sequence_number.clone());
                if let Some(g) = &m.group_id {
                    put("MessageGroupId", g.clone());
                }
                if let Some(d) = &m.dedup_id {
                    put("MessageDeduplicationId", d.clone());
                }
            } else if let Some(g) = &m.group_id {
                put("MessageGroupId", g.clone());
            }
            let chosen: message::MessageAttributes = m
                .attributes
                .iter()
                .filter(|(name, _)| message::selected(user, name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut out = json!({
                "MessageId": m.id,
                "ReceiptHandle": m.receipt_handle,
                "MD5OfBody": digest::md5_hex(m.body.as_bytes()),
                "Body": m.body,
            });
            if !attrs.is_empty() {
                out["Attributes"] = Value::Object(attrs);
            }
            // The digest covers the attributes returned, not all of them.
            if let Some(md5) = digest::attributes_md5(&chosen) {
                out["MD5OfMessageAttributes"] = md5.into();
                out["MessageAttributes"] = message::attributes_json(&chosen);
            }
            out
        })
        .collect();
    json!({ "Messages": list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{AccessRegistry, FunctionGrants};

    fn principal(grants: &[(&str, Access)]) -> Principal {
        let registry = AccessRegistry::new();
        registry.register(
            "AKFN",
            FunctionGrants::new(
                "worker",
                grants
                    .iter()
                    .map(|(q, a)| (Address::new(ResourceKind::Queue, *q), *a)),
            ),
        );
        registry.principal(Some("AKFN"))
    }

    fn check(p: &Principal, op: &str, queue: Option<&str>) -> &'static str {
        match authorize(p, op, queue) {
            Ok(()) => "allow",
            Err(SqsError::AccessDenied(_)) => "deny",
            Err(_) => "other",
        }
    }

    #[test]
    fn send_grant_allows_sending_only() {
        let p = principal(&[("Events", Access::Send)]);
        assert_eq!(check(&p, "SendMessage", Some("Events")), "allow");
        assert_eq!(check(&p, "SendMessageBatch", Some("Events")), "allow");
        assert_eq!(check(&p, "GetQueueAttributes", Some("Events")), "allow");
        assert_eq!(check(&p, "ReceiveMessage", Some("Events")), "deny");
        assert_eq!(check(&p, "DeleteMessage", Some("Events")), "deny");
        assert_eq!(check(&p, "SendMessage", Some("Other")), "deny");
    }

    #[test]
    fn consume_grant_allows_receiving_deleting_and_visibility() {
        let p = principal(&[("Jobs", Access::Consume)]);
        for op in [
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
            "GetQueueAttributes",
        ] {
            assert_eq!(check(&p, op, Some("Jobs")), "allow", "{op}");
        }
        assert_eq!(check(&p, "SendMessage", Some("Jobs")), "deny");
        // A FIFO queue is named without its suffix in strata.yaml.
        assert_eq!(check(&p, "ReceiveMessage", Some("Jobs.fifo")), "allow");
    }

    #[test]
    fn functions_never_manage_queues() {
        let p = principal(&[("Jobs", Access::SendConsume)]);
        for op in [
            "CreateQueue",
            "DeleteQueue",
            "PurgeQueue",
            "SetQueueAttributes",
            "GetQueueUrl",
        ] {
            assert_eq!(check(&p, op, Some("Jobs")), "deny", "{op}");
        }
        assert_eq!(check(&p, "ListQueues", None), "deny");
        assert_eq!(
            check(&Principal::Developer, "DeleteQueue", Some("Jobs")),
            "allow"
        );
    }

    #[test]
    fn queue_names_follow_sqs_rules() {
        for good in ["a", "Order-Events_1", "jobs.fifo", &"x".repeat(80)] {
            assert!(valid_queue_name(good), "{good}");
        }
        for bad in ["", ".fifo", "a b", "a.b", &"x".repeat(81)] {
            assert!(!valid_queue_name(bad), "{bad}");
        }
    }
}
