"""Versioned buckets: version ids on writes, old versions readable by id,
delete markers, deleting one version for good, ListObjectVersions, and a
suspended bucket writing `null` versions."""

import pytest
from botocore.exceptions import ClientError

from strata_s3 import error_of


@pytest.fixture
def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def test_unversioned_buckets_have_no_version_ids(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in put
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]


def test_each_put_is_a_version_readable_by_id(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"two"
    old = s3.get_object(Bucket=versioned, Key="k", VersionId=v1)
    assert old["Body"].read() == b"one" and old["VersionId"] == v1
    assert s3.head_object(Bucket=versioned, Key="k", VersionId=v1)["ContentLength"] == 3
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId="no-such-version")
    assert error_of(caught) == ("NoSuchVersion", 404)


def test_delete_makes_a_marker_and_old_versions_stay(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k")
    assert error_of(caught) == ("NoSuchKey", 404)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert "Contents" not in s3.list_objects_v2(Bucket=versioned)
    listed = s3.list_object_versions(Bucket=versioned)
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [("k", marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=v1)["Body"].read() == b"one"
    # Removing the marker brings the object back.
    s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=versioned)
    assert error_of(caught) == ("BucketNotEmpty", 409)


def test_deleting_a_version_removes_it_for_good(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"]
    s3.delete_object(Bucket=versioned, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"one"
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v1, True)]


def test_delete_objects_with_versions(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="a", Body=b"1")["VersionId"]
    result = s3.delete_objects(Bucket=versioned, Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}]})
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["a"]["VersionId"] == v1
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]


def test_list_versions_pages_with_markers(s3, versioned):
    ids = {}
    for key in ("a", "b"):
        ids[key] = [s3.put_object(Bucket=versioned, Key=key, Body=str(i).encode())["VersionId"] for i in range(3)]
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=versioned, PaginationConfig={"PageSize": 2}):
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    expected = [(k, v) for k in ("a", "b") for v in reversed(ids[k])]
    assert seen == expected
    prefixed = s3.list_object_versions(Bucket=versioned, Prefix="b")
    assert {v["Key"] for v in prefixed["Versions"]} == {"b"}


def test_suspended_bucket_writes_null_versions(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=versioned, Key="k", Body=b"null one")
    s3.put_object(Bucket=versioned, Key="k", Body=b"null two")
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", v1]
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=v1)["Body"].read() == b"kept"


def test_copy_from_an_old_version(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="k", Body=b"old")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"new")
    copied = s3.copy_object(Bucket=versioned, Key="restored", CopySource={"Bucket": versioned, "Key": "k", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=versioned, Key="restored")["Body"].read() == b"old"
