"""Bad input on the wire, sent as raw HTTP because boto3 validates before
sending: every answer must be a DynamoDB-shaped JSON error, never a dropped
connection or a 500. Also a smoke test with the real AWS CLI."""

import http.client
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse

import pytest

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDDEVELOPER/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000"
)


def post(url, body, target="DynamoDB_20120810.ListTables", auth=AUTH, content_type="application/x-amz-json-1.0"):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    if auth is not None:
        headers["Authorization"] = auth
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload


def error_type(payload):
    """`com.amazon.coral.service#SerializationException` -> `SerializationException`."""
    return json.loads(payload)["__type"].rsplit("#", 1)[-1]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe", b""])
def test_unreadable_bodies_are_serialization_exceptions(server, body):
    status, payload = post(server.url, body)
    assert status == 400
    assert error_type(payload) == "SerializationException"


def test_unknown_operation(server):
    status, payload = post(server.url, b"{}", target="DynamoDB_20120810.Frobnicate")
    assert status == 400
    assert error_type(payload) == "UnknownOperationException"


def test_request_without_target_or_signature_is_anonymous_s3(server):
    # Neither a JSON target nor a credential scope: the endpoint treats it as
    # an anonymous S3 request, and S3 has no POST on the service root.
    status, payload = post(server.url, b"{}", target=None, auth=None)
    assert status == 405
    assert b"<Code>MethodNotAllowed</Code>" in payload


def test_missing_required_member_is_a_validation_exception(server):
    status, payload = post(server.url, b"{}", target="DynamoDB_20120810.DescribeTable")
    assert status == 400
    assert error_type(payload) == "ValidationException"


def test_wrong_json_type_is_a_serialization_exception(server):
    status, payload = post(server.url, b'{"TableName": 5}', target="DynamoDB_20120810.DescribeTable")
    assert status == 400
    assert error_type(payload) == "SerializationException"


def test_invalid_expression_is_a_validation_exception(server, ddb, table_name, make_table):
    make_table(ddb, table_name)
    body = json.dumps(
        {
            "TableName": table_name,
            "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "SET = oops",
        }
    ).encode()
    status, payload = post(server.url, body, target="DynamoDB_20120810.UpdateItem")
    assert status == 400
    assert error_type(payload) == "ValidationException"


def test_oversized_body_is_answered_and_the_server_keeps_serving(server):
    body = b'{"TableName": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    status, payload = post(server.url, body, target="DynamoDB_20120810.DescribeTable")
    assert 400 <= status < 500
    assert error_type(payload) == "ValidationException"
    status, _ = post(server.url, b"{}")
    assert status == 200


def test_aws_cli_smoke(server, ddb, table_name, make_table):
    make_table(ddb, table_name)
    aws = pathlib.Path(sys.executable).with_name("aws")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDDEVELOPER",
        "AWS_SECRET_ACCESS_KEY": "not-checked-locally",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    run = lambda *args: subprocess.run(  # noqa: E731
        [str(aws), "dynamodb", *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    put = run("put-item", "--table-name", table_name, "--item", '{"pk": {"S": "cli"}, "v": {"N": "7"}}')
    assert put.returncode == 0, put.stderr
    got = run("get-item", "--table-name", table_name, "--key", '{"pk": {"S": "cli"}}')
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Item"] == {"pk": {"S": "cli"}, "v": {"N": "7"}}
    listed = run("list-tables")
    assert table_name in json.loads(listed.stdout)["TableNames"]
    missing = run("describe-table", "--table-name", "no-such-table")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


@pytest.mark.parametrize(
    "target", ["DynamoDBStreams_20120810.PutItem", "DynamoDB_20120810.GetRecords", "DynamoDBStreams_20120810.Nope"]
)
def test_each_target_prefix_has_only_its_own_operations(server, target):
    status, payload = post(server.url, b"{}", target=target)
    assert status == 400
    assert error_type(payload) == "UnknownOperationException"
