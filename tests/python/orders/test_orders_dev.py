"""examples/orders end to end under `strata dev`: real HTTP through the
gateway, the queue worker, the receipt in the bucket, the bucket trigger,
and boto3 checks of the data the functions left."""

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from strata_server import DevServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "orders"


def call(dev, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        dev.http_url + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    return predicate()


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    service = tmp_path_factory.mktemp("orders") / "orders"
    shutil.copytree(EXAMPLE, service, ignore=shutil.ignore_patterns(".strata", "__pycache__", "tests"))
    server = DevServer(service)
    yield server
    code = server.stop()
    assert code == 0, server.output()


def test_an_order_goes_from_http_through_the_queue_and_the_bucket_to_receipted(orders):
    status, _, created = call(
        orders, "POST", "/orders", {"customerId": "c1", "items": [{"sku": "A", "qty": 2, "price": 9.5}]}
    )
    assert status == 201, orders.output()
    order_id = created["orderId"]
    assert created["total"] == 19
    assert created["status"] == "created"

    status, _, fetched = call(orders, "GET", f"/orders/{order_id}")
    assert status == 200
    assert fetched["customerId"] == "c1"

    # The worker writes the receipt object; the bucket trigger marks the order.
    s3 = orders.client("s3")
    receipt = wait_for(
        lambda: next(
            (
                o
                for o in s3.list_objects_v2(Bucket="orders-dev-receipts", Prefix="receipts/").get("Contents", [])
                if o["Key"] == f"receipts/{order_id}.json"
            ),
            None,
        )
    )
    assert receipt, orders.output()
    body = json.loads(s3.get_object(Bucket="orders-dev-receipts", Key=receipt["Key"])["Body"].read())
    assert body["orderId"] == order_id

    def receipted():
        _, _, order = call(orders, "GET", f"/orders/{order_id}")
        return order if order["status"] == "receipted" else None

    final = wait_for(receipted)
    assert final, orders.output()
    assert final["receiptKey"] == f"receipts/{order_id}.json"

    # The data, as any AWS client sees it.
    item = orders.client("dynamodb").get_item(
        TableName="orders-dev-Orders", Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}}
    )["Item"]
    assert item["status"]["S"] == "receipted"
    assert item["customerId"]["S"] == "c1"


def test_orders_are_listed_per_customer_through_the_index(orders):
    for customer in ("lister", "lister", "other"):
        status, _, _ = call(
            orders, "POST", "/orders", {"customerId": customer, "items": [{"sku": "B", "qty": 1, "price": 1}]}
        )
        assert status == 201
    status, _, listed = call(orders, "GET", "/orders?customerId=lister")
    assert status == 200
    assert [o["customerId"] for o in listed["orders"]] == ["lister", "lister"]
    status, _, everything = call(orders, "GET", "/orders")
    assert status == 200
    assert len(everything["orders"]) >= 3


def test_bad_orders_and_unknown_ids_get_the_handlers_errors(orders):
    status, _, body = call(orders, "POST", "/orders", {"customerId": "c1"})
    assert status == 400
    assert "items" in body["error"]
    status, _, body = call(orders, "GET", "/orders/does-not-exist")
    assert status == 404
    status, _, body = call(orders, "DELETE", "/orders")
    assert status == 404
    assert body == {"message": "Not Found"}


def test_cors_preflight_follows_the_manifest(orders):
    status, headers, _ = call(
        orders,
        "OPTIONS",
        "/orders",
        headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
    )
    assert status in (200, 204)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["access-control-allow-origin"] in ("*", "https://shop.example")
