"""Objects stream through the server: a ~50 MB upload and download must not
grow the server's resident memory by anything like the object's size."""

import hashlib
import os

CHUNK = 1024 * 1024
SIZE = 50 * CHUNK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_50_mb_put_and_get_stream(start_server, tmp_path):
    from strata_s3 import s3_client

    server = start_server()
    s3 = s3_client(server)
    s3.create_bucket(Bucket="streaming")
    # Warm up so allocator pools and connections exist before measuring.
    s3.put_object(Bucket="streaming", Key="warm", Body=b"x" * CHUNK)
    s3.get_object(Bucket="streaming", Key="warm")["Body"].read()
    before = rss_kib(server.proc.pid)

    source = tmp_path / "big.bin"
    expected = hashlib.md5()
    with open(source, "wb") as out:
        for i in range(SIZE // CHUNK):
            block = hashlib.sha256(str(i).encode()).digest() * (CHUNK // 32)
            expected.update(block)
            out.write(block)
    with open(source, "rb") as body:
        put = s3.put_object(Bucket="streaming", Key="big", Body=body)
    assert put["ETag"] == f'"{expected.hexdigest()}"'
    after_put = rss_kib(server.proc.pid)

    got = s3.get_object(Bucket="streaming", Key="big")
    digest = hashlib.md5()
    total = 0
    for piece in got["Body"].iter_chunks(CHUNK):
        digest.update(piece)
        total += len(piece)
    assert total == SIZE
    assert digest.hexdigest() == expected.hexdigest()
    after_get = rss_kib(server.proc.pid)

    growth_mib = (max(after_put, after_get) - before) / 1024
    assert growth_mib < 20, f"RSS grew by {growth_mib:.1f} MiB for a {SIZE // CHUNK} MiB object"
    # The bytes are in one file under the data directory, not in SQLite.
    blobs = [p for p in (os.path.join(r, f) for r, _, fs in os.walk(os.path.join(server.data_dir, "s3")) for f in fs)]
    assert any(os.path.getsize(p) == SIZE for p in blobs)
