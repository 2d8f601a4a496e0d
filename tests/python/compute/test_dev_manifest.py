"""`strata dev` and edits of strata.yaml: a stateful change the safety rules
refuse is reported and not applied while the functions keep running; an
invalid manifest keeps the last good release; a new function goes live with
the next swap."""

import json
import re

from strata_server import SWAPPED

TABLE = "computetest-dev-Orders"


def invoke(dev, name):
    response = dev.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    return response, json.loads(response["Payload"].read() or b"null")


def edit(service, old, new):
    manifest = service / "strata.yaml"
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new))


def test_a_refused_key_change_is_reported_not_applied_and_the_functions_keep_running(own_dev):
    dev, service = own_dev()
    dynamodb = dev.client("dynamodb")
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}})
    errors = len(dev.errors)
    edit(service, "Orders: { partition_key: pk:S }", "Orders: { partition_key: pk:S, sort_key: sk:S }")
    refused = dev.wait_for_line(lambda l: "NOT applied" in l, start=errors, stream="stderr")
    assert refused, dev.output()
    stderr = "\n".join(dev.errors[errors:])
    assert "sort_key" in stderr and "table/Orders" in stderr
    assert "--allow-destroy" in stderr
    # The data and the key schema are as they were.
    schema = dynamodb.describe_table(TableName=TABLE)["Table"]["KeySchema"]
    assert schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "kept"}})["Item"]
    # And the functions still answer.
    response, body = invoke(dev, "echo")
    assert "FunctionError" not in response, body
    assert dev.proc.poll() is None


def test_an_invalid_manifest_keeps_the_last_good_release_until_it_is_fixed(own_dev):
    dev, service = own_dev()
    errors = len(dev.errors)
    edit(service, "handler: handlers.echo", "handler: [handlers.echo")
    line = dev.wait_for_line(
        lambda l: "still running the last good release" in l, start=errors, stream="stderr"
    )
    assert line, dev.output()
    assert "strata.yaml" in "\n".join(dev.errors[errors:])
    response, _ = invoke(dev, "echo")
    assert "FunctionError" not in response

    # The fix comes with a change, so the release differs from the running one.
    start = len(dev.lines)
    edit(service, "handler: [handlers.echo", "handler: handlers.echo")
    edit(service, "GREETING: hello", "GREETING: fixed")
    assert dev.wait_for_line(SWAPPED.match, start=start), dev.output()
    response, body = invoke(dev, "echo")
    assert "FunctionError" not in response
    assert body["env"]["GREETING"] == "fixed"


def test_a_function_added_to_the_manifest_is_live_after_the_swap(own_dev):
    dev, service = own_dev()
    start = len(dev.lines)
    manifest = service / "strata.yaml"
    manifest.write_text(
        manifest.read_text() + "    echoAgain:\n      handler: handlers.echo\n"
        "      env: { GREETING: again }\n      events: [ { http: GET /again } ]\n"
    )
    assert dev.wait_for_line(SWAPPED.match, start=start), dev.output()
    assert dev.wait_for_line(lambda l: l == "  + GET /again -> echoAgain", start=start), dev.output()
    response, body = invoke(dev, "echoAgain")
    assert "FunctionError" not in response, body
    assert body["function_name"] == "computetest-dev-echoAgain"


def test_a_taken_port_is_refused_before_anything_is_deployed(service_copy, strata):
    import socket
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [strata, "dev", "--dir", str(service_copy), "--port", str(port), "--aws-port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert f"127.0.0.1:{port} (change it with --port)" in run.stderr
    assert "stateful stack" not in run.stdout + run.stderr
    assert not (service_copy / ".strata" / "dev" / "data").exists()


def test_a_code_folder_added_with_its_function_is_watched_from_then_on(own_dev):
    dev, service = own_dev()
    extra = service / "extra"
    extra.mkdir()
    (extra / "more.py").write_text('def handler(event, context):\n    return {"more": 1}\n')
    start = len(dev.lines)
    manifest = service / "strata.yaml"
    manifest.write_text(manifest.read_text() + "    more:\n      handler: more.handler\n      code: extra\n")
    assert dev.wait_for_line(SWAPPED.match, start=start), dev.output()
    assert invoke(dev, "more")[1] == {"more": 1}

    start = len(dev.lines)
    (extra / "more.py").write_text('def handler(event, context):\n    return {"more": 2}\n')
    assert dev.wait_for_line(SWAPPED.match, start=start), dev.output()
    assert invoke(dev, "more")[1] == {"more": 2}


def test_writes_under_strata_folder_do_not_swap(own_dev):
    dev, service = own_dev()
    start = len(dev.lines)
    for n in range(5):
        invoke(dev, "echo")  # each call appends to .strata/dev/logs
    (service / ".strata" / "dev" / "scratch.txt").write_text("x")
    assert not dev.wait_for_line(SWAPPED.match, start=start, timeout=1.5), dev.output()
