"""SQS consumer for OrderEvents: writes a receipt object for each created order
and marks the order "processed", reporting failed messages individually
(partial batch response) so one bad message does not fail the whole batch."""

import json
import os
from typing import Any

from boto3.dynamodb.conditions import Attr

from common import client, get_logger, now_millis, order_key, order_view, orders_table, to_json

log = get_logger(__name__)


def receipt_key(order_id: str) -> str:
    return f"receipts/{order_id}.json"


def _process(body: str) -> None:
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("type") != "order.created":
        raise ValueError(f"unexpected message: {body[:200]!r}")
    order_id = message.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("message has no orderId")

    table = orders_table()
    order = table.get_item(Key=order_key(order_id)).get("Item")
    if order is None:
        raise LookupError(f"order {order_id} not found")

    receipt = {**order_view(order), "receiptIssuedAt": now_millis()}
    client("s3").put_object(
        Bucket=os.environ["RECEIPTS_BUCKET"],
        Key=receipt_key(order_id),
        Body=to_json(receipt).encode("utf-8"),
        ContentType="application/json",
    )

    # Only move forward from "created": on a redelivery, or when the receipt
    # trigger has already marked the order "receipted", leave the status alone.
    try:
        table.update_item(
            Key=order_key(order_id),
            UpdateExpression="SET #status = :processed",
            ConditionExpression=Attr("status").eq("created"),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":processed": "processed"},
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        log.info("order %s is already past 'created', status unchanged", order_id)
    log.info("order %s: receipt written", order_id)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            _process(record["body"])
        except Exception:
            log.exception("message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
