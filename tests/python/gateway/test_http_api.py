"""The HTTP gateway of `strata dev` against API Gateway HTTP APIs as AWS
documents them, driven with plain HTTP. Each test cites the rule it checks:
"Routes" is *Create routes for HTTP APIs in API Gateway*, "Lambda proxy" is
*Create AWS Lambda proxy integrations for HTTP APIs in API Gateway*, "CORS"
is *Configure CORS for HTTP APIs in API Gateway*, "Quotas" is *Quotas for
configuring and running an HTTP API in API Gateway*."""

import base64
import concurrent.futures
import time

import pytest

ORIGIN = "https://app.example.com"


def test_the_server_prints_its_routes(dev):
    """strata dev lists each route with the function answering it."""
    assert "  GET /items/{id} -> echo" in dev.lines
    assert "  ANY /v1/{proxy+} -> legacy (payload 1.0)" in dev.lines


def test_route_priority_follows_aws(api):
    """Routes, "Routing API requests": the full match for route and method
    wins over a path variable, which wins over a greedy path variable; ANY
    matches the methods not defined for the resource."""
    assert api.json("GET", "/items/special")[2] == {"function": "special"}
    status, _, event = api.json("GET", "/items/42")
    assert status == 200 and event["routeKey"] == "GET /items/{id}"
    assert api.json("DELETE", "/items/42")[2] == {"function": "anyItem"}
    assert api.json("GET", "/items/a/b")[2] == {"function": "greedy"}


def test_no_matching_route_is_404_not_found(api):
    """Routes: "If no routes match a request, API Gateway returns
    {"message":"Not Found"} to the client" -- also for a path that exists
    with another method (HTTP APIs have no 405)."""
    for method, path in [("GET", "/nowhere"), ("POST", "/items/a/b"), ("PUT", "/echo"), ("GET", "/echo/")]:
        status, headers, body = api.json(method, path)
        assert (status, body) == (404, {"message": "Not Found"}), (method, path)
        assert headers["apigw-requestid"]


def test_path_parameters_are_decoded(api):
    """Routes: "API Gateway decodes URL-encoded request parameters before
    passing them to your backend integration"; rawPath stays as sent."""
    _, _, event = api.json("GET", "/items/a%20b%21")
    assert event["pathParameters"] == {"id": "a b!"}
    assert event["rawPath"] == "/items/a%20b%21"


def test_greedy_path_variable_catches_the_rest_of_the_path(api):
    """Routes, path variables: a greedy path variable ({proxy+}) catches all
    child resources of a route."""
    _, _, event = api.json("PATCH", "/echo/a/b/c")
    assert event["routeKey"] == "ANY /echo/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["requestContext"]["http"]["method"] == "PATCH"


def test_any_loses_to_an_explicit_method_on_the_same_path(api):
    """Routes: ANY matches all methods that you haven't defined for a
    resource, so GET /items/{id} answers GET and ANY the rest."""
    assert api.json("GET", "/items/7")[2]["routeKey"] == "GET /items/{id}"
    assert api.json("POST", "/items/7")[2] == {"function": "anyItem"}


def test_v2_event_shape(api):
    """Lambda proxy, format 2.0: version, routeKey, rawPath, rawQueryString,
    lowercase headers, requestContext with accountId, apiId, domainName,
    domainPrefix, http{method,path,protocol,sourceIp,userAgent}, requestId,
    routeKey, stage, time, timeEpoch; and the x-forwarded-* and
    x-amzn-trace-id headers API Gateway adds."""
    status, headers, event = api.json("GET", "/echo?x=1", headers={"User-Agent": "gw-test/1", "X-Mixed-Case": "v"})
    assert status == 200
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "x=1"
    assert event["headers"]["x-mixed-case"] == "v"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "pathParameters" not in event
    cx = event["requestContext"]
    assert cx["accountId"] == "000000000000"
    assert cx["stage"] == "$default"
    assert cx["routeKey"] == "GET /echo"
    assert cx["http"] == {
        "method": "GET",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "gw-test/1",
    }
    assert len(cx["apiId"]) == 10
    assert cx["domainName"].startswith("127.0.0.1")
    assert cx["requestId"] == headers["apigw-requestid"]
    assert abs(cx["timeEpoch"] / 1000 - time.time()) < 60
    assert cx["time"].endswith(" +0000")


def test_repeated_query_keys_are_joined_with_commas(api):
    """Lambda proxy: "Duplicate query strings are combined with commas and
    included in the queryStringParameters field" (format 2.0)."""
    _, _, event = api.json("GET", "/echo?a=1&a=2&b=x%20y&c")
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "c": ""}
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&c"


def test_repeated_headers_are_joined_with_commas(api):
    """Lambda proxy: "Duplicate headers are combined with commas and included
    in the headers field" (format 2.0); header names are lowercase."""
    _, _, event = api.raw("GET", "/echo", [("X-Dup", "one"), ("X-Dup", "two")])
    assert event["headers"]["x-dup"] == "one,two"


def test_request_cookies_move_to_the_cookies_field(api):
    """Lambda proxy: format 2.0 "includes a new cookies field. All cookie
    headers in the request are combined with commas and added to the cookies
    field"; the cookie header leaves headers."""
    _, _, event = api.json("GET", "/echo", headers={"Cookie": "s=abc; theme=dark"})
    assert event["cookies"] == ["s=abc", "theme=dark"]
    assert "cookie" not in event["headers"]


def test_each_response_cookie_is_its_own_set_cookie_header(api):
    """Lambda proxy: "In the response to the client, each cookie becomes a
    set-cookie header"."""
    status, headers, body = api.call("GET", "/shape/cookies")
    assert status == 200 and body == b"ok"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_a_binary_request_body_arrives_base64_encoded(api):
    """Lambda proxy: HTTP APIs infer the encoding from the request's content
    type; a binary body reaches the function base64-encoded with
    isBase64Encoded true, a text one as it is."""
    data = bytes(range(256))
    _, _, event = api.json("POST", "/echo", headers={"Content-Type": "image/png"}, body=data)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    _, _, event = api.json("POST", "/echo", headers={"Content-Type": "application/json"}, body=b'{"k": "v"}')
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)


def test_is_base64_encoded_response_gives_the_exact_bytes(api):
    """Lambda proxy, response format 2.0: with isBase64Encoded true the body
    is decoded and sent as binary."""
    status, headers, body = api.call("GET", "/shape/binary")
    assert status == 200
    assert body == bytes(range(256))
    assert headers["content-type"] == "application/octet-stream"


def test_a_described_response_sets_status_headers_and_body(api):
    """Lambda proxy, response format 2.0: statusCode, headers and body of
    the returned object become the response."""
    status, headers, body = api.call("GET", "/shape/described")
    assert (status, body) == (201, b"created")
    assert headers["x-kind"] == "described"
    assert headers["content-type"] == "text/plain"


@pytest.mark.parametrize(
    "kind,expected",
    [("dict", b'{"hello": "world"}'), ("list", b"[1, 2, 3]"), ("number", b"42")],
)
def test_a_result_without_status_code_is_a_200_json_body(api, kind, expected):
    """Lambda proxy, response format 2.0: "If your Lambda function returns
    valid JSON and doesn't return a statusCode, API Gateway assumes"
    isBase64Encoded false, statusCode 200, content-type application/json,
    body the function's response."""
    status, headers, body = api.call("GET", f"/shape/{kind}")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == expected


def test_a_string_result_is_the_body_as_is(api):
    """Lambda proxy, response format 2.0: a function returning the string
    "Hello from Lambda!" answers 200 with that string as the body."""
    status, headers, body = api.call("GET", "/shape/string")
    assert (status, body) == (200, b"plain text")
    assert headers["content-type"] == "application/json"


def test_a_malformed_response_is_500(api, dev):
    """HTTP APIs answer a Lambda response they cannot interpret with 500
    {"message":"Internal Server Error"}; strata dev says why."""
    start = len(dev.lines)
    status, _, body = api.json("GET", "/shape/malformed")
    assert (status, body) == (500, {"message": "Internal Server Error"})
    assert dev.wait_for_line(lambda line: "malformed Lambda proxy response" in line, start=start)


def test_a_response_over_lambdas_6_mb_is_500_and_dev_says_why(api, dev):
    start = len(dev.lines)
    status, _, body = api.json("GET", "/shape/huge")
    assert (status, body) == (500, {"message": "Internal Server Error"})
    assert dev.wait_for_line(lambda line: "ResponseSizeTooLarge" in line and "answered 500" in line, start=start)


def test_v1_event_shape(api):
    """Lambda proxy, format 1.0: resource, path, httpMethod, headers (last
    value) and multiValueHeaders, queryStringParameters (last value) and
    multiValueQueryStringParameters, requestContext with resourcePath,
    identity.sourceIp, stage $default; stageVariables null."""
    status, _, event = api.raw(
        "PUT", "/v1/a/b?x=1&x=2", [("X-Dup", "one"), ("X-Dup", "two"), ("Content-Type", "text/plain")], b"hi"
    )
    assert status == 200
    assert event["version"] == "1.0"
    assert event["resource"] == "/v1/{proxy+}"
    assert event["path"] == "/v1/a/b"
    assert event["httpMethod"] == "PUT"
    assert event["headers"]["x-dup"] == "two"
    assert event["multiValueHeaders"]["x-dup"] == ["one", "two"]
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == ("hi", False)
    cx = event["requestContext"]
    assert cx["resourcePath"] == "/v1/{proxy+}"
    assert cx["httpMethod"] == "PUT"
    assert cx["stage"] == "$default"
    assert cx["identity"]["sourceIp"] == "127.0.0.1"
    assert cx["accountId"] == "000000000000"


def test_v1_response_merges_headers_and_multi_value_headers(api):
    """Lambda proxy, response format 1.0: headers and multiValueHeaders are
    merged; for a name in both, only the multiValueHeaders values appear."""
    status, headers, body = api.call("GET", "/v1shape/multi")
    assert (status, body) == (200, b"v1 body")
    assert headers["x-single"] == "1"
    assert headers.get_all("x-both") == ["m1", "m2"]


def test_v1_result_without_status_code_is_500(api):
    """Lambda proxy, format 1.0: API Gateway makes no assumptions about the
    response; a result that is not the documented shape is a 500."""
    status, _, body = api.json("GET", "/v1shape/dict")
    assert (status, body) == (500, {"message": "Internal Server Error"})


def test_cors_preflight_is_answered_without_a_function(api, dev):
    """CORS: "API Gateway automatically sends a response to preflight
    OPTIONS requests, even if there isn't an OPTIONS route configured", with
    the configured allow-origin, methods, headers, credentials and max-age."""
    # Let the log lines of earlier tests' invocations arrive first: a REPORT
    # line may trail its response.
    start, quiet_since = len(dev.lines), time.monotonic()
    while time.monotonic() - quiet_since < 0.3:
        time.sleep(0.05)
        if len(dev.lines) != start:
            start, quiet_since = len(dev.lines), time.monotonic()
    status, headers, body = api.call(
        "OPTIONS",
        "/items/1",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-custom"},
    )
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "content-type,x-custom"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-max-age"] == "600"
    # No function ran: nothing was logged.
    time.sleep(0.2)
    assert not any("[" in line for line in dev.lines[start:])
    status, headers, _ = api.call(
        "OPTIONS", "/items/1", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"}
    )
    assert status == 204
    assert "access-control-allow-origin" not in headers


def test_cors_headers_are_added_to_responses_for_allowed_origins(api):
    """CORS: for a CORS request API Gateway adds the configured CORS headers
    to the integration's response, and ignores CORS headers the backend
    returns."""
    status, headers, _ = api.call("GET", "/shape/cors", headers={"Origin": ORIGIN})
    assert status == 200
    assert headers.get_all("access-control-allow-origin") == [ORIGIN]
    assert headers["access-control-allow-credentials"] == "true"
    assert "origin" in headers["vary"].lower()
    _, headers, _ = api.call("GET", "/shape/cors", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in headers


def test_a_body_over_10_mb_is_413(api):
    """Quotas: the maximum payload size of an HTTP API is 10 MB; larger
    requests get 413 {"message":"Request Entity Too Large"}."""
    big = b"x" * (10 * 1024 * 1024 + 1)
    status, _, body = api.json("POST", "/echo", headers={"Content-Type": "text/plain"}, body=big)
    assert (status, body) == (413, {"message": "Request Entity Too Large"})
    ok = b"y" * (1024 * 1024)
    status, _, event = api.json("POST", "/echo", headers={"Content-Type": "text/plain"}, body=ok)
    assert status == 200 and len(event["body"]) == len(ok)


@pytest.mark.parametrize("path", ["/fail", "/crash"])
def test_a_function_error_is_500(api, path):
    """HTTP APIs answer a Lambda function error (an exception, a crashed
    runtime) with 500 {"message":"Internal Server Error"}."""
    status, headers, body = api.json("GET", path)
    assert (status, body) == (500, {"message": "Internal Server Error"})
    assert headers["apigw-requestid"]


def test_a_function_timeout_is_500(api):
    """A Lambda timeout within the 30 s integration timeout is a function
    error for API Gateway: 500 {"message":"Internal Server Error"} (past 30 s
    it would be 503 Service Unavailable; that path is unit-tested)."""
    began = time.monotonic()
    status, _, body = api.json("GET", "/sleepy")
    assert (status, body) == (500, {"message": "Internal Server Error"})
    assert time.monotonic() - began < 5
    # The function keeps serving after its worker was killed.
    assert api.json("GET", "/items/special")[0] == 200


def test_twenty_parallel_requests_are_all_answered(api):
    """HTTP APIs invoke one Lambda per request concurrently: 20 requests in
    parallel all get their own answer."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: api.json("GET", "/slow?s=0.3"), range(20)))
    assert [status for status, _, _ in results] == [200] * 20
    assert len({body["requestId"] for _, _, body in results}) == 20


def test_every_response_carries_apigw_requestid(api):
    """HTTP APIs return an apigw-requestid header on every response."""
    for path in ["/items/1", "/nowhere", "/fail"]:
        _, headers, _ = api.call("GET", path)
        assert headers["apigw-requestid"]
