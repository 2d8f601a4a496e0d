"""The service `strata init` writes runs as it is under `strata dev`: items
with fractional numbers round-trip, a binary (base64) body is decoded, and
bad input is a 400, never a 500."""

import json
import subprocess
import urllib.error
import urllib.request

from strata_server import DevServer, strata_bin


def request(url, method="GET", body=None, content_type="application/json"):
    req = urllib.request.Request(url, data=body, method=method, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_init_service_stores_and_returns_items(tmp_path):
    service = tmp_path / "items"
    subprocess.run([strata_bin(), "init", str(service)], check=True, capture_output=True)
    dev = DevServer(service)
    try:
        status, item = request(f"{dev.http_url}/items", "POST", b'{"name": "pen", "price": 1.25, "qty": 3}')
        assert status == 201, item
        status, found = request(f"{dev.http_url}/items/{item['id']}")
        assert status == 200, found
        assert found == {"id": item["id"], "name": "pen", "price": 1.25, "qty": 3}

        status, binary = request(f"{dev.http_url}/items", "POST", b'{"name": "ink"}', "application/octet-stream")
        assert status == 201 and binary["name"] == "ink", binary

        for body in (b"not json", b"[1]", b"\xff\xfe", b'{"n": 1e400}'):
            status, error = request(f"{dev.http_url}/items", "POST", body, "application/octet-stream")
            assert status == 400, (body, error)
        status, missing = request(f"{dev.http_url}/items/nope")
        assert status == 404, missing
    finally:
        assert dev.stop() == 0, dev.output()
