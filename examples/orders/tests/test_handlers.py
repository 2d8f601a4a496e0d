"""Tests for every handler of the orders service against moto, driven by the
event shapes AWS documents (HTTP API 2.0, SQS, EventBridge S3 "Object Created",
classic S3 notification, EventBridge scheduled event).

Each function is invoked by its name in strata.yaml with exactly the environment
variables its `uses:` would inject, so a handler reaching for a resource its
function does not use fails here the way it would on Lambda."""

import base64
import hashlib
import importlib
import json
import logging
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus, urlencode

import boto3
import pytest
import yaml
from moto import mock_aws

import common

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "orders-dev-Orders"
BUCKET = "orders-dev-receipts"
SUPPORT_EMAIL_PARAM = "/orders/dev/SupportEmail"
PAYMENT_KEY_PARAM = "/orders/dev/PaymentKey"
DAY_MS = 24 * 60 * 60 * 1000

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "strata.yaml").read_text())
ENV_SUFFIX = {"tables": "_TABLE", "buckets": "_BUCKET", "queues": "_QUEUE_URL", "parameters": "_PARAM"}
RESOURCE_KIND = {
    name: kind for kind, resources in MANIFEST["stateful"].items() for name in resources
}


def env_name(resource: str) -> str:
    """SPEC §2: the resource name in SCREAMING_SNAKE_CASE plus a per-kind suffix."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", resource).upper()
    return snake + ENV_SUFFIX[RESOURCE_KIND[resource]]


ALL_INJECTED = {env_name(name) for name in RESOURCE_KIND}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stateful half of strata.yaml, created in moto."""
    with mock_aws():
        common.client.cache_clear()
        common.orders_table.cache_clear()

        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "customerId", "AttributeType": "S"},
                {"AttributeName": "createdAt", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByCustomer",
                    "KeySchema": [
                        {"AttributeName": "customerId", "KeyType": "HASH"},
                        {"AttributeName": "createdAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        ddb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
        )

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(QueueName="orders-dev-OrderEventsDlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="orders-dev-OrderEvents",
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=SUPPORT_EMAIL_PARAM, Value="support@example.com", Type="String")
        # PaymentKey is `secure: true` with its value set out of band: absent by default.

        values = {
            "ORDERS_TABLE": TABLE,
            "RECEIPTS_BUCKET": BUCKET,
            "ORDER_EVENTS_QUEUE_URL": queue_url,
            "ORDER_EVENTS_DLQ_QUEUE_URL": dlq_url,
            "SUPPORT_EMAIL_PARAM": SUPPORT_EMAIL_PARAM,
            "PAYMENT_KEY_PARAM": PAYMENT_KEY_PARAM,
        }

        def invoke(function: str, event: dict[str, Any], without: tuple[str, ...] = ()) -> Any:
            """Run a function of strata.yaml the way Lambda would: only its injected env."""
            spec = MANIFEST["stateless"]["functions"][function]
            for name in ALL_INJECTED:
                monkeypatch.delenv(name, raising=False)
            for resource in spec.get("uses", {}):
                name = env_name(resource)
                if name not in without:
                    monkeypatch.setenv(name, values[name])
            module_name, handler_name = spec["handler"].rsplit(".", 1)
            handler = getattr(importlib.import_module(module_name), handler_name)
            return handler(event, SimpleNamespace(function_name=function, aws_request_id=str(uuid.uuid4())))

        yield SimpleNamespace(
            invoke=invoke,
            table=boto3.resource("dynamodb").Table(TABLE),
            s3=s3,
            sqs=sqs,
            ssm=ssm,
            queue_url=queue_url,
            queue_arn=queue_arn,
        )
        common.client.cache_clear()
        common.orders_table.cache_clear()


# ------------------------------------------------------------------ event shapes


def http_event(
    method: str,
    path: str,
    route_key: str,
    *,
    body: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format version 2.0."""
    now = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            "accept": "*/*",
            "content-type": "application/json",
            "host": "127.0.0.1:3000",
            "user-agent": "curl/8.5.0",
        },
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "api1234567",
            "domainName": "127.0.0.1:3000",
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now / 1000)),
            "timeEpoch": now,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
    return event


def post_order(body: Any, *, raw: bool = False, base64_body: bool = False) -> dict[str, Any]:
    return http_event(
        "POST",
        "/orders",
        "POST /orders",
        body=body if raw else json.dumps(body),
        base64_body=base64_body,
    )


def get_order(order_id: str) -> dict[str, Any]:
    return http_event(
        "GET", f"/orders/{order_id}", "GET /orders/{id}", path_parameters={"id": order_id}
    )


def list_orders(query: dict[str, str] | None = None) -> dict[str, Any]:
    return http_event("GET", "/orders", "GET /orders", query=query)


def sqs_record(body: str, queue_arn: str, message_id: str | None = None) -> dict[str, Any]:
    now = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def eventbridge_object_created(bucket: str, key: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": 512,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def s3_notification(bucket: str, key: str) -> dict[str, Any]:
    """Classic S3 event notification; the key is URL-encoded as S3 sends it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAINPONIXQXHT3IKHL2"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "onReceipt",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": 512,
                        "eTag": "b1946ac92492d2347c6235b4d2611184",
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders-dev-nightly"],
        "detail": {},
    }


# ------------------------------------------------------------------------ helpers

ORDER = {"customerId": "c1", "items": [{"sku": "A", "qty": 2, "price": 9.5}]}


def body_of(response: dict[str, Any]) -> Any:
    assert response["headers"]["content-type"] == "application/json"
    return json.loads(response["body"])


def put_order(aws: Any, order_id: str, customer: str, created_at: int, status: str = "created") -> None:
    aws.table.put_item(
        Item={
            "pk": f"ORDER#{order_id}",
            "sk": "ORDER",
            "orderId": order_id,
            "customerId": customer,
            "createdAt": created_at,
            "total": Decimal("10"),
            "status": status,
            "items": [{"sku": "A", "qty": 1, "price": Decimal("10")}],
        }
    )


def stored(aws: Any, order_id: str) -> dict[str, Any] | None:
    return aws.table.get_item(Key={"pk": f"ORDER#{order_id}", "sk": "ORDER"}).get("Item")


def queued_messages(aws: Any) -> list[dict[str, Any]]:
    return aws.sqs.receive_message(
        QueueUrl=aws.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])


def record_get_parameter_calls(client: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.ssm.GetParameter",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


# ------------------------------------------------------------------- manifest


def test_every_function_handler_exists() -> None:
    for name, spec in MANIFEST["stateless"]["functions"].items():
        module_name, handler_name = spec["handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module_name), handler_name)), name


# ---------------------------------------------------------------- createOrder


def test_create_stores_order_publishes_event_and_returns_201(aws: Any) -> None:
    before = int(time.time() * 1000)
    response = aws.invoke(
        "createOrder",
        post_order({"customerId": "c1", "items": [{"sku": "A", "qty": 2, "price": 9.5},
                                                  {"sku": "B", "qty": 3, "price": 0.1}]}),
    )
    assert response["statusCode"] == 201
    order = body_of(response)
    assert order["customerId"] == "c1"
    assert order["status"] == "created"
    assert order["total"] == 19.3  # exact Decimal arithmetic: 2*9.5 + 3*0.1
    assert order["items"] == [{"sku": "A", "qty": 2, "price": 9.5}, {"sku": "B", "qty": 3, "price": 0.1}]
    assert before <= order["createdAt"] <= int(time.time() * 1000)

    item = stored(aws, order["orderId"])
    assert item is not None
    assert item["sk"] == "ORDER"
    assert item["total"] == Decimal("19.3")
    assert item["createdAt"] == order["createdAt"]
    assert item["status"] == "created"

    messages = queued_messages(aws)
    assert [json.loads(m["Body"]) for m in messages] == [
        {"type": "order.created", "orderId": order["orderId"]}
    ]


def test_create_accepts_base64_body(aws: Any) -> None:
    response = aws.invoke("createOrder", post_order(ORDER, base64_body=True))
    assert response["statusCode"] == 201
    assert stored(aws, body_of(response)["orderId"]) is not None


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[1, 2]",
        json.dumps({"items": [{"sku": "A", "qty": 1, "price": 1}]}),
        json.dumps({"customerId": "", "items": [{"sku": "A", "qty": 1, "price": 1}]}),
        json.dumps({"customerId": "c1"}),
        json.dumps({"customerId": "c1", "items": []}),
        json.dumps({"customerId": "c1", "items": ["A"]}),
        json.dumps({"customerId": "c1", "items": [{"qty": 1, "price": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "price": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 0, "price": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 1.5, "price": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": True, "price": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 1}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 1, "price": "1"}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 1, "price": -1}]}),
        '{"customerId": "c1", "items": [{"sku": "A", "qty": 1, "price": NaN}]}',
        '{"customerId": "c1", "items": [{"sku": "A", "qty": 1, "price": 1e400}]}',
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 1, "price": 0.001}]}),
        json.dumps({"customerId": "c1", "items": [{"sku": "A", "qty": 10**40, "price": 1}]}),
        json.dumps({"customerId": "c" * 20_000, "items": [{"sku": "A", "qty": 1, "price": 1}]}),
    ],
)
def test_create_rejects_bad_input_with_400(aws: Any, body: str) -> None:
    response = aws.invoke("createOrder", post_order(body, raw=True))
    assert response["statusCode"] == 400
    assert isinstance(body_of(response)["error"], str)
    assert aws.table.scan()["Items"] == []
    assert queued_messages(aws) == []


def test_create_with_a_body_that_is_not_utf8_is_400(aws: Any) -> None:
    event = http_event("POST", "/orders", "POST /orders")
    event["body"] = base64.b64encode(b"\xff\xfe{").decode()
    event["isBase64Encoded"] = True
    response = aws.invoke("createOrder", event)
    assert response["statusCode"] == 400


def test_get_with_a_huge_id_is_404(aws: Any) -> None:
    event = http_event("GET", "/orders/x", "GET /orders/{id}")
    event["pathParameters"] = {"id": "x" * 20_000}
    response = aws.invoke("getOrder", event)
    assert response["statusCode"] == 404


def test_create_without_body_is_400(aws: Any) -> None:
    response = aws.invoke("createOrder", http_event("POST", "/orders", "POST /orders"))
    assert response["statusCode"] == 400
    assert body_of(response) == {"error": "request body is required"}


def test_create_tolerates_missing_payment_key_parameter(aws: Any) -> None:
    calls = record_get_parameter_calls(common.client("ssm"))
    response = aws.invoke("createOrder", post_order(ORDER))
    assert response["statusCode"] == 201
    assert calls == [{"Name": PAYMENT_KEY_PARAM, "WithDecryption": True}]


def test_create_reads_payment_key_decrypted_when_set(aws: Any) -> None:
    aws.ssm.put_parameter(Name=PAYMENT_KEY_PARAM, Value="sk_test_123", Type="SecureString")
    calls = record_get_parameter_calls(common.client("ssm"))
    response = aws.invoke("createOrder", post_order(ORDER))
    assert response["statusCode"] == 201
    assert calls == [{"Name": PAYMENT_KEY_PARAM, "WithDecryption": True}]


def test_create_does_not_touch_ssm_when_payment_key_not_wired(aws: Any) -> None:
    calls = record_get_parameter_calls(common.client("ssm"))
    response = aws.invoke("createOrder", post_order(ORDER), without=("PAYMENT_KEY_PARAM",))
    assert response["statusCode"] == 201
    assert calls == []


# ------------------------------------------------------------ getOrder / list


def test_get_returns_created_order(aws: Any) -> None:
    created = body_of(aws.invoke("createOrder", post_order(ORDER)))
    response = aws.invoke("getOrder", get_order(created["orderId"]))
    assert response["statusCode"] == 200
    assert body_of(response) == created  # no pk/sk leaking, numbers round-trip


def test_get_unknown_order_is_404(aws: Any) -> None:
    response = aws.invoke("getOrder", get_order("does-not-exist"))
    assert response["statusCode"] == 404
    assert "does-not-exist" in body_of(response)["error"]


def test_list_all_orders(aws: Any) -> None:
    put_order(aws, "o1", "c1", 1_000)
    put_order(aws, "o2", "c2", 3_000)
    put_order(aws, "o3", "c1", 2_000)
    aws.table.put_item(Item={"pk": "OTHER#x", "sk": "META", "note": "not an order"})

    response = aws.invoke("listOrders", list_orders())
    assert response["statusCode"] == 200
    orders = body_of(response)["orders"]
    assert [o["orderId"] for o in orders] == ["o2", "o3", "o1"]
    assert all("pk" not in o and "sk" not in o for o in orders)


def test_list_by_customer_newest_first(aws: Any) -> None:
    put_order(aws, "o1", "c1", 1_000)
    put_order(aws, "o2", "c2", 3_000)
    put_order(aws, "o3", "c1", 2_000)
    put_order(aws, "o4", "c1", 5_000)

    response = aws.invoke("listOrders", list_orders({"customerId": "c1"}))
    assert response["statusCode"] == 200
    assert [o["orderId"] for o in body_of(response)["orders"]] == ["o4", "o3", "o1"]

    empty = aws.invoke("listOrders", list_orders({"customerId": "nobody"}))
    assert body_of(empty) == {"orders": []}


# --------------------------------------------------------------------- worker


def test_worker_writes_receipt_and_marks_processed(aws: Any) -> None:
    created = body_of(aws.invoke("createOrder", post_order(ORDER)))
    [message] = queued_messages(aws)

    result = aws.invoke(
        "worker", sqs_event(sqs_record(message["Body"], aws.queue_arn, message["MessageId"]))
    )
    assert result == {"batchItemFailures": []}

    receipt = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"receipts/{created['orderId']}.json")["Body"].read()
    )
    assert receipt["orderId"] == created["orderId"]
    assert receipt["total"] == 19
    assert receipt["items"] == created["items"]
    assert stored(aws, created["orderId"])["status"] == "processed"


def test_worker_reports_only_poison_messages(aws: Any) -> None:
    put_order(aws, "good1", "c1", 1_000)
    put_order(aws, "good2", "c1", 2_000)
    event = sqs_event(
        sqs_record(json.dumps({"type": "order.created", "orderId": "good1"}), aws.queue_arn, "m-good1"),
        sqs_record("this is not json", aws.queue_arn, "m-poison"),
        sqs_record(json.dumps({"type": "order.created", "orderId": "missing"}), aws.queue_arn, "m-missing"),
        sqs_record(json.dumps({"type": "something.else"}), aws.queue_arn, "m-unknown"),
        sqs_record(json.dumps({"type": "order.created", "orderId": "good2"}), aws.queue_arn, "m-good2"),
    )

    result = aws.invoke("worker", event)

    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": "m-poison"},
            {"itemIdentifier": "m-missing"},
            {"itemIdentifier": "m-unknown"},
        ]
    }
    for order_id in ("good1", "good2"):
        assert stored(aws, order_id)["status"] == "processed"
        aws.s3.head_object(Bucket=BUCKET, Key=f"receipts/{order_id}.json")
    assert stored(aws, "missing") is None


def test_worker_redelivery_does_not_regress_status(aws: Any) -> None:
    put_order(aws, "o1", "c1", 1_000, status="receipted")
    body = json.dumps({"type": "order.created", "orderId": "o1"})
    assert aws.invoke("worker", sqs_event(sqs_record(body, aws.queue_arn))) == {"batchItemFailures": []}
    assert stored(aws, "o1")["status"] == "receipted"


# ------------------------------------------------------------------ onReceipt


def write_receipt(aws: Any, key: str, order_id: str) -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"orderId": order_id}).encode())


def test_on_upload_eventbridge_marks_receipted(aws: Any) -> None:
    put_order(aws, "o1", "c1", 1_000, status="processed")
    write_receipt(aws, "receipts/o1.json", "o1")

    result = aws.invoke("onReceipt", eventbridge_object_created(BUCKET, "receipts/o1.json"))

    assert result["receipted"] == ["o1"]
    item = stored(aws, "o1")
    assert item["status"] == "receipted"
    assert item["receiptKey"] == "receipts/o1.json"


def test_on_upload_classic_s3_notification_decodes_key(aws: Any) -> None:
    put_order(aws, "order 7+1", "c1", 1_000, status="processed")
    key = "receipts/order 7+1.json"
    write_receipt(aws, key, "order 7+1")
    event = s3_notification(BUCKET, key)
    assert event["Records"][0]["s3"]["object"]["key"] == "receipts/order+7%2B1.json"

    result = aws.invoke("onReceipt", event)

    assert result["receipted"] == ["order 7+1"]
    assert stored(aws, "order 7+1")["status"] == "receipted"


def test_on_upload_unknown_order_creates_nothing(aws: Any) -> None:
    write_receipt(aws, "receipts/ghost.json", "ghost")
    result = aws.invoke("onReceipt", eventbridge_object_created(BUCKET, "receipts/ghost.json"))
    assert result == {"receipted": [], "skipped": ["receipts/ghost.json"]}
    assert stored(aws, "ghost") is None


def test_on_upload_ignores_objects_that_are_not_receipts(aws: Any) -> None:
    put_order(aws, "o1", "c1", 1_000, status="processed")
    aws.s3.put_object(Bucket=BUCKET, Key="receipts/o1.txt", Body=b"hello")
    result = aws.invoke("onReceipt", s3_notification(BUCKET, "receipts/o1.txt"))
    assert result == {"receipted": [], "skipped": ["receipts/o1.txt"]}
    assert stored(aws, "o1")["status"] == "processed"


# -------------------------------------------------------------------- nightly


def test_nightly_expires_abandoned_orders(aws: Any, caplog: pytest.LogCaptureFixture) -> None:
    now_ms = int(time.time() * 1000)
    put_order(aws, "stale", "c1", now_ms - 2 * DAY_MS)
    put_order(aws, "fresh", "c1", now_ms - DAY_MS // 2)
    put_order(aws, "done", "c1", now_ms - 3 * DAY_MS, status="processed")

    with caplog.at_level(logging.INFO):
        result = aws.invoke("nightly", scheduled_event())

    assert result["expiring"] == 1
    expires_at = stored(aws, "stale")["expiresAt"]
    assert expires_at == result["expiresAt"]
    assert 6 * 86400 < int(expires_at) - time.time() <= 7 * 86400
    assert "expiresAt" not in stored(aws, "fresh")
    assert "expiresAt" not in stored(aws, "done")
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("nightly:")]
    assert len(summary) == 1
    assert "1 abandoned order(s)" in summary[0]
    assert "support@example.com" in summary[0]

    # A second run finds nothing new to do.
    assert aws.invoke("nightly", scheduled_event())["expiring"] == 0


# ----------------------------------------------------------------- end to end


def test_order_flows_from_http_to_receipted(aws: Any) -> None:
    created = body_of(aws.invoke("createOrder", post_order(ORDER)))
    order_id = created["orderId"]

    [message] = queued_messages(aws)
    worker = aws.invoke("worker", sqs_event(sqs_record(message["Body"], aws.queue_arn, message["MessageId"])))
    assert worker == {"batchItemFailures": []}
    assert body_of(aws.invoke("getOrder", get_order(order_id)))["status"] == "processed"

    aws.invoke("onReceipt", eventbridge_object_created(BUCKET, f"receipts/{order_id}.json"))
    final = body_of(aws.invoke("getOrder", get_order(order_id)))
    assert final["status"] == "receipted"
    assert final["receiptKey"] == f"receipts/{order_id}.json"
