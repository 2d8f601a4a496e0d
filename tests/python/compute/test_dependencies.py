"""Dependencies: `requirements.txt` is installed with pip and `package.json`
with npm into a cache keyed by the file's content, so only the first start
pays; the code folder itself is never written to."""

import json
import shutil
from pathlib import Path

from strata_server import DevServer

SERVICE = Path(__file__).resolve().parent / "deps"


def invoke(dev, name):
    response = dev.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def installed(service):
    cache = service / ".strata" / "cache"
    return {p: p.stat().st_mtime_ns for kind in ("python", "node") for p in (cache / kind).iterdir()}


def test_pip_and_npm_install_once_per_dependency_file(tmp_path):
    service = tmp_path / "deps"
    shutil.copytree(SERVICE, service)
    dev = DevServer(service)
    try:
        py = invoke(dev, "py")
        assert py["version"] == "1.17.0"
        assert "/.strata/cache/python/" in py["file"]
        node = invoke(dev, "node")
        assert node == {"five": True, "word": False, "from": node["from"]}
        assert "/.strata/cache/node/" in node["from"]
    finally:
        dev.stop()
    first = installed(service)
    assert any((p / "six.py").exists() for p in first)
    assert any((p / "node_modules" / "is-number").is_dir() for p in first)
    assert not (service / "py" / "six.py").exists()
    assert not (service / "node" / "node_modules").exists()

    # A second start finds both installs and runs neither installer again.
    dev = DevServer(service)
    try:
        assert invoke(dev, "py")["version"] == "1.17.0"
    finally:
        dev.stop()
    assert installed(service) == first
