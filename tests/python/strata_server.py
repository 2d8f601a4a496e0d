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
import time

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


# What `strata dev` prints when a release is live after an edit.
SWAPPED = re.compile(r"^swapped in release \S+ in \d+ ms")


def write_version(service, version):
    """Set `VERSION` in the compute test service's handlers, written next to
    the file and renamed over it, as most editors save."""
    handlers = service / "src" / "handlers.py"
    text = re.sub(r'^VERSION = ".*"$', f'VERSION = "{version}"', handlers.read_text(), flags=re.M)
    tmp = handlers.with_name(".handlers.py.new")
    tmp.write_text(text)
    tmp.replace(handlers)


class DevServer:
    """One `strata dev` process on free ports. Its stdout is read on a
    thread into `lines`, so tests can wait for a swap or a log line."""

    AWS = re.compile(r"AWS endpoint\s+(http://127\.0\.0\.1:\d+)")
    HTTP = re.compile(r"HTTP API\s+(http://127\.0\.0\.1:\d+)")

    def __init__(self, service_dir, extra_args=(), env=None):
        self.service_dir = str(service_dir)
        self.proc = subprocess.Popen(
            [strata_bin(), "dev", "--dir", self.service_dir, "--port", "0", "--aws-port", "0", *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines = []
        self.errors = []
        self._changed = threading.Condition()
        self.url = None
        self.http_url = None
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True).start()
        if not self.wait_for_line(lambda line: line.startswith("ready in"), timeout=120):
            self.proc.kill()
            raise AssertionError(
                "strata dev did not become ready:\n"
                + "\n".join(self.lines)
                + "\nstderr:\n"
                + "\n".join(self.errors)
            )
        for line in self.lines:
            if m := self.AWS.search(line):
                self.url = m.group(1)
            if m := self.HTTP.search(line):
                self.http_url = m.group(1)

    def _read(self, stream, into):
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, predicate, timeout=30, start=0, stream="stdout"):
        """Wait for a line (from index `start` on) that satisfies `predicate`;
        returns it, or None on timeout or exit."""
        lines = self.lines if stream == "stdout" else self.errors
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in lines[start:]:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self._changed.wait(min(left, 0.5))

    def client(self, service, access_key="AKIDDEVELOPER"):
        return client_for(self, service, access_key)

    def output(self):
        return "\n".join(self.lines) + "\n--- stderr ---\n" + "\n".join(self.errors)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
