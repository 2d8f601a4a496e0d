"""Scheduled jobs. nightly: orders still "created" a day after they were placed
are abandoned; give them an expiresAt (the table's TTL attribute) so DynamoDB
deletes them a week later, and log a summary with the support contact."""

import os
import time
from typing import Any

from boto3.dynamodb.conditions import Attr

from common import client, get_logger, now_millis, orders_table

log = get_logger(__name__)

STALE_AFTER_MS = 24 * 60 * 60 * 1000
RETENTION_S = 7 * 24 * 60 * 60


def nightly(event: dict[str, Any], context: Any) -> dict[str, Any]:
    support_email = client("ssm").get_parameter(Name=os.environ["SUPPORT_EMAIL_PARAM"])[
        "Parameter"
    ]["Value"]
    table = orders_table()
    cutoff = now_millis() - STALE_AFTER_MS
    expires_at = int(time.time()) + RETENTION_S
    stale = (
        Attr("sk").eq("ORDER")
        & Attr("status").eq("created")
        & Attr("createdAt").lt(cutoff)
        & Attr("expiresAt").not_exists()
    )

    scan_args: dict[str, Any] = {"FilterExpression": stale, "ProjectionExpression": "pk, sk"}
    marked = 0
    while True:
        page = table.scan(**scan_args)
        for item in page["Items"]:
            try:
                table.update_item(
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET expiresAt = :expires",
                    # The worker may have moved the order on since the scan.
                    ConditionExpression=Attr("status").eq("created"),
                    ExpressionAttributeValues={":expires": expires_at},
                )
                marked += 1
            except table.meta.client.exceptions.ConditionalCheckFailedException:
                pass
        if "LastEvaluatedKey" not in page:
            break
        scan_args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    log.info(
        "nightly: %d abandoned order(s) set to expire at %d; support contact %s",
        marked,
        expires_at,
        support_email,
    )
    return {"expiring": marked, "expiresAt": expires_at}
