"""A running `strata dev` of the compute test service, shared by the module's
tests (starting one costs a second); tests that edit code or kill things
start their own."""

import shutil
import sys

import pytest

from strata_server import DevServer

SERVICE = __import__("pathlib").Path(__file__).resolve().parent / "service"


def copy_service(tmp_path):
    """A private copy of the service, with the awslambdaric function pointed
    at this interpreter (which has awslambdaric installed)."""
    target = tmp_path / "service"
    shutil.copytree(SERVICE, target, ignore=shutil.ignore_patterns(".strata", "__pycache__"))
    manifest = target / "strata.yaml"
    manifest.write_text(
        manifest.read_text().replace("RIC_PYTHON: python3", f"RIC_PYTHON: {sys.executable}")
    )
    return target


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    server = DevServer(copy_service(tmp_path_factory.mktemp("compute")))
    yield server
    code = server.stop()
    assert code == 0, f"strata dev exited {code} on Ctrl-C:\n{server.output()}"


@pytest.fixture
def own_dev(tmp_path):
    """Factory for a private `strata dev` on a private copy of the service."""
    started = []

    def start(manifest=None, **kwargs):
        service = copy_service(tmp_path)
        if manifest is not None:
            path = service / "strata.yaml"
            path.write_text(manifest(path.read_text()))
        server = DevServer(service, **kwargs)
        started.append(server)
        return server, service

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def service_copy(tmp_path):
    """A private copy of the service that no `strata dev` runs."""
    return copy_service(tmp_path)
