"""HTTP API handlers for orders: create (POST /orders), get (GET /orders/{id})
and list_orders (GET /orders[?customerId=...])."""

import json
import os
import uuid
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from common import (
    client,
    error_response,
    get_logger,
    json_response,
    now_millis,
    order_key,
    order_view,
    orders_table,
    request_body,
)

log = get_logger(__name__)

LIST_LIMIT = 100
# Bounds that keep every accepted order storable: DynamoDB numbers have 38
# significant digits and keys at most 2 KB.
MAX_QTY = 10_000
MAX_PRICE = Decimal(1_000_000_000)
MAX_ID = 200


class BadRequest(ValueError):
    """The request body is not a valid order; the message is returned to the caller."""


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a valid number")


def _parse_order(raw: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Validate a request body and return (customerId, items)."""
    if raw is None or not raw.strip():
        raise BadRequest("request body is required")
    try:
        # Decimal, not float: DynamoDB numbers are exact, and so are our totals.
        data = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")

    customer_id = data.get("customerId")
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise BadRequest("customerId is required and must be a non-empty string")
    if len(customer_id) > MAX_ID:
        raise BadRequest(f"customerId must be at most {MAX_ID} characters")

    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise BadRequest("items is required and must be a non-empty list")

    items = []
    for i, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise BadRequest(f"items[{i}] must be an object")
        sku, qty, price = item.get("sku"), item.get("qty"), item.get("price")
        if not isinstance(sku, str) or not sku.strip():
            raise BadRequest(f"items[{i}].sku is required and must be a non-empty string")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
            raise BadRequest(f"items[{i}].qty is required and must be an integer from 1 to {MAX_QTY}")
        if (
            isinstance(price, bool)
            or not isinstance(price, (int, Decimal))
            or not Decimal(0) <= price <= MAX_PRICE
            or Decimal(price).as_tuple().exponent < -2
        ):
            raise BadRequest(
                f"items[{i}].price is required and must be a number from 0 to {MAX_PRICE}"
                " with at most 2 decimals"
            )
        items.append({"sku": sku, "qty": qty, "price": Decimal(price)})
    return customer_id, items


def _payment_key() -> str | None:
    """The payment key, if one is configured. The parameter is set out of band,
    so a missing parameter (or no parameter wired at all) is not an error."""
    name = os.environ.get("PAYMENT_KEY_PARAM")
    if not name:
        return None
    ssm = client("ssm")
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def create(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        customer_id, items = _parse_order(request_body(event))
    except (BadRequest, UnicodeDecodeError) as exc:
        return error_response(400, str(exc))

    order_id = str(uuid.uuid4())
    if _payment_key() is None:
        log.info("order %s: no payment key configured, accepting without payment", order_id)

    order = {
        "orderId": order_id,
        "customerId": customer_id,
        "createdAt": now_millis(),
        "total": sum((item["qty"] * item["price"] for item in items), Decimal(0)),
        "status": "created",
        "items": items,
    }
    orders_table().put_item(
        Item={**order_key(order_id), **order},
        ConditionExpression=Attr("pk").not_exists(),
    )
    client("sqs").send_message(
        QueueUrl=os.environ["ORDER_EVENTS_QUEUE_URL"],
        MessageBody=json.dumps({"type": "order.created", "orderId": order_id}),
    )
    log.info("order %s created for customer %s", order_id, customer_id)
    return json_response(201, order)


def get(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order_id = (event.get("pathParameters") or {}).get("id")
    if not order_id:
        return error_response(400, "order id is required")
    if len(order_id) > MAX_ID:
        return error_response(404, f"order {order_id[:40]}... not found")
    item = orders_table().get_item(Key=order_key(order_id)).get("Item")
    if item is None:
        return error_response(404, f"order {order_id} not found")
    return json_response(200, order_view(item))


def list_orders(event: dict[str, Any], context: Any) -> dict[str, Any]:
    customer_id = (event.get("queryStringParameters") or {}).get("customerId")
    table = orders_table()
    if customer_id:
        result = table.query(
            IndexName="ByCustomer",
            KeyConditionExpression=Key("customerId").eq(customer_id),
            ScanIndexForward=False,  # newest first
            Limit=LIST_LIMIT,
        )
        items = result["Items"]
    else:
        result = table.scan(Limit=LIST_LIMIT, FilterExpression=Attr("sk").eq("ORDER"))
        items = sorted(result["Items"], key=lambda item: item.get("createdAt", 0), reverse=True)
    return json_response(200, {"orders": [order_view(item) for item in items]})
