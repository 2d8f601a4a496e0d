//! Background expiry of items whose TTL attribute has passed.
//!
//! DynamoDB deletes expired items on its own, some time after they expire;
//! dynoxide-rs does the deleting (index fan-out and a `REMOVE` stream record
//! with the TTL service identity included) in `Database::sweep_ttl`, but only
//! when asked. [`TtlSweeper`] asks on a fixed interval from a tokio task.
//!
//! The sweep itself blocks on SQLite, so it runs on the blocking pool. It
//! hands the engine's lock on between pages of 25 rows, so requests wait for
//! at most one page of it, not the whole sweep. A failed sweep is retried at
//! the next tick: an expired item that outlives one tick is still within
//! DynamoDB's contract, which promises no deadline for the deletion.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::DynamoDb;

/// A running sweep loop. Stop it with [`TtlSweeper::stop`] before the data
/// directory is released; dropping it only asks the loop to end (the closed
/// channel wakes it), without waiting.
#[derive(Debug)]
pub struct TtlSweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    sweeps: AtomicU64,
    deleted: AtomicU64,
    failed: AtomicU64,
}

impl TtlSweeper {
    /// Sweep every `interval`, first one `interval` from now. Must be called
    /// inside a tokio runtime.
    pub fn start(dynamodb: &DynamoDb, interval: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let db = dynamodb.db.clone();
        let seen = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => return,
                }
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
                    Ok(Ok(deleted)) => {
                        seen.deleted.fetch_add(deleted as u64, Ordering::Relaxed);
                    }
                    // Retried at the next tick (see the module comment).
                    Ok(Err(_)) | Err(_) => {
                        seen.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                seen.sweeps.fetch_add(1, Ordering::Relaxed);
            }
        });
        Self {
            stop,
            task,
            counters,
        }
    }

    /// Sweeps finished so far (successful or not).
    pub fn sweeps(&self) -> u64 {
        self.counters.sweeps.load(Ordering::Relaxed)
    }

    /// Items deleted so far.
    pub fn deleted(&self) -> u64 {
        self.counters.deleted.load(Ordering::Relaxed)
    }

    /// Sweeps that failed (and were left to the next tick).
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// End the loop, letting a sweep under way finish, and wait for it.
    pub async fn stop(self) {
        // An error means the loop is already gone.
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::durability::Durability;
    use crate::store::DataDir;

    fn call(db: &DynamoDb, operation: &str, body: serde_json::Value) -> serde_json::Value {
        let out = db.execute(operation, &body.to_string()).expect(operation);
        serde_json::from_str(&out).expect("json")
    }

    #[tokio::test]
    async fn expired_items_are_deleted_by_the_loop() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let db = DynamoDb::open(&data, Durability::Process).expect("open");
        call(
            &db,
            "CreateTable",
            json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
        );
        call(
            &db,
            "UpdateTimeToLive",
            json!({"TableName": "tbl", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        for (pk, exp) in [("old", now - 10), ("new", now + 3600)] {
            call(
                &db,
                "PutItem",
                json!({"TableName": "tbl", "Item": {"pk": {"S": pk}, "exp": {"N": exp.to_string()}}}),
            );
        }
        let sweeper = TtlSweeper::start(&db, Duration::from_millis(10));
        // Bounded wait for the first finished sweep; nothing about its speed
        // is asserted.
        for _ in 0..500 {
            if sweeper.sweeps() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sweeper.sweeps() > 0, "no sweep ran");
        assert_eq!(sweeper.failed(), 0);
        assert_eq!(sweeper.deleted(), 1);
        sweeper.stop().await;
        let left = call(&db, "Scan", json!({"TableName": "tbl"}));
        assert_eq!(left["Count"], 1);
        assert_eq!(left["Items"][0]["pk"]["S"], "new");
    }
}
