//! A deployment is one release of the stateless stack made runnable: a pool
//! per function, each with its complete Lambda environment and its own
//! credentials. [`Compute`] holds the active one and swaps it atomically.
//!
//! Hot swap: `activate` replaces the `Arc` under a lock in one step. An
//! invocation clones the `Arc` when it starts, so it finishes on the release
//! it began with; the old pools are retired (idle workers killed at once,
//! busy ones after their request), and the old release's credentials are
//! revoked when its last invocation lets go of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use strata_model::runtime::Language;
use strata_model::{Function, ResourceKind, Service};

use super::InvokeError;
use super::bootstrap::Bootstraps;
use super::logs::LogSink;
use super::package::{CodePin, PackageError, PreparedCode, python_for};
use super::pool::FunctionPool;
use super::zygote::{Zygote, Zygotes};
use crate::access::{AccessRegistry, FunctionGrants};

/// Everything fixed about one function in one release.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The name in strata.yaml.
    pub name: String,
    /// `<service>-<stage>-<name>`, as on AWS.
    pub physical_name: String,
    pub function_arn: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub task_root: PathBuf,
    /// The whole environment (the process inherits nothing else).
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory: u32,
    pub concurrency: usize,
    /// Where a Python worker is forked from, when it can be.
    pub zygote: Option<Arc<Zygote>>,
    /// Keeps `task_root` on disk while the spec lives.
    pub code: Arc<CodePin>,
}

/// What compute needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct ComputeConfig {
    pub service: String,
    pub stage: String,
    pub region: String,
    /// Workers per function at most.
    pub concurrency: usize,
    /// Where the shipped bootstraps are written.
    pub runtime_dir: PathBuf,
}

/// The account id in local ARNs (the same the DynamoDB and SQS ARNs use).
pub const ACCOUNT: &str = "000000000000";

#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error(
        "function `{function}` uses {address}, which has no published outputs; deploy the stateful stack first (`strata deploy`, or run `strata dev`)"
    )]
    NotDeployed { function: String, address: String },
    #[error("function `{function}` has no code prepared")]
    NoCode { function: String },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("cannot write the runtime bootstraps to {}: {source}", path.display())]
    Bootstrap {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One runnable release.
#[derive(Debug)]
pub struct Deployment {
    pub id: String,
    pub service: Arc<Service>,
    pools: BTreeMap<String, Arc<FunctionPool>>,
    keys: Vec<String>,
    access: Arc<AccessRegistry>,
}

impl Deployment {
    pub fn pool(&self, function: &str) -> Option<&Arc<FunctionPool>> {
        self.pools.get(function)
    }

    /// The pool of `name`, given as in strata.yaml or as the physical name.
    pub fn find(&self, name: &str) -> Option<&Arc<FunctionPool>> {
        self.pools.get(name).or_else(|| {
            self.pools
                .values()
                .find(|p| p.spec().physical_name == name || p.spec().function_arn == name)
        })
    }

    pub fn pools(&self) -> impl Iterator<Item = &Arc<FunctionPool>> {
        self.pools.values()
    }

    /// The access key id `function` calls the endpoint with.
    pub fn key_of(&self, function: &str) -> Option<&str> {
        self.pools
            .get(function)
            .and_then(|p| p.spec().env.get("AWS_ACCESS_KEY_ID"))
            .map(String::as_str)
    }

    /// Start one worker for each function `which` picks and wait until each
    /// asks for work. Returns the functions that failed to start, with why.
    pub async fn warm(&self, which: impl Fn(&str) -> bool) -> Vec<(String, InvokeError)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (name, pool) in self.pools.iter().filter(|(name, _)| which(name)) {
            let (name, pool) = (name.clone(), pool.clone());
            tasks.spawn(async move { (name, pool.warm().await) });
        }
        let mut failed = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((name, Err(e))) = joined {
                failed.push((name, e));
            }
        }
        failed.sort_by(|a, b| a.0.cmp(&b.0));
        failed
    }

    /// The functions invoked within `window`: the ones a developer is
    /// exercising, which a swap warms before it goes live.
    pub fn recently_used(&self, window: Duration) -> std::collections::BTreeSet<String> {
        let since = super::now_ms().saturating_sub(u64::try_from(window.as_millis()).unwrap_or(0));
        self.pools
            .iter()
            .filter(|(_, pool)| pool.last_invoked_ms() >= since)
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn retire(&self) {
        for pool in self.pools.values() {
            pool.retire();
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for key in &self.keys {
            self.access.revoke(key);
        }
    }
}

/// The local compute of one stage.
#[derive(Debug)]
pub struct Compute {
    config: ComputeConfig,
    bootstraps: Bootstraps,
    access: Arc<AccessRegistry>,
    sink: Arc<dyn LogSink>,
    /// `AWS_ENDPOINT_URL` of every function: the shared endpoint, known
    /// once it is bound (the endpoint serves the Lambda API of this
    /// compute, so it is built first).
    endpoint_url: OnceLock<String>,
    current: RwLock<Option<Arc<Deployment>>>,
    zygotes: Zygotes,
}

impl Compute {
    pub fn new(
        config: ComputeConfig,
        access: Arc<AccessRegistry>,
        sink: Arc<dyn LogSink>,
    ) -> Result<Self, DeploymentError> {
        let bootstraps = Bootstraps::install(&config.runtime_dir).map_err(|source| {
            DeploymentError::Bootstrap {
                path: config.runtime_dir.clone(),
                source,
            }
        })?;
        Ok(Self {
            zygotes: Zygotes::new(bootstraps.zygote.clone()),
            config,
            bootstraps,
            access,
            sink,
            endpoint_url: OnceLock::new(),
            current: RwLock::new(None),
        })
    }

    pub fn config(&self) -> &ComputeConfig {
        &self.config
    }

    /// Set where functions reach the AWS-compatible endpoint. Only the first
    /// call counts.
    pub fn set_endpoint_url(&self, url: String) {
        let _ = self.endpoint_url.set(url);
    }

    fn endpoint_url(&self) -> String {
        self.endpoint_url
            .get()
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:4566".to_owned())
    }

    /// Build (but do not start) the deployment of `service` with its
    /// prepared code. `wiring(address)` gives the value of the variable a
    /// `uses` entry injects (table name, queue URL, ...) from the published
    /// outputs.
    pub fn deployment(
        &self,
        id: String,
        service: Arc<Service>,
        code: &BTreeMap<String, PreparedCode>,
        wiring: &dyn Fn(&strata_model::Address) -> Option<String>,
    ) -> Result<Deployment, DeploymentError> {
        let mut pools = BTreeMap::new();
        let mut keys = Vec::new();
        for function in &service.stateless.functions {
            let name = function.name.to_string();
            let prepared = code.get(&name).ok_or_else(|| DeploymentError::NoCode {
                function: name.clone(),
            })?;
            let key = access_key();
            let spec = self.spec(function, prepared, &key, wiring)?;
            self.access
                .register(key.clone(), grants_of(function, wiring));
            keys.push(key);
            pools.insert(
                name,
                Arc::new(FunctionPool::new(Arc::new(spec), self.sink.clone())),
            );
        }
        // A function used in the release being replaced is still "recently
        // used" in the new one, so consecutive swaps keep warming it.
        if let Some(live) = self.current() {
            for (name, pool) in &pools {
                if let Some(old) = live.pool(name) {
                    pool.used_at(old.last_invoked_ms());
                }
            }
        }
        Ok(Deployment {
            id,
            service,
            pools,
            keys,
            access: self.access.clone(),
        })
    }

    fn spec(
        &self,
        function: &Function,
        code: &PreparedCode,
        key: &str,
        wiring: &dyn Fn(&strata_model::Address) -> Option<String>,
    ) -> Result<FunctionSpec, DeploymentError> {
        let c = &self.config;
        let physical_name = format!("{}-{}-{}", c.service, c.stage, function.name);
        let function_arn = format!(
            "arn:aws:lambda:{}:{ACCOUNT}:function:{physical_name}",
            c.region
        );
        let task_root = code.task_root.clone();
        let (program, args) = match function.runtime.language() {
            Language::Python => (
                python_for(&function.runtime)?,
                vec!["-u".to_owned(), path_arg(&self.bootstraps.python)],
            ),
            Language::Node => (PathBuf::from("node"), vec![path_arg(&self.bootstraps.node)]),
            Language::Provided => (task_root.join("bootstrap"), Vec::new()),
        };

        // The user's variables first: Lambda's reserved ones and the `uses`
        // wiring win over them (validation already refuses clashes).
        let mut env: BTreeMap<String, String> = function.env.clone();
        for grant in &function.uses {
            let value = wiring(&grant.resource).ok_or_else(|| DeploymentError::NotDeployed {
                function: function.name.to_string(),
                address: grant.resource.to_string(),
            })?;
            env.insert(grant.env_var.clone(), value);
        }
        let mut set = |k: &str, v: String| {
            env.insert(k.to_owned(), v);
        };
        for inherited in ["PATH", "HOME", "TMPDIR", "SYSTEMROOT"] {
            if let Ok(value) = std::env::var(inherited) {
                set(inherited, value);
            }
        }
        set("LANG", "en_US.UTF-8".to_owned());
        set("TZ", ":UTC".to_owned());
        set("AWS_REGION", c.region.clone());
        set("AWS_DEFAULT_REGION", c.region.clone());
        set("AWS_ACCESS_KEY_ID", key.to_owned());
        set("AWS_SECRET_ACCESS_KEY", "strata-local".to_owned());
        set("AWS_SESSION_TOKEN", format!("strata-{key}"));
        // The developer's ~/.aws files must not leak a profile or region into
        // a function: on Lambda there are none.
        set("AWS_CONFIG_FILE", "/dev/null".to_owned());
        set("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned());
        set("AWS_ENDPOINT_URL", self.endpoint_url());
        set("AWS_LAMBDA_FUNCTION_NAME", physical_name.clone());
        set(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory.to_string(),
        );
        set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned());
        set(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{physical_name}"),
        );
        set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned());
        set(
            "AWS_EXECUTION_ENV",
            format!("AWS_Lambda_{}", function.runtime.id()),
        );
        set("LAMBDA_TASK_ROOT", path_arg(&task_root));
        set("LAMBDA_RUNTIME_DIR", path_arg(&c.runtime_dir));
        if let Some(handler) = &function.handler {
            set("_HANDLER", handler.clone());
        }
        let deps = std::env::join_paths(&code.dependency_paths)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        match function.runtime.language() {
            Language::Python => {
                set("PYTHONUNBUFFERED", "1".to_owned());
                set("PYTHONDONTWRITEBYTECODE", "1".to_owned());
                if !deps.is_empty() {
                    set("PYTHONPATH", deps);
                }
            }
            Language::Node if !deps.is_empty() => set("NODE_PATH", deps),
            _ => {}
        }
        let mut spec = FunctionSpec {
            name: function.name.to_string(),
            physical_name,
            function_arn,
            program,
            args,
            task_root,
            env,
            timeout: Duration::from_secs(u64::from(function.timeout)),
            memory: function.memory,
            concurrency: self.config.concurrency,
            zygote: None,
            code: code.pin.clone(),
        };
        if function.runtime.language() == Language::Python {
            spec.zygote = self.zygotes.for_spec(&spec);
        }
        Ok(spec)
    }

    /// Make `next` the active deployment; the previous one is retired and
    /// returned (it lives on while invocations still hold it).
    pub fn activate(&self, next: Arc<Deployment>) -> Option<Arc<Deployment>> {
        let previous = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(next);
        if let Some(previous) = &previous {
            previous.retire();
        }
        previous
    }

    /// Retire the active deployment: no function runs after this.
    pub fn stop(&self) {
        let previous = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(previous) = previous {
            previous.retire();
        }
    }

    pub fn current(&self) -> Option<Arc<Deployment>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Run `function` (its strata.yaml or physical name) in the active
    /// deployment.
    pub async fn invoke(&self, function: &str, event: Bytes) -> Result<Bytes, InvokeError> {
        let deployment = self.current().ok_or_else(|| InvokeError::NotFound {
            name: function.to_owned(),
        })?;
        let pool = deployment
            .find(function)
            .cloned()
            .ok_or_else(|| InvokeError::NotFound {
                name: function.to_owned(),
            })?;
        pool.invoke(event).await
    }
}

/// The value a `uses` entry injects, read from the published outputs of the
/// stateful stack: the name of a table, bucket or parameter, a queue's URL.
pub fn output_attribute(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Queue => "url",
        _ => "name",
    }
}

/// What `function` may touch, as the endpoint sees it: the services check
/// the physical resource a request names (`table/orders-dev-Orders`), so each
/// grant (and each stream a table event reads) is keyed by the physical name
/// its published output gives. A resource with no outputs does not exist
/// yet, and nothing is granted on it.
pub(crate) fn grants_of(
    function: &Function,
    wiring: &dyn Fn(&strata_model::Address) -> Option<String>,
) -> FunctionGrants {
    let grants = function
        .permissions()
        .into_iter()
        .filter_map(|(address, access)| {
            let value = wiring(&address)?;
            let physical = match address.kind {
                // A queue's output is its URL; the SQS service names a queue by
                // the last segment, without the `.fifo` suffix.
                ResourceKind::Queue => {
                    let name = value.rsplit('/').next().unwrap_or(&value);
                    crate::sqs::queue_address(name)
                }
                kind => strata_model::Address::new(kind, value),
            };
            Some((physical, access))
        });
    // Table events read the stream of the table their output names.
    let streams = function
        .streams()
        .into_iter()
        .filter_map(|table| Some(strata_model::Address::new(table.kind, wiring(&table)?)));
    FunctionGrants::new(function.name.to_string(), grants).with_streams(streams)
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A fresh access key id in AWS's shape (20 upper-case characters, `ASIA`
/// for temporary credentials), never reused.
fn access_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    let tail: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    format!("ASIA{tail}")
}
