"""Fixtures of the DynamoDB suite; the server fixtures come from
tests/python/conftest.py."""

import uuid

import pytest

from strata_server import Server, client_for, strata_bin  # noqa: F401


@pytest.fixture
def ddb(server):
    return server.client()


@pytest.fixture
def table_name():
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_table():
    return create_table


def create_table(client, name, key="pk", sort=None, key_type="S", sort_type="S", **extra):
    """CreateTable with on-demand billing; waits until ACTIVE."""
    schema = [{"AttributeName": key, "KeyType": "HASH"}]
    attrs = [{"AttributeName": key, "AttributeType": key_type}]
    if sort:
        schema.append({"AttributeName": sort, "KeyType": "RANGE"})
        attrs.append({"AttributeName": sort, "AttributeType": sort_type})
    for extra_attr in extra.pop("more_attributes", []):
        attrs.append(extra_attr)
    client.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
