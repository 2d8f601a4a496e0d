"""A running `strata dev` of the gateway test service, shared by the
module's tests; the hot-swap test starts its own on a private copy."""

import http.client
import json
import pathlib
import shutil
import urllib.parse

import pytest

from strata_server import DevServer

SERVICE = pathlib.Path(__file__).resolve().parent / "service"


class Http:
    """Plain HTTP to the gateway, one connection per call, never raising
    on an error status."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port

    def call(self, method, path, headers=None, body=None, timeout=40):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def raw(self, method, path, header_pairs, body=None):
        """A request with headers given as (name, value) pairs, so a name
        can repeat."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=40)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in header_pairs:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.headers, json.loads(data) if data else None
        finally:
            conn.close()

    def json(self, method, path, headers=None, body=None):
        status, headers, data = self.call(method, path, headers, body)
        return status, headers, json.loads(data) if data else None


def copy_service(tmp_path):
    target = tmp_path / "service"
    shutil.copytree(SERVICE, target, ignore=shutil.ignore_patterns(".strata", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    server = DevServer(copy_service(tmp_path_factory.mktemp("gateway")))
    assert server.http_url, server.output()
    yield server
    code = server.stop()
    assert code == 0, f"strata dev exited {code} on Ctrl-C:\n{server.output()}"


@pytest.fixture(scope="module")
def api(dev):
    return Http(dev.http_url)


@pytest.fixture
def own_dev(tmp_path):
    """A private `strata dev` on a private copy of the service, for tests
    that edit code: yields (server, its HTTP client, the service folder)."""
    started = []

    def start():
        service = copy_service(tmp_path)
        server = DevServer(service)
        started.append(server)
        return server, Http(server.http_url), service

    yield start
    for server in started:
        code = server.stop()
        assert code == 0, f"strata dev exited {code} on Ctrl-C:\n{server.output()}"
