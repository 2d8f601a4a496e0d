"""A Rust function built on AWS's `lambda_runtime` crate (examples/hello-rust)
runs unchanged on the `provided` runtime of `strata dev`."""

import json
import os
import shutil
from pathlib import Path

import pytest

from strata_server import DevServer, strata_bin

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "hello-rust"


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    # `cargo build --workspace` puts the example's binary beside strata's.
    built = Path(strata_bin()).with_name("bootstrap")
    assert built.exists(), f"{built} is missing: build the workspace first (cargo build --workspace)"
    service = tmp_path_factory.mktemp("hello-rust") / "hello-rust"
    shutil.copytree(EXAMPLE, service, ignore=shutil.ignore_patterns(".strata", "dist", "target"))
    (service / "dist").mkdir()
    shutil.copy2(built, service / "dist" / "bootstrap")
    server = DevServer(service)
    yield server
    server.stop()


def test_a_lambda_runtime_function_answers_with_its_context(hello):
    response = hello.client("lambda").invoke(FunctionName="hello", Payload=b'{"n": 7}')
    assert "FunctionError" not in response
    body = json.loads(response["Payload"].read())
    assert body["message"] == "hello from rust"
    assert body["event"] == {"n": 7}
    assert body["function_name"] == "hello-rust-dev-hello"
    assert body["function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello-rust-dev-hello"
    assert len(body["request_id"]) == 36
    assert body["deadline_ms"] > 0


def test_a_lambda_runtime_error_is_a_function_error(hello):
    response = hello.client("lambda").invoke(FunctionName="hello", Payload=b'{"fail": true}')
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Payload"].read())
    assert body["errorMessage"] == "asked to fail"
