"""SPEC S6 for S3: an acknowledged PutObject, copy, multipart completion or
delete survives `kill -9` of the server, under concurrent writes, and the
files of writes that were cut off are swept on the next start."""

import hashlib
import os
import random
import threading
import time

from strata_s3 import s3_client


def test_acknowledged_writes_survive_kill_9(start_server, tmp_path):
    data = tmp_path / "data"
    first = start_server(data)
    s3 = s3_client(first)
    s3.create_bucket(Bucket="durable")
    s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="durable", Key="doc", Body=b"version one")["VersionId"]
    s3.put_object(Bucket="durable", Key="doc", Body=b"version two", Metadata={"m": "2"})
    s3.copy_object(Bucket="durable", Key="copy", CopySource={"Bucket": "durable", "Key": "doc"})
    s3.put_object(Bucket="durable", Key="gone", Body=b"x")
    s3.delete_object(Bucket="durable", Key="gone")
    upload = s3.create_multipart_upload(Bucket="durable", Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket="durable", Key="mp", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket="durable", Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    pending = s3.create_multipart_upload(Bucket="durable", Key="pending")["UploadId"]
    s3.upload_part(Bucket="durable", Key="pending", UploadId=pending, PartNumber=1, Body=b"waiting")

    acknowledged = {}
    stop = threading.Event()

    def writer(n):
        client = s3_client(first)
        i = 0
        while not stop.is_set():
            key = f"load/{n}/{i}"
            body = os.urandom(random.randint(0, 64 * 1024))
            try:
                client.put_object(Bucket="durable", Key=key, Body=body)
            except Exception:
                return
            acknowledged[key] = hashlib.md5(body).hexdigest()
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(random.uniform(0.5, 1.5))
    first.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 10

    second = start_server(data)
    s3 = s3_client(second)
    assert s3.get_object(Bucket="durable", Key="doc")["Body"].read() == b"version two"
    assert s3.get_object(Bucket="durable", Key="doc", VersionId=v1)["Body"].read() == b"version one"
    assert s3.get_object(Bucket="durable", Key="copy")["Metadata"] == {"m": "2"}
    assert s3.get_object(Bucket="durable", Key="mp")["Body"].read() == b"part"
    assert [p["Size"] for p in s3.list_parts(Bucket="durable", Key="pending", UploadId=pending)["Parts"]] == [7]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="durable")["Contents"]}
    assert "gone" not in listed
    for key, md5 in acknowledged.items():
        body = s3.get_object(Bucket="durable", Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == md5, key


def test_files_of_cut_off_writes_are_swept_on_start(start_server, tmp_path):
    data = tmp_path / "data"
    first = start_server(data)
    s3 = s3_client(first)
    s3.create_bucket(Bucket="sweep")
    s3.put_object(Bucket="sweep", Key="kept", Body=b"kept")
    first.kill9()
    # What a write killed before its commit leaves behind.
    stray_blob = data / "s3" / "blobs" / "ff" / ("ff" * 16)
    stray_blob.parent.mkdir(parents=True, exist_ok=True)
    stray_blob.write_bytes(b"orphan")
    stray_tmp = data / "s3" / "tmp" / "partial"
    stray_tmp.write_bytes(b"partial")

    second = start_server(data)
    s3 = s3_client(second)
    assert s3.get_object(Bucket="sweep", Key="kept")["Body"].read() == b"kept"
    assert not stray_blob.exists()
    assert not stray_tmp.exists()
