//! From a code folder to what a worker runs: the folder becomes a release
//! artifact (the same deterministic zip the aws target uploads, named by its
//! SHA-256), unpacked once into an immutable folder per hash, so a worker of
//! an old release keeps its code while the developer edits the files.
//! Dependencies (`requirements.txt`, `package.json`) are installed with pip
//! and npm into a cache keyed by the manifest file's hash: only the first
//! run with a given file pays.
//!
//! Lambda's Python runtime ships boto3; when the interpreter Strata uses has
//! no boto3, it is installed once into the same cache, so handlers that
//! import it (as most do) run unchanged.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sha2::{Digest, Sha256};
use strata_model::runtime::{Language, Runtime};

/// A code folder made ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCode {
    /// SHA-256 (hex) of the code package: the artifact's name.
    pub sha256: String,
    /// The unpacked, never modified copy a worker runs from.
    pub task_root: PathBuf,
    /// Installed dependencies: `PYTHONPATH` or `NODE_PATH` entries.
    pub dependency_paths: Vec<PathBuf>,
    /// Keeps `task_root` from being pruned while this (or a function
    /// spec made from it) is alive.
    pub pin: Arc<CodePin>,
}

/// How many live holders each package has, by SHA-256.
type Pins = Arc<Mutex<HashMap<String, usize>>>;

/// A package in use: a release that has been swapped out still serves
/// the requests that began on it, and may still start workers for the
/// ones queued, so its folder must outlive the release's place among the
/// kept ones. [`CodeStore::prune`] skips every pinned package.
pub struct CodePin {
    sha256: String,
    pins: Pins,
}

impl CodePin {
    fn new(sha256: &str, pins: &Pins) -> Arc<Self> {
        *pins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(sha256.to_owned())
            .or_default() += 1;
        Arc::new(Self {
            sha256: sha256.to_owned(),
            pins: pins.clone(),
        })
    }
}

impl Drop for CodePin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pins.get_mut(&self.sha256) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.sha256);
            }
        }
    }
}

impl std::fmt::Debug for CodePin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CodePin").field(&self.sha256).finish()
    }
}

impl PartialEq for CodePin {
    fn eq(&self, other: &Self) -> bool {
        self.sha256 == other.sha256
    }
}

impl Eq for CodePin {}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Artifact(#[from] strata_artifact::ArtifactError),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot unpack the code package {sha256}: {message}")]
    Unpack { sha256: String, message: String },
    #[error("`{command}` failed for {}:\n{output}", manifest.display())]
    Install {
        command: String,
        manifest: PathBuf,
        output: String,
    },
    #[error("no {what} found to run {runtime} functions: {hint}")]
    NoInterpreter {
        what: &'static str,
        runtime: String,
        hint: &'static str,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PackageError {
    let path = path.to_path_buf();
    move |source| PackageError::Io {
        action,
        path,
        source,
    }
}

/// Told what a slow first-time step is doing (a dependency install).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// The folders packaging writes to.
#[derive(Clone)]
pub struct CodeStore {
    /// `.strata/<stage>/artifacts`: the zips, by hash.
    pub artifacts: PathBuf,
    /// `.strata/<stage>/code`: one unpacked folder per hash.
    pub unpacked: PathBuf,
    /// `.strata/cache`: installed dependencies, shared by the stages.
    pub cache: PathBuf,
    progress: Option<Progress>,
    pins: Pins,
}

impl std::fmt::Debug for CodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeStore")
            .field("artifacts", &self.artifacts)
            .field("unpacked", &self.unpacked)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl CodeStore {
    /// The store of a stage under `<dir>/.strata`.
    pub fn for_stage(strata_dir: &Path, stage: &str) -> Self {
        let stage_dir = strata_dir.join(stage);
        Self {
            artifacts: stage_dir.join("artifacts"),
            unpacked: stage_dir.join("code"),
            cache: strata_dir.join("cache"),
            progress: None,
            pins: Pins::default(),
        }
    }

    /// Report each dependency install as it starts (they can take a while).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Package `code_dir` and make it runnable for `runtime`. Blocking: runs
    /// pip or npm the first time a dependency file is seen.
    pub fn prepare(
        &self,
        code_dir: &Path,
        runtime: &Runtime,
    ) -> Result<PreparedCode, PackageError> {
        let package = strata_artifact::package(code_dir)?;
        let sha256 = package.sha256.to_string();
        // Pinned before the folder is looked at, so a prune cannot take it
        // between the check and the use.
        let pin = CodePin::new(&sha256, &self.pins);
        std::fs::create_dir_all(&self.artifacts).map_err(io("create", &self.artifacts))?;
        let zip_path = self.artifacts.join(package.file_name());
        if !zip_path.exists() {
            write_atomic(&zip_path, &package.bytes)?;
        }
        let task_root = self.unpacked.join(&sha256);
        if !task_root.is_dir() {
            unpack(&package.bytes, &sha256, &self.unpacked, &task_root)?;
        }
        self.runnable(pin, task_root, code_dir, runtime)
    }

    /// A package packaged before, by its SHA-256 (a rollback to an older
    /// release): unpacked again from its kept zip when its folder is gone.
    /// Its dependencies come from the dependency files inside it.
    pub fn kept(&self, sha256: &str, runtime: &Runtime) -> Result<PreparedCode, PackageError> {
        let pin = CodePin::new(sha256, &self.pins);
        let task_root = self.unpacked.join(sha256);
        if !task_root.is_dir() {
            let zip_path = self.artifacts.join(format!("{sha256}.zip"));
            let bytes = std::fs::read(&zip_path).map_err(io("read", &zip_path))?;
            unpack(&bytes, sha256, &self.unpacked, &task_root)?;
        }
        self.runnable(pin, task_root.clone(), &task_root, runtime)
    }

    /// Remove the zips and unpacked folders of packages that no kept
    /// release names and nothing running holds (a release swapped out long
    /// ago may still be draining its requests).
    pub fn prune(&self, keep: &std::collections::BTreeSet<String>) {
        let pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        let prune_in = |dir: &Path, sha_of: &dyn Fn(&str) -> Option<String>| {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(sha) = sha_of(&name) else { continue };
                if keep.contains(&sha) || pins.contains_key(&sha) {
                    continue;
                }
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        };
        // Only names that are a whole SHA-256: temporary folders of a
        // packaging still under way are left alone.
        let is_sha = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        prune_in(&self.artifacts, &|name| {
            name.strip_suffix(".zip")
                .filter(|s| is_sha(s))
                .map(str::to_owned)
        });
        prune_in(&self.unpacked, &|name| {
            is_sha(name).then(|| name.to_owned())
        });
    }

    /// The unpacked package with its dependencies installed from the
    /// dependency files of `code_dir`.
    fn runnable(
        &self,
        pin: Arc<CodePin>,
        task_root: PathBuf,
        code_dir: &Path,
        runtime: &Runtime,
    ) -> Result<PreparedCode, PackageError> {
        let mut dependency_paths = Vec::new();
        match runtime.language() {
            Language::Python => {
                let python = interpreter(runtime)?;
                self.note_other_version(runtime, &python);
                if let Some(deps) = self.pip_install(&python.path, code_dir)? {
                    dependency_paths.push(deps);
                }
                if let Some(boto3) = self.runtime_boto3(&python)? {
                    dependency_paths.push(boto3);
                }
            }
            Language::Node => {
                if let Some(modules) = self.npm_install(code_dir)? {
                    dependency_paths.push(modules);
                }
            }
            Language::Provided => {}
        }
        Ok(PreparedCode {
            sha256: pin.sha256.clone(),
            task_root,
            dependency_paths,
            pin,
        })
    }

    /// Say once per runtime when the interpreter found is not the version
    /// the manifest names (`python3.12` asked, only `python3` 3.11 here).
    fn note_other_version(&self, runtime: &Runtime, python: &Interpreter) {
        static NOTED: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
        let wanted = runtime.id().trim_start_matches("python");
        if python.version == wanted {
            return;
        }
        let mut noted = NOTED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if noted.iter().any(|id| id == runtime.id()) {
            return;
        }
        noted.push(runtime.id().to_owned());
        if let Some(progress) = &self.progress {
            progress(&format!(
                "note: runtime {} runs on Python {} ({}): no {} was found; install it, or point STRATA_PYTHON at one",
                runtime.id(),
                python.version,
                python.path.display(),
                runtime.id()
            ));
        }
    }

    /// `pip install -r requirements.txt --target <cache>/python/<hash>`, once.
    fn pip_install(&self, python: &Path, code_dir: &Path) -> Result<Option<PathBuf>, PackageError> {
        let manifest = code_dir.join("requirements.txt");
        let Ok(text) = std::fs::read(&manifest) else {
            return Ok(None);
        };
        let wanted = String::from_utf8_lossy(&text)
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !wanted {
            return Ok(None);
        }
        let target = self.cache.join("python").join(hash_hex(&[&text]));
        self.install_once(&target, &manifest, |tmp| {
            let mut command = Command::new(python);
            command
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("--target")
                .arg(tmp)
                .arg("-r")
                .arg(&manifest);
            command
        })?;
        Ok(Some(target))
    }

    /// boto3 for an interpreter that lacks it, as Lambda's runtime provides.
    fn runtime_boto3(&self, python: &Interpreter) -> Result<Option<PathBuf>, PackageError> {
        if python.has_boto3 {
            return Ok(None);
        }
        let version = &python.version;
        let target = self
            .cache
            .join("python-runtime")
            .join(format!("python{version}"));
        let marker = target.join("boto3");
        if marker.is_dir() {
            return Ok(Some(target));
        }
        self.install_once(
            &target,
            Path::new("boto3 (provided by Lambda's Python runtime)"),
            |tmp| {
                let mut command = Command::new(&python.path);
                command
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .arg("--target")
                    .arg(tmp)
                    .arg("boto3");
                command
            },
        )?;
        Ok(Some(target))
    }

    /// `npm install --omit=dev` of `package.json` (and its lock file) in a
    /// cache folder keyed by both; returns its `node_modules`.
    fn npm_install(&self, code_dir: &Path) -> Result<Option<PathBuf>, PackageError> {
        let manifest = code_dir.join("package.json");
        let Ok(text) = std::fs::read(&manifest) else {
            return Ok(None);
        };
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        let has_deps = doc["dependencies"]
            .as_object()
            .is_some_and(|d| !d.is_empty());
        if !has_deps {
            return Ok(None);
        }
        let lock = std::fs::read(code_dir.join("package-lock.json")).unwrap_or_default();
        let target = self.cache.join("node").join(hash_hex(&[&text, &lock]));
        self.install_once(&target, &manifest, |tmp| {
            let _ = std::fs::write(tmp.join("package.json"), &text);
            if !lock.is_empty() {
                let _ = std::fs::write(tmp.join("package-lock.json"), &lock);
            }
            let mut command = Command::new("npm");
            command
                .args([
                    "install",
                    "--omit=dev",
                    "--no-audit",
                    "--no-fund",
                    "--silent",
                ])
                .current_dir(tmp);
            command
        })?;
        Ok(Some(target.join("node_modules")))
    }

    /// Run an installer into a temporary folder and rename it into place, so
    /// an interrupted install is never mistaken for a finished one.
    fn install_once(
        &self,
        target: &Path,
        manifest: &Path,
        command: impl FnOnce(&Path) -> Command,
    ) -> Result<(), PackageError> {
        if target.is_dir() {
            return Ok(());
        }
        let parent = target.parent().unwrap_or(&self.cache);
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        let tmp = parent.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            target
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
        let mut command = command(&tmp);
        let shown = format!("{command:?}");
        if let Some(progress) = &self.progress {
            progress(&format!(
                "installing {}; once, kept in {}",
                manifest.display(),
                self.cache.display()
            ));
        }
        let output = command.output().map_err(|e| PackageError::Install {
            command: shown.clone(),
            manifest: manifest.to_path_buf(),
            output: e.to_string(),
        })?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(PackageError::Install {
                command: shown,
                manifest: manifest.to_path_buf(),
                output: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        match std::fs::rename(&tmp, target) {
            Ok(()) => Ok(()),
            // Another process installed the same file meanwhile.
            Err(_) if target.is_dir() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => Err(io("rename into", target)(e)),
        }
    }
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename into", path))
}

/// Unpack into a temporary folder, then rename: a folder under `code/`
/// is always complete.
fn unpack(bytes: &[u8], sha256: &str, parent: &Path, target: &Path) -> Result<(), PackageError> {
    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    let tmp = parent.join(format!(".tmp-{}-{sha256}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let unpack_error = |message: String| PackageError::Unpack {
        sha256: sha256.to_owned(),
        message,
    };
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unpack_error(e.to_string()))?;
    // `extract` refuses entries that would land outside `tmp`.
    archive
        .extract(&tmp)
        .map_err(|e| unpack_error(e.to_string()))?;
    match std::fs::rename(&tmp, target) {
        Ok(()) => Ok(()),
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(io("rename into", target)(e)),
    }
}

/// What one run of a Python interpreter says about itself.
#[derive(Debug, Clone)]
struct Interpreter {
    /// Its own path (a version manager's shim resolved).
    path: PathBuf,
    /// `3.12`.
    version: String,
    /// Whether it can import boto3 (found, not imported: importing costs
    /// a few hundred milliseconds).
    has_boto3: bool,
}

/// The SHA-256 the code folder would be packaged under, without keeping
/// anything or installing dependencies: what a plan compares.
pub fn package_sha256(code_dir: &Path) -> Result<String, PackageError> {
    Ok(strata_artifact::package(code_dir)?.sha256.to_string())
}

/// The interpreter for a Python runtime: `$STRATA_PYTHON`, else
/// `python3.N` when it runs, else `python3`, resolved to its real path.
pub fn python_for(runtime: &Runtime) -> Result<PathBuf, PackageError> {
    interpreter(runtime).map(|i| i.path)
}

/// One probe per runtime and process: a single interpreter start that
/// reports its path, version and whether boto3 is there.
fn interpreter(runtime: &Runtime) -> Result<Interpreter, PackageError> {
    static FOUND: OnceLock<Mutex<HashMap<String, Option<Interpreter>>>> = OnceLock::new();
    const PROBE: &str = "import sys, importlib.util\n\
        print(sys.executable)\n\
        print('%d.%d' % sys.version_info[:2])\n\
        print(importlib.util.find_spec('boto3') is not None)";
    let found = FOUND.get_or_init(Default::default);
    let mut found = found.lock().unwrap_or_else(PoisonError::into_inner);
    let explicit = std::env::var_os("STRATA_PYTHON").map(PathBuf::from);
    let entry = found.entry(runtime.id().to_owned()).or_insert_with(|| {
        // The interpreter's own path, not the name: a version manager's
        // shim (pyenv, asdf) in front of `python3` costs more than Python's
        // own start on every worker.
        let names: Vec<PathBuf> = match &explicit {
            Some(path) => vec![path.clone()],
            None => vec![PathBuf::from(runtime.id()), PathBuf::from("python3")],
        };
        // Every candidate starts at once (a shim that fails can take as long
        // as an interpreter that runs); the first that answers, in order of
        // preference, wins.
        let probes: Vec<_> = names
            .into_iter()
            .map(|name| {
                let child = Command::new(&name)
                    .args(["-c", PROBE])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn();
                (name, child)
            })
            .collect();
        probes.into_iter().fold(None, |chosen, (name, child)| {
            let out = child.and_then(std::process::Child::wait_with_output);
            if chosen.is_some() {
                return chosen;
            }
            let out = out.ok().filter(|o| o.status.success())?;
            let text = String::from_utf8(out.stdout).ok()?;
            let mut lines = text.lines().map(str::trim);
            let path = lines.next().filter(|p| !p.is_empty()).map(PathBuf::from);
            Some(Interpreter {
                path: path.unwrap_or(name),
                version: lines.next().unwrap_or_default().to_owned(),
                has_boto3: lines.next() == Some("True"),
            })
        })
    });
    entry.clone().ok_or_else(|| PackageError::NoInterpreter {
        what: "python3",
        runtime: runtime.id().to_owned(),
        hint: "install Python 3, or point STRATA_PYTHON at an interpreter",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(root: &Path, name: &str, text: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("code folder");
        std::fs::write(dir.join("bootstrap"), text).expect("code file");
        dir
    }

    #[test]
    fn prune_keeps_what_kept_releases_name_what_runs_and_unfinished_work() {
        let root = tempfile::tempdir().expect("temp dir");
        let store = CodeStore::for_stage(&root.path().join(".strata"), "dev");
        let runtime = Runtime::parse("provided.al2023").expect("runtime");
        let package = |name: &str, text: &str| {
            store
                .prepare(&code(root.path(), name, text), &runtime)
                .expect("packages")
        };
        let old = package("old", "v1");
        let (old_sha, old_root) = (old.sha256.clone(), old.task_root.clone());
        drop(old);
        let running = package("running", "v2");
        let new = package("new", "v3");
        let unfinished = store.unpacked.join(".tmp-unpacking");
        std::fs::create_dir_all(&unfinished).expect("temp folder");

        store.prune(&[new.sha256.clone()].into());

        assert!(new.task_root.is_dir());
        assert!(
            store
                .artifacts
                .join(format!("{}.zip", new.sha256))
                .is_file()
        );
        assert!(!old_root.exists(), "an unused package is removed");
        assert!(!store.artifacts.join(format!("{old_sha}.zip")).exists());
        assert!(
            running.task_root.is_dir(),
            "a package something still runs from stays, kept or not"
        );
        assert!(unfinished.is_dir(), "a packaging under way is left alone");

        let running_root = running.task_root.clone();
        drop(running);
        store.prune(&[new.sha256.clone()].into());
        assert!(!running_root.exists(), "once let go, it goes");
    }
}
