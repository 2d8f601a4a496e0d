"""Fixtures every suite under tests/python shares: the `strata` binary and
`strata serve` processes on free ports and temporary data directories."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from strata_server import Server, strata_bin  # noqa: E402


@pytest.fixture
def strata():
    return strata_bin()


@pytest.fixture
def start_server(tmp_path):
    """Factory: start a server (on a given data dir, or a fresh one)."""
    started = []

    def start(data_dir=None, extra_args=()):
        server = Server(data_dir or tmp_path / "data", extra_args)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.returncode is None:
            server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server shared by the tests that only need an endpoint."""
    s = Server(tmp_path_factory.mktemp("shared") / "data")
    yield s
    code = s.stop()
    assert code == 0, f"strata serve exited {code} on SIGTERM"
