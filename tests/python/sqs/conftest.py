"""Fixtures for the SQS suite: the shared `strata serve` fixtures of
tests/python/conftest.py, with SQS clients."""

import uuid

import pytest

from strata_server import client_for


@pytest.fixture
def sqs(server):
    return client_for(server, "sqs")


@pytest.fixture
def queue_name():
    return f"q-{uuid.uuid4().hex[:12]}"
