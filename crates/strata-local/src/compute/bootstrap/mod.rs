//! The Python and Node runtimes Strata ships inside its binary: each is one
//! dependency-free file implementing the Lambda Runtime API loop, written to
//! the stage's runtime folder when compute starts, so no extra package is
//! needed to run a function.

use std::path::{Path, PathBuf};

pub const PYTHON: &str = include_str!("python.py");
pub const NODE: &str = include_str!("node.js");
pub const ZYGOTE: &str = include_str!("zygote.py");

/// The bootstrap files under `dir`, written when missing or different.
#[derive(Debug, Clone)]
pub struct Bootstraps {
    pub python: PathBuf,
    pub node: PathBuf,
    /// The Python fork server (see `compute::zygote`).
    pub zygote: PathBuf,
}

impl Bootstraps {
    pub fn install(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
                // Through a temporary file: a worker starting now must never
                // read half a runtime.
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, text)?;
                std::fs::rename(&tmp, &path)?;
            }
            Ok(path)
        };
        Ok(Self {
            python: write("bootstrap.py", PYTHON)?,
            node: write("bootstrap.js", NODE)?,
            zygote: write("zygote.py", ZYGOTE)?,
        })
    }
}
