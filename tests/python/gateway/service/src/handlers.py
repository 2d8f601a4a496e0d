"""Handlers for the gateway tests: each returns what the test of one
API Gateway rule needs."""

import base64
import json
import os
import time

VERSION = "v1"


def echo(event, context):
    """The event as the function got it, as a JSON body."""
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(event),
    }


def named(event, context):
    """No statusCode: API Gateway (format 2.0) makes it a 200 JSON body."""
    return {"function": os.environ["AWS_LAMBDA_FUNCTION_NAME"].rsplit("-", 1)[-1]}


SHAPES = {
    "described": {
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-kind": "described"},
        "body": "created",
    },
    "cookies": {
        "statusCode": 200,
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": "ok",
    },
    "binary": {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "body": base64.b64encode(bytes(range(256))).decode(),
        "isBase64Encoded": True,
    },
    "dict": {"hello": "world"},
    "list": [1, 2, 3],
    "number": 42,
    "string": "plain text",
    "malformed": {"statusCode": "not a status"},
    "cors": {
        "statusCode": 200,
        "headers": {"access-control-allow-origin": "https://other.example.com"},
        "body": "x",
    },
    "multi": {
        "statusCode": 200,
        "headers": {"x-single": "1", "x-both": "single"},
        "multiValueHeaders": {"x-both": ["m1", "m2"]},
        "body": "v1 body",
    },
}


def shapes(event, context):
    if event["pathParameters"]["kind"] == "huge":
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    return SHAPES[event["pathParameters"]["kind"]]


def fail(event, context):
    raise ValueError("boom")


def crash(event, context):
    os._exit(3)


def sleepy(event, context):
    time.sleep(5)
    return {"statusCode": 200, "body": "too late"}


def slow(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("s", "0.3")))
    return {"version": VERSION, "requestId": event["requestContext"]["requestId"]}
