"""The AWS CLI against the endpoint: `aws ssm` smoke test."""

import json
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
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return subprocess.run([str(exe), "ssm", *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)


def test_aws_cli_ssm_smoke(server, prefix):
    name = f"{prefix}/cli"
    put = aws(server, "put-parameter", "--name", name, "--value", "secret", "--type", "SecureString")
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["Version"] == 1
    got = aws(server, "get-parameter", "--name", name, "--with-decryption")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Parameter"]["Value"] == "secret"
    listed = aws(server, "get-parameters-by-path", "--path", prefix)
    assert listed.returncode == 0, listed.stderr
    assert [p["Name"] for p in json.loads(listed.stdout)["Parameters"]] == [name]
    missing = aws(server, "get-parameter", "--name", f"{prefix}/absent")
    assert missing.returncode != 0
    assert "ParameterNotFound" in missing.stderr
