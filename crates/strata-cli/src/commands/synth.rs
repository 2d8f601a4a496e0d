//! `strata synth`: the CloudFormation templates, the stateful stack's policy
//! and the code zips of an aws stage, written to a folder for review, CI
//! diffs or a deploy by other tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, WrapErr, miette};
use strata_aws::synth::{self, SynthError};

use crate::cli::Global;
use crate::manifest;
use crate::report::plural;

pub fn run(g: &Global, out: Option<&Path>) -> Result<ExitCode> {
    let (_, service) = manifest::load(&g.dir, &g.stage)?;
    let synthesis = synth::synthesize(&service, &g.stage, &g.dir).map_err(to_report)?;
    let out: PathBuf = out.map_or_else(
        || g.dir.join(".strata").join(&g.stage).join("synth"),
        Path::to_path_buf,
    );
    std::fs::create_dir_all(&out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", out.display()))?;

    let files = synthesis.files();
    for (name, bytes) in &files {
        write_atomically(&out.join(name), bytes)?;
    }
    remove_stale_zips(&out, &files)?;

    let t = &synthesis.templates;
    outln!("wrote {} to {}", plural(files.len(), "file"), out.display());
    for stack in [&t.stateful, &t.stateless] {
        let how = if stack.rendered.needs_upload() {
            "deploy uploads it to S3 first"
        } else {
            "small enough to send inline"
        };
        outln!(
            "  {}  {} bytes compact ({how})",
            stack.file_name(),
            stack.rendered.compact_len
        );
    }
    // The stack policy and the code-key map: the files after the two templates.
    for (name, _) in files.iter().skip(2).take(2) {
        outln!("  {name}");
    }
    for asset in &synthesis.code {
        let names: Vec<&str> = asset.functions.iter().map(|f| f.as_str()).collect();
        outln!(
            "  {}  {} bytes, {} from {} ({})",
            asset.package.file_name(),
            asset.package.bytes.len(),
            plural(asset.package.entries.len(), "file"),
            asset.folder,
            names.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn to_report(err: SynthError) -> miette::Report {
    let help = match &err {
        SynthError::NotAws { .. } => Some(
            "declare an aws stage under `stages:`, e.g. `prod: { target: aws, region: eu-west-1 }`, and pass --stage prod",
        ),
        SynthError::Limit { .. } => Some("split the service, or move functions to another service"),
        SynthError::NameTooLong { .. } => Some("shorten the resource, stage or service name"),
        _ => None,
    };
    // Keep the cause (an I/O error under a packaging failure) in the message.
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    match help {
        Some(help) => miette!(help = help, "{text}"),
        None => miette!("{text}"),
    }
}

/// Writes through a temporary file and a rename, so a reader (or a deploy
/// running next to it) never sees half a template.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// Zips of earlier runs (named by a SHA-256) that this run did not write.
/// Other files in the folder are left alone: it may be a user's folder.
fn remove_stale_zips(out: &Path, files: &[(String, &[u8])]) -> Result<()> {
    let entries = std::fs::read_dir(out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot list {}", out.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_ours = name
            .strip_suffix(".zip")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_ours && !files.iter().any(|(n, _)| *n == name) {
            std::fs::remove_file(entry.path())
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}
