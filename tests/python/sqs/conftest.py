"""Fixtures for the SQS suite: the same `strata serve` process the DynamoDB
suite starts (its `Server` class is reused, not copied), with SQS clients."""

import importlib.util
import pathlib
import uuid

import boto3
import pytest
from botocore.config import Config

_SHARED = pathlib.Path(__file__).resolve().parents[1] / "dynamodb" / "conftest.py"
_spec = importlib.util.spec_from_file_location("strata_server_fixtures", _SHARED)
server_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(server_fixtures)
Server = server_fixtures.Server
strata_bin = server_fixtures.strata_bin


def client_for(server, service, access_key="AKIDDEVELOPER"):
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key="not-checked-locally",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=40),
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("sqs") / "data")
    yield s
    code = s.stop()
    assert code == 0, f"strata serve exited {code} on SIGTERM"


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(data_dir=None):
        s = Server(data_dir or tmp_path / "data")
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.returncode is None:
            s.stop()


@pytest.fixture
def sqs(server):
    return client_for(server, "sqs")


@pytest.fixture
def queue_name():
    return f"q-{uuid.uuid4().hex[:12]}"
