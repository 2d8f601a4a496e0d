"""The committed JSON Schema, checked with an independent validator (the
`jsonschema` package editors and CI tools use) against real manifests."""

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "strata.schema.json").read_text())
OK = sorted((ROOT / "crates/strata-model/testdata/ok").glob("*.yaml")) + sorted(ROOT.glob("examples/*/strata.yaml"))


def load(text: str):
    # YAML 1.2, as Strata reads it: `on: created` keeps the key `on`.
    return YAML(typ="safe", pure=True).load(text)


def validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


@pytest.mark.parametrize("path", OK, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_manifests_match_the_schema(path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "text, where",
    [
        ("service: x\nstatefull: {}\n", []),
        ("service: x\nstateful:\n  tables:\n    T: { partion_key: pk:S }\n", ["stateful", "tables", "T"]),
        ("service: x\nstateful:\n  buckets:\n    B: { notifications: f }\n", ["stateful", "buckets", "B"]),
        ("service: x\nstateful:\n  tables:\n    T: { partition_key: pk:S, stream: all }\n", ["stateful", "tables", "T", "stream"]),
        ("stateful: {}\n", []),
        ("service: x\nstateless:\n  functions:\n    f: { memory: lots }\n", ["stateless", "functions", "f", "memory"]),
    ],
)
def test_schema_rejects_what_strata_rejects(text: str, where: list) -> None:
    errors = list(validator().iter_errors(load(text)))
    assert errors, "the schema accepted an invalid manifest"

    # `anyOf` (a value or null) reports at the parent; the cause is in `context`.
    def paths(errs):
        for e in errs:
            yield list(e.absolute_path)
            yield from paths(e.context or [])

    assert any(p[: len(where)] == where for p in paths(errors)), [e.message for e in errors]


def test_examples_declare_the_schema_for_editors() -> None:
    for manifest in ROOT.glob("examples/*/strata.yaml"):
        first = manifest.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), manifest
        target = (manifest.parent / first.split("=", 1)[1]).resolve()
        assert target == ROOT / "schema" / "strata.schema.json", manifest
