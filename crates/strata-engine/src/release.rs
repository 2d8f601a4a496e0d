//! Releases of the stateless stack: one immutable, content-addressed record
//! of every function's configuration and code, so a deploy of unchanged
//! input is a no-op and `rollback` can return to any of the last ten.
//!
//! Stored under `.strata/<stage>/releases/`: `<id>.json` per release and
//! `index.json` (ids newest first, and the current one). The code itself is
//! kept by the target's artifact store under its SHA-256; a release only
//! names it.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strata_model::{Address, Function, HttpSettings, Service};

/// How many releases are kept; older ones are pruned, never the current one.
pub const KEEP: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

impl ReleaseId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One function as released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedFunction {
    /// The function's settings and events in the model's serialized form.
    pub config: serde_json::Value,
    /// SHA-256 (hex) of the function's code package.
    pub code_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub id: ReleaseId,
    /// Seconds since the Unix epoch; not part of the id.
    pub created: u64,
    pub http: serde_json::Value,
    pub functions: BTreeMap<String, ReleasedFunction>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("function `{function}` has no code package")]
    MissingCode { function: String },
    #[error("no release `{id}`; `strata releases` lists the ones kept")]
    Unknown { id: String },
    #[error("there is no release before the current one to roll back to")]
    NoPrevious,
    #[error(
        "release {release}: function `{function}` uses {address}, which the stateful stack no longer has"
    )]
    MissingResource {
        release: ReleaseId,
        function: String,
        address: Address,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is unreadable: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Release {
    /// The release of `service`'s stateless stack with the given code
    /// packages (function name -> SHA-256). Same input, same id.
    pub fn new(service: &Service, code: &BTreeMap<String, String>) -> Result<Self, ReleaseError> {
        let mut functions = BTreeMap::new();
        for f in &service.stateless.functions {
            let name = f.name.to_string();
            let code_sha256 =
                code.get(&name)
                    .cloned()
                    .ok_or_else(|| ReleaseError::MissingCode {
                        function: name.clone(),
                    })?;
            let config = serde_json::to_value(f).expect("functions serialize");
            functions.insert(
                name,
                ReleasedFunction {
                    config,
                    code_sha256,
                },
            );
        }
        let http = serde_json::to_value(&service.stateless.http).expect("http settings serialize");
        // The id covers everything that changes behaviour, and nothing else:
        // canonical JSON (sorted keys) of the functions and the HTTP settings.
        let canonical = canonical(&serde_json::json!({ "functions": functions, "http": http }));
        let digest = Sha256::digest(canonical.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Self {
            id: ReleaseId(hex),
            created,
            http,
            functions,
        })
    }
}

impl Release {
    /// `current` with this release's functions and HTTP settings: what a
    /// rollback runs. The stateful stack always comes from `current`; a
    /// release never brings back a resource (S1), so a release whose
    /// functions use one that is gone cannot run and is refused.
    pub fn over(&self, current: &Service) -> Result<Service, ReleaseError> {
        let corrupt = |source| ReleaseError::Corrupt {
            path: PathBuf::from(format!("{}.json", self.id)),
            source,
        };
        let mut functions: Vec<Function> = Vec::new();
        for released in self.functions.values() {
            let function: Function =
                serde_json::from_value(released.config.clone()).map_err(corrupt)?;
            for address in function.needs() {
                if current.resource(&address.name).map(|r| r.address()) != Some(address.clone()) {
                    return Err(ReleaseError::MissingResource {
                        release: self.id.clone(),
                        function: function.name.to_string(),
                        address,
                    });
                }
            }
            functions.push(function);
        }
        let http: HttpSettings = serde_json::from_value(self.http.clone()).map_err(corrupt)?;
        let mut service = current.clone();
        service.stateless.functions = functions;
        service.stateless.http = http;
        Ok(service)
    }

    /// What changes from `older` (none: an empty stack) to this release.
    pub fn changes_from(&self, older: Option<&Release>) -> ReleaseChanges {
        let empty = BTreeMap::new();
        let before = older.map_or(&empty, |r| &r.functions);
        let names: std::collections::BTreeSet<&String> =
            before.keys().chain(self.functions.keys()).collect();
        let functions = names
            .into_iter()
            .filter_map(|name| {
                let change = match (before.get(name), self.functions.get(name)) {
                    (None, Some(_)) => FunctionChange::Added,
                    (Some(_), None) => FunctionChange::Removed,
                    (Some(old), Some(new)) => {
                        let settings = changed_keys(&old.config, &new.config);
                        let code = old.code_sha256 != new.code_sha256;
                        if !code && settings.is_empty() {
                            return None;
                        }
                        FunctionChange::Updated { code, settings }
                    }
                    (None, None) => return None,
                };
                Some((name.clone(), change))
            })
            .collect();
        ReleaseChanges {
            functions,
            http: older.is_some_and(|o| o.http != self.http),
        }
    }
}

/// How a release differs from an older one, function by function.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReleaseChanges {
    pub functions: BTreeMap<String, FunctionChange>,
    /// The HTTP API's own settings (payload format, CORS) changed.
    pub http: bool,
}

impl ReleaseChanges {
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && !self.http
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum FunctionChange {
    Added,
    Removed,
    /// `settings` names the function's settings that differ (`memory`,
    /// `events`, `env`, ...), never their values.
    Updated {
        code: bool,
        settings: Vec<String>,
    },
}

/// Top-level keys whose values differ between two JSON objects.
fn changed_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// JSON with every object's keys sorted, whatever order the value was built in.
fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let body: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", serde_json::Value::String((*k).clone())))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Index {
    /// Newest first.
    releases: Vec<ReleaseId>,
    current: Option<ReleaseId>,
}

/// The releases of one stage on disk.
#[derive(Debug, Clone)]
pub struct ReleaseStore {
    dir: PathBuf,
}

impl ReleaseStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn index(&self) -> Result<Index, ReleaseError> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ReleaseError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(source) => Err(ReleaseError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ReleaseError> {
        let path = self.dir.join(name);
        let io = |action, source| ReleaseError::Io {
            action,
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(|e| io("create", e))?;
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).map_err(|e| io("write", e))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("fsync", e))?;
        fs::rename(&tmp, &path).map_err(|e| io("replace", e))
    }

    /// Records `release` as the current one (newest first; re-releasing an
    /// old id moves it to the front) and prunes beyond [`KEEP`].
    pub fn record(&self, release: &Release) -> Result<(), ReleaseError> {
        let bytes = serde_json::to_vec_pretty(release).expect("releases serialize");
        self.write(&format!("{}.json", release.id), &bytes)?;
        let mut index = self.index()?;
        index.releases.retain(|id| *id != release.id);
        index.releases.insert(0, release.id.clone());
        index.current = Some(release.id.clone());
        for old in index.releases.split_off(KEEP.min(index.releases.len())) {
            let _ = fs::remove_file(self.dir.join(format!("{old}.json")));
        }
        self.write(
            "index.json",
            &serde_json::to_vec_pretty(&index).expect("index serializes"),
        )
    }

    /// No release is current any more (`destroy --stack stateless`); the
    /// kept ones stay for a later rollback.
    pub fn clear_current(&self) -> Result<(), ReleaseError> {
        let mut index = self.index()?;
        if index.current.take().is_none() {
            return Ok(());
        }
        self.write(
            "index.json",
            &serde_json::to_vec_pretty(&index).expect("index serializes"),
        )
    }

    /// Kept releases, newest first.
    pub fn list(&self) -> Result<Vec<Release>, ReleaseError> {
        self.index()?
            .releases
            .iter()
            .map(|id| self.get(id.as_str()))
            .collect()
    }

    pub fn current(&self) -> Result<Option<ReleaseId>, ReleaseError> {
        Ok(self.index()?.current)
    }

    pub fn get(&self, id: &str) -> Result<Release, ReleaseError> {
        let path = self.dir.join(format!("{id}.json"));
        let bytes = fs::read(&path).map_err(|_| ReleaseError::Unknown { id: id.to_owned() })?;
        serde_json::from_slice(&bytes).map_err(|source| ReleaseError::Corrupt { path, source })
    }

    /// The release `rollback` goes to: `to`, or the one before the current.
    pub fn rollback_target(&self, to: Option<&str>) -> Result<Release, ReleaseError> {
        let index = self.index()?;
        match to {
            Some(id) => self.get(id),
            // With no current release (the stack was destroyed), the newest
            // one comes back.
            None => {
                let next = match &index.current {
                    Some(current) => index
                        .releases
                        .iter()
                        .position(|id| id == current)
                        .map_or(0, |p| p + 1),
                    None => 0,
                };
                let previous = index.releases.get(next).ok_or(ReleaseError::NoPrevious)?;
                self.get(previous.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct AnyCode;

    impl strata_model::CodeTree for AnyCode {
        fn is_dir(&self, _: &str) -> bool {
            true
        }

        fn is_file(&self, _: &str) -> bool {
            true
        }
    }

    fn service(memory: u32) -> Service {
        let yaml = format!(
            "service: shop\nstateless:\n  defaults: {{ runtime: python3.12, code: src }}\n  functions:\n    api:\n      handler: app.handler\n      memory: {memory}\n"
        );
        strata_model::check_str(&yaml, &AnyCode)
            .expect("valid")
            .service
    }

    fn code(sha: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("api".to_owned(), sha.to_owned())])
    }

    #[test]
    fn ids_follow_content_only() {
        let a = Release::new(&service(256), &code("aa")).expect("release");
        let again = Release::new(&service(256), &code("aa")).expect("release");
        assert_eq!(a.id, again.id);
        assert_ne!(
            a.id,
            Release::new(&service(512), &code("aa"))
                .expect("release")
                .id,
            "config is part of the id"
        );
        assert_ne!(
            a.id,
            Release::new(&service(256), &code("bb"))
                .expect("release")
                .id,
            "code is part of the id"
        );
        assert!(matches!(
            Release::new(&service(256), &BTreeMap::new()),
            Err(ReleaseError::MissingCode { .. })
        ));
    }

    fn shop(functions: &str) -> Service {
        let yaml = format!(
            "service: shop\nstateful:\n  tables:\n    Orders: {{ partition_key: pk:S }}\nstateless:\n  defaults: {{ runtime: python3.12, code: src }}\n  functions:\n{functions}"
        );
        strata_model::check_str(&yaml, &AnyCode)
            .expect("valid")
            .service
    }

    #[test]
    fn a_release_runs_over_the_current_stateful_stack_and_says_what_changed() {
        let old = shop(
            "    api: { handler: app.handler, uses: { Orders: read } }\n    gone: { handler: app.gone }\n",
        );
        let release = Release::new(
            &old,
            &BTreeMap::from([
                ("api".to_owned(), "aa".to_owned()),
                ("gone".to_owned(), "aa".to_owned()),
            ]),
        )
        .expect("release");
        let now = shop("    api: { handler: app.handler, memory: 512 }\n");
        let back = release.over(&now).expect("the table is still there");
        assert_eq!(back.stateless.functions.len(), 2);
        let api = back.function("api").expect("api");
        assert_eq!(api.memory, old.function("api").expect("api").memory);
        assert_eq!(api.uses.len(), 1);

        let newer = Release::new(&now, &code("bb")).expect("release");
        let changes = newer.changes_from(Some(&release));
        assert_eq!(changes.functions["gone"], FunctionChange::Removed);
        let FunctionChange::Updated { code, settings } = &changes.functions["api"] else {
            panic!("api changed")
        };
        assert!(code);
        assert_eq!(settings, &["memory", "uses"]);
        assert!(newer.changes_from(Some(&newer)).is_empty());

        let without_table = strata_model::check_str(
            "service: shop\nstateless:\n  defaults: { runtime: python3.12, code: src }\n  functions:\n    api: { handler: app.handler }\n",
            &AnyCode,
        )
        .expect("valid")
        .service;
        assert!(matches!(
            release.over(&without_table),
            Err(ReleaseError::MissingResource { function, .. }) if function == "api"
        ));
    }

    #[test]
    fn keeps_ten_newest_first_and_rolls_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ReleaseStore::new(dir.path());
        let releases: Vec<Release> = (0..12)
            .map(|i| Release::new(&service(128 + i), &code("aa")).expect("release"))
            .collect();
        for r in &releases {
            store.record(r).expect("records");
        }
        let kept = store.list().expect("lists");
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].id, releases[11].id);
        assert!(
            store.get(releases[0].id.as_str()).is_err(),
            "the oldest are pruned"
        );
        assert_eq!(
            store.rollback_target(None).expect("previous").id,
            releases[10].id
        );
        store
            .record(&releases[5])
            .expect("re-release moves to the front");
        assert_eq!(
            store.current().expect("index"),
            Some(releases[5].id.clone())
        );
        assert_eq!(store.list().expect("lists")[0].id, releases[5].id);
        assert!(matches!(
            store.rollback_target(Some("nope")),
            Err(ReleaseError::Unknown { .. })
        ));
        store.clear_current().expect("clears");
        assert_eq!(
            store.rollback_target(None).expect("newest").id,
            releases[5].id,
            "after a destroy the newest release comes back"
        );
    }
}
