//! Data-driven manifest tests: every file under `testdata/ok` must validate,
//! every file under `testdata/err` must fail exactly on the lines it marks
//! with `# error` (or `# warning`), and each rendering is kept as a snapshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use strata_model::diagnostic::render_plain;
use strata_model::{CodeTree, Severity, check};

/// The real file system below `testdata/`, where fixtures' `code:` folders live.
struct Testdata(PathBuf);

impl CodeTree for Testdata {
    fn is_dir(&self, path: &str) -> bool {
        self.0.join(path).is_dir()
    }

    fn is_file(&self, path: &str) -> bool {
        self.0.join(path).is_file()
    }
}

fn testdata() -> Testdata {
    Testdata(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"))
}

fn name(path: &Path) -> String {
    format!(
        "testdata/{}",
        path.strip_prefix(&testdata().0)
            .expect("under testdata")
            .display()
    )
}

/// Renders a fixture the way `strata validate` reports it in plain form.
fn check_file(path: &Path) -> (String, BTreeSet<(usize, Severity)>, bool) {
    let bytes = std::fs::read(path).expect("fixture readable");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match check(&bytes, &testdata()) {
        Ok(checked) => {
            let out = serde_json::to_string_pretty(&serde_json::json!({
                "service": checked.service,
                "links": checked.service.links(),
            }))
            .expect("serializable");
            let lines = checked
                .warnings
                .0
                .iter()
                .map(|d| {
                    (
                        strata_model::diagnostic::line_col(&text, d.span.start).0,
                        d.severity,
                    )
                })
                .collect();
            (out, lines, true)
        }
        Err(diags) => {
            let lines = diags
                .0
                .iter()
                .map(|d| {
                    (
                        strata_model::diagnostic::line_col(&text, d.span.start).0,
                        d.severity,
                    )
                })
                .collect();
            (render_plain(&name(path), &text, &diags), lines, false)
        }
    }
}

/// Lines the fixture marks: `# error` and `# warning` comments.
fn marked(path: &Path) -> BTreeSet<(usize, Severity)> {
    let text = std::fs::read_to_string(path).expect("fixture is text");
    let mut lines = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_end().ends_with("# error") {
            lines.insert((i + 1, Severity::Error));
        } else if line.trim_end().ends_with("# warning") {
            lines.insert((i + 1, Severity::Warning));
        }
    }
    lines
}

#[test]
fn ok_manifests_validate() {
    insta::glob!("../testdata/ok", "*.yaml", |path| {
        let (out, warnings, ok) = check_file(path);
        assert!(ok, "{} should validate:\n{out}", name(path));
        assert_eq!(warnings, BTreeSet::new(), "{} has warnings", name(path));
        insta::assert_snapshot!(out);
    });
}

#[test]
fn err_manifests_fail_on_marked_lines() {
    let mut count = 0;
    insta::glob!("../testdata/err", "*.yaml", |path| {
        count += 1;
        let (out, lines, ok) = check_file(path);
        assert!(!ok, "{} should fail", name(path));
        let lines: BTreeSet<_> = lines.into_iter().collect();
        assert_eq!(
            lines,
            marked(path),
            "{}: diagnostics (left) differ from the marked lines (right):\n{out}",
            name(path)
        );
        insta::assert_snapshot!(out);
    });
    assert!(
        count >= 40,
        "expected at least 40 error fixtures, found {count}"
    );
}
