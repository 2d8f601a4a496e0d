//! Finding, reading and checking strata.yaml on disk, for every command that
//! needs the service.

use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_model::{CodeTree, Diagnostics, Service, Stage};

use crate::report;

pub const FILE_NAME: &str = "strata.yaml";

/// A manifest as read from disk.
pub struct Manifest {
    /// The path as the user would write it, used in messages (`examples/orders/strata.yaml`).
    pub path: PathBuf,
    pub text: String,
}

/// The code folders next to the manifest.
struct Disk<'a>(&'a Path);

impl CodeTree for Disk<'_> {
    fn is_dir(&self, path: &str) -> bool {
        self.0.join(path).is_dir()
    }

    fn is_file(&self, path: &str) -> bool {
        self.0.join(path).is_file()
    }
}

/// Reads `DIR/strata.yaml` and checks it. On failure the diagnostics are
/// returned with the manifest so the caller can render them.
pub fn check(dir: &Path) -> Result<(Manifest, Result<strata_model::Checked, Diagnostics>)> {
    // `--dir path/to/strata.yaml` is a common slip; take the file's folder.
    let dir = match dir.file_name() {
        Some(name) if name == FILE_NAME && dir.is_file() => dir.parent().unwrap_or(Path::new(".")),
        _ => dir,
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let path = dir.join(FILE_NAME);
    if !dir.is_dir() {
        return Err(miette!(
            help = "pass the folder that holds strata.yaml",
            "{} is not a directory",
            dir.display()
        ));
    }
    if path.exists() && !path.is_file() {
        return Err(miette!(
            help = "strata.yaml must be a regular file",
            "{} is not a file",
            path.display()
        ));
    }
    if !path.is_file() {
        let hint = if dir.join("strata.yml").is_file() {
            "rename strata.yml to strata.yaml".to_owned()
        } else if dir.join("template.yaml").is_file() || dir.join("serverless.yml").is_file() {
            "this looks like a SAM or Serverless Framework project; Strata reads strata.yaml"
                .to_owned()
        } else {
            format!(
                "run `strata init {}` to create one, or pass --dir",
                dir.display()
            )
        };
        return Err(miette!(help = hint, "no {FILE_NAME} in {}", dir.display()));
    }
    let bytes = std::fs::read(&path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let checked = strata_model::check(&bytes, &Disk(dir));
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok((
        Manifest {
            path: clean(&path),
            text,
        },
        checked,
    ))
}

/// Loads a valid service or renders its diagnostics and fails.
pub fn load(dir: &Path, stage: &str) -> Result<(Manifest, Service)> {
    load_warning(dir, stage, |_| true)
}

/// [`load`] for a watcher that reads the manifest again after every change:
/// warnings are printed only when the manifest's text differs from the last
/// time they were, not after every edit of a handler.
pub fn reload(
    dir: &Path,
    stage: &str,
    last_text: &mut Option<String>,
) -> Result<(Manifest, Service)> {
    load_warning(dir, stage, |m| {
        let new = last_text.as_deref() != Some(m.text.as_str());
        *last_text = Some(m.text.clone());
        new
    })
}

fn load_warning(
    dir: &Path,
    stage: &str,
    mut warn: impl FnMut(&Manifest) -> bool,
) -> Result<(Manifest, Service)> {
    let (manifest, checked) = check(dir)?;
    match checked {
        Ok(checked) => {
            if warn(&manifest) {
                report::diagnostics(&manifest, &checked.warnings);
            }
            stage_of(&checked.service, stage)?;
            Ok((manifest, checked.service))
        }
        Err(diags) => {
            report::diagnostics(&manifest, &diags);
            Err(miette!(
                "{} is not valid ({})",
                manifest.path.display(),
                report::count(&diags)
            ))
        }
    }
}

/// The stage named by `--stage`, or an error listing the declared ones.
pub fn stage_of<'s>(service: &'s Service, stage: &str) -> Result<&'s Stage> {
    service.stage(stage).ok_or_else(|| {
        let names: Vec<&str> = service.stages.iter().map(|s| s.name.as_str()).collect();
        miette!(
            help = format!(
                "declared stages: {}; add it under `stages:` in strata.yaml",
                names.join(", ")
            ),
            "stage `{stage}` is not declared"
        )
    })
}

/// `./strata.yaml` reads better as `strata.yaml` in messages.
fn clean(path: &Path) -> PathBuf {
    path.strip_prefix(".")
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}
