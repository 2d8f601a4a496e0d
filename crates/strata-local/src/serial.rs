//! A thread of its own that runs blocking jobs one at a time, in the order
//! they arrive: how the async services reach an engine that serialises every
//! call anyway (dynoxide keeps one SQLite connection behind one lock).
//!
//! tokio's blocking pool is the wrong tool for such an engine. With 32
//! requests in flight it holds a thread per request, all queued on the
//! engine's lock, and every request pays 3-5 context switches for the
//! hand-overs (measured in `bench/results/dynamodb.md`). One thread draining a
//! queue keeps running while requests keep coming and sleeps only when the
//! queue is empty, so under load a request costs no switch on the engine's
//! side at all.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs that may wait for the thread. Past this, callers wait for room
/// without blocking their async worker, which holds memory to what the
/// connections have in flight.
const QUEUE: usize = 1024;

/// A handle on the thread; clones share it. The thread ends once every
/// handle is dropped and the jobs already queued have run.
#[derive(Debug, Clone)]
pub struct SerialThread {
    jobs: mpsc::Sender<Job>,
}

/// The job did not produce an answer: it panicked, or the thread is gone.
#[derive(Debug, thiserror::Error)]
#[error("the job panicked or its thread stopped")]
pub struct JobLost;

impl SerialThread {
    /// Start the thread, named `name` in debuggers and panic messages.
    pub fn spawn(name: &str) -> std::io::Result<Self> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    // A job that panics drops its answer channel, which its
                    // caller sees as `JobLost`; the jobs behind it still run.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Run `work` on the thread after the jobs queued before it, and wait
    /// for its result. Dropping the returned future before the job starts
    /// cancels it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JobLost> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A caller that stopped waiting before its job started (its
            // client hung up) gets no work done: nobody would see the result,
            // and the jobs behind it should not wait for it. Once started, a
            // job runs to its end whoever waits.
            if answer.is_closed() {
                return;
            }
            let _ = answer.send(work());
        });
        self.jobs.send(job).await.map_err(|_| JobLost)?;
        answered.await.map_err(|_| JobLost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_caller_gets_its_own_answer_and_a_panic_loses_only_its_own() {
        let thread = SerialThread::spawn("serial-test").expect("spawn");
        let calls: Vec<_> = (0..200u32)
            .map(|i| {
                let thread = thread.clone();
                tokio::spawn(async move { thread.run(move || i * 2).await })
            })
            .collect();
        for (i, call) in (0..200u32).zip(calls) {
            assert_eq!(call.await.expect("task").expect("answer"), i * 2);
        }

        let lost = thread
            .run(|| -> u32 { panic!("a job panics on purpose") })
            .await;
        assert!(matches!(lost, Err(JobLost)));
        assert_eq!(thread.run(|| 7).await.expect("the thread survives"), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_gave_up_before_it_started_does_not_run() {
        let thread = SerialThread::spawn("serial-test").expect("spawn");
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let busy = tokio::spawn({
            let thread = thread.clone();
            async move {
                thread
                    .run(move || {
                        let _ = started.send(());
                        blocked.recv().is_ok()
                    })
                    .await
            }
        });
        running.await.expect("the busy job starts");
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // Queued behind the busy job, then abandoned.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(100),
            thread.run(move || flag.store(true, Ordering::SeqCst)),
        )
        .await;
        assert!(
            gave_up.is_err(),
            "the busy job should still hold the thread"
        );
        release.send(()).expect("release");
        assert!(busy.await.expect("task").expect("answer"));
        thread.run(|| ()).await.expect("a later job runs");
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }
}
