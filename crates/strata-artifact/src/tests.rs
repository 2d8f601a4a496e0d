//! Reproducibility of packages: the bytes depend on file names, contents and
//! the executable bit, and on nothing else.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("a file path has a parent")).expect("mkdir");
    fs::write(&path, text).expect("write");
}

fn touch(root: &Path, rel: &str, secs: u64) {
    let file = fs::File::options()
        .write(true)
        .open(root.join(rel))
        .expect("open");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set mtime");
}

/// (name, unix mode, last-modified as text, contents) of every entry.
fn read_back(bytes: &[u8]) -> Vec<(String, u32, String, String)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).expect("entry");
            let mut text = String::new();
            f.read_to_string(&mut text).expect("utf-8 test content");
            let mode = f.unix_mode().expect("mode recorded") & 0o777;
            let time = f
                .last_modified()
                .map(|t| format!("{}-{:02}-{:02}", t.year(), t.month(), t.day()))
                .unwrap_or_default();
            (f.name().expect("utf-8 name").into_owned(), mode, time, text)
        })
        .collect()
}

#[test]
fn same_files_written_in_another_order_at_another_time_give_the_same_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    write(a.path(), "z.py", "z");
    write(a.path(), "pkg/mod.py", "m");
    write(a.path(), "a.py", "a");
    // Reverse creation order, and different modification times.
    write(b.path(), "a.py", "a");
    write(b.path(), "pkg/mod.py", "m");
    write(b.path(), "z.py", "z");
    touch(b.path(), "a.py", 1_000_000);
    touch(b.path(), "pkg/mod.py", 2_000_000_000);

    let pa = package(a.path()).expect("package a");
    let pb = package(b.path()).expect("package b");
    assert_eq!(pa.bytes, pb.bytes);
    assert_eq!(pa.sha256, pb.sha256);
    assert_eq!(pa.entries, ["a.py", "pkg/mod.py", "z.py"]);
    assert_eq!(pa.file_name(), format!("{}.zip", pa.sha256));
    assert_eq!(pa.sha256.to_string().len(), 64);
}

#[test]
fn content_changes_change_the_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "app.py", "one");
    let before = package(dir.path()).expect("package");
    write(dir.path(), "app.py", "two");
    let after = package(dir.path()).expect("package");
    assert_ne!(before.sha256, after.sha256);
}

#[test]
fn caches_state_and_version_control_are_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "app.py", "code");
    write(dir.path(), "__pycache__/app.cpython-312.pyc", "x");
    write(dir.path(), "pkg/__pycache__/m.pyc", "x");
    write(dir.path(), "stray.pyc", "x");
    write(dir.path(), ".strata/dev/state.json", "{}");
    write(dir.path(), ".git/HEAD", "ref");
    write(
        dir.path(),
        ".env.example",
        "kept: only the listed names are skipped",
    );
    let p = package(dir.path()).expect("package");
    assert_eq!(p.entries, [".env.example", "app.py"]);
}

#[test]
fn modes_and_times_are_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "bootstrap", "#!/bin/sh\n");
    write(dir.path(), "run.sh", "#!/bin/sh\n");
    write(dir.path(), "lib.py", "x");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o700))
            .expect("chmod");
        fs::set_permissions(dir.path().join("lib.py"), fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let p = package(dir.path()).expect("package");
    let got: Vec<(String, u32, String)> = read_back(&p.bytes)
        .into_iter()
        .map(|(n, m, t, _)| (n, m, t))
        .collect();
    let epoch = "1980-01-01".to_owned();
    // `bootstrap` is executable even though it was written 0644.
    let mut want = vec![
        ("bootstrap".to_owned(), 0o755, epoch.clone()),
        ("lib.py".to_owned(), 0o644, epoch.clone()),
    ];
    if cfg!(unix) {
        want.push(("run.sh".to_owned(), 0o755, epoch));
    } else {
        want.push(("run.sh".to_owned(), 0o644, epoch));
    }
    assert_eq!(got, want);
}

#[test]
fn contents_survive_the_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "orders.py",
        "def create(event, context):\n    return {}\n",
    );
    let p = package(dir.path()).expect("package");
    let got = read_back(&p.bytes);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].3, "def create(event, context):\n    return {}\n");
}

#[test]
fn a_missing_folder_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let err = package(&missing).expect_err("no folder");
    assert!(matches!(&err, ArtifactError::NotAFolder { path } if *path == missing));
    assert!(err.to_string().contains("nope"));
}
