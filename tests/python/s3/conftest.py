"""Fixtures for the S3 suite: the shared `strata serve` of
tests/python/conftest.py, a boto3 S3 client (path-style, which boto3 uses
against an IP endpoint) and fresh buckets."""

import uuid

import pytest

from strata_s3 import s3_client


@pytest.fixture
def s3(server):
    return s3_client(server)


@pytest.fixture
def bucket_name():
    return f"bkt-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    return bucket_name
