"""Fixtures for the engine's end-to-end scenarios: a service folder with a
strata.yaml the test rewrites, the real `strata` binary run on it, and
`strata serve` started on the stage's data directory (after a deploy, never
during one) to look at the data with boto3."""

import subprocess

import pytest

from strata_server import Server, strata_bin


class Service:
    """A service folder: write its manifest, run strata on it, serve its data."""

    def __init__(self, root):
        self.dir = root
        self.data = root / ".strata" / "dev" / "data"
        self.state = root / ".strata" / "dev" / "state"

    def manifest(self, stateful):
        (self.dir / "strata.yaml").write_text(f"service: shop\nstateful:\n{stateful}")

    def run(self, *args, stdin=None):
        return subprocess.run(
            [strata_bin(), "--dir", str(self.dir), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )

    def ok(self, *args):
        done = self.run(*args)
        assert done.returncode == 0, f"strata {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done

    def serve(self):
        """A context manager: `strata serve` on this stage's data."""
        return _Serving(self.data)


class _Serving:
    def __init__(self, data):
        self.data = data

    def __enter__(self):
        self.server = Server(self.data)
        return self.server

    def __exit__(self, *exc):
        assert self.server.stop() == 0


@pytest.fixture
def service(tmp_path):
    return Service(tmp_path / "shop")


@pytest.fixture
def service_at():
    """Factory: a `Service` on an existing folder (a copied example)."""
    return Service


@pytest.fixture(autouse=True)
def _folder(service):
    service.dir.mkdir(parents=True)
