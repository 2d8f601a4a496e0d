"""Object operations: put/get/head/delete, ETags, metadata and content
headers, ranges, conditional requests, copies, batch deletes, hostile keys,
and the routing of anonymous, presigned and virtual-hosted requests."""

import datetime
import hashlib
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from strata_s3 import error_of, raw, s3_client


def test_put_get_head_delete_with_md5_etag(s3, bucket):
    body = b"hello world"
    put = s3.put_object(Bucket=bucket, Key="greeting", Body=body)
    etag = '"' + hashlib.md5(body).hexdigest() + '"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="greeting")
    assert got["Body"].read() == body
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "binary/octet-stream"
    assert got["AcceptRanges"] == "bytes"
    assert abs((got["LastModified"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 60
    head = s3.head_object(Bucket=bucket, Key="greeting")
    assert head["ContentLength"] == len(body) and head["ETag"] == etag
    s3.delete_object(Bucket=bucket, Key="greeting")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="greeting")
    assert error_of(caught) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="greeting")
    assert error_of(caught) == ("404", 404)
    # Deleting what is not there succeeds.
    s3.delete_object(Bucket=bucket, Key="greeting")


def test_overwrite_replaces_bytes_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", Metadata={"a": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"two!")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"two!"
    assert got["Metadata"] == {}


def test_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_metadata_and_content_headers_are_kept(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="doc.html"',
        CacheControl="max-age=60",
        ContentLanguage="en-GB",
        Expires=expires,
        Metadata={"colour": "blue", "Mixed-Case": "Value With Spaces"},
    )
    for response in (s3.get_object(Bucket=bucket, Key="doc.html"), s3.head_object(Bucket=bucket, Key="doc.html")):
        assert response["ContentType"] == "text/html; charset=utf-8"
        assert response["ContentEncoding"] == "identity"
        assert response["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert response["CacheControl"] == "max-age=60"
        assert response["ContentLanguage"] == "en-GB"
        assert response["Expires"] == expires
        assert response["Metadata"] == {"colour": "blue", "mixed-case": "Value With Spaces"}


def test_response_overrides_on_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/json", ResponseCacheControl="no-cache")
    assert got["ContentType"] == "application/json"
    assert got["CacheControl"] == "no-cache"


def test_content_md5_is_checked(s3, bucket):
    import base64

    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5=bad)
    assert error_of(caught) == ("BadDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


@pytest.mark.parametrize(
    "header,status,expected,content_range",
    [
        ("bytes=0-4", 206, b"01234", "bytes 0-4/10"),
        ("bytes=5-", 206, b"56789", "bytes 5-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=-100", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=3-1", 200, b"0123456789", None),
        ("lines=1-2", 200, b"0123456789", None),
    ],
)
def test_ranges(s3, bucket, header, status, expected, content_range):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="digits", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    assert got["Body"].read() == expected
    assert got["ContentLength"] == len(expected)
    assert got.get("ContentRange") == content_range


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_range_is_416(s3, bucket, header):
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="digits", Range=header)
    assert error_of(caught) == ("InvalidRange", 416)


def test_conditional_gets(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    hour = datetime.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="k", IfNoneMatch='"other"')["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=modified - hour)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=modified + hour)["Body"].read() == b"v1"
    for kwargs, expected in (
        ({"IfMatch": '"other"'}, ("PreconditionFailed", 412)),
        ({"IfUnmodifiedSince": modified - hour}, ("PreconditionFailed", 412)),
        ({"IfNoneMatch": etag}, ("304", 304)),
        ({"IfModifiedSince": modified + hour}, ("304", 304)),
    ):
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket=bucket, Key="k", **kwargs)
        assert error_of(caught) == expected, kwargs
    # If-Match true wins over If-Unmodified-Since false (S3's documented rule).
    got = s3.get_object(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=modified - hour)
    assert got["Body"].read() == b"v1"
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k", IfMatch='"other"')
    assert error_of(caught) == ("412", 412)


def test_copy_keeps_or_replaces_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == '"' + hashlib.md5(b"payload").hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload"
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/plain"
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="application/octet-stream",
    )
    got = s3.get_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "application/octet-stream"
    # Deleting the source leaves the copy intact (blobs are shared safely).
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"payload"


def test_copy_across_buckets_and_errors(s3, bucket, bucket_name):
    other = bucket_name + "-b"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="ünïcode key", Body=b"x")
    s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bucket, "Key": "ünïcode key"})
    assert s3.get_object(Bucket=other, Key="copy")["Body"].read() == b"x"
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=other, Key="c", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_of(caught) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="ünïcode key", CopySource={"Bucket": bucket, "Key": "ünïcode key"})
    assert error_of(caught) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=other, Key="c", CopySource={"Bucket": bucket, "Key": "ünïcode key"}, CopySourceIfMatch='"nope"')
    assert error_of(caught) == ("PreconditionFailed", 412)


def test_delete_objects_reports_each_key_and_quiet_reports_none(s3, bucket):
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "never"]
    assert "Errors" not in result
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize(
    "body",
    [b"<Delete><Object><Key>a</Key></Object>", b"garbage", b"<Delete></Delete>", b"<Delete><Object></Object></Delete>", b""],
)
def test_malformed_delete_bodies_are_malformed_xml(server, bucket, body):
    status, _, answer = raw(server, "POST", f"/{bucket}?delete", body=body)
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in answer


@pytest.mark.parametrize(
    "key",
    ["../../../etc/passwd", "..", "a/../../b", "/leading/slash", "ünïcödé/日本語/🎉", "sp ace+plus%percent&amp?q=1#hash", "new\nline", "x" * 1024],
)
def test_hostile_keys_round_trip_and_list(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)


def test_keys_longer_than_1024_bytes_are_refused(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="é" * 513, Body=b"x")
    assert error_of(caught) == ("KeyTooLongError", 400)


def test_keys_never_become_paths(server, s3, bucket):
    import pathlib

    s3.put_object(Bucket=bucket, Key="../../escape.txt", Body=b"contained")
    data = pathlib.Path(server.data_dir)
    assert not (data.parent / "escape.txt").exists()
    assert not (data / "escape.txt").exists()
    names = {p.name for p in data.rglob("*")}
    assert "escape.txt" not in names


def test_anonymous_requests_reach_s3(server, bucket):
    status, headers, _ = raw(server, "PUT", f"/{bucket}/anon.txt", body=b"anonymous")
    assert status == 200
    assert headers["etag"] == '"' + hashlib.md5(b"anonymous").hexdigest() + '"'
    status, _, body = raw(server, "GET", f"/{bucket}/anon.txt")
    assert (status, body) == (200, b"anonymous")


def test_anonymous_json_calls_are_not_taken_by_s3(server):
    status, headers, body = raw(
        server,
        "POST",
        "/",
        body=b"{}",
        headers={"X-Amz-Target": "Nobody_20200101.Op", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert status == 400
    assert b"UnknownOperationException" in body


def test_presigned_urls_work(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned body"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    request = urllib.request.Request(put_url, data=b"uploaded", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"


def test_virtual_hosted_requests_with_raw_host_header(server, bucket):
    port = urllib.parse.urlparse(server.url).port
    host = f"{bucket}.localhost:{port}"
    status, _, _ = raw(server, "PUT", "/dir/v.txt", body=b"virtual", host=host)
    assert status == 200
    status, _, body = raw(server, "GET", "/dir/v.txt", host=host)
    assert (status, body) == (200, b"virtual")
    status, _, body = raw(server, "GET", "/?list-type=2&prefix=dir/", host=host)
    assert status == 200 and b"<Key>dir/v.txt</Key>" in body


def test_virtual_hosted_boto3_client(server, bucket):
    """boto3 in virtual-hosted mode, signing for `<bucket>.localhost`, with
    the connection sent to 127.0.0.1 (`*.localhost` need not resolve)."""
    port = urllib.parse.urlparse(server.url).port
    def to_loopback(request, **_):
        parsed = urllib.parse.urlsplit(request.url)
        request.headers["Host"] = parsed.netloc
        request.url = urllib.parse.urlunsplit(parsed._replace(netloc=f"127.0.0.1:{port}"))

    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        region_name="us-east-1",
        aws_access_key_id="AKIDDEVELOPER",
        aws_secret_access_key="x",
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    client.meta.events.register_last("before-send.s3", to_loopback)
    put = client.put_object(Bucket=bucket, Key="vh/key.txt", Body=b"via virtual host")
    assert put["ETag"]
    got = client.get_object(Bucket=bucket, Key="vh/key.txt")
    assert got["Body"].read() == b"via virtual host"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["vh/key.txt"]


def test_aws_chunked_uploads_are_decoded(server, bucket):
    # The framing the JS and Rust SDKs use for streaming uploads with checksums.
    body = b"5;chunk-signature=aa\r\nhello\r\n6;chunk-signature=bb\r\n world\r\n0;chunk-signature=cc\r\n\r\n"
    status, headers, _ = raw(
        server,
        "PUT",
        f"/{bucket}/chunked",
        body=body,
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "x-amz-decoded-content-length": "11",
        },
    )
    assert status == 200
    assert headers["etag"] == '"' + hashlib.md5(b"hello world").hexdigest() + '"'
    status, headers, got = raw(server, "GET", f"/{bucket}/chunked")
    assert got == b"hello world"
    assert "content-encoding" not in headers


def test_a_short_body_is_not_stored(server, bucket):
    status, _, body = raw(
        server,
        "PUT",
        f"/{bucket}/short",
        body=b"abc",
        headers={"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "3"},
    )
    assert status == 400
    assert b"IncompleteBody" in body
    status, _, _ = raw(server, "GET", f"/{bucket}/short")
    assert status == 404
