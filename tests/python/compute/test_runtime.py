"""Functions run as Lambda Runtime API workers, reached through the Lambda
Invoke API with boto3 as on AWS: results, errors, timeouts, crashes, init
errors, environment, credentials and AWS's own runtime client."""

import json
import time

import pytest


def invoke(dev, name, event=None, **kwargs):
    client = dev.client("lambda")
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


def test_a_python_handler_answers_with_the_documented_context_and_environment(dev):
    response, body = invoke(dev, "echo", {"hello": "world"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["event"] == {"hello": "world"}
    assert body["function_name"] == "computetest-dev-echo"
    assert 0 < body["remaining_ms"] <= 3000
    env = body["env"]
    assert env["GREETING"] == "hello"
    assert env["ORDERS_TABLE"] == "computetest-dev-Orders"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "computetest-dev-echo"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_ENDPOINT_URL"] == dev.url
    assert env["_HANDLER"] == "handlers.echo"
    # Plain host:port, as Lambda sets it.
    assert not env["AWS_LAMBDA_RUNTIME_API"].startswith("http")
    assert ":" in env["AWS_LAMBDA_RUNTIME_API"]


def test_warm_workers_are_reused(dev):
    _, first = invoke(dev, "echo")
    _, second = invoke(dev, "echo")
    assert first["pid"] == second["pid"]
    assert first["request_id"] != second["request_id"]


def test_the_physical_name_and_the_arn_reach_the_same_function(dev):
    _, by_name = invoke(dev, "computetest-dev-echo")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:computetest-dev-echo"
    _, by_arn = invoke(dev, arn)
    assert by_name["function_name"] == by_arn["function_name"] == "computetest-dev-echo"


def test_a_handler_error_is_a_function_error_with_the_runtime_document(dev):
    response, body = invoke(dev, "fail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert isinstance(body["stackTrace"], list)


def test_a_handler_past_its_timeout_is_killed_and_the_function_keeps_serving(dev):
    started = time.monotonic()
    response, body = invoke(dev, "sleepy")
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "timed out after 1.00 seconds" in body["errorMessage"]
    # The next call gets a fresh worker and times out the same way.
    response, body = invoke(dev, "sleepy")
    assert body["errorType"] == "Sandbox.Timedout"


def test_a_crashing_worker_is_replaced(dev):
    response, body = invoke(dev, "crash")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status: 3" in body["errorMessage"]
    response, body = invoke(dev, "crash")
    assert body["errorType"] == "Runtime.ExitError"
    # The rest of the service is untouched.
    _, body = invoke(dev, "echo")
    assert body["version"] == "v1"


def test_an_import_error_is_reported_as_the_init_error(dev):
    response, body = invoke(dev, "broken")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "broken on purpose" in body["errorMessage"]
    assert dev.wait_for_line(lambda l: "broken" in l and "failed to start" in l, stream="stderr")


def test_a_function_reaching_a_resource_it_does_not_use_is_denied(dev):
    _, body = invoke(dev, "snoop")
    assert body["allowed"] is False
    assert body["error"] == "AccessDeniedException"
    assert "snoop" in body["message"]
    assert "table/computetest-dev-Orders" in body["message"]
    assert "dynamodb:Scan" in body["message"]


def test_a_node_handler_runs_on_the_shipped_node_runtime(dev):
    _, body = invoke(dev, "nodeEcho", {"n": 1})
    assert body["runtime"] == "node"
    assert body["event"] == {"n": 1}
    assert body["functionName"] == "computetest-dev-nodeEcho"
    assert body["remaining"] is True


def test_awslambdaric_runs_a_handler_against_the_runtime_api(dev):
    _, body = invoke(dev, "ric", {"via": "ric"})
    assert body["client"] == "awslambdaric"
    assert body["event"] == {"via": "ric"}


def test_unknown_functions_and_bad_payloads_get_lambda_errors(dev):
    client = dev.client("lambda")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", Payload=b"{}")
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="echo", Payload=b"{not json")


def test_functions_may_not_invoke_functions(dev):
    # A function's own key (from its environment) is refused by Invoke.
    _, body = invoke(dev, "echo", {"key": True})
    client = dev.client("lambda", access_key=body["key"])
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.invoke(FunctionName="echo", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_event_invocations_are_accepted_at_once(dev):
    client = dev.client("lambda")
    response = client.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    response = client.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204


def test_strata_invoke_goes_through_the_running_dev(dev, strata):
    import subprocess

    out = subprocess.run(
        [strata, "--dir", dev.service_dir, "invoke", "echo", "--event", "-"],
        input='{"from": "cli"}',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["event"] == {"from": "cli"}
    failed = subprocess.run(
        [strata, "--dir", dev.service_dir, "invoke", "fail"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "ValueError"


def test_a_worker_killed_mid_request_answers_an_exit_error_and_is_replaced(dev):
    import os
    import re
    import signal
    import threading

    start = len(dev.lines)
    result = {}
    caller = threading.Thread(
        target=lambda: result.update(zip(("response", "body"), invoke(dev, "pause", {"seconds": 2.5})))
    )
    caller.start()
    line = dev.wait_for_line(lambda l: l.startswith("[pause") and " pid " in l, start=start)
    assert line, dev.output()
    os.kill(int(re.search(r"pid (\d+)", line).group(1)), signal.SIGKILL)
    caller.join(timeout=30)
    assert result["response"]["FunctionError"] == "Unhandled"
    assert result["body"]["errorType"] == "Runtime.ExitError"
    # A new worker takes the next request.
    response, body = invoke(dev, "pause", {"seconds": 0})
    assert "FunctionError" not in response
    assert body["pid"] != int(re.search(r"pid (\d+)", line).group(1))


def test_strata_logs_prints_what_functions_wrote_with_request_ids(dev, strata):
    import subprocess

    response, _ = invoke(dev, "pause", {"seconds": 0})
    out = subprocess.run(
        [strata, "--dir", dev.service_dir, "logs", "pause"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "pid " in out.stdout
    assert "REPORT RequestId: " in out.stdout
    unknown = subprocess.run(
        [strata, "--dir", dev.service_dir, "logs", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1
    assert "nosuch" in unknown.stderr


def test_strata_invoke_without_a_running_dev_starts_the_function_for_one_call(service_copy, strata):
    import subprocess

    service = service_copy
    undeployed = subprocess.run(
        [strata, "--dir", str(service), "invoke", "writer"], capture_output=True, text=True, timeout=60
    )
    assert undeployed.returncode == 1
    message = " ".join(undeployed.stderr.replace("│", " ").split())
    # The error names the invoked function, not the first one (echo) that
    # uses the table.
    assert "function `writer` uses table/Orders, which has no published outputs" in message
    assert "deploy the stateful stack first (`strata deploy`" in message
    # A function that uses nothing runs before anything is deployed.
    alone = subprocess.run(
        [strata, "--dir", str(service), "invoke", "pause", "--event", "-"],
        input='{"seconds": 0}',
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 0, alone.stderr
    assert "pid" in json.loads(alone.stdout)
    deploy = subprocess.run(
        [strata, "--dir", str(service), "deploy", "--yes"], capture_output=True, text=True, timeout=60
    )
    assert deploy.returncode == 0, deploy.stderr
    out = subprocess.run(
        [strata, "--dir", str(service), "invoke", "echo", "--event", "-"],
        input='{"alone": true}',
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["event"] == {"alone": True}
    assert body["env"]["ORDERS_TABLE"] == "computetest-dev-Orders"
