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
    #[error("`{id}` could be any of {}; give more of the id", .matches.join(", "))]
    Ambiguous { id: String, matches: Vec<String> },
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

    /// The index, or one rebuilt from the release files when it is missing
    /// or unreadable (a crash, a hand edit): every kept release is listed,
    /// none is current until the next one is recorded.
    fn index(&self) -> Result<Index, ReleaseError> {
        let path = self.dir.join("index.json");
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(index) => Ok(index),
                Err(_) => self.rebuilt_index(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.rebuilt_index(),
            Err(source) => Err(ReleaseError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn rebuilt_index(&self) -> Result<Index, ReleaseError> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(Index::default());
        };
        let mut found: Vec<Release> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json").filter(|id| *id != "index")?;
                self.get(id).ok()
            })
            .collect();
        found.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        Ok(Index {
            releases: found.into_iter().map(|r| r.id).collect(),
            current: None,
        })
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

    fn write_index(&self, index: &Index) -> Result<(), ReleaseError> {
        self.write(
            "index.json",
            &serde_json::to_vec_pretty(index).expect("index serializes"),
        )
    }

    /// Records `release` as the current one. A new release goes first
    /// (the list is newest first by creation); one already kept (the same
    /// content again, a rollback) keeps its place and its creation time.
    /// Beyond [`KEEP`] the oldest go, never the current one.
    pub fn record(&self, release: &Release) -> Result<(), ReleaseError> {
        let mut index = self.index()?;
        if !index.releases.contains(&release.id) || self.get(release.id.as_str()).is_err() {
            let bytes = serde_json::to_vec_pretty(release).expect("releases serialize");
            self.write(&format!("{}.json", release.id), &bytes)?;
            index.releases.retain(|id| *id != release.id);
            index.releases.insert(0, release.id.clone());
        }
        index.current = Some(release.id.clone());
        while index.releases.len() > KEEP {
            let Some(oldest) = index
                .releases
                .iter()
                .rposition(|id| Some(id) != index.current.as_ref())
            else {
                break;
            };
            let old = index.releases.remove(oldest);
            let _ = fs::remove_file(self.dir.join(format!("{old}.json")));
        }
        self.write_index(&index)
    }

    /// No release is current any more (`destroy --stack stateless`); the
    /// kept ones stay for a later rollback.
    pub fn clear_current(&self) -> Result<(), ReleaseError> {
        let mut index = self.index()?;
        if index.current.take().is_none() {
            return Ok(());
        }
        self.write_index(&index)
    }

    /// Kept releases, newest first; one whose file is unreadable is left out.
    pub fn list(&self) -> Result<Vec<Release>, ReleaseError> {
        Ok(self
            .index()?
            .releases
            .iter()
            .filter_map(|id| self.get(id.as_str()).ok())
            .collect())
    }

    pub fn current(&self) -> Result<Option<ReleaseId>, ReleaseError> {
        Ok(self.index()?.current)
    }

    /// The kept release `id` names: its whole id or a unique prefix, in
    /// any case (`a097`, `A097321DDA67`).
    pub fn get(&self, id: &str) -> Result<Release, ReleaseError> {
        let wanted = id.to_ascii_lowercase();
        let exact = self.dir.join(format!("{wanted}.json"));
        let path = if exact.is_file() {
            exact
        } else {
            let ids = self.index().map(|i| i.releases).unwrap_or_default();
            let matches: Vec<&ReleaseId> = ids
                .iter()
                .filter(|r| !wanted.is_empty() && r.as_str().starts_with(&wanted))
                .collect();
            match matches.as_slice() {
                [one] => self.dir.join(format!("{one}.json")),
                [] => return Err(ReleaseError::Unknown { id: id.to_owned() }),
                _ => {
                    return Err(ReleaseError::Ambiguous {
                        id: id.to_owned(),
                        matches: matches.iter().map(|m| m.to_string()).collect(),
                    });
                }
            }
        };
        let bytes = fs::read(&path).map_err(|_| ReleaseError::Unknown { id: id.to_owned() })?;
        serde_json::from_slice(&bytes).map_err(|source| ReleaseError::Corrupt { path, source })
    }

    /// The release `rollback` goes to: `to`, or the one created before the
    /// current (so rolling back again steps further back).
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

    /// Code packages (SHA-256) the kept releases name: what must stay when
    /// the artifact store is pruned.
    pub fn kept_code(&self) -> Result<std::collections::BTreeSet<String>, ReleaseError> {
        Ok(self
            .list()?
            .into_iter()
            .flat_map(|r| r.functions.into_values().map(|f| f.code_sha256))
            .collect())
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
    fn a_lost_or_garbled_index_is_rebuilt_from_the_release_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ReleaseStore::new(dir.path());
        let mut releases: Vec<Release> = (0..3)
            .map(|i| Release::new(&service(128 + i), &code("aa")).expect("release"))
            .collect();
        for (i, r) in releases.iter_mut().enumerate() {
            r.created = 100 + i as u64;
            store.record(r).expect("records");
        }
        std::fs::write(dir.path().join("index.json"), "garbage").expect("write");
        let ids: Vec<ReleaseId> = store
            .list()
            .expect("lists")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(
            ids,
            [
                releases[2].id.clone(),
                releases[1].id.clone(),
                releases[0].id.clone()
            ]
        );
        assert_eq!(store.current().expect("index"), None);
        std::fs::write(dir.path().join(format!("{}.json", releases[1].id)), "{").expect("write");
        assert_eq!(
            store.list().expect("lists").len(),
            2,
            "an unreadable release is left out"
        );
        store.record(&releases[0]).expect("records again");
        assert_eq!(
            store.current().expect("index"),
            Some(releases[0].id.clone())
        );
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
            .expect("a rollback records a kept release");
        assert_eq!(
            store.current().expect("index"),
            Some(releases[5].id.clone())
        );
        assert_eq!(
            store.list().expect("lists")[0].id,
            releases[11].id,
            "the list stays in creation order"
        );
        assert_eq!(
            store.rollback_target(None).expect("previous").id,
            releases[4].id,
            "rolling back again steps further back"
        );
        assert!(matches!(
            store.rollback_target(Some("nope")),
            Err(ReleaseError::Unknown { .. })
        ));
        let id = releases[7].id.as_str();
        assert_eq!(
            store.get(&id[..6].to_uppercase()).expect("prefix").id,
            releases[7].id
        );
        store.clear_current().expect("clears");
        assert_eq!(
            store.rollback_target(None).expect("newest").id,
            releases[11].id,
            "after a destroy the newest release comes back"
        );
    }
}
