//! One function's workers: reused while warm, started on demand up to the
//! concurrency limit, killed on timeout, replaced after a crash.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore, oneshot};

use super::deployment::FunctionSpec;
use super::logs::{LogLine, LogSink, LogStream};
use super::worker::{Job, Worker};
use super::{InvokeError, now_ms, request_id};

/// The workers of one function in one deployment.
#[derive(Debug)]
pub struct FunctionPool {
    spec: Arc<FunctionSpec>,
    sink: Arc<dyn LogSink>,
    idle: Mutex<Vec<Worker>>,
    /// One permit per worker that may exist at once.
    slots: Semaphore,
    /// Set when the deployment is retired: workers are not kept after their
    /// current request.
    retired: AtomicBool,
    started: AtomicU64,
    /// When the last invocation began (ms since the epoch; 0: never).
    last_invoked: AtomicU64,
    /// Workers being warmed, and the signal that one became idle: a request
    /// that finds no idle worker waits for a warming one instead of
    /// starting a second process beside it.
    warming: AtomicUsize,
    warmed: Notify,
}

impl FunctionPool {
    pub(super) fn new(spec: Arc<FunctionSpec>, sink: Arc<dyn LogSink>) -> Self {
        Self {
            slots: Semaphore::new(spec.concurrency.max(1)),
            spec,
            sink,
            idle: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
            started: AtomicU64::new(0),
            last_invoked: AtomicU64::new(0),
            warming: AtomicUsize::new(0),
            warmed: Notify::new(),
        }
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    pub fn last_invoked_ms(&self) -> u64 {
        self.last_invoked.load(Ordering::Relaxed)
    }

    /// Carry over when the function last ran, from the release before.
    pub(super) fn used_at(&self, ms: u64) {
        self.last_invoked.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Worker>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn start_worker(&self) -> Result<Worker, InvokeError> {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        // Lambda's form: `2026/12/03/[$LATEST]<32 hex>`; the counter keeps
        // the streams of one pool apart.
        let stream = format!(
            "{}/[$LATEST]{:032x}",
            log_date(now_ms()),
            u128::from(n) | (u128::from(now_ms()) << 64)
        );
        Worker::spawn(self.spec.clone(), &stream, self.sink.clone()).await
    }

    /// Start one worker and wait until it asks for work, so the first request
    /// after a swap does not pay the start. Returns its init error.
    pub async fn warm(&self) -> Result<(), InvokeError> {
        let Ok(_permit) = self.slots.acquire().await else {
            return Ok(());
        };
        self.warming.fetch_add(1, Ordering::SeqCst);
        let started = async {
            let worker = self.start_worker().await?;
            worker.ready().await?;
            if !self.retired.load(Ordering::Relaxed) {
                self.idle().push(worker);
            }
            Ok(())
        }
        .await;
        self.warming.fetch_sub(1, Ordering::SeqCst);
        self.warmed.notify_waiters();
        started
    }

    /// An idle live worker, if there is one.
    fn take_idle(&self) -> Option<Worker> {
        loop {
            let worker = self.idle().pop()?;
            if worker.is_alive() {
                return Some(worker);
            }
        }
    }

    /// Run the function once with `event`.
    pub async fn invoke(&self, event: Bytes) -> Result<Bytes, InvokeError> {
        self.invoke_with_id(event, request_id()).await
    }

    pub async fn invoke_with_id(
        &self,
        event: Bytes,
        request_id: String,
    ) -> Result<Bytes, InvokeError> {
        self.last_invoked.store(now_ms(), Ordering::Relaxed);
        // The semaphore is never closed, so acquire cannot fail.
        let _permit = self.slots.acquire().await.map_err(|_| InvokeError::Start {
            message: "the function is shutting down".to_owned(),
        })?;
        let mut reused = self.take_idle();
        if reused.is_none() {
            // Registered before the count is read, so a warm that finishes
            // in between still wakes us.
            let warmed = self.warmed.notified();
            if self.warming.load(Ordering::SeqCst) > 0 {
                let _ = tokio::time::timeout(super::worker::INIT_TIMEOUT, warmed).await;
                reused = self.take_idle();
            }
        }
        let worker = match reused {
            Some(worker) => worker,
            None => {
                // As on Lambda, the init phase (starting the runtime,
                // importing the handler) has its own limit and does not eat
                // into the invocation's timeout: a cold start on a busy
                // machine must not time out a request that runs quickly.
                let worker = self.start_worker().await?;
                if let Err(e) = worker.ready().await {
                    self.platform(&request_id, format!("INIT_REPORT Error: {e}"));
                    return Err(e);
                }
                worker
            }
        };
        let started = Instant::now();
        let deadline_ms = now_ms() + u64::try_from(self.spec.timeout.as_millis()).unwrap_or(0);
        self.platform(
            &request_id,
            format!("START RequestId: {request_id} Version: $LATEST"),
        );
        let (reply, answer) = oneshot::channel();
        worker.dispatch(Job {
            request_id: request_id.clone(),
            event,
            deadline_ms,
            reply,
        });
        let outcome = match tokio::time::timeout(self.spec.timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            // The reply was dropped without an answer: the worker is gone.
            Ok(Err(_)) => Err(InvokeError::Exited {
                status: "the process went away".to_owned(),
            }),
            Err(_) => {
                worker.kill();
                Err(InvokeError::Timeout {
                    after: self.spec.timeout,
                })
            }
        };
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        match &outcome {
            Err(e @ (InvokeError::Timeout { .. } | InvokeError::Exited { .. })) => {
                self.platform(&request_id, format!("{request_id} Error: {e}"));
            }
            Err(e @ (InvokeError::Init { .. } | InvokeError::Start { .. })) => {
                self.platform(&request_id, format!("INIT_REPORT Error: {e}"));
            }
            _ => {}
        }
        self.platform(&request_id, format!("END RequestId: {request_id}"));
        self.platform(
            &request_id,
            format!(
                "REPORT RequestId: {request_id}\tDuration: {elapsed:.2} ms\tMemory Size: {} MB",
                self.spec.memory
            ),
        );
        // A worker that answered (even with a handled error) is reused; one
        // that timed out, crashed or belongs to a retired release is not.
        let keep = matches!(&outcome, Ok(_) | Err(InvokeError::Function { .. }))
            && worker.is_alive()
            && !self.retired.load(Ordering::Relaxed);
        if keep {
            self.idle().push(worker);
        }
        outcome
    }

    /// Stop keeping workers: idle ones are killed now, busy ones when they
    /// finish their request.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.idle().clear();
    }

    fn platform(&self, request_id: &str, text: String) {
        self.sink.emit(LogLine {
            time_ms: now_ms(),
            function: self.spec.name.clone(),
            request_id: request_id.to_owned(),
            stream: LogStream::Platform,
            text,
        });
    }
}

/// `YYYY/MM/DD` (UTC) of a time in milliseconds.
fn log_date(ms: u64) -> String {
    // Days since the epoch to a civil date (proleptic Gregorian).
    let days = i64::try_from(ms / 86_400_000).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}/{month:02}/{day:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_dates_are_civil_utc_dates() {
        assert_eq!(super::log_date(0), "1970/01/01");
        assert_eq!(super::log_date(1_796_256_000_000), "2026/12/03");
        assert_eq!(super::log_date(951_782_400_000), "2000/02/29");
    }
}
