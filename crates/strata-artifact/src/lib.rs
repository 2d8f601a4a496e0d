//! Function code packages that depend on the files alone: the same folder
//! gives the same zip bytes on any machine, at any time, and the package is
//! named by the SHA-256 of those bytes.
//!
//! This is the one place that decides what a function's code *is* (which
//! files, which bytes, which modes), so the local target's releases and the
//! aws target's uploads agree on it. It knows nothing of manifests or
//! targets: it takes a folder and returns bytes.
//!
//! What makes the zip reproducible: entries sorted by path, every timestamp
//! fixed at the zip epoch (1980-01-01 00:00), permissions reduced to 0644 or
//! 0755, no directory entries, and a fixed compression method and level.

use std::fmt;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Folders never packaged: interpreter caches, Strata's own state, version control.
const SKIPPED_DIRS: &[&str] = &["__pycache__", ".strata", ".git"];
/// File suffixes never packaged (compiled Python, rebuilt by the runtime anyway).
const SKIPPED_SUFFIXES: &[&str] = &[".pyc"];
/// Files Lambda executes directly; they must be executable even when the
/// file system they come from lost the bit (a checkout on Windows, a copy).
const ALWAYS_EXECUTABLE: &[&str] = &["bootstrap"];

const MODE_FILE: u32 = 0o644;
const MODE_EXECUTABLE: u32 = 0o755;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("code folder {} does not exist or is not a folder", path.display())]
    NotAFolder { path: PathBuf },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has a name that is not UTF-8; zip entries and Lambda need UTF-8 names", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{} is a symbolic link to a folder; package the folder itself instead", path.display())]
    LinkedFolder { path: PathBuf },
    #[error("cannot write the zip entry {entry}")]
    Zip {
        entry: String,
        #[source]
        source: zip::result::ZipError,
    },
}

/// The SHA-256 of a package, as Lambda and S3 keys use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Sha256Digest {
    /// Lower-case hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One packaged code folder.
#[derive(Clone, PartialEq, Eq)]
pub struct Package {
    pub bytes: Vec<u8>,
    pub sha256: Sha256Digest,
    /// Entry names in the order they were written (sorted).
    pub entries: Vec<String>,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("len", &self.bytes.len())
            .field("sha256", &self.sha256.to_string())
            .field("entries", &self.entries)
            .finish()
    }
}

impl Package {
    /// `<sha256 hex>.zip`: the file name on disk and the object key stem.
    pub fn file_name(&self) -> String {
        format!("{}.zip", self.sha256)
    }
}

/// A file found in the code folder, before packaging.
#[derive(Debug)]
struct Entry {
    /// Relative, `/`-separated: the name inside the zip.
    name: String,
    path: PathBuf,
    executable: bool,
}

/// Zips `dir` reproducibly. See the crate docs for what is fixed and skipped.
pub fn package(dir: &Path) -> Result<Package, ArtifactError> {
    if !dir.is_dir() {
        return Err(ArtifactError::NotAFolder {
            path: dir.to_path_buf(),
        });
    }
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    // Byte order of the `/`-joined name, not the walk order: directory
    // listings come back in whatever order the file system keeps.
    entries.sort_by(|a, b| a.name.cmp(&b.name));

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        // A fixed level: the default could change between releases of the
        // compression backend's defaults, and with it every hash.
        .compression_level(Some(6))
        .last_modified_time(DateTime::default())
        .large_file(false);
    let mut names = Vec::with_capacity(entries.len());
    for entry in &entries {
        let data = std::fs::read(&entry.path).map_err(|source| ArtifactError::Read {
            path: entry.path.clone(),
            source,
        })?;
        let mode = if entry.executable {
            MODE_EXECUTABLE
        } else {
            MODE_FILE
        };
        let zip_err = |source| ArtifactError::Zip {
            entry: entry.name.clone(),
            source,
        };
        zip.start_file(entry.name.as_str(), base.unix_permissions(mode))
            .map_err(zip_err)?;
        zip.write_all(&data)
            .map_err(|e| zip_err(zip::result::ZipError::Io(e)))?;
        names.push(entry.name.clone());
    }
    let bytes = zip
        .finish()
        .map_err(|source| ArtifactError::Zip {
            entry: "(central directory)".to_owned(),
            source,
        })?
        .into_inner();
    Ok(Package {
        sha256: Sha256Digest::of(&bytes),
        bytes,
        entries: names,
    })
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), ArtifactError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArtifactError::Read { path, source }
    };
    for item in std::fs::read_dir(dir).map_err(read_err(dir))? {
        let item = item.map_err(read_err(dir))?;
        let path = item.path();
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            return Err(ArtifactError::NotUtf8 { path });
        };
        let link = item.file_type().map_err(read_err(&path))?.is_symlink();
        // Follows links to files (node_modules/.bin is full of them) but not
        // links to folders, which can form cycles and pull in anything.
        let meta = std::fs::metadata(&path).map_err(read_err(&path))?;
        let rel = format!("{prefix}{name}");
        if meta.is_dir() {
            if link {
                return Err(ArtifactError::LinkedFolder { path });
            }
            if SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            collect(&path, &format!("{rel}/"), out)?;
        } else if meta.is_file() {
            if SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                continue;
            }
            let executable = ALWAYS_EXECUTABLE.contains(&name.as_str()) || is_executable(&meta);
            out.push(Entry {
                name: rel,
                path,
                executable,
            });
        }
        // Sockets, fifos and devices are not code.
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests;
