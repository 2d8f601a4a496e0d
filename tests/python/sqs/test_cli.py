"""The AWS CLI against the endpoint: `aws sqs` smoke test."""

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
    return subprocess.run([str(exe), "sqs", *args, "--endpoint-url", server.url, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)


def test_aws_cli_sqs_smoke(server, queue_name):
    created = aws(server, "create-queue", "--queue-name", queue_name)
    assert created.returncode == 0, created.stderr
    url = json.loads(created.stdout)["QueueUrl"]
    sent = aws(server, "send-message", "--queue-url", url, "--message-body", "from the cli")
    assert sent.returncode == 0, sent.stderr
    got = aws(server, "receive-message", "--queue-url", url, "--wait-time-seconds", "2")
    assert got.returncode == 0, got.stderr
    [msg] = json.loads(got.stdout)["Messages"]
    assert msg["Body"] == "from the cli"
    deleted = aws(server, "delete-message", "--queue-url", url, "--receipt-handle", msg["ReceiptHandle"])
    assert deleted.returncode == 0, deleted.stderr
    missing = aws(server, "get-queue-url", "--queue-name", "no-such-queue-here")
    assert missing.returncode != 0
    assert "NonExistentQueue" in missing.stderr or "QueueDoesNotExist" in missing.stderr
