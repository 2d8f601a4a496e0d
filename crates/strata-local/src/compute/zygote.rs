//! Python workers forked from a warm interpreter.
//!
//! A Python worker spends most of its start importing boto3 (about 200 ms
//! on an idle 2-core machine, twice that under load), which every save of a
//! file would pay again. A [`Zygote`] is one Python process per interpreter
//! and `PYTHONPATH` that has done those imports once (`bootstrap/zygote.py`)
//! and forks a worker on request: the worker is the process `python3 -u
//! bootstrap.py` would be, with the function's environment and working
//! folder, its own process group (so [`Worker::kill`] works unchanged) and
//! its output on pipes Strata made, and it starts in a few milliseconds.
//!
//! The zygote talks over a Unix datagram socket that is its standard input:
//! a request carries the two pipe ends as `SCM_RIGHTS`; the answers are
//! `forked PID` or `failed REASON`, and later `exit PID STATUS` when the
//! zygote reaps that worker. Requests go one at a time. A zygote that died
//! is started again on the next request; its workers die with it
//! (`PR_SET_PDEATHSIG`), and it dies with Strata.
//!
//! Code that ships its own boto3 or botocore in its code folder never uses a
//! zygote: the preloaded modules would shadow the function's own, which on
//! Lambda take precedence.
//!
//! [`Worker::kill`]: super::worker::Worker::kill

use std::collections::{BTreeMap, HashMap};
use std::io::{IoSlice, PipeReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use serde_json::json;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::deployment::FunctionSpec;

/// The variables a zygote starts with: those that shape the interpreter
/// itself. The function's own come with each fork.
const INTERPRETER_ENV: [&str; 7] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
];

/// The zygotes of one compute, one per interpreter and `PYTHONPATH`.
#[derive(Debug)]
pub struct Zygotes {
    script: PathBuf,
    running: Mutex<HashMap<ZygoteKey, Arc<Zygote>>>,
}

/// The interpreter and the `PYTHONPATH` a zygote was started with.
type ZygoteKey = (PathBuf, Option<String>);

impl Zygotes {
    pub fn new(script: PathBuf) -> Self {
        Self {
            script,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The zygote for a Python function's spec, or `None` when its code
    /// folder carries its own boto3 or botocore.
    pub fn for_spec(&self, spec: &FunctionSpec) -> Option<Arc<Zygote>> {
        if ["boto3", "botocore"]
            .iter()
            .any(|m| spec.task_root.join(m).exists())
        {
            return None;
        }
        let env: BTreeMap<String, String> = INTERPRETER_ENV
            .iter()
            .filter_map(|k| spec.env.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        let key = (spec.program.clone(), env.get("PYTHONPATH").cloned());
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        Some(
            running
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(Zygote {
                        program: spec.program.clone(),
                        script: self.script.clone(),
                        env,
                        process: tokio::sync::Mutex::new(None),
                        disabled: AtomicBool::new(false),
                    })
                })
                .clone(),
        )
    }
}

/// One fork server; started on its first fork.
#[derive(Debug)]
pub struct Zygote {
    program: PathBuf,
    script: PathBuf,
    env: BTreeMap<String, String>,
    /// Held across a whole fork, so requests go one at a time.
    process: tokio::sync::Mutex<Option<Process>>,
    /// Set after a failure: workers then start the plain way.
    disabled: AtomicBool,
}

#[derive(Debug)]
struct Process {
    _child: Child,
    socket: Arc<UnixDatagram>,
    /// The answer to the request in flight.
    forked: Answer,
    /// False once the socket closed: the zygote is gone.
    alive: Arc<AtomicBool>,
}

/// A worker forked by a zygote.
#[derive(Debug)]
pub struct Forked {
    pub pid: u32,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    /// Its status once reaped, as `ExitStatus` displays one.
    pub exit: oneshot::Receiver<String>,
}

/// Where the answer to the fork in flight goes: the pid and its exit.
type Answer = Arc<Mutex<Option<oneshot::Sender<Result<(u32, oneshot::Receiver<String>), String>>>>>;
/// Forked workers not reaped yet, by pid.
type Exits = Arc<Mutex<HashMap<u32, oneshot::Sender<String>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Zygote {
    pub fn enabled(&self) -> bool {
        !self.disabled.load(Ordering::Relaxed)
    }

    /// Stop using this zygote (after a failure that restarting will not
    /// cure, such as an interpreter too old for `socket.recv_fds`).
    pub fn disable(&self) {
        self.disabled.store(true, Ordering::Relaxed);
    }

    /// Fork a worker running `script` in `cwd` with exactly `env`.
    pub async fn fork(
        &self,
        script: &Path,
        cwd: &Path,
        env: &BTreeMap<String, String>,
    ) -> std::io::Result<Forked> {
        let mut process = self.process.lock().await;
        if !process
            .as_ref()
            .is_some_and(|p| p.alive.load(Ordering::Relaxed))
        {
            *process = Some(self.start()?);
        }
        let Some(p) = process.as_ref() else {
            unreachable!("started above");
        };
        let (out_read, out_write) = std::io::pipe()?;
        let (err_read, err_write) = std::io::pipe()?;
        let request = json!({ "script": script, "cwd": cwd, "env": env }).to_string();
        let (answer, answered) = oneshot::channel();
        *lock(&p.forked) = Some(answer);
        let fds = [out_write.as_raw_fd(), err_write.as_raw_fd()];
        p.socket
            .async_io(Interest::WRITABLE, || {
                sendmsg::<()>(
                    p.socket.as_raw_fd(),
                    &[IoSlice::new(request.as_bytes())],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                )
                .map_err(std::io::Error::from)
            })
            .await?;
        // The zygote holds its own copies now; ours must close so the
        // worker's exit ends the pipes.
        drop((out_write, err_write));
        let (pid, exit) = answered
            .await
            .map_err(|_| std::io::Error::other("the Python zygote exited"))?
            .map_err(std::io::Error::other)?;
        Ok(Forked {
            pid,
            stdout: receiver(out_read)?,
            stderr: receiver(err_read)?,
            exit,
        })
    }

    fn start(&self) -> std::io::Result<Process> {
        let (ours, theirs) = std::os::unix::net::UnixDatagram::pair()?;
        ours.set_nonblocking(true)?;
        let socket = Arc::new(UnixDatagram::from_std(ours)?);
        let child = Command::new(&self.program)
            .arg("-u")
            .arg(&self.script)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()?;
        let forked = Arc::new(Mutex::new(None));
        let exits = Arc::new(Mutex::new(HashMap::new()));
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(read_answers(
            socket.clone(),
            forked.clone(),
            exits.clone(),
            alive.clone(),
        ));
        Ok(Process {
            _child: child,
            socket,
            forked,
            alive,
        })
    }
}

fn receiver(read: PipeReader) -> std::io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(OwnedFd::from(read))
}

/// Route each answer of the zygote: fork results to the request in flight,
/// exits to their worker. When the socket ends, every waiter hears so.
async fn read_answers(
    socket: Arc<UnixDatagram>,
    forked: Answer,
    exits: Exits,
    alive: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match socket.recv(&mut buf).await {
            Ok(n) if n > 0 => n,
            _ => break,
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let (word, rest) = text.split_once(' ').unwrap_or((&text, ""));
        match word {
            "forked" => {
                // The exit slot is made here, before the next answer is
                // read, so an `exit` that follows at once is not missed.
                if let (Ok(pid), Some(answer)) = (rest.parse::<u32>(), lock(&forked).take()) {
                    let (exited, exit) = oneshot::channel();
                    lock(&exits).insert(pid, exited);
                    let _ = answer.send(Ok((pid, exit)));
                }
            }
            "failed" => {
                if let Some(answer) = lock(&forked).take() {
                    let _ = answer.send(Err(format!("the Python zygote cannot fork: {rest}")));
                }
            }
            "exit" => {
                let (pid, status) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Some(waiter) = pid
                    .parse::<u32>()
                    .ok()
                    .and_then(|p| lock(&exits).remove(&p))
                {
                    let _ = waiter.send(status.to_owned());
                }
            }
            _ => {}
        }
    }
    alive.store(false, Ordering::Relaxed);
    lock(&forked).take();
    for (_, waiter) in lock(&exits).drain() {
        let _ = waiter.send("the Python zygote exited".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::compute::bootstrap::Bootstraps;
    use crate::compute::package::python_for;

    async fn read_all(mut pipe: pipe::Receiver) -> String {
        let mut text = String::new();
        pipe.read_to_string(&mut text).await.expect("read");
        text
    }

    #[tokio::test]
    async fn forked_workers_get_exactly_their_environment_folder_and_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bootstraps = Bootstraps::install(dir.path()).expect("install");
        let runtime = strata_model::Runtime::parse("python3.12").expect("runtime");
        let python = python_for(&runtime).expect("python");
        let zygote = Zygote {
            program: python,
            script: bootstraps.zygote,
            env: BTreeMap::from([("ONLY_IN_ZYGOTE".to_owned(), "x".to_owned())]),
            process: tokio::sync::Mutex::new(None),
            disabled: AtomicBool::new(false),
        };
        let script = dir.path().join("worker.py");
        std::fs::write(
            &script,
            "import os, sys\n\
             print(os.getcwd(), sorted(os.environ), flush=True)\n\
             print('to stderr', file=sys.stderr, flush=True)\n\
             sys.exit(int(os.environ['CODE']))\n",
        )
        .expect("script");
        let work = dir.path().join("work");
        std::fs::create_dir(&work).expect("work dir");
        let env = BTreeMap::from([("CODE".to_owned(), "3".to_owned())]);

        let forked = zygote.fork(&script, &work, &env).await.expect("fork");
        let (out, err) = tokio::join!(read_all(forked.stdout), read_all(forked.stderr));
        assert_eq!(forked.exit.await.expect("exit"), "exit status: 3");
        let real = std::fs::canonicalize(&work).expect("canonical");
        assert_eq!(out.trim(), format!("{} ['CODE']", real.display()));
        assert_eq!(err.trim(), "to stderr");

        // A second fork reuses the zygote; a killed worker reports its signal.
        let sleeper = dir.path().join("sleeper.py");
        std::fs::write(&sleeper, "import time\ntime.sleep(60)\n").expect("script");
        let forked = zygote.fork(&sleeper, &work, &env).await.expect("fork");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(forked.pid).expect("pid"));
        // Its own process group, as a spawned worker has.
        nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).expect("killpg");
        assert_eq!(forked.exit.await.expect("exit"), "signal: 9 (SIGKILL)");
    }
}
