//! Table stream triggers: Lambda's DynamoDB event source mapping. A poller
//! reads the table's latest stream shard by shard, in order, and invokes the
//! function with DynamoDB stream records in batches of up to `batch_size`.
//!
//! Semantics follow Lambda's for streams, not its SQS ones: a shard is read
//! strictly in order, so a failed invocation blocks its shard and the same
//! batch is retried (with a doubling pause, 1 s up to 30 s) until it
//! succeeds; nothing is skipped. `ReportBatchItemFailures` is on, as the aws
//! target sets it: a response naming records checkpoints just before the
//! one with the lowest sequence number, and the next batch starts there. A
//! response naming a record that is not in the batch (or an empty or null
//! identifier) fails the whole batch, as on AWS.
//!
//! The poller reaches the stream with the function's own rights (a table
//! event grants DescribeStream, GetShardIterator, GetRecords and ListStreams
//! on that table's stream and nothing else), as the mapping does with the
//! function's role on AWS. Only finding which stream is the table's latest
//! is done as the deployer: on AWS that ARN is configuration of the mapping,
//! written by the stateless stack, not something the role reads.
//!
//! Checkpoints: a mapping is identified by function, physical table and
//! starting position (on AWS a new `StartingPosition` replaces the mapping).
//! Its position, the stream ARN and one entry per shard, lives in
//! [`StreamCheckpoints`], which the whole `strata dev` process shares across
//! deployments. Each entry is also a lease: a poller holds it for as long as
//! it runs, so after a hot swap the new deployment's poller waits until the
//! old one has finished its batch and let go, then continues exactly where
//! it stopped (no record delivered twice, none skipped). The checkpoints are
//! kept in memory only: a new `strata dev` process starts every mapping
//! afresh from its `start`, as a newly created mapping does on AWS. A stream
//! ARN that changed (the stream was turned off and on) also starts afresh.
//!
//! A shard position is the engine's shard iterator, which for dynoxide is a
//! position (table, shard, sequence number) that never expires, unlike
//! AWS's 15-minute iterators. The engine keeps one shard per table that never
//! closes; the poller still follows DescribeStream's shards as AWS has them:
//! a shard that appears later starts at its beginning once its parent is
//! read to the end, and a shard that ends (no `NextShardIterator`) is done.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use strata_model::StreamStart;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

use super::Context;
use crate::access::Principal;
use crate::dynamodb::DynamoDb;

/// How often an idle shard is polled: Lambda polls each shard four times a
/// second.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The most records one GetRecords returns.
const GET_RECORDS_LIMIT: u32 = 1000;
/// How often the shard list is read again, to find new shards.
const SHARD_REFRESH: Duration = Duration::from_secs(5);
/// First and longest pause before a blocked shard's batch is retried.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// Positions of every table stream mapping of one `strata dev` process.
/// Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct StreamCheckpoints {
    leases: Arc<Mutex<HashMap<String, Lease>>>,
}

type Lease = Arc<tokio::sync::Mutex<Option<Checkpoint>>>;

impl StreamCheckpoints {
    fn lease(&self, key: &str) -> Lease {
        self.leases
            .lock()
            // Each access is one lookup or insert; a panic cannot leave the
            // map half changed.
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone()
    }
}

/// Where one mapping is in one stream.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checkpoint {
    stream_arn: String,
    shards: BTreeMap<String, ShardPosition>,
}

#[derive(Debug, Clone, PartialEq)]
enum ShardPosition {
    /// The next batch starts at this iterator.
    At(String),
    /// The shard closed and every record of it was delivered.
    Done,
}

pub(super) struct StreamPoller {
    pub dynamodb: DynamoDb,
    pub principal: Principal,
    /// The physical table name.
    pub table: String,
    pub batch_size: u32,
    pub batch_window: Duration,
    pub start: StreamStart,
    pub checkpoints: StreamCheckpoints,
}

/// Records read but not yet delivered, kept so that a failed batch is
/// retried as it was.
struct Batch {
    records: Vec<Value>,
    /// Where the shard goes on once this batch is delivered; `None` when the
    /// shard closed after these records.
    next: Option<String>,
}

/// A shard being read, with its retry state.
#[derive(Default)]
struct ShardRun {
    pending: Option<Batch>,
    pause: Option<Duration>,
    not_before: Option<Instant>,
}

/// What the function's answer means for the batch.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Every record succeeded.
    Delivered,
    /// Records from this index on are retried.
    RetryFrom(usize),
    /// The whole batch is retried; the reason is reported.
    Failed(String),
}

impl StreamPoller {
    fn key(&self, function: &str) -> String {
        format!("{function}/{}/{}", self.table, self.start)
    }

    /// Take this mapping's lease if no other poller holds it, and when the
    /// mapping is new, fix its starting position now: a `latest` mapping
    /// then sees every write made after its deployment went live, not only
    /// those after its task first ran. `None` when an earlier deployment's
    /// poller still holds the lease (it hands over a position when it lets
    /// go). Errors are left for [`StreamPoller::run`], which retries them.
    pub async fn claim(&self, function: &str) -> Option<OwnedMutexGuard<Option<Checkpoint>>> {
        let mut guard = self
            .checkpoints
            .lease(&self.key(function))
            .try_lock_owned()
            .ok()?;
        let db = self.dynamodb.clone();
        let table = self.table.clone();
        let found = tokio::task::spawn_blocking(move || db.describe_table(&table)).await;
        if let Ok(Ok(Some(state))) = found
            && let Some(arn) = state.stream_arn
        {
            fresh_unless_same(&mut guard, &arn);
            let _ = self.discover(&mut guard, &arn).await;
        }
        Some(guard)
    }

    pub async fn run(self, mut ctx: Context, claimed: Option<OwnedMutexGuard<Option<Checkpoint>>>) {
        let mut guard = match claimed {
            Some(guard) => guard,
            None => {
                // The previous deployment's poller holds the lease until it
                // has delivered its last batch; wait for it (or for our own
                // stop).
                let lease = self.checkpoints.lease(&self.key(&ctx.pool.spec().name));
                let mut stopped = ctx.stopped.clone();
                tokio::select! {
                    guard = lease.lock_owned() => guard,
                    _ = stopped.wait_for(|s| *s) => return,
                }
            }
        };
        let Some(arn) = self.stream_arn(&mut ctx).await else {
            return;
        };
        fresh_unless_same(&mut guard, &arn);
        self.poll(&mut ctx, &mut guard, &arn).await;
    }

    /// The table's current stream, as the deployer finds it (DescribeTable's
    /// `LatestStreamArn`). Retries with backoff while the table or its
    /// stream is missing; `None` when told to stop first.
    async fn stream_arn(&self, ctx: &mut Context) -> Option<String> {
        let mut pause = FIRST_RETRY;
        let mut last_error: Option<String> = None;
        while !ctx.stopping() {
            let db = self.dynamodb.clone();
            let table = self.table.clone();
            let found = tokio::task::spawn_blocking(move || db.describe_table(&table))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let error = match found {
                Ok(Some(state)) => match state.stream_arn {
                    Some(arn) => return Some(arn),
                    None => "the table has no stream; add `stream:` to it and deploy".to_owned(),
                },
                Ok(None) => "the table does not exist; deploy the stateful stack".to_owned(),
                Err(e) => e,
            };
            if last_error.as_deref() != Some(error.as_str()) {
                ctx.report(format!(
                    "table trigger on {}: {error} (retrying)",
                    self.table
                ));
                last_error = Some(error);
            }
            if !ctx.sleep(pause).await {
                break;
            }
            pause = (pause * 2).min(LONGEST_RETRY);
        }
        None
    }

    async fn poll(
        &self,
        ctx: &mut Context,
        guard: &mut OwnedMutexGuard<Option<Checkpoint>>,
        arn: &str,
    ) {
        let mut runs: HashMap<String, ShardRun> = HashMap::new();
        let mut refreshed: Option<Instant> = None;
        let mut last_error: Option<String> = None;
        while !ctx.stopping() {
            if refreshed.is_none_or(|at| at.elapsed() >= SHARD_REFRESH) {
                match self.discover(guard, arn).await {
                    Ok(()) => {
                        refreshed = Some(Instant::now());
                        if last_error.take().is_some() {
                            ctx.report(format!("table trigger on {}: reading again", self.table));
                        }
                    }
                    Err(e) => {
                        if last_error.as_deref() != Some(e.as_str()) {
                            ctx.report(format!("table trigger on {}: {e} (retrying)", self.table));
                            last_error = Some(e);
                        }
                        if !ctx.sleep(FIRST_RETRY).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let open: Vec<(String, String)> = guard
                .as_ref()
                .map(|c| {
                    c.shards
                        .iter()
                        .filter_map(|(id, p)| match p {
                            ShardPosition::At(it) => Some((id.clone(), it.clone())),
                            ShardPosition::Done => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut delivered_any = false;
            for (shard, iterator) in open {
                if ctx.stopping() {
                    break;
                }
                let run = runs.entry(shard.clone()).or_default();
                if run.not_before.is_some_and(|t| Instant::now() < t) {
                    continue;
                }
                let batch = match run.pending.take() {
                    Some(batch) => batch,
                    None => match self.gather(ctx, &iterator).await {
                        Ok(batch) => batch,
                        Err(e) => {
                            ctx.report(format!(
                                "table trigger on {}: cannot read shard {shard}: {e}",
                                self.table
                            ));
                            // The shard list may have changed under us.
                            refreshed = None;
                            continue;
                        }
                    },
                };
                if batch.records.is_empty() {
                    let position = match batch.next {
                        Some(next) => ShardPosition::At(next),
                        None => ShardPosition::Done,
                    };
                    set_position(guard, &shard, position);
                    continue;
                }
                delivered_any = true;
                let outcome = self.deliver(ctx, arn, &batch.records).await;
                let run = runs.entry(shard.clone()).or_default();
                match outcome {
                    Outcome::Delivered => {
                        *run = ShardRun::default();
                        let position = match batch.next {
                            Some(next) => ShardPosition::At(next),
                            None => ShardPosition::Done,
                        };
                        set_position(guard, &shard, position);
                    }
                    Outcome::RetryFrom(index) => {
                        let sequence = sequence_number(&batch.records[index]);
                        match self.iterator_at(arn, &shard, &sequence).await {
                            Ok(at) => set_position(guard, &shard, ShardPosition::At(at)),
                            Err(e) => {
                                // Without the new position, retry the whole
                                // batch: records are delivered again, never
                                // skipped.
                                ctx.report(format!(
                                    "table trigger on {}: cannot checkpoint at {sequence}: {e}",
                                    self.table
                                ));
                                run.pending = Some(batch);
                            }
                        }
                        let pause = backoff(run);
                        ctx.report(format!(
                            "table trigger on {}: the function reported record {sequence} failed; retrying from it in {} s",
                            self.table,
                            pause.as_secs()
                        ));
                    }
                    Outcome::Failed(why) => {
                        let first = sequence_number(&batch.records[0]);
                        let count = batch.records.len();
                        run.pending = Some(batch);
                        let pause = backoff(run);
                        ctx.report(format!(
                            "table trigger on {}: {why}; the shard waits and the batch of {count} records from {first} is retried in {} s",
                            self.table,
                            pause.as_secs()
                        ));
                    }
                }
            }
            if !delivered_any && !ctx.sleep(POLL_INTERVAL).await {
                break;
            }
        }
    }

    /// Read the stream's shards and start following the ones not yet known:
    /// those there at the mapping's first read at its `start`, later ones
    /// at their beginning once their parent is done (order across a split).
    async fn discover(
        &self,
        guard: &mut OwnedMutexGuard<Option<Checkpoint>>,
        arn: &str,
    ) -> Result<(), String> {
        let described = self
            .call("DescribeStream", json!({ "StreamArn": arn }))
            .await?;
        let shards = described["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Some(checkpoint) = guard.as_mut() else {
            return Ok(());
        };
        let first_read = checkpoint.shards.is_empty();
        for shard in &shards {
            let Some(id) = shard["ShardId"].as_str() else {
                continue;
            };
            if checkpoint.shards.contains_key(id) {
                continue;
            }
            let parent = shard["ParentShardId"].as_str();
            let parent_open = parent
                .is_some_and(|p| matches!(checkpoint.shards.get(p), Some(ShardPosition::At(_))));
            if parent_open {
                continue;
            }
            let kind = match (first_read, self.start) {
                (true, StreamStart::Latest) => "LATEST",
                _ => "TRIM_HORIZON",
            };
            let answer = self
                .call(
                    "GetShardIterator",
                    json!({ "StreamArn": arn, "ShardId": id, "ShardIteratorType": kind }),
                )
                .await?;
            let position = match answer["ShardIterator"].as_str() {
                Some(it) => ShardPosition::At(it.to_owned()),
                None => ShardPosition::Done,
            };
            checkpoint.shards.insert(id.to_owned(), position);
        }
        Ok(())
    }

    /// Up to `batch_size` records from `iterator`: pages while they come
    /// full, then, within the batch window, more as they arrive.
    async fn gather(&self, ctx: &mut Context, iterator: &str) -> Result<Batch, String> {
        let started = Instant::now();
        let mut records: Vec<Value> = Vec::new();
        let mut next = Some(iterator.to_owned());
        while let Some(current) = next.clone() {
            let want = (self.batch_size - records.len() as u32).min(GET_RECORDS_LIMIT);
            let answer = self
                .call(
                    "GetRecords",
                    json!({ "ShardIterator": current, "Limit": want }),
                )
                .await?;
            let got = answer["Records"].as_array().cloned().unwrap_or_default();
            let full_page = got.len() as u32 == want;
            records.extend(got);
            next = answer["NextShardIterator"].as_str().map(str::to_owned);
            if records.len() as u32 >= self.batch_size || records.is_empty() || ctx.stopping() {
                break;
            }
            if full_page {
                continue;
            }
            let left = self.batch_window.saturating_sub(started.elapsed());
            if left.is_zero() || !ctx.sleep(left.min(POLL_INTERVAL)).await {
                break;
            }
        }
        Ok(Batch { records, next })
    }

    async fn deliver(&self, ctx: &Context, arn: &str, records: &[Value]) -> Outcome {
        let event: Vec<Value> = records
            .iter()
            .map(|r| lambda_record(r, arn, &ctx.region))
            .collect();
        let body = Bytes::from(json!({ "Records": event }).to_string());
        match ctx.pool.invoke(body).await {
            Ok(answer) => outcome(&answer, records),
            Err(e) => Outcome::Failed(format!("the invocation failed ({e})")),
        }
    }

    async fn iterator_at(&self, arn: &str, shard: &str, sequence: &str) -> Result<String, String> {
        let answer = self
            .call(
                "GetShardIterator",
                json!({
                    "StreamArn": arn,
                    "ShardId": shard,
                    "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                    "SequenceNumber": sequence,
                }),
            )
            .await?;
        answer["ShardIterator"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "GetShardIterator returned no iterator".to_owned())
    }

    async fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        self.dynamodb
            .call_json(&self.principal, operation, body)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Keep the checkpoint if it is of stream `arn`; otherwise (a new mapping,
/// or the stream was replaced) start one with no shards read.
fn fresh_unless_same(guard: &mut OwnedMutexGuard<Option<Checkpoint>>, arn: &str) {
    if guard.as_ref().is_none_or(|c| c.stream_arn != arn) {
        **guard = Some(Checkpoint {
            stream_arn: arn.to_owned(),
            shards: BTreeMap::new(),
        });
    }
}

fn set_position(guard: &mut OwnedMutexGuard<Option<Checkpoint>>, shard: &str, p: ShardPosition) {
    if let Some(checkpoint) = guard.as_mut() {
        checkpoint.shards.insert(shard.to_owned(), p);
    }
}

/// The pause before the next try of a blocked shard: 1 s, doubling to 30 s.
fn backoff(run: &mut ShardRun) -> Duration {
    let pause = run
        .pause
        .map_or(FIRST_RETRY, |p| (p * 2).min(LONGEST_RETRY));
    run.pause = Some(pause);
    run.not_before = Some(Instant::now() + pause);
    pause
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What a function's answer to a stream batch means, under
/// `ReportBatchItemFailures`. Success: no `batchItemFailures`, a null or
/// empty list, or an answer that is not such an object. A list naming
/// records: retry from the one with the lowest sequence number (the batch
/// is in sequence order, so the lowest index). An identifier that is
/// missing, empty, null or not a record of the batch fails the whole batch.
fn outcome(body: &[u8], batch: &[Value]) -> Outcome {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(list) = doc.get("batchItemFailures") else {
        return Outcome::Delivered;
    };
    let items = match list {
        Value::Null => return Outcome::Delivered,
        Value::Array(items) => items,
        _ => return Outcome::Failed("batchItemFailures is not a list".to_owned()),
    };
    let mut first: Option<usize> = None;
    for item in items {
        let id = item["itemIdentifier"].as_str().unwrap_or_default();
        let Some(index) = batch
            .iter()
            .position(|r| !id.is_empty() && sequence_number(r) == id)
        else {
            return Outcome::Failed(format!(
                "batchItemFailures names `{id}`, which is not the sequence number of a record of this batch"
            ));
        };
        first = Some(first.map_or(index, |f| f.min(index)));
    }
    match first {
        None => Outcome::Delivered,
        Some(0) => Outcome::Failed("the function reported the batch's first record failed".into()),
        Some(index) => Outcome::RetryFrom(index),
    }
}

/// One record of the engine's GetRecords as Lambda's DynamoDB event record.
/// The engine already speaks the stream record shape; Lambda adds the
/// stream's ARN, and the region is the stage's (the engine's ARNs name its
/// own `dynoxide` region, kept as they are so that the function can call
/// DescribeStream with the ARN it was given).
fn lambda_record(record: &Value, arn: &str, region: &str) -> Value {
    let source = &record["dynamodb"];
    let mut dynamodb = serde_json::Map::new();
    for key in [
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "OldImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    ] {
        if let Some(value) = source.get(key) {
            dynamodb.insert(key.to_owned(), value.clone());
        }
    }
    let mut out = json!({
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    });
    // Deletions by TTL carry who deleted them, as on AWS.
    if let Some(identity) = record.get("userIdentity") {
        out["userIdentity"] = identity.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: &str) -> Value {
        json!({ "dynamodb": { "SequenceNumber": seq } })
    }

    #[test]
    fn a_stream_record_becomes_lambdas_dynamodb_event_record() {
        let engine = json!({
            "eventID": "e1",
            "eventName": "MODIFY",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "dynoxide",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000.0,
                "Keys": { "pk": { "S": "a" } },
                "NewImage": { "pk": { "S": "a" }, "n": { "N": "2" } },
                "OldImage": { "pk": { "S": "a" }, "n": { "N": "1" } },
                "SequenceNumber": "100000000000000000007",
                "SizeBytes": 42,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        });
        let arn = "arn:aws:dynamodb:dynoxide:000000000000:table/t/stream/1.0";
        assert_eq!(
            lambda_record(&engine, arn, "eu-west-1"),
            json!({
                "eventID": "e1",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_700_000_000.0,
                    "Keys": { "pk": { "S": "a" } },
                    "NewImage": { "pk": { "S": "a" }, "n": { "N": "2" } },
                    "OldImage": { "pk": { "S": "a" }, "n": { "N": "1" } },
                    "SequenceNumber": "100000000000000000007",
                    "SizeBytes": 42,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": arn,
            })
        );
        // A keys-only insert has no images at all, not null ones.
        let keys_only = json!({
            "eventID": "e2", "eventName": "INSERT",
            "dynamodb": { "Keys": {}, "SequenceNumber": "1", "SizeBytes": 1, "StreamViewType": "KEYS_ONLY" },
        });
        let out = lambda_record(&keys_only, arn, "us-east-1");
        assert!(out["dynamodb"].get("NewImage").is_none());
        assert!(out["dynamodb"].get("OldImage").is_none());
    }

    #[test]
    fn batch_item_failures_checkpoint_before_the_lowest_failed_record() {
        let batch = vec![record("101"), record("102"), record("103")];
        let check = |body: &str| outcome(body.as_bytes(), &batch);
        assert_eq!(check("null"), Outcome::Delivered);
        assert_eq!(check(r#""ok""#), Outcome::Delivered);
        assert_eq!(check(r#"{"batchItemFailures": null}"#), Outcome::Delivered);
        assert_eq!(check(r#"{"batchItemFailures": []}"#), Outcome::Delivered);
        assert_eq!(
            check(r#"{"batchItemFailures": [{"itemIdentifier": "102"}]}"#),
            Outcome::RetryFrom(1)
        );
        // Several: the lowest sequence number wins, whatever the order.
        assert_eq!(
            check(
                r#"{"batchItemFailures": [{"itemIdentifier": "103"}, {"itemIdentifier": "102"}]}"#
            ),
            Outcome::RetryFrom(1)
        );
        // The first record: nothing can be checkpointed, the batch is retried.
        assert!(matches!(
            check(r#"{"batchItemFailures": [{"itemIdentifier": "101"}]}"#),
            Outcome::Failed(_)
        ));
        for bad in [
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            r#"{"batchItemFailures": [{"itemId": "102"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": "999"}]}"#,
            r#"{"batchItemFailures": "102"}"#,
        ] {
            assert!(matches!(check(bad), Outcome::Failed(_)), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_from_one_second_to_thirty() {
        let mut run = ShardRun::default();
        let pauses: Vec<u64> = (0..7).map(|_| backoff(&mut run).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[tokio::test]
    async fn a_checkpoint_lease_waits_for_the_previous_holder() {
        let checkpoints = StreamCheckpoints::default();
        let first = checkpoints.lease("f/t/latest").lock_owned().await;
        let waiting = checkpoints.lease("f/t/latest");
        assert!(waiting.clone().try_lock_owned().is_err());
        // Another mapping is not held up.
        assert!(checkpoints.lease("g/t/latest").try_lock_owned().is_ok());
        drop(first);
        assert!(waiting.try_lock_owned().is_ok());
    }
}
