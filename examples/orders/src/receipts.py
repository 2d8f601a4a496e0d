"""Trigger on new objects in the Receipts bucket: reads each receipt and marks
its order "receipted". Accepts both the EventBridge "Object Created" event and
the classic S3 notification (Records[].s3) event."""

import json
from typing import Any
from urllib.parse import unquote_plus

from boto3.dynamodb.conditions import Attr

from common import client, get_logger, order_key, orders_table

log = get_logger(__name__)


def _objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) pairs named by the event, keys decoded."""
    if "detail" in event:  # EventBridge: keys arrive as they are
        detail = event["detail"]
        return [(detail["bucket"]["name"], detail["object"]["key"])]
    # Classic S3 notification: keys are URL-encoded, with "+" for spaces.
    return [
        (record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]))
        for record in event.get("Records", [])
        if "s3" in record
    ]


def on_upload(event: dict[str, Any], context: Any) -> dict[str, Any]:
    table = orders_table()
    receipted, skipped = [], []
    for bucket, key in _objects(event):
        if not (key.startswith("receipts/") and key.endswith(".json")):
            log.info("s3://%s/%s is not a receipt, ignored", bucket, key)
            skipped.append(key)
            continue
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        order_id = json.loads(body)["orderId"]
        try:
            table.update_item(
                Key=order_key(order_id),
                UpdateExpression="SET #status = :receipted, receiptKey = :key",
                ConditionExpression=Attr("pk").exists(),  # never create a stray item
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":receipted": "receipted", ":key": key},
            )
        except table.meta.client.exceptions.ConditionalCheckFailedException:
            log.warning("receipt s3://%s/%s names unknown order %s", bucket, key, order_id)
            skipped.append(key)
            continue
        log.info("order %s receipted (s3://%s/%s)", order_id, bucket, key)
        receipted.append(order_id)
    return {"receipted": receipted, "skipped": skipped}
