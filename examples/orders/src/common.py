"""Helpers shared by every handler: logging, lazily created AWS clients,
JSON encoding of DynamoDB Decimals and API Gateway (HTTP API 2.0) responses."""

import base64
import json
import logging
import os
import time
from decimal import Decimal
from functools import cache
from typing import Any

import boto3

# On Lambda the runtime has already configured the root logger, so this is a
# no-op there; elsewhere (a local runtime, a REPL) it makes INFO lines visible.
logging.basicConfig(level=logging.INFO)


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    return logger


# Clients are created on first use and then reused across warm invocations.
# No endpoint_url: the SDK honours AWS_ENDPOINT_URL by itself.
@cache
def client(service: str) -> Any:
    return boto3.client(service)


@cache
def orders_table() -> Any:
    return boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])


def now_millis() -> int:
    return int(time.time() * 1000)


def order_key(order_id: str) -> dict[str, str]:
    """Primary key of an order item: one item per order, pk ORDER#<id>, sk ORDER."""
    return {"pk": f"ORDER#{order_id}", "sk": "ORDER"}


def order_view(item: dict[str, Any]) -> dict[str, Any]:
    """The order as clients see it: the table item without its key attributes."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}


def _encode_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """json.dumps that understands the Decimals (and sets) boto3 returns for DynamoDB."""
    return json.dumps(value, default=_encode_default)


def json_response(status: int, body: Any) -> dict[str, Any]:
    """An HTTP API payload 2.0 response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": to_json(body),
    }


def error_response(status: int, message: str) -> dict[str, Any]:
    return json_response(status, {"error": message})


def request_body(event: dict[str, Any]) -> str | None:
    """The raw request body of an HTTP API event, base64-decoded when needed."""
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return body
