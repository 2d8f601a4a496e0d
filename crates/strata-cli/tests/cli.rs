//! Runs the built `strata` binary the way a user does and checks what it
//! prints and how it exits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn strata() -> Command {
    let mut cmd = Command::cargo_bin("strata").expect("binary built");
    cmd.current_dir(repo())
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

fn stdout_of(args: &[&str]) -> String {
    let out = strata()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("utf-8 output")
}

/// A temporary service directory holding `manifest` as strata.yaml, with a
/// `src/app.py` so that handlers resolve.
fn service(manifest: impl AsRef<[u8]>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("strata.yaml"), manifest).expect("write manifest");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("src/app.py"),
        "def handler(e, c):\n    return e\n",
    )
    .expect("write handler");
    dir
}

#[test]
fn validate_accepts_the_orders_example() {
    strata()
        .args(["validate", "--dir", "examples/orders"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "examples/orders/strata.yaml is valid: service orders",
        ));
}

#[test]
fn every_broken_fixture_prints_file_line_and_column() {
    let dir = repo().join("crates/strata-model/testdata/err");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 40);
    for fixture in fixtures {
        let service = tempfile::tempdir().expect("temp dir");
        std::fs::copy(&fixture, service.path().join("strata.yaml")).expect("copy");
        // The fixtures' `code:` folder lives beside them.
        copy_dir(
            &repo().join("crates/strata-model/testdata/code"),
            &service.path().join("code"),
        );
        let first_marked = std::fs::read_to_string(&fixture)
            .expect("text")
            .lines()
            .position(|l| l.trim_end().ends_with("# error"))
            .map(|i| i + 1);
        let assert = strata()
            .args(["validate", "--dir"])
            .arg(service.path())
            .assert()
            .failure()
            .code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        let location = format!("{}:", service.path().join("strata.yaml").display());
        assert!(
            stderr.contains(&location),
            "{}: no file location in\n{stderr}",
            fixture.display()
        );
        if let Some(line) = first_marked {
            assert!(
                stderr.contains(&format!("strata.yaml:{line}:")),
                "{}: line {line} not reported in\n{stderr}",
                fixture.display()
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn diagnostics_render_with_source_and_help() {
    let dir =
        service("service: orders\nstateful:\n  tables:\n    Orders:\n      partion_key: pk:S\n");
    let assert = strata()
        .args(["validate", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr)
        .replace(&dir.path().display().to_string(), "DIR");
    insta::assert_snapshot!(stderr, @r"
      × unknown key `partion_key` in a table
       ╭─[DIR/strata.yaml:5:7]
     4 │     Orders:
     5 │       partion_key: pk:S
       ·       ─────┬─────
       ·            ╰── unknown key
       ╰────
      help: did you mean `partition_key`?
    DIR/strata.yaml: 1 error
    ");
}

#[test]
fn validate_json_reports_positions() {
    let dir = service(
        "service: orders\nstateless:\n  defaults: { runtime: python3.12, code: src }\n  functions:\n    f:\n      handler: app.handler\n      memory: 64\n",
    );
    let assert = strata()
        .args(["validate", "--json", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["line"], 7);
    assert_eq!(v["diagnostics"][0]["column"], 15);
    assert_eq!(v["diagnostics"][0]["severity"], "error");
}

#[test]
fn warnings_do_not_fail_validation() {
    let dir = service(
        "service: orders\nstateless:\n  defaults: { runtime: python3.12, code: src }\n  functions:\n    f:\n      handler: app.handler\n      timeout: 60\n      events: [ { http: GET /slow } ]\n",
    );
    strata()
        .args(["validate", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "HTTP requests stop waiting after 30 seconds",
        ));
}

#[test]
fn graph_json_lists_both_stacks_and_all_links() {
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&[
        "graph",
        "--dir",
        "examples/orders",
        "--format",
        "json",
    ]))
    .expect("json");
    let addresses = |stack: &str, key: &str| -> Vec<String> {
        v["stacks"][stack][key]
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["address"].as_str().expect("address").to_owned())
            .collect()
    };
    assert_eq!(
        addresses("stateful", "resources"),
        [
            "table/Orders",
            "bucket/Receipts",
            "queue/OrderEvents",
            "queue/OrderEventsDlq",
            "parameter/SupportEmail",
            "parameter/PaymentKey"
        ]
    );
    assert_eq!(
        addresses("stateless", "functions"),
        [
            "function/createOrder",
            "function/getOrder",
            "function/listOrders",
            "function/worker",
            "function/nightly",
            "function/onReceipt"
        ]
    );
    let links = v["links"].as_array().expect("links");
    // Every `uses` entry and every queue or bucket event of examples/orders.
    assert_eq!(links.len(), 13);
    for link in links {
        assert!(
            link["from"]
                .as_str()
                .expect("from")
                .starts_with("function/"),
            "{link}"
        );
        assert!(
            !link["to"].as_str().expect("to").starts_with("function/"),
            "{link}"
        );
    }
    assert!(links.iter().any(|l| l["from"] == "function/createOrder"
        && l["to"] == "table/Orders"
        && l["via"] == "uses"
        && l["access"] == "read_write"));
    assert!(links.iter().any(|l| l["from"] == "function/worker"
        && l["to"] == "queue/OrderEvents"
        && l["via"] == "event"));
    // The queue event lets the worker consume, although `uses` does not say so.
    let worker = &v["stacks"]["stateless"]["functions"][3];
    assert_eq!(worker["permissions"]["queue/OrderEvents"], "consume");
}

#[test]
fn graph_text_and_dot() {
    let text = stdout_of(&["graph", "--dir", "examples/orders"]);
    assert!(text.contains("stateful stack (6 resources"), "{text}");
    let link = text
        .lines()
        .find(|l| l.trim_start().starts_with("function/getOrder") && l.contains("->"));
    let words: Vec<&str> = link
        .expect("a link line for getOrder")
        .split_whitespace()
        .collect();
    assert_eq!(
        words,
        ["function/getOrder", "->", "table/Orders", "uses", "read"],
        "{text}"
    );
    let dot = stdout_of(&["graph", "--dir", "examples/orders", "--format", "dot"]);
    assert!(dot.starts_with("digraph \"orders\" {"), "{dot}");
    assert!(
        dot.contains("subgraph cluster_stateful") && dot.contains("subgraph cluster_stateless")
    );
    assert!(
        dot.contains("\"function/worker\" -> \"bucket/Receipts\" [label=\"write\", style=solid];"),
        "{dot}"
    );
}

#[test]
fn committed_schema_is_current() {
    let committed =
        std::fs::read_to_string(repo().join("schema/strata.schema.json")).expect("schema file");
    let printed = stdout_of(&["schema"]);
    assert!(
        committed.trim_end() == printed.trim_end(),
        "schema/strata.schema.json is stale: run `cargo run -- schema > schema/strata.schema.json`"
    );
}

#[test]
fn init_output_validates_and_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("My Shop");
    strata()
        .arg("init")
        .arg(&target)
        .assert()
        .success()
        .stdout(predicate::str::contains("service my-shop"));
    strata()
        .args(["validate", "--dir"])
        .arg(&target)
        .assert()
        .success();
    strata()
        .args(["graph", "--dir"])
        .arg(&target)
        .assert()
        .success()
        .stdout(predicate::str::contains("function/createItem"));
    let before = std::fs::read(target.join("strata.yaml")).expect("manifest");
    strata()
        .arg("init")
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "already exists; nothing was written",
        ));
    assert_eq!(
        std::fs::read(target.join("strata.yaml")).expect("manifest"),
        before
    );
}

#[test]
fn init_refuses_an_invalid_name_before_writing() {
    let dir = tempfile::tempdir().expect("temp dir");
    strata()
        .arg("init")
        .arg(dir.path())
        .args(["--name", "Bad_Name"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid service name"));
    assert!(!dir.path().join("strata.yaml").exists());
}

#[test]
fn unknown_stage_lists_the_declared_ones() {
    strata()
        .args(["graph", "--dir", "examples/orders", "--stage", "qa"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("stage `qa` is not declared")
                .and(predicate::str::contains("dev, prod")),
        );
}

#[test]
fn missing_manifest_says_how_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    strata()
        .args(["validate", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("strata init"));
}

/// Hostile and broken files: each must end with a clear error, exit 1, never
/// a panic or a hang (the command timeout above catches a hang).
#[test]
fn bad_input_gets_a_clear_error() {
    let deep = format!(
        "service: x\nstateful: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut bomb = String::from(
        "service: x\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, prev) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        let name = (b'b' + i as u8) as char;
        bomb.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let huge = format!(
        "service: x\n{}",
        "# padding line of a manifest that is far too large\n".repeat(220_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "the manifest is empty"),
        (
            "only a comment",
            b"# nothing here\n".to_vec(),
            "the manifest is empty",
        ),
        (
            "not utf-8",
            b"service: caf\xe9\n".to_vec(),
            "not valid UTF-8",
        ),
        ("syntax", b"service: [x\n".to_vec(), "YAML syntax error"),
        ("deep nesting", deep.into_bytes(), "nests deeper than"),
        (
            "alias bomb",
            bomb.into_bytes(),
            "more than 200000 YAML nodes",
        ),
        ("10 MB", huge.into_bytes(), "more than the 2097152 bytes"),
        ("scalar root", b"just text\n".to_vec(), "expected a mapping"),
        ("binary", vec![0u8, 159, 146, 150, 0, 1], "not valid UTF-8"),
    ];
    for (what, bytes, expected) in cases {
        let dir = service(bytes);
        let assert = strata()
            .args(["validate", "--dir"])
            .arg(dir.path())
            .assert()
            .code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains(expected),
            "{what}: expected `{expected}` in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: panicked\n{stderr}");
    }
}

#[test]
fn help_describes_every_command() {
    let help = stdout_of(&["--help"]);
    for command in ["validate", "graph", "schema", "init"] {
        assert!(
            help.contains(command),
            "{command} missing from --help:\n{help}"
        );
    }
    let graph = stdout_of(&["graph", "--help"]);
    assert!(
        graph.contains("--format") && graph.contains("dot"),
        "{graph}"
    );
}

#[test]
fn dir_may_name_the_manifest_itself() {
    strata()
        .args(["validate", "--dir", "examples/orders/strata.yaml"])
        .assert()
        .success();
    strata()
        .args(["validate", "--dir", "examples/nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn usage_errors_exit_1_not_2() {
    // 2 is reserved for "the plan has changes" (SPEC §3).
    strata().arg("bogus").assert().code(1);
    strata().args(["validate", "--bogus"]).assert().code(1);
    strata().arg("--help").assert().success();
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    // Close our end at once, as `strata schema | head -c0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}

#[test]
fn a_closed_stderr_is_not_a_panic() {
    // `strata validate 2>&1 | head -1`: the errors go to a closed pipe.
    let dir =
        service("service: s\nstateless:\n  functions:\n    a: { handler: x.y, runtime: nope }\n");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .args(["validate", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stderr.take());
    let status = child.wait().expect("exits");
    assert_eq!(
        status.code(),
        Some(1),
        "an invalid manifest exits 1, not a panic's 101"
    );
}

#[test]
fn many_errors_are_capped_for_people_and_complete_in_json() {
    let tables: String = (0..80)
        .map(|i| format!("    T{i}: {{ partition_key: pk:S, colour: red }}\n"))
        .collect();
    let dir = service(format!("service: s\nstateful:\n  tables:\n{tables}"));
    let assert = strata()
        .args(["validate", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("… and 30 more; `strata validate --json` lists them all"),
        "{stderr}"
    );
    let assert = strata()
        .args(["validate", "--json", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("json");
    assert_eq!(v["diagnostics"].as_array().expect("list").len(), 80);
}

#[test]
fn validate_json_without_a_manifest_is_still_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let assert = strata()
        .args(["validate", "--json", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert!(
        v["error"]
            .as_str()
            .expect("message")
            .contains("no strata.yaml")
    );
}

#[test]
fn serve_refuses_a_stage_the_manifest_does_not_declare() {
    let dir = service("service: shop\n");
    strata()
        .args(["serve", "--aws-port", "0", "--stage", "prdo", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stage `prdo` is not declared"));
    assert!(!dir.path().join(".strata").exists(), "nothing was created");
    let bare = tempfile::tempdir().expect("temp dir");
    strata()
        .args([
            "serve",
            "--aws-port",
            "0",
            "--stage",
            "../../escape",
            "--dir",
        ])
        .arg(bare.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a stage name"));
}

#[test]
fn init_adds_strata_to_an_existing_gitignore() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(".gitignore"), "target").expect("write");
    strata()
        .arg("init")
        .arg(dir.path())
        .args(["--name", "shop"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).expect("read"),
        "target\n.strata/\n"
    );
}

#[test]
fn target_flag_refuses_a_stage_with_another_target() {
    let orders = repo().join("examples/orders");
    strata()
        .args(["--stage", "prod", "--target", "local", "plan", "--dir"])
        .arg(&orders)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "stage `prod` targets aws, not local",
        ));
    strata()
        .args(["--target", "aws", "drift", "--dir"])
        .arg(&orders)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "stage `dev` targets local, not aws",
        ));
    strata()
        .args(["--target", "local", "validate", "--dir"])
        .arg(&orders)
        .assert()
        .success();
}
