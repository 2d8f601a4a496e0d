"""Fixtures for the SSM suite: the shared `strata serve` fixtures of
tests/python/conftest.py, with SSM clients."""

import uuid

import pytest

from strata_server import client_for


@pytest.fixture
def ssm(server):
    return client_for(server, "ssm")


@pytest.fixture
def prefix():
    return f"/t{uuid.uuid4().hex[:12]}"
