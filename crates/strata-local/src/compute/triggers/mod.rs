//! Event sources that run functions without an HTTP request: queue pollers
//! (Lambda's SQS event source mapping, [`queue`]), schedules (EventBridge
//! rules, [`schedule`]), bucket events (S3 through EventBridge, [`bucket`])
//! and table stream pollers (Lambda's DynamoDB event source mapping,
//! [`stream`]). Each event reaches the function in the shape AWS documents
//! for it.
//!
//! Triggers belong to one deployment. On a swap the old triggers are told to
//! stop and finish the batch they hold on the old code; the new ones start on
//! the new deployment. A queue poller never abandons a receive half-way: it
//! polls with a short wait and checks for the stop between polls, so no
//! message is left hidden for a visibility timeout by a swap. A stream
//! poller hands its position to the next deployment's through
//! [`StreamCheckpoints`], which outlive deployments.

mod bucket;
mod queue;
mod schedule;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use strata_model::{Address, Event, ResourceKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::bucket::BucketWatch;
use self::queue::QueuePoller;
pub use self::schedule::parse_cron;
pub use self::stream::StreamCheckpoints;
use self::stream::StreamPoller;
use super::deployment::{Deployment, grants_of};
use super::logs::{LogLine, LogSink, LogStream};
use super::now_ms;
use super::pool::FunctionPool;
use crate::access::Principal;
use crate::dynamodb::DynamoDb;
use crate::s3::S3;
use crate::sqs::Sqs;

/// What triggers read from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub sqs: Sqs,
    pub s3: S3,
    pub dynamodb: DynamoDb,
    /// Where each table stream mapping is, kept across deployments.
    pub streams: StreamCheckpoints,
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

impl Triggers {
    /// Start every queue, schedule, bucket and table trigger of `deployment`.
    /// Returns once each trigger listens: a bucket watch is subscribed, a new
    /// table mapping has its starting position.
    pub async fn start(
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
                        let address = Address::new(ResourceKind::Queue, queue.as_str());
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
                        tasks.spawn(schedule::run(schedule.clone(), rule, ctx));
                    }
                    Event::Bucket {
                        bucket,
                        on,
                        prefix,
                        suffix,
                    } => {
                        let address = Address::new(ResourceKind::Bucket, bucket.as_str());
                        let Some(name) = wiring(&address) else {
                            ctx.report(format!(
                                "bucket trigger on {bucket} not started: the bucket has no published name; deploy the stateful stack"
                            ));
                            continue;
                        };
                        let watch = BucketWatch {
                            // Subscribed here, before `start` returns, so no
                            // write after activation is missed.
                            events: sources.s3.subscribe(),
                            bucket: name,
                            on: *on,
                            prefix: prefix.clone().unwrap_or_default(),
                            suffix: suffix.clone().unwrap_or_default(),
                        };
                        tasks.spawn(watch.run(ctx));
                    }
                    Event::Table {
                        table,
                        batch_size,
                        batch_window,
                        start,
                    } => {
                        let address = Address::new(ResourceKind::Table, table.as_str());
                        let Some(name) = wiring(&address) else {
                            ctx.report(format!(
                                "table trigger on {table} not started: the table has no published name; deploy the stateful stack"
                            ));
                            continue;
                        };
                        let poller = StreamPoller {
                            dynamodb: sources.dynamodb.clone(),
                            principal: Principal::Function(Arc::new(grants_of(function, &*wiring))),
                            table: name,
                            batch_size: *batch_size,
                            batch_window: Duration::from_secs(u64::from(*batch_window)),
                            start: *start,
                            checkpoints: sources.streams.clone(),
                        };
                        let claimed = poller.claim(function.name.as_str()).await;
                        tasks.spawn(poller.run(ctx, claimed));
                    }
                    Event::Http { .. } => {}
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
