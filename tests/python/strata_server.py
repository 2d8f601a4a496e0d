"""The real `strata serve` binary as a test helper, and boto3 clients for it.

`$STRATA_BIN` names the binary (scripts/test sets it); without it the debug
build in target/ is used. Each server runs on a free port (`--aws-port 0`) and
a temporary data directory; the port is read from the address the server
prints on its first line of stdout.
"""

import os
import pathlib
import re
import signal
import subprocess
import threading

import boto3
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
ADDRESS = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT = 30


def strata_bin():
    path = os.environ.get("STRATA_BIN") or str(REPO / "target" / "debug" / "strata")
    if not os.path.exists(path):
        pytest.fail(f"strata binary not found at {path}; build it or set STRATA_BIN")
    return path


class Server:
    """One `strata serve` process."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = str(data_dir)
        self.proc = subprocess.Popen(
            [strata_bin(), "serve", "--aws-port", "0", "--data", self.data_dir, *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = self._read_address()

    def _read_address(self):
        found = {}

        def read():
            line = self.proc.stdout.readline()
            found["line"] = line
            match = ADDRESS.search(line)
            if match:
                found["url"] = match.group(1)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if "url" not in found:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(
                f"strata serve did not print its address; first line {found.get('line')!r}, stderr {err!r}"
            )
        return found["url"]

    def client(self, access_key="AKIDDEVELOPER", service="dynamodb"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key="not-checked-locally",
            # One attempt: a retry would hide a dropped connection or a 500.
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def stop(self):
        """SIGTERM, and return the exit code once it has shut down."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def client_for(server, service, access_key="AKIDDEVELOPER"):
    """A boto3 client for `service` on `server`, failing fast (one attempt)."""
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key="not-checked-locally",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=40),
    )
