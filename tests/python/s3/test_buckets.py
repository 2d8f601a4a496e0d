"""Bucket operations as AWS documents them: create, head, list, delete,
naming rules, versioning configuration, location, and their errors."""

import pytest
from botocore.exceptions import ClientError

from strata_s3 import error_of, raw


def test_create_head_list_delete(s3, bucket_name):
    s3.create_bucket(Bucket=bucket_name)
    s3.head_bucket(Bucket=bucket_name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket_name in names
    assert names == sorted(names)
    s3.delete_bucket(Bucket=bucket_name)
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=bucket_name)
    # HEAD errors have no body: botocore reports the status as the code.
    assert error_of(caught) == ("404", 404)


def test_creating_an_owned_bucket_again_is_a_conflict(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=bucket)
    assert error_of(caught) == ("BucketAlreadyOwnedByYou", 409)


def test_a_bucket_with_objects_cannot_be_deleted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(caught) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "UpperCase", "under_score", "-leading", "trailing-", "two..dots", "192.168.0.1", "xn--punycode"],
)
def test_invalid_bucket_names_are_refused(server, name):
    # boto3 validates some names itself; raw requests reach the server.
    status, _, body = raw(server, "PUT", f"/{name}")
    assert status == 400
    assert b"<Code>InvalidBucketName</Code>" in body


def test_operations_on_a_missing_bucket(s3):
    for call in (
        lambda: s3.list_objects_v2(Bucket="no-such-bucket-here"),
        lambda: s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x"),
        lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k"),
        lambda: s3.delete_bucket(Bucket="no-such-bucket-here"),
        lambda: s3.get_bucket_versioning(Bucket="no-such-bucket-here"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("NoSuchBucket", 404)


def test_error_document_has_code_message_resource_and_request_id(server):
    status, headers, body = raw(server, "GET", "/no-such-bucket-here/some/key")
    assert status == 404
    assert headers["content-type"] == "application/xml"
    for part in (b"<Code>NoSuchBucket</Code>", b"<Message>", b"<Resource>/no-such-bucket-here/some/key</Resource>", b"<RequestId>"):
        assert part in body
    assert headers["x-amz-request-id"]


def test_versioning_configuration_round_trips(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_malformed_versioning_body_is_malformed_xml(server, bucket):
    for body in (b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>", b"<not-closed>", b""):
        status, _, answer = raw(server, "PUT", f"/{bucket}?versioning", body=body)
        assert status == 400, body
        assert b"<Code>MalformedXML</Code>" in answer


def test_location_of_a_local_bucket_is_us_east_1(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    head = s3.head_bucket(Bucket=bucket)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_unsupported_subresources_are_not_implemented(server, bucket):
    status, _, body = raw(server, "GET", f"/{bucket}?policy")
    assert status == 501
    assert b"<Code>NotImplemented</Code>" in body
