"""Handlers of the compute test service. Each shows one behaviour."""

import json
import os
import time

import boto3

VERSION = "v1"


def echo(event, context):
    # Hold the worker until the test says so (a file appears), at most 20 s.
    marker, deadline = event.get("wait_for"), time.monotonic() + 20
    while marker and not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    if event.get("key"):
        return {"key": os.environ["AWS_ACCESS_KEY_ID"]}
    return {
        "version": VERSION,
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env": {
            k: os.environ.get(k)
            for k in (
                "GREETING",
                "ORDERS_TABLE",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_ENDPOINT_URL",
                "AWS_REGION",
                "LAMBDA_TASK_ROOT",
                "_HANDLER",
            )
        },
        "pid": os.getpid(),
    }


def fail(event, context):
    raise ValueError("boom")


def sleepy(event, context):
    time.sleep(30)
    return "never"


def crash(event, context):
    print("about to crash", flush=True)
    os._exit(3)


def snoop(event, context):
    """Reads a table it does not `use`: the endpoint must refuse."""
    try:
        boto3.client("dynamodb").scan(TableName="computetest-dev-Orders")
        return {"allowed": True}
    except Exception as e:  # noqa: BLE001 - the error code is the result
        return {"allowed": False, "error": e.response["Error"]["Code"], "message": str(e)}


def writer(event, context):
    """Stores each message; a body of "fail" is reported as a failed item."""
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    failures = []
    for record in event["Records"]:
        if record["body"] == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        table.put_item(
            Item={
                "pk": record["body"],
                "source": record["eventSource"],
                "receives": record["attributes"]["ApproximateReceiveCount"],
            }
        )
    print(json.dumps({"batch": len(event["Records"]), "failed": len(failures)}), flush=True)
    return {"batchItemFailures": failures}


def flaky(event, context):
    """Fails a whole batch on its first delivery, stores it on the next."""
    if any(r["attributes"]["ApproximateReceiveCount"] == "1" for r in event["Records"]):
        raise RuntimeError("first delivery fails")
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    for record in event["Records"]:
        table.put_item(
            Item={"pk": record["body"], "receives": record["attributes"]["ApproximateReceiveCount"]}
        )


def ticker(event, context):
    """Records each scheduled event it gets."""
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    table.put_item(Item={"pk": f"tick-{event['id']}", "event": json.dumps(event)})


def pause(event, context):
    """Says who it is, then takes its time: a test kills it meanwhile."""
    print(f"pid {os.getpid()}", flush=True)
    time.sleep(event.get("seconds", 2))
    return {"pid": os.getpid()}


def on_object(event, context):
    """Records each bucket event under its detail type and key; a key with
    `flaky` in it fails its first delivery, one with `doomed` every one."""
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    key = event["detail"]["object"]["key"]
    if "doomed" in key:
        raise RuntimeError("this key always fails")
    if "flaky" in key:
        seen = table.get_item(Key={"pk": f"attempt:{key}"}, ConsistentRead=True).get("Item")
        table.put_item(Item={"pk": f"attempt:{key}", "n": (seen or {"n": 0})["n"] + 1})
        if not seen:
            raise RuntimeError("first delivery fails")
    table.put_item(Item={"pk": f"{event['detail-type']}:{key}", "event": json.dumps(event)})


def on_change(event, context):
    """Prints the records of each batch it takes. An item `fail-once*` fails
    the whole batch the first time it is seen; an item `partial*` is reported
    through batchItemFailures the first time, with the records before it
    taken. So what it prints is every record exactly once, in stream order."""
    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    taken, failures = [], []
    for record in event["Records"]:
        pk = record["dynamodb"]["Keys"]["pk"]["S"]
        if pk.startswith(("fail-once", "partial")):
            marker = f"stream-attempt:{pk}:{record['eventName']}"
            if not table.get_item(Key={"pk": marker}, ConsistentRead=True).get("Item"):
                table.put_item(Item={"pk": marker})
                if pk.startswith("fail-once"):
                    raise RuntimeError(f"first delivery of {pk} fails")
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
                break
        taken.append(record)
    print(json.dumps({"stream": taken, "version": VERSION}), flush=True)
    return {"batchItemFailures": failures}


def on_keys(event, context):
    """Prints its keys-only records and what its own credentials reach: the
    stream it was given, but not the table's items."""
    stream = boto3.client("dynamodbstreams")
    described = stream.describe_stream(StreamArn=event["Records"][0]["eventSourceARN"])
    try:
        boto3.client("dynamodb").scan(TableName="computetest-dev-Keys")
        scan = "allowed"
    except Exception as e:  # noqa: BLE001 - the error code is the result
        scan = e.response["Error"]["Code"]
    print(
        json.dumps(
            {
                "keys": event["Records"],
                "stream_status": described["StreamDescription"]["StreamStatus"],
                "scan": scan,
            }
        ),
        flush=True,
    )
