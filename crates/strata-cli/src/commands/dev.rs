//! `strata dev`: the whole service on this machine. Deploys the stateful
//! stack (refused destructive changes are reported and skipped, the rest
//! runs), serves the AWS-compatible endpoint and the functions, and on every
//! change to the code or the manifest builds a new release and swaps it in
//! atomically. Ctrl-C stops everything; the data stays.
//!
//! [`Local`] is the running local target (endpoint, compute, triggers) and is
//! shared with `strata invoke`, which starts it for one call when no
//! `strata dev` is running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_engine::apply::{self, ApplyError};
use strata_engine::release::{Release, ReleaseStore};
use strata_engine::{Action, AllowDestroy, Provider};
use strata_local::compute::lambda_api::LambdaApi;
use strata_local::compute::package::{CodeStore, PreparedCode, python_for};
use strata_local::compute::triggers::{Sources, StreamCheckpoints, Triggers};
use strata_local::compute::{
    Compute, ComputeConfig, Deployment, LogFiles, LogLine, LogSink, LogStream, output_attribute,
};
use strata_local::control::{ControlApi, ControlCall};
use strata_local::endpoint::{ServiceTable, shutdown_signal};
use strata_local::gateway::{Api, Gateway, GatewayServer};
use strata_local::provider::LocalProvider;
use strata_local::{AccessRegistry, Endpoint, EndpointConfig};
use strata_model::runtime::Language;
use strata_model::{Address, Service};
use tokio::sync::{mpsc, oneshot};

use super::local::{self, Stage};
use super::plan_text;
use crate::cli::{DevArgs, Global};
use crate::report::plural;

/// Where `strata dev` says it is listening, for `strata invoke`.
pub const DEV_FILE: &str = "dev.json";

pub fn run(g: &Global, args: &DevArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let stage = Stage::load(g)?;
    check_ports(args)?;
    probe_interpreters(&stage.service);
    let provider = Arc::new(stage.provider()?);
    deploy_stateful(g, &stage, &provider);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(dev(g, args, stage, provider, started))
}

/// Fail before anything is deployed when a port is taken, naming every one
/// that is (they are bound for real, and checked again, once serving).
fn check_ports(args: &DevArgs) -> Result<()> {
    let taken: Vec<String> = [(args.port, "--port"), (args.aws_port, "--aws-port")]
        .into_iter()
        .filter(|(port, _)| *port != 0)
        .filter(|(port, _)| std::net::TcpListener::bind(("127.0.0.1", *port)).is_err())
        .map(|(port, flag)| format!("127.0.0.1:{port} (change it with {flag})"))
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(miette!(
        help = "another `strata dev` or `strata serve` may be running",
        "cannot listen on {}: already in use",
        taken.join(" and ")
    ))
}

/// Find the Python interpreters the functions need on other threads while
/// the stateful stack deploys: packaging waits for a probe still running
/// instead of starting its own.
fn probe_interpreters(service: &Service) {
    let mut runtimes: Vec<strata_model::Runtime> = Vec::new();
    for function in &service.stateless.functions {
        let runtime = &function.runtime;
        if runtime.language() == Language::Python
            && !runtimes.iter().any(|r| r.id() == runtime.id())
        {
            runtimes.push(runtime.clone());
        }
    }
    for runtime in runtimes {
        std::thread::spawn(move || {
            let _ = python_for(&runtime);
        });
    }
}

/// Apply the stateful stack as `deploy --yes` would without any
/// `--allow-destroy`: safe changes go through, refused ones are reported.
/// Returns false when nothing could be applied.
fn deploy_stateful(g: &Global, stage: &Stage, provider: &LocalProvider) -> bool {
    let result = apply::stateful(
        &stage.service,
        &stage.name,
        &stage.store,
        provider as &dyn Provider,
        apply::Run {
            allow: &AllowDestroy::default(),
            execute: true,
            refresh: false,
            command: "strata dev",
        },
    );
    match result {
        Ok(outcome) => {
            let preamble = plan_text::preamble(outcome.stale_lock.as_ref(), &outcome.reconciled);
            err!("{preamble}");
            let changes: Vec<String> = outcome
                .plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| format!("{} {}", plan_text::action_word(c.action), c.address))
                .collect();
            if changes.is_empty() {
                outln!("stateful stack: up to date");
            } else {
                outln!(
                    "stateful stack: applied {} ({})",
                    plural(changes.len(), "change"),
                    changes.join(", ")
                );
            }
            true
        }
        Err(ApplyError::Refused { refusals, .. }) => {
            err!(
                "{}",
                plan_text::refusal(&refusals, &local::prefix(g), "deploy")
            );
            errln!(
                "stateful stack: NOT applied ({} refused above; nothing in it was changed). \
                 The functions run against the resources as they are. To allow it, stop \
                 strata dev (deploy needs the stage's data) and run the command above.",
                plural(refusals.len(), "change")
            );
            false
        }
        Err(e) => {
            crate::report::error(&local::engine_error(e));
            errln!("stateful stack: NOT applied; the functions run against what exists");
            false
        }
    }
}

async fn dev(
    g: &Global,
    args: &DevArgs,
    stage: Stage,
    provider: Arc<LocalProvider>,
    started: Instant,
) -> Result<ExitCode> {
    let sink = Arc::new(ConsoleSink::new(
        Some(LogFiles::new(stage_root(&stage).join("logs"))),
        false,
    ));
    let (control_tx, mut control) = mpsc::channel::<ControlCall>(8);
    let (local, endpoint) = Local::start(
        &stage,
        provider,
        args.aws_port,
        usize::from(args.concurrency),
        sink.clone(),
        Some(ControlApi::new(control_tx)),
    )
    .await?;
    let endpoint_addr = endpoint.local_addr();
    let (stop_endpoint, endpoint_stopped) = oneshot::channel::<()>();
    let endpoint_task = tokio::spawn(endpoint.serve(async {
        let _ = endpoint_stopped.await;
    }));
    outln!("AWS endpoint  http://{endpoint_addr}");
    let http = GatewayServer::bind(([127, 0, 0, 1], args.port).into(), local.gateway.clone())
        .await
        .map_err(|e| {
            miette!(
                help = "pick another port with --port",
                "{}",
                local::chain(&e)
            )
        })?
        .spawn();
    outln!("HTTP API      http://{}", http.local_addr());

    let mut service = Arc::new(stage.service.clone());
    let mut active = match local
        .release(service.clone(), &stage.dir, Record::Yes)
        .await
    {
        Ok(deployment) => {
            // Every function starts now, in the background: a request that
            // comes first waits for its function's worker instead of
            // starting a second one, and init errors show up at once.
            let warming = deployment.clone();
            tokio::spawn(async move {
                report_start_failures(&warming.warm(|_| true).await);
            });
            let active = local.activate(deployment).await;
            for route in local.gateway.current().describe() {
                outln!("  {route}");
            }
            Some(active)
        }
        Err(e) => {
            crate::report::error(&e);
            None
        }
    };
    let dev_file = stage_root(&stage).join(DEV_FILE);
    let _ = std::fs::write(
        &dev_file,
        serde_json::json!({
            "pid": std::process::id(),
            "aws_endpoint": format!("http://{endpoint_addr}"),
        })
        .to_string(),
    );
    // Watching starts before `ready` is announced, so an edit made the
    // moment it appears is seen.
    let (changed_tx, mut changed) = mpsc::channel::<()>(64);
    let mut watch = Watch::start(&stage.dir, &service, changed_tx)?;
    outln!(
        "ready in {} ms; watching {} for changes (Ctrl-C to stop)",
        started.elapsed().as_millis(),
        stage.dir.display()
    );

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(call) = control.recv() => {
                let answer = match call.operation.as_str() {
                    "Rollback" => {
                        let to = call.input["release"].as_str().map(str::to_owned);
                        rollback(&local, &mut service, &mut active, to.as_deref()).await
                    }
                    "Deploy" => {
                        let began = Instant::now();
                        match reload(g, &stage, &local, &service).await {
                            Some(next) => release_and_swap(&local, &mut service, &mut active, next, began).await,
                            None => Err(miette!("strata.yaml is not valid; `strata validate` shows why")),
                        }
                    }
                    other => Err(miette!("unknown operation `{other}`")),
                };
                if let Err(e) = &answer {
                    crate::report::error(e);
                }
                let _ = call.reply.send(answer.map_err(|e| e.to_string()));
            }
            Some(()) = changed.recv() => {
                // Let a burst of events (an editor's save is several) settle.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while changed.try_recv().is_ok() {}
                let began = Instant::now();
                let Some(next) = reload(g, &stage, &local, &service).await else {
                    continue;
                };
                watch.follow(&next);
                if let Err(e) = release_and_swap(&local, &mut service, &mut active, next, began).await {
                    crate::report::error(&e);
                }
            }
        }
    }
    outln!("stopping");
    if let Some((_, triggers)) = active.take() {
        triggers.stop().await;
    }
    let _ = http.stop(Duration::from_secs(5)).await;
    local.compute.stop();
    let _ = stop_endpoint.send(());
    let _ = endpoint_task.await;
    let _ = std::fs::remove_file(&dev_file);
    Ok(ExitCode::SUCCESS)
}

/// The live release and the triggers feeding it.
type Active = Option<(Arc<Deployment>, Triggers)>;

/// Build a release of `next` and swap it in unless it is the one running.
/// Answers the release id, or why nothing was swapped.
async fn release_and_swap(
    local: &Local,
    service: &mut Arc<Service>,
    active: &mut Active,
    next: Arc<Service>,
    began: Instant,
) -> Result<serde_json::Value> {
    let deployment = local.release(next.clone(), &local.dir, Record::Yes).await?;
    let same = active
        .as_ref()
        .is_some_and(|(d, _)| d.id == deployment.id && !next.stateful_changed(service));
    *service = next;
    let id = deployment.id.clone();
    if same {
        outln!("no change to the functions");
    } else {
        swap(local, active, deployment, began).await;
    }
    Ok(serde_json::json!({ "release": id, "changed": !same }))
}

/// Put a kept release back in front: `to`, or the one before the current.
async fn rollback(
    local: &Local,
    service: &mut Arc<Service>,
    active: &mut Active,
    to: Option<&str>,
) -> Result<serde_json::Value> {
    let began = Instant::now();
    let from = active.as_ref().map(|(d, _)| d.id.clone());
    let release = local
        .releases()
        .rollback_target(to)
        .map_err(|e| miette!("{e}"))?;
    if from.as_deref() == Some(release.id.as_str()) {
        return Ok(serde_json::json!({ "release": release.id, "from": from, "changed": false }));
    }
    let (next, deployment) = local.rollback(release, service).await?;
    *service = next;
    let id = deployment.id.clone();
    swap(local, active, deployment, began).await;
    outln!(
        "rolled back to release {id}; the next change to the code or strata.yaml swaps in a new release"
    );
    Ok(serde_json::json!({ "release": id, "from": from, "changed": true }))
}

/// Warm what is in use, make `deployment` live and let the old triggers
/// finish.
async fn swap(local: &Local, active: &mut Active, deployment: Arc<Deployment>, began: Instant) {
    let id = deployment.id.clone();
    let built = began.elapsed();
    // Functions in use are warmed before the swap, so their next request
    // finds new code ready; the rest start on their first request, as a new
    // version does on Lambda. Starting every function on every save would
    // keep the machine busy starting workers nobody calls.
    let hot = active
        .as_ref()
        .map(|(d, _)| d.recently_used(HOT_WINDOW))
        .unwrap_or_default();
    local.warm(&deployment, |f| hot.contains(f)).await;
    let routes_before = local.gateway.current().describe();
    let previous = active.replace(local.activate(deployment).await);
    outln!(
        "swapped in release {id} in {} ms (build {} ms, start {} ms)",
        began.elapsed().as_millis(),
        built.as_millis(),
        (began.elapsed() - built).as_millis()
    );
    // New and removed routes, as the start printed them all.
    let routes_after = local.gateway.current().describe();
    for route in routes_after.iter().filter(|r| !routes_before.contains(r)) {
        outln!("  + {route}");
    }
    for route in routes_before.iter().filter(|r| !routes_after.contains(r)) {
        outln!("  - {route}");
    }
    // The old triggers finish the batch they hold on the old code while the
    // new ones already run; two consumers of one queue are normal SQS.
    if let Some((_, triggers)) = previous {
        tokio::spawn(triggers.stop());
    }
}

/// The manifest again, after a change. Invalid: report and keep running the
/// current release. Stateful changes are applied as at start.
async fn reload(
    g: &Global,
    stage: &Stage,
    local: &Local,
    current: &Arc<Service>,
) -> Option<Arc<Service>> {
    let loaded = {
        let mut text = local
            .manifest_text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::manifest::reload(&stage.dir, &stage.name, &mut text)
    };
    let (_, service) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            crate::report::error(&e);
            errln!("still running the last good release");
            return None;
        }
    };
    let service = Arc::new(service);
    if service.stateful_changed(current) {
        let next = Stage {
            service: (*service).clone(),
            dir: stage.dir.clone(),
            name: stage.name.clone(),
            store: stage.store.clone(),
        };
        let provider = local.provider.clone();
        let g = g.clone();
        let _ = tokio::task::spawn_blocking(move || deploy_stateful(&g, &next, &provider)).await;
    }
    Some(service)
}

/// Compares the stateful halves of two services.
trait StatefulChanged {
    fn stateful_changed(&self, other: &Service) -> bool;
}

impl StatefulChanged for Service {
    fn stateful_changed(&self, other: &Service) -> bool {
        serde_json::to_value(&self.stateful).ok() != serde_json::to_value(&other.stateful).ok()
    }
}

/// `.strata/<stage>` beside the manifest.
pub fn stage_root(stage: &Stage) -> PathBuf {
    stage.dir.join(".strata").join(&stage.name)
}

/// Watches strata.yaml's folder (not its subfolders) and each function's
/// code folder, recursively: not the whole tree, because `.strata/` beside
/// the manifest is written on every request (logs, the data files) and
/// every write would wake the watcher. Editors' temporary files, Strata's own
/// folder and byte-code caches are ignored, and so are reads: packaging
/// reads every file and must not trigger itself.
struct Watch {
    watcher: notify::RecommendedWatcher,
    dir: PathBuf,
}

impl Watch {
    fn start(dir: &Path, service: &Service, changed: mpsc::Sender<()>) -> Result<Self> {
        use notify::event::{EventKind, ModifyKind};
        use notify::{RecursiveMode, Watcher};
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let kind = matches!(
                    event.kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(
                            ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                        )
                );
                if kind && event.paths.iter().any(|p| relevant(p)) {
                    let _ = changed.try_send(());
                }
            })
            .into_diagnostic()
            .wrap_err("cannot watch the service folder for changes")?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot watch {}", dir.display()))?;
        let mut watch = Self {
            watcher,
            dir: dir.to_path_buf(),
        };
        watch.follow(service);
        Ok(watch)
    }

    /// Watch the code folders `service` names (again: a folder deleted and
    /// made anew, as a checkout does, lost its watch). A folder that does
    /// not exist yet is seen when it appears beside strata.yaml.
    fn follow(&mut self, service: &Service) {
        use notify::{RecursiveMode, Watcher};
        let mut folders: Vec<PathBuf> = service
            .stateless
            .functions
            .iter()
            .map(|f| self.dir.join(&f.code))
            .collect();
        folders.sort();
        folders.dedup();
        for folder in folders.iter().filter(|f| f.is_dir()) {
            let _ = self.watcher.watch(folder, RecursiveMode::Recursive);
        }
    }
}

fn relevant(path: &Path) -> bool {
    let ignored_dir = path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some(".strata" | ".git" | "__pycache__" | "node_modules" | ".venv" | "target")
        )
    });
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let ignored_file = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".pyc")
        || name.ends_with(".tmp")
        || name.starts_with(".#")
        || name == "4913";
    !ignored_dir && !ignored_file
}

fn report_start_failures(failed: &[(String, strata_local::compute::InvokeError)]) {
    for (function, error) in failed {
        errln!("function {function} failed to start: {error}");
    }
}

/// How recently a function must have run to be warmed before a swap.
const HOT_WINDOW: Duration = Duration::from_secs(60);

/// Whether a built release joins the stage's release history (a one-off
/// `strata invoke` does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Yes,
    No,
}

/// The local target running in this process.
pub struct Local {
    pub compute: Arc<Compute>,
    /// The HTTP API; swapped together with compute in `activate`.
    pub gateway: Arc<Gateway>,
    provider: Arc<LocalProvider>,
    sources: Sources,
    sink: Arc<ConsoleSink>,
    code: CodeStore,
    releases: ReleaseStore,
    /// The folder holding strata.yaml: code folders are relative to it.
    dir: PathBuf,
    /// strata.yaml as its warnings were last printed.
    manifest_text: std::sync::Mutex<Option<String>>,
}

impl Local {
    /// Open compute over the provider's stores and bind the endpoint that
    /// serves them (not serving yet).
    pub async fn start(
        stage: &Stage,
        provider: Arc<LocalProvider>,
        aws_port: u16,
        concurrency: usize,
        sink: Arc<ConsoleSink>,
        control: Option<ControlApi>,
    ) -> Result<(Self, Endpoint)> {
        let root = stage_root(stage);
        let access = Arc::new(AccessRegistry::new());
        let region = stage
            .service
            .stage(&stage.name)
            .and_then(|s| s.region.clone())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let compute = Arc::new(
            Compute::new(
                ComputeConfig {
                    service: stage.service.name.to_string(),
                    stage: stage.name.clone(),
                    region: region.clone(),
                    concurrency,
                    runtime_dir: root.join("runtime"),
                },
                access.clone(),
                sink.clone(),
            )
            .map_err(|e| miette!("{}", local::chain(&e)))?,
        );
        let services = ServiceTable::new()
            .with(Arc::new(provider.dynamodb().clone()))
            .and_then(|t| t.with(Arc::new(provider.sqs().clone())))
            .and_then(|t| t.with(Arc::new(provider.ssm().clone())))
            .and_then(|t| t.with(Arc::new(provider.s3().clone())))
            .and_then(|t| t.with(Arc::new(LambdaApi::new(compute.clone()))));
        let services = match control {
            Some(control) => services.and_then(|t| t.with(Arc::new(control))),
            None => services,
        }
        .into_diagnostic()?;
        let endpoint = Endpoint::bind(&EndpointConfig::loopback(aws_port), services, access)
            .await
            .map_err(|e| {
                miette!(
                    help = "another `strata dev` or `strata serve` may be running; pick another port with --aws-port",
                    "{}",
                    local::chain(&e)
                )
            })?;
        compute.set_endpoint_url(format!("http://{}", endpoint.local_addr()));
        let local = Self {
            sources: Sources {
                sqs: provider.sqs().clone(),
                s3: provider.s3().clone(),
                dynamodb: provider.dynamodb().clone(),
                streams: StreamCheckpoints::default(),
                region,
            },
            compute,
            gateway: Arc::new(Gateway::new()),
            provider,
            sink,
            code: CodeStore::for_stage(&stage.dir.join(".strata"), &stage.name)
                .with_progress(Arc::new(|step: &str| errln!("{step}"))),
            releases: ReleaseStore::new(root.join("releases")),
            dir: stage.dir.clone(),
            manifest_text: std::sync::Mutex::new(
                std::fs::read_to_string(stage.dir.join(crate::manifest::FILE_NAME)).ok(),
            ),
        };
        Ok((local, endpoint))
    }

    /// Package the code, record the release and build its deployment.
    pub async fn release(
        &self,
        service: Arc<Service>,
        dir: &Path,
        record: Record,
    ) -> Result<Arc<Deployment>> {
        let code = self.code.clone();
        let releases = self.releases.clone();
        let for_build = service.clone();
        let dir = dir.to_path_buf();
        let (prepared, release) =
            tokio::task::spawn_blocking(move || build(&for_build, &dir, &code, &releases, record))
                .await
                .into_diagnostic()??;
        self.deployment(service, &release, &prepared).await
    }

    /// The deployment of a kept release over `current`'s stateful stack
    /// (a rollback), recorded as the current release again.
    pub async fn rollback(
        &self,
        release: Release,
        current: &Service,
    ) -> Result<(Arc<Service>, Arc<Deployment>)> {
        let service = Arc::new(release.over(current).map_err(|e| miette!("{e}"))?);
        let code = self.code.clone();
        let releases = self.releases.clone();
        let for_code = service.clone();
        let (prepared, release) = tokio::task::spawn_blocking(move || {
            let mut prepared = BTreeMap::new();
            for function in &for_code.stateless.functions {
                let name = function.name.to_string();
                let sha = &release.functions[&name].code_sha256;
                let ready = code.kept(sha, &function.runtime).map_err(|e| {
                    miette!(
                        "cannot bring back the code of function `{name}` in release {}: {}",
                        release.id,
                        local::chain(&e)
                    )
                })?;
                prepared.insert(name, ready);
            }
            record_and_prune(&release, &code, &releases)?;
            Ok::<_, miette::Report>((prepared, release))
        })
        .await
        .into_diagnostic()??;
        let deployment = self
            .deployment(service.clone(), &release, &prepared)
            .await?;
        Ok((service, deployment))
    }

    pub fn releases(&self) -> &ReleaseStore {
        &self.releases
    }

    /// Compute's deployment of `release` with the stateful stack's outputs wired in.
    async fn deployment(
        &self,
        service: Arc<Service>,
        release: &Release,
        prepared: &BTreeMap<String, PreparedCode>,
    ) -> Result<Arc<Deployment>> {
        let provider = self.provider.clone();
        let for_wiring = service.clone();
        let wiring = tokio::task::spawn_blocking(move || wiring(&provider, &for_wiring))
            .await
            .into_diagnostic()?;
        let deployment = self
            .compute
            .deployment(release.id.to_string(), service, prepared, &|a| {
                wiring.get(a).cloned()
            })
            .map_err(|e| miette!("{}", local::chain(&e)))?;
        Ok(Arc::new(deployment))
    }

    /// Start one worker for each function `which` picks, reporting those
    /// that fail to start; the release still goes live (their requests get
    /// the init error).
    pub async fn warm(&self, deployment: &Deployment, which: impl Fn(&str) -> bool) {
        report_start_failures(&deployment.warm(which).await);
    }

    /// Make `deployment` the live one and start its triggers.
    pub async fn activate(&self, deployment: Arc<Deployment>) -> (Arc<Deployment>, Triggers) {
        self.compute.activate(deployment.clone());
        let api = Api::for_deployment(deployment.clone()).with_log(self.sink.clone());
        self.gateway.swap(Arc::new(api));
        let provider = self.provider.clone();
        let service = deployment.service.clone();
        let wiring = tokio::task::spawn_blocking(move || wiring(&provider, &service))
            .await
            .unwrap_or_default();
        let triggers = Triggers::start(
            &deployment,
            &self.sources,
            Arc::new(move |a: &Address| wiring.get(a).cloned()),
            self.sink.clone(),
        )
        .await;
        (deployment, triggers)
    }
}

/// Package every function's code and record the release.
pub(crate) fn build(
    service: &Service,
    dir: &Path,
    code: &CodeStore,
    releases: &ReleaseStore,
    record: Record,
) -> Result<(BTreeMap<String, PreparedCode>, Release)> {
    let mut prepared: BTreeMap<String, PreparedCode> = BTreeMap::new();
    let mut by_folder: BTreeMap<(String, String), PreparedCode> = BTreeMap::new();
    for function in &service.stateless.functions {
        let key = (function.code.clone(), function.runtime.id().to_owned());
        let ready = match by_folder.get(&key) {
            Some(ready) => ready.clone(),
            None => {
                let ready = code
                    .prepare(&dir.join(&function.code), &function.runtime)
                    .map_err(|e| {
                        miette!(
                            "cannot package the code of function `{}`: {}",
                            function.name,
                            local::chain(&e)
                        )
                    })?;
                by_folder.insert(key, ready.clone());
                ready
            }
        };
        prepared.insert(function.name.to_string(), ready);
    }
    let shas = prepared
        .iter()
        .map(|(name, p)| (name.clone(), p.sha256.clone()))
        .collect();
    let release = Release::new(service, &shas).map_err(|e| miette!("{e}"))?;
    if record == Record::Yes {
        record_and_prune(&release, code, releases)?;
    }
    Ok((prepared, release))
}

/// Make `release` the current one, and drop code no kept release needs.
fn record_and_prune(release: &Release, code: &CodeStore, releases: &ReleaseStore) -> Result<()> {
    releases
        .record(release)
        .map_err(|e| miette!("cannot record the release: {e}"))?;
    if let Ok(keep) = releases.kept_code() {
        code.prune(&keep);
    }
    Ok(())
}

/// The values `uses` injects, from the stateful stack's published outputs.
fn wiring(provider: &LocalProvider, service: &Service) -> BTreeMap<Address, String> {
    let mut out = BTreeMap::new();
    for resource in &service.stateful.resources {
        let address = resource.address();
        let name = format!(
            "{}/{}",
            provider.names().outputs_path(&address),
            output_attribute(address.kind)
        );
        if let Ok(Some(info)) = provider.ssm().parameter(&name)
            && let Some(value) = info.value
        {
            out.insert(address, value);
        }
    }
    out
}

/// Prints function output as it arrives and keeps it for `strata logs`.
#[derive(Debug)]
pub struct ConsoleSink {
    files: Option<LogFiles>,
    to_stderr: bool,
    warned: AtomicBool,
}

impl ConsoleSink {
    pub fn new(files: Option<LogFiles>, to_stderr: bool) -> Self {
        Self {
            files,
            to_stderr,
            warned: AtomicBool::new(false),
        }
    }
}

impl LogSink for ConsoleSink {
    fn emit(&self, line: LogLine) {
        if let Some(files) = &self.files
            && let Err(e) = files.append(&line)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            errln!(
                "warning: cannot keep function logs in {}: {e}",
                files.dir().display()
            );
        }
        // START and END frame every request; REPORT carries the duration.
        if line.stream == LogStream::Platform
            && (line.text.starts_with("START ") || line.text.starts_with("END "))
        {
            return;
        }
        let request = line.request_id.get(..8).unwrap_or(&line.request_id);
        let text = format!("[{} {request}] {}", line.function, line.text);
        if self.to_stderr {
            errln!("{text}");
        } else {
            outln!("{text}");
        }
    }
}
