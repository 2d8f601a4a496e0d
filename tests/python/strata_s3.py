"""S3 test helpers shared by tests/python/s3: boto3 S3 clients for a
`strata serve`, raw HTTP for what boto3 cannot send (anonymous requests,
virtual hosts, broken bodies), and the code and status of a client error."""

import http.client
import urllib.parse

import boto3
from botocore.config import Config


def s3_client(server, access_key="AKIDDEVELOPER", **config):
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key="not-checked-locally",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60, **config),
    )


def raw(server, method, path, body=None, headers=None, host=None):
    """One plain HTTP request to the server: (status, headers, body)."""
    port = urllib.parse.urlparse(server.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        all_headers = {"Host": host or f"127.0.0.1:{port}"}
        all_headers.update(headers or {})
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def error_of(excinfo):
    """(code, HTTP status) of a botocore ClientError."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
