//! Golden files of both templates of examples/orders (`--stage prod`) and of
//! the model's kitchen-sink manifest (every key once, a table stream event
//! included), and determinism of the whole synthesis, zips included.
//!
//! A template change shows up as a diff of the committed files under
//! `tests/golden/`. After an intended change, regenerate them with
//! `STRATA_UPDATE_GOLDEN=1 cargo test -p strata-aws --test golden` and review the diff.

use std::path::{Path, PathBuf};

use strata_aws::synth;
use strata_model::{CodeTree, Service};

struct Disk(PathBuf);

impl CodeTree for Disk {
    fn is_dir(&self, path: &str) -> bool {
        self.0.join(path).is_dir()
    }
    fn is_file(&self, path: &str) -> bool {
        self.0.join(path).is_file()
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(dir: &Path) -> Service {
    let bytes = std::fs::read(dir.join("strata.yaml")).expect("manifest readable");
    strata_model::check(&bytes, &Disk(dir.to_path_buf()))
        .expect("manifest valid")
        .service
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("STRATA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("golden writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from {} from line {} on; if the change is intended, run with STRATA_UPDATE_GOLDEN=1 and review the diff",
            path.display(),
            first + 1
        );
    }
}

#[test]
fn orders_prod_templates_match_the_golden_files() {
    let dir = root().join("examples/orders");
    let t = synth::templates(&load(&dir), "prod").expect("synthesizes");
    assert_eq!(t.stateful.stack_name, "orders-prod-stateful");
    assert_eq!(t.stateless.stack_name, "orders-prod-stateless");
    check_golden(&t.stateful.file_name(), &t.stateful.rendered.body);
    check_golden(&t.stateless.file_name(), &t.stateless.rendered.body);
    check_golden(&t.stack_policy_file_name(), &t.stack_policy);
}

#[test]
fn kitchen_sink_prod_templates_match_the_golden_files() {
    let testdata = root().join("crates/strata-model/testdata");
    let bytes = std::fs::read(testdata.join("ok/kitchen_sink.yaml")).expect("manifest readable");
    let service = strata_model::check(&bytes, &Disk(testdata))
        .expect("manifest valid")
        .service;
    let t = synth::templates(&service, "prod").expect("synthesizes");
    check_golden(&t.stateful.file_name(), &t.stateful.rendered.body);
    check_golden(&t.stateless.file_name(), &t.stateless.rendered.body);
    check_golden(&t.stack_policy_file_name(), &t.stack_policy);
}

#[test]
fn synthesizing_twice_gives_identical_bytes_zips_included() {
    let dir = root().join("examples/orders");
    let service = load(&dir);
    let first = synth::synthesize(&service, "prod", &dir).expect("first");
    let second = synth::synthesize(&load(&dir), "prod", &dir).expect("second");
    let a = first.files();
    let b = second.files();
    assert!(
        a.iter().any(|(n, _)| n.ends_with(".zip")),
        "zips are part of the comparison"
    );
    assert_eq!(a.len(), b.len());
    for ((na, ba), (nb, bb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two runs");
    }
}

#[test]
fn copied_code_with_new_times_gives_the_same_zip_names() {
    let dir = root().join("examples/orders");
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.join("strata.yaml"), copy.path().join("strata.yaml")).expect("copy");
    std::fs::create_dir(copy.path().join("src")).expect("mkdir");
    let mut names: Vec<_> = std::fs::read_dir(dir.join("src"))
        .expect("src")
        .map(|e| e.expect("entry").file_name())
        .collect();
    // Written in reverse order, now: a fresh checkout in another order.
    names.sort();
    names.reverse();
    for n in names {
        let from = dir.join("src").join(&n);
        if from.is_file() {
            std::fs::copy(&from, copy.path().join("src").join(&n)).expect("copy");
        }
    }
    // A cache the runtime wrote must not change the package.
    std::fs::create_dir(copy.path().join("src/__pycache__")).expect("mkdir");
    std::fs::write(
        copy.path().join("src/__pycache__/orders.cpython-312.pyc"),
        b"x",
    )
    .expect("pyc");

    let original = synth::synthesize(&load(&dir), "prod", &dir).expect("original");
    let copied = synth::synthesize(&load(copy.path()), "prod", copy.path()).expect("copy");
    assert_eq!(original.files(), copied.files());
}
