"""Multipart uploads: the whole sequence, S3's ETag for the joined object,
part validation (order, ETags, the 5 MiB minimum for all parts but the
last), replacing a part, listing parts and uploads, abort, and the errors
of bad sequences."""

import hashlib

import pytest
from botocore.exceptions import ClientError

from strata_s3 import error_of, raw

MIB = 1024 * 1024


def multipart_etag(parts):
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"' + hashlib.md5(digests).hexdigest() + f'-{len(parts)}"'


def upload_parts(s3, bucket, key, upload_id, parts):
    return [
        {"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i, Body=p)["ETag"]}
        for i, p in enumerate(parts, start=1)
    ]


def test_complete_joins_parts_with_the_md5_of_md5s_etag(s3, bucket):
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    created = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="text/plain", Metadata={"m": "1"})
    upload_id = created["UploadId"]
    listed = upload_parts(s3, bucket, "big", upload_id, parts)
    assert listed[0]["ETag"] == '"' + hashlib.md5(parts[0]).hexdigest() + '"'
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    got_parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in got_parts] == [(1, 5 * MIB), (2, 5 * MIB), (3, 4)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id, MultipartUpload={"Parts": listed})
    assert done["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == 10 * MIB + 4
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"m": "1"}
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(b"".join(parts)).hexdigest()
    assert s3.get_object(Bucket=bucket, Key="big", Range="bytes=5242878-5242881")["Body"].read() == b"aabb"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert error_of(caught) == ("NoSuchUpload", 404)


def test_a_part_uploaded_twice_keeps_the_last(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"first")
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"second")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_parts_out_of_order_are_refused(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    listed = upload_parts(s3, bucket, "k", upload_id, [b"x" * (5 * MIB), b"y"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": listed[::-1]})
    assert error_of(caught) == ("InvalidPartOrder", 400)
    # The upload is still there and can be completed properly.
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": listed})


def test_unknown_parts_and_wrong_etags_are_invalid_part(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    listed = upload_parts(s3, bucket, "k", upload_id, [b"only"])
    for parts in ([{"PartNumber": 2, "ETag": listed[0]["ETag"]}], [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]):
        with pytest.raises(ClientError) as caught:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})
        assert error_of(caught) == ("InvalidPart", 400)


def test_small_parts_before_the_last_are_entity_too_small(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    listed = upload_parts(s3, bucket, "k", upload_id, [b"small", b"last"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": listed})
    assert error_of(caught) == ("EntityTooSmall", 400)


def test_abort_removes_the_upload(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    upload_parts(s3, bucket, "k", upload_id, [b"data"])
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    for call in (
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id),
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x"),
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_of(caught) == ("404", 404)


def test_an_upload_id_belongs_to_its_key(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error_of(caught) == ("NoSuchUpload", 404)


def test_bad_part_numbers_and_bodies(s3, server, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in ("0", "10001", "x"):
        status, _, body = raw(server, "PUT", f"/{bucket}/k?partNumber={number}&uploadId={upload_id}", body=b"x")
        assert status == 400 and b"InvalidArgument" in body, number
    for body in (b"<CompleteMultipartUpload>", b"<CompleteMultipartUpload></CompleteMultipartUpload>", b"junk"):
        status, _, answer = raw(server, "POST", f"/{bucket}/k?uploadId={upload_id}", body=body)
        assert status == 400 and b"<Code>MalformedXML</Code>" in answer, body


def test_boto3_managed_transfer_uses_multipart(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    source = tmp_path / "file.bin"
    data = bytes(range(256)) * (12 * MIB // 256)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(source), bucket, "managed.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="managed.bin")
    assert head["ETag"].endswith('-3"')
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "managed.bin", str(target), Config=config)
    assert target.read_bytes() == data
