"""Both CloudFormation templates `strata synth` writes pass cfn-lint with zero
errors: for examples/orders and for the manifest that uses every key of
SPEC §2 (crates/strata-model/testdata/ok/kitchen_sink.yaml). Warnings are
allowed but printed, so they show up in the test log.

STRATA_BIN points at the built binary (default: target/debug/strata)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRATA = os.environ.get("STRATA_BIN", str(ROOT / "target" / "debug" / "strata"))
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def synth(service_dir: Path, stage: str, out: Path) -> list[Path]:
    run = subprocess.run(
        [STRATA, "--dir", str(service_dir), "--stage", stage, "synth", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    templates = sorted(out.glob("*.template.json"))
    assert [t.name.rsplit("-", 1)[1] for t in templates] == ["stateful.template.json", "stateless.template.json"]
    return templates


def lint(template: Path) -> list[dict]:
    run = subprocess.run([CFN_LINT, "--format", "json", str(template)], capture_output=True, text=True)
    # cfn-lint exits 0 when clean, otherwise with bit flags: 2 error, 4 warning,
    # 8 informational; 1 means it could not lint at all.
    assert run.returncode in range(0, 16, 2), f"cfn-lint failed to run: {run.stderr}"
    return json.loads(run.stdout or "[]")


def kitchen_sink(tmp: Path) -> Path:
    """The every-field manifest beside a copy of its code folder (it says `code: code`)."""
    service = tmp / "kitchen-sink"
    service.mkdir()
    shutil.copy(ROOT / "crates/strata-model/testdata/ok/kitchen_sink.yaml", service / "strata.yaml")
    shutil.copytree(ROOT / "crates/strata-model/testdata/code", service / "code")
    return service


CASES = [
    ("orders-prod", lambda tmp: ROOT / "examples/orders", "prod"),
    ("kitchen-sink-staging", kitchen_sink, "staging"),
    ("kitchen-sink-prod", kitchen_sink, "prod"),
]


@pytest.mark.parametrize("make, stage", [(m, s) for _, m, s in CASES], ids=[c[0] for c in CASES])
def test_templates_pass_cfn_lint_without_errors(tmp_path: Path, make, stage: str) -> None:
    service = make(tmp_path)
    for template in synth(service, stage, tmp_path / "out"):
        matches = lint(template)
        errors = [m for m in matches if m["Level"] == "Error"]
        for m in matches:
            if m["Level"] != "Error":
                print(f"{template.name}: {m['Level']} {m['Rule']['Id']} {m['Message']}")
        assert errors == [], "\n".join(f"{template.name}: {m['Rule']['Id']} {m['Message']}" for m in errors)


def test_cfn_lint_catches_a_broken_template(tmp_path: Path) -> None:
    """The check above can fail: the same linter run on a damaged copy reports errors."""
    templates = synth(ROOT / "examples/orders", "prod", tmp_path / "out")
    stateless = json.loads(templates[1].read_text())
    fn = next(r for r in stateless["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    fn["Properties"]["MemorySize"] = 1
    fn["Properties"]["Runtime"] = "cobol1.0"
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(stateless))
    assert any(m["Level"] == "Error" for m in lint(broken))


def test_a_local_stage_is_refused(tmp_path: Path) -> None:
    run = subprocess.run(
        [STRATA, "--dir", str(ROOT / "examples/orders"), "synth", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "whose target is aws" in run.stderr
    assert not (tmp_path / "out").exists()
