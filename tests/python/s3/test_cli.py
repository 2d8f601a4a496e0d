"""The AWS CLI against the endpoint: `aws s3` cp up and down, sync both
ways, ls, and rm --recursive."""

import os
import pathlib
import subprocess
import sys


def aws(server, *args):
    exe = pathlib.Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDDEVELOPER",
        "AWS_SECRET_ACCESS_KEY": "not-checked-locally",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    result = subprocess.run(
        [str(exe), "s3", *args, "--endpoint-url", server.url], env=env, capture_output=True, text=True, timeout=300
    )
    return result


def test_aws_cli_s3_smoke(server, s3, bucket, tmp_path):
    up = tmp_path / "up"
    (up / "nested" / "deeper").mkdir(parents=True)
    files = {
        "one.txt": b"one",
        "nested/two.txt": b"two" * 1000,
        "nested/deeper/three.bin": os.urandom(9 * 1024 * 1024),
        "spaced name ü.txt": b"unicode",
    }
    for name, data in files.items():
        (up / name).write_bytes(data)

    cp = aws(server, "cp", str(up / "one.txt"), f"s3://{bucket}/single/one.txt")
    assert cp.returncode == 0, cp.stderr
    down = tmp_path / "one-back.txt"
    cp = aws(server, "cp", f"s3://{bucket}/single/one.txt", str(down))
    assert cp.returncode == 0, cp.stderr
    assert down.read_bytes() == b"one"

    sync = aws(server, "sync", str(up), f"s3://{bucket}/tree")
    assert sync.returncode == 0, sync.stderr
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"])
    assert keys == sorted(f"tree/{name}" for name in files)
    # A second sync has nothing to do.
    again = aws(server, "sync", str(up), f"s3://{bucket}/tree")
    assert again.returncode == 0 and "upload:" not in again.stdout, again.stdout

    back = tmp_path / "back"
    sync = aws(server, "sync", f"s3://{bucket}/tree", str(back))
    assert sync.returncode == 0, sync.stderr
    for name, data in files.items():
        assert (back / name).read_bytes() == data, name

    ls = aws(server, "ls", f"s3://{bucket}/tree/")
    assert ls.returncode == 0, ls.stderr
    assert "PRE nested/" in ls.stdout and "one.txt" in ls.stdout
    buckets = aws(server, "ls")
    assert bucket in buckets.stdout

    rm = aws(server, "rm", f"s3://{bucket}/tree", "--recursive")
    assert rm.returncode == 0, rm.stderr
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["single/one.txt"]

    missing = aws(server, "cp", f"s3://{bucket}/nope.txt", str(tmp_path / "nope"))
    assert missing.returncode != 0
