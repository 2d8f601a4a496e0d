//! Event sources that run functions without an HTTP request: queue pollers
//! (Lambda's SQS event source mapping) and schedules (EventBridge rules).
//! Each event reaches the function in the shape AWS documents for it.
//!
//! Triggers belong to one deployment. On a swap the old triggers are told to
//! stop and finish the batch they hold on the old code; the new ones start on
//! the new deployment. A queue poller never abandons a receive half-way: it
//! polls with a short wait and checks for the stop between polls, so no
//! message is left hidden for a visibility timeout by a swap.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use strata_model::schedule::Schedule;
use strata_model::{Address, Event};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::deployment::{ACCOUNT, Deployment, grants_of};
use super::logs::{LogLine, LogSink, LogStream};
use super::pool::FunctionPool;
use super::{now_ms, request_id};
use crate::access::Principal;
use crate::sqs::Sqs;

/// What triggers read from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub sqs: Sqs,
    pub region: String,
}

/// The value a `uses` entry injects for a stateful address (queue URL,
/// table name, ...), from the stateful stack's published outputs.
pub type Wiring = Arc<dyn Fn(&Address) -> Option<String> + Send + Sync>;

/// The running triggers of one deployment.
#[derive(Debug)]
pub struct Triggers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// How long one receive waits for messages before the poller looks at its
/// stop flag again. Messages that arrive end the wait at once.
const POLL_WAIT_SECONDS: u64 = 1;

impl Triggers {
    /// Start every queue and schedule trigger of `deployment`.
    pub fn start(
        deployment: &Arc<Deployment>,
        sources: &Sources,
        wiring: Wiring,
        sink: Arc<dyn LogSink>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for function in &deployment.service.stateless.functions {
            let Some(pool) = deployment.pool(function.name.as_str()).cloned() else {
                continue;
            };
            for event in &function.events {
                let ctx = Context {
                    _deployment: deployment.clone(),
                    pool: pool.clone(),
                    stopped: stopped.clone(),
                    sink: sink.clone(),
                    region: sources.region.clone(),
                };
                match event {
                    Event::Queue {
                        queue,
                        batch_size,
                        batch_window,
                    } => {
                        let address =
                            Address::new(strata_model::ResourceKind::Queue, queue.as_str());
                        let Some(url) = wiring(&address) else {
                            ctx.report(format!(
                                "queue trigger on {queue} not started: the queue has no published URL; deploy the stateful stack"
                            ));
                            continue;
                        };
                        let poller = QueuePoller {
                            sqs: sources.sqs.clone(),
                            principal: Principal::Function(Arc::new(grants_of(function, &*wiring))),
                            url,
                            batch_size: *batch_size,
                            batch_window: Duration::from_secs(u64::from(*batch_window)),
                        };
                        tasks.spawn(poller.run(ctx));
                    }
                    Event::Schedule { schedule } => {
                        let rule = format!(
                            "{}-{}",
                            pool.spec().physical_name,
                            function.events.iter().position(|e| e == event).unwrap_or(0)
                        );
                        tasks.spawn(run_schedule(schedule.clone(), rule, ctx));
                    }
                    Event::Http { .. } | Event::Bucket { .. } => {}
                }
            }
        }
        Self { stop, tasks }
    }

    /// Stop every trigger; each finishes the invocation it is running.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

struct Context {
    /// Held so that the release's credentials stay valid while its triggers
    /// finish their last batch after a swap.
    _deployment: Arc<Deployment>,
    pool: Arc<FunctionPool>,
    stopped: watch::Receiver<bool>,
    sink: Arc<dyn LogSink>,
    region: String,
}

impl Context {
    fn stopping(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Sleep, waking early when told to stop. Returns false when stopping.
    async fn sleep(&mut self, duration: Duration) -> bool {
        let stopped = self.stopped.wait_for(|s| *s);
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = stopped => false,
        }
    }

    fn report(&self, text: String) {
        self.sink.emit(LogLine {
            time_ms: now_ms(),
            function: self.pool.spec().name.clone(),
            request_id: String::new(),
            stream: LogStream::Platform,
            text,
        });
    }
}

// ---- queues ----------------------------------------------------------------

struct QueuePoller {
    sqs: Sqs,
    principal: Principal,
    url: String,
    batch_size: u32,
    batch_window: Duration,
}

impl QueuePoller {
    async fn run(self, mut ctx: Context) {
        let queue_name = self.url.rsplit('/').next().unwrap_or_default().to_owned();
        let arn = format!("arn:aws:sqs:{}:{ACCOUNT}:{queue_name}", ctx.region);
        // A failing receive (the queue was deleted, access was withdrawn) is
        // retried with a doubling pause up to half a minute, as Lambda's
        // event source mapping backs off, and each distinct error is
        // reported once instead of every second.
        let mut last_error: Option<String> = None;
        let mut pause = Duration::from_secs(1);
        while !ctx.stopping() {
            let messages = match self.gather(&ctx).await {
                Ok(messages) => {
                    if last_error.take().is_some() {
                        ctx.report(format!("queue trigger on {queue_name}: receiving again"));
                    }
                    pause = Duration::from_secs(1);
                    messages
                }
                Err(e) => {
                    if last_error.as_deref() != Some(e.as_str()) {
                        ctx.report(format!(
                            "queue trigger on {queue_name}: {e} (retrying with backoff)"
                        ));
                        last_error = Some(e);
                    }
                    if !ctx.sleep(pause).await {
                        break;
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| record(m, &arn, &ctx.region))
                .collect();
            let event = Bytes::from(json!({ "Records": records }).to_string());
            let outcome = ctx.pool.invoke(event).await;
            let succeeded = match &outcome {
                Ok(body) => match failed_items(body, &messages) {
                    Ok(failed) => messages
                        .iter()
                        .filter(|m| !failed.contains(&message_id(m)))
                        .collect(),
                    Err(why) => {
                        ctx.report(format!(
                            "queue trigger on {queue_name}: {why}; the whole batch returns to the queue"
                        ));
                        Vec::new()
                    }
                },
                // A failed invocation: every message becomes visible again
                // after its visibility timeout, and the queue's redrive
                // policy moves it to the dead-letter queue after
                // `max_receives` tries.
                Err(_) => Vec::new(),
            };
            if let Err(e) = self.delete(&succeeded).await {
                ctx.report(format!(
                    "queue trigger on {queue_name}: cannot delete processed messages: {e}"
                ));
            }
        }
    }

    /// Up to `batch_size` messages: a first (short) long poll, then more
    /// while they keep coming, within the batch window.
    async fn gather(&self, ctx: &Context) -> Result<Vec<Value>, String> {
        let started = tokio::time::Instant::now();
        let mut batch = Vec::new();
        let mut wait = POLL_WAIT_SECONDS;
        loop {
            let want = (self.batch_size as usize - batch.len()).min(10);
            let received = self
                .sqs
                .call_json(
                    self.principal.clone(),
                    "ReceiveMessage",
                    json!({
                        "QueueUrl": self.url,
                        "MaxNumberOfMessages": want,
                        "WaitTimeSeconds": wait,
                        "AttributeNames": ["All"],
                        "MessageSystemAttributeNames": ["All"],
                        "MessageAttributeNames": ["All"],
                    }),
                )
                .await
                .map_err(|e| e.to_string())?;
            let got = received["Messages"].as_array().cloned().unwrap_or_default();
            let full = got.len() == want;
            batch.extend(got);
            let window_left = self.batch_window.saturating_sub(started.elapsed());
            if batch.len() >= self.batch_size as usize
                || batch.is_empty()
                || ctx.stopping()
                || (!full && window_left.is_zero())
            {
                return Ok(batch);
            }
            // Within a batch window, wait for more; otherwise take only what
            // is already there.
            wait = window_left.as_secs().min(POLL_WAIT_SECONDS);
        }
    }

    async fn delete(&self, messages: &[&Value]) -> Result<(), String> {
        for chunk in messages.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| json!({ "Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"] }))
                .collect();
            let answer = self
                .sqs
                .call_json(
                    self.principal.clone(),
                    "DeleteMessageBatch",
                    json!({ "QueueUrl": self.url, "Entries": entries }),
                )
                .await
                .map_err(|e| e.to_string())?;
            if let Some(failed) = answer["Failed"].as_array().filter(|f| !f.is_empty()) {
                return Err(format!(
                    "{} deletions failed: {}",
                    failed.len(),
                    Value::from(failed.clone())
                ));
            }
        }
        Ok(())
    }
}

fn message_id(message: &Value) -> String {
    message["MessageId"].as_str().unwrap_or_default().to_owned()
}

/// The ids a `ReportBatchItemFailures` response names. As on AWS, a
/// response that names an id not in the batch (or names none in a
/// malformed way) fails the whole batch; an empty or absent list, or a
/// response that is not such an object, means every message succeeded.
fn failed_items(body: &[u8], batch: &[Value]) -> Result<Vec<String>, String> {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(list) = doc.get("batchItemFailures") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        if list.is_null() {
            return Ok(Vec::new());
        }
        return Err("batchItemFailures is not a list".to_owned());
    };
    let mut failed = Vec::new();
    for item in list {
        let id = item["itemIdentifier"].as_str().unwrap_or_default();
        if id.is_empty() || !batch.iter().any(|m| message_id(m) == id) {
            return Err(format!(
                "batchItemFailures names `{id}`, which is not a message of this batch"
            ));
        }
        failed.push(id.to_owned());
    }
    Ok(failed)
}

/// One SQS message as Lambda's SQS event record.
fn record(message: &Value, arn: &str, region: &str) -> Value {
    let mut attributes = serde_json::Map::new();
    if let Some(attrs) = message["Attributes"].as_object() {
        for (k, v) in attrs {
            attributes.insert(k.clone(), v.clone());
        }
    }
    let mut message_attributes = serde_json::Map::new();
    if let Some(attrs) = message["MessageAttributes"].as_object() {
        for (name, a) in attrs {
            message_attributes.insert(
                name.clone(),
                json!({
                    "stringValue": a.get("StringValue"),
                    "binaryValue": a.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": a["DataType"],
                }),
            );
        }
    }
    let mut record = json!({
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    });
    if let Some(md5) = message.get("MD5OfMessageAttributes") {
        record["md5OfMessageAttributes"] = md5.clone();
    }
    record
}

// ---- schedules -------------------------------------------------------------

async fn run_schedule(schedule: Schedule, rule: String, mut ctx: Context) {
    let cron = match &schedule {
        Schedule::Cron { fields } => match parse_cron(fields) {
            Ok(cron) => Some(cron),
            Err(e) => {
                ctx.report(format!("schedule {schedule} not started: {e}"));
                return;
            }
        },
        Schedule::Rate { .. } => None,
    };
    let mut last = Utc::now();
    loop {
        let next = match (&schedule, &cron) {
            (Schedule::Rate { value, unit }, _) => {
                last + chrono::Duration::seconds(i64::from(*value) * unit.seconds() as i64)
            }
            (_, Some(cron)) => match cron.find_next_occurrence(&Utc::now(), false) {
                Ok(next) => next,
                Err(_) => return, // no occurrence left (a year range in the past)
            },
            _ => return,
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        if !ctx.sleep(wait).await {
            return;
        }
        last = next;
        let event = scheduled_event(&rule, &ctx.region, next);
        // A failed scheduled run is logged by the pool; EventBridge's retries
        // are not reproduced locally.
        let _ = ctx.pool.invoke(Bytes::from(event.to_string())).await;
    }
}

/// AWS's six-field cron (minutes hours day-of-month month day-of-week
/// year), with `?`, `L`, `W` and `#`, and weekdays numbered 1 (SUN) to 7.
pub fn parse_cron(fields: &[String]) -> Result<croner::Cron, String> {
    // AWS writes "start/step" (`0/15`: from 0, every 15); croner takes a
    // step only on `*` or a range, so the start becomes a range to the
    // field's maximum. Years are left as written.
    const MAX: [u32; 5] = [59, 23, 31, 12, 7];
    let fields: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, field)| match MAX.get(i) {
            Some(max) => field
                .split(',')
                .map(|part| match part.split_once('/') {
                    Some((start, step)) if start.parse::<u32>().is_ok() => {
                        format!("{start}-{max}/{step}")
                    }
                    _ => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(","),
            None => field.clone(),
        })
        .collect();
    let pattern = format!("0 {}", fields.join(" "));
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&pattern)
        .map_err(|e| e.to_string())
}

/// The event EventBridge sends for a scheduled rule.
fn scheduled_event(rule: &str, region: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT}:rule/{rule}")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn next(fields: &str, after: DateTime<Utc>) -> String {
        let fields: Vec<String> = fields.split(' ').map(str::to_owned).collect();
        parse_cron(&fields)
            .and_then(|c| {
                c.find_next_occurrence(&after, false)
                    .map_err(|e| e.to_string())
            })
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn aws_cron_expressions_fire_when_eventbridge_would() {
        // Thursday 2026-12-03 20:00 UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 12, 3, 20, 0, 0)
            .single()
            .expect("valid");
        // 18:00 on weekdays: the next is Friday.
        assert_eq!(next("0 18 ? * MON-FRI *", now), "2026-12-04T18:00:00Z");
        // Weekday 6 is Friday in AWS's numbering (1 = Sunday).
        assert_eq!(next("0 10 ? * 6 *", now), "2026-12-04T10:00:00Z");
        // Every 15 minutes.
        assert_eq!(next("0/15 * * * ? *", now), "2026-12-03T20:15:00Z");
        // The last day of the month.
        assert_eq!(next("0 12 L * ? *", now), "2026-12-31T12:00:00Z");
    }

    #[test]
    fn batch_item_failures_name_only_messages_of_the_batch() {
        let batch = vec![json!({"MessageId": "a"}), json!({"MessageId": "b"})];
        let parse = |body: &str| failed_items(body.as_bytes(), &batch);
        assert_eq!(parse("null"), Ok(vec![]));
        assert_eq!(parse(r#"{"batchItemFailures": []}"#), Ok(vec![]));
        assert_eq!(
            parse(r#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#),
            Ok(vec!["b".to_owned()])
        );
        assert!(parse(r#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#).is_err());
        assert!(parse(r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#).is_err());
    }
}
