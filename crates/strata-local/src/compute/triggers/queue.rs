//! Queue triggers: Lambda's SQS event source mapping. A poller gathers a
//! batch, invokes the function with SQS event records, and deletes what
//! succeeded; `ReportBatchItemFailures` returns only the failed messages.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::Context;
use crate::access::Principal;
use crate::compute::deployment::ACCOUNT;
use crate::sqs::Sqs;

/// How long one receive waits for messages before the poller looks at its
/// stop flag again. Messages that arrive end the wait at once.
const POLL_WAIT_SECONDS: u64 = 1;

pub(super) struct QueuePoller {
    pub sqs: Sqs,
    pub principal: Principal,
    pub url: String,
    pub batch_size: u32,
    pub batch_window: Duration,
}

impl QueuePoller {
    pub async fn run(self, mut ctx: Context) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
