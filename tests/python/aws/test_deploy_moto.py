"""`strata deploy`, `plan`, `destroy --stack stateless`, `outputs` and
`drift` of examples/orders' aws stage (`prod`), through the AWS SDK for Rust
against a moto server.

Each test gets its own moto server on a free port and its own copy of the
example, and checks what was made with boto3 against the same server.
moto's CloudFormation lists change-set rows without `Replacement` or
`Details` and lacks UpdateTerminationProtection; these tests pin how Strata
copes (its own template diff decides replacements; a warning for the
protection). moto has no drift detection at all (DetectStackDrift answers
an HTML 500), so `drift` is pinned to say so in one line; `outputs` is
checked against the SSM parameters moto's CloudFormation wrote.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "orders"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
STATEFUL = "orders-prod-stateful"
STATELESS = "orders-prod-stateless"
TABLE = "orders-prod-Orders"
RUN_TIMEOUT = 300


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto(tmp_path):
    """A moto server on a free port, torn down after the test."""
    port = free_port()
    binary = pathlib.Path(sys.executable).parent / "moto_server"
    log = open(tmp_path / "moto.log", "w")
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"moto_server did not start: {(tmp_path / 'moto.log').read_text()}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def fake_credentials(tmp_path):
    """The environment of a run with fake keys and no host configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_COLOR="1",
    )
    return env


@pytest.fixture
def service(tmp_path):
    """A copy of examples/orders without local state."""
    dest = tmp_path / "orders"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".strata", "__pycache__", "tests"))
    return dest


def cli(strata_bin, service, *args, env):
    return subprocess.run(
        [strata_bin, "--dir", str(service), "--stage", "prod", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
    )


def client(moto, name):
    return boto3.client(
        name,
        endpoint_url=moto,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def deployed(strata_bin, service, moto, env, *extra):
    run = cli(strata_bin, service, "deploy", "--endpoint-url", moto, "--yes", *extra, env=env)
    assert run.returncode == 0, f"deploy failed:\n{run.stdout}\n{run.stderr}"
    return run


def stack(moto, name):
    return client(moto, "cloudformation").describe_stacks(StackName=name)["Stacks"][0]


def open_change_sets(moto, name):
    summaries = client(moto, "cloudformation").list_change_sets(StackName=name)["Summaries"]
    return [
        s["ChangeSetName"]
        for s in summaries
        if s["StackName"] == name and s.get("ExecutionStatus") not in ("EXECUTE_COMPLETE",)
    ]


def test_deploy_creates_the_data_resources_and_publishes_their_outputs(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    run = deployed(strata, service, moto, env)
    assert f"account {ACCOUNT}, region {REGION}" in run.stdout
    assert "creating the bootstrap stack strata-bootstrap" in run.stdout
    assert "uploaded code/" in run.stdout
    assert f"{STATEFUL}: CREATE_COMPLETE" in run.stdout
    assert f"{STATELESS}: CREATE_COMPLETE" in run.stdout
    # Stateful first: its outputs are what the stateless stack reads.
    assert run.stdout.index(f"{STATEFUL}: CREATE_COMPLETE") < run.stdout.index(
        f"{STATELESS}: CREATE_COMPLETE"
    )

    table = client(moto, "dynamodb").describe_table(TableName=TABLE)["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["ByCustomer"]
    client(moto, "s3").head_bucket(Bucket=f"orders-prod-receipts-{ACCOUNT}")
    sqs = client(moto, "sqs")
    url = sqs.get_queue_url(QueueName="orders-prod-OrderEvents")["QueueUrl"]
    redrive = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    assert "orders-prod-OrderEventsDlq" in redrive["Attributes"]["RedrivePolicy"]

    ssm = client(moto, "ssm")
    value = lambda name: ssm.get_parameter(Name=name)["Parameter"]["Value"]  # noqa: E731
    assert value("/strata/orders/prod/Orders/name") == TABLE
    # moto names the queue by AWS's host in CloudFormation, by the request's in SQS.
    assert value("/strata/orders/prod/OrderEvents/url").endswith(f"/{ACCOUNT}/orders-prod-OrderEvents")
    assert value("/strata/orders/prod/PaymentKey/name") == "/orders/prod/PaymentKey"
    assert value("/orders/prod/SupportEmail") == "support@example.com"

    policy = client(moto, "cloudformation").get_stack_policy(StackName=STATEFUL)["StackPolicyBody"]
    assert "Update:Replace" in policy and "LogicalResourceId/TableOrders" in policy
    # moto has no UpdateTerminationProtection: the deploy says so and goes on.
    assert "termination protection of orders-prod-stateful is not on" in run.stdout

    # The functions of the stateless stack, with the code uploaded once.
    # moto shows no Outputs for stacks made through change sets; the deploy
    # reads the bucket's physical id, and so does this test.
    bucket = client(moto, "cloudformation").describe_stack_resource(
        StackName="strata-bootstrap", LogicalResourceId="ArtifactBucket"
    )["StackResourceDetail"]["PhysicalResourceId"]
    keys = [o["Key"] for o in client(moto, "s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len([k for k in keys if k.startswith("code/")]) == 1, keys
    names = {f["FunctionName"] for f in client(moto, "lambda").list_functions()["Functions"]}
    assert "orders-prod-createOrder" in names, names

    # Nothing changed: no change set runs, no code is uploaded again.
    again = deployed(strata, service, moto, env)
    assert f"{STATEFUL}: no changes" in again.stdout
    assert f"{STATELESS}: no changes" in again.stdout
    assert "uploaded code/" not in again.stdout
    assert open_change_sets(moto, STATEFUL) == [] and open_change_sets(moto, STATELESS) == []


def test_a_code_change_redeploys_only_the_stateless_stack(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    before = stack(moto, STATEFUL)
    events_before = client(moto, "cloudformation").describe_stack_events(StackName=STATEFUL)["StackEvents"]

    handler = service / "src" / "orders.py"
    handler.write_text(handler.read_text() + "\n# a change of code\n")
    run = deployed(strata, service, moto, env)
    assert f"{STATEFUL}: no changes" in run.stdout
    assert f"{STATELESS}: UPDATE_COMPLETE" in run.stdout

    after = stack(moto, STATEFUL)
    assert after["StackStatus"] == before["StackStatus"] == "CREATE_COMPLETE"
    assert after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
    events_after = client(moto, "cloudformation").describe_stack_events(StackName=STATEFUL)["StackEvents"]
    assert len(events_after) == len(events_before)
    assert stack(moto, STATELESS)["StackStatus"] == "UPDATE_COMPLETE"


def test_destroy_stateless_leaves_the_table_and_its_items(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    dynamodb = client(moto, "dynamodb")
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "ORDER#1"}, "sk": {"S": "META"}, "total": {"N": "9"}})

    run = cli(strata, service, "destroy", "--stack", "stateless", "--endpoint-url", moto, "--yes", env=env)
    assert run.returncode == 0, run.stderr
    assert f"Destroyed the stateless stack {STATELESS}" in run.stdout
    with pytest.raises(client(moto, "cloudformation").exceptions.ClientError):
        stack(moto, STATELESS)
    assert stack(moto, STATEFUL)["StackStatus"] == "CREATE_COMPLETE"
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "ORDER#1"}, "sk": {"S": "META"}})["Item"]
    assert item["total"] == {"N": "9"}

    again = cli(strata, service, "destroy", "--stack", "stateless", "--endpoint-url", moto, "--yes", env=env)
    assert again.returncode == 0 and "nothing to destroy" in again.stdout


def test_a_sort_key_change_is_refused_before_any_change_set_executes(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    events_before = client(moto, "cloudformation").describe_stack_events(StackName=STATEFUL)["StackEvents"]
    manifest = service / "strata.yaml"
    manifest.write_text(manifest.read_text().replace("sort_key: sk:S", "sort_key: createdAt:N", 1))
    handler = service / "src" / "orders.py"
    handler.write_text(handler.read_text() + "\n# a change of code too\n")

    run = cli(strata, service, "deploy", "--endpoint-url", moto, "--yes", env=env)
    assert run.returncode == 3, f"{run.stdout}\n{run.stderr}"
    assert "refused by the safety rules" in run.stderr
    assert "table/Orders would be replaced because KeySchema changed" in run.stderr
    assert f"--stage prod deploy --endpoint-url {moto} --allow-destroy table/Orders" in run.stderr
    # Nothing ran: not the stateful change set, not the stateless one.
    table = client(moto, "dynamodb").describe_table(TableName=TABLE)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    events_after = client(moto, "cloudformation").describe_stack_events(StackName=STATEFUL)["StackEvents"]
    assert len(events_after) == len(events_before)
    assert stack(moto, STATELESS)["StackStatus"] == "CREATE_COMPLETE"
    assert open_change_sets(moto, STATEFUL) == []

    # plan says the same, with both verdicts, and exits 3.
    plan = cli(strata, service, "plan", "--endpoint-url", moto, env=env)
    assert plan.returncode == 3, plan.stderr
    assert "-/+ table/Orders (TableOrders)" in plan.stdout
    assert "CloudFormation: no replacement verdict; Strata: replace (KeySchema)" in plan.stdout


def test_plan_shows_the_change_sets_and_deletes_them(strata, service, moto, tmp_path):
    import json

    env = fake_credentials(tmp_path)
    fresh = cli(strata, service, "plan", "--json", "--endpoint-url", moto, env=env)
    assert fresh.returncode == 0, fresh.stderr
    plan = json.loads(fresh.stdout)
    stateful, stateless = plan["stacks"]
    assert (stateful["stack"], stateful["source"], stateful["exists"]) == (STATEFUL, "change_set", False)
    assert {"logical_id": "TableOrders", "address": "table/Orders", "action": "Add"}.items() <= next(
        r for r in stateful["rows"] if r["logical_id"] == "TableOrders"
    ).items()
    assert stateless["source"] == "template" and "artifact bucket" in stateless["note"]
    # A plan changes nothing: no stack is left, not even one under review.
    stacks = client(moto, "cloudformation").describe_stacks()["Stacks"]
    assert stacks == [], [s["StackName"] for s in stacks]

    deployed(strata, service, moto, env)
    handler = service / "src" / "worker.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    first = cli(strata, service, "plan", "--json", "--detailed-exitcode", "--endpoint-url", moto, env=env)
    assert first.returncode == 2, first.stderr
    second = cli(strata, service, "plan", "--json", "--detailed-exitcode", "--endpoint-url", moto, env=env)
    assert first.stdout == second.stdout, "plan --json is stable"
    plan = json.loads(first.stdout)
    stateful, stateless = plan["stacks"]
    assert stateful["rows"] == []
    assert stateless["source"] == "change_set" and stateless["rows"]
    assert plan["refusals"] == []
    assert open_change_sets(moto, STATEFUL) == [] and open_change_sets(moto, STATELESS) == []
    assert stack(moto, STATELESS)["StackStatus"] == "CREATE_COMPLETE"


def test_a_leftover_change_set_of_a_killed_run_is_deleted(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    cfn = client(moto, "cloudformation")
    body = cfn.get_template(StackName=STATEFUL)["TemplateBody"]
    cfn.create_change_set(
        StackName=STATEFUL,
        ChangeSetName="strata-stateful-1",
        ChangeSetType="UPDATE",
        TemplateBody=body if isinstance(body, str) else __import__("json").dumps(body),
    )
    run = deployed(strata, service, moto, env)
    assert f"deleted the change set strata-stateful-1 of {STATEFUL}, left by an interrupted run" in run.stdout
    assert open_change_sets(moto, STATEFUL) == []


def test_no_credentials_is_a_clear_error(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    run = cli(strata, service, "deploy", "--endpoint-url", moto, "--yes", env=env)
    assert run.returncode == 1
    assert "no AWS credentials were found" in run.stderr
    assert "AWS_ACCESS_KEY_ID" in run.stderr


def test_an_unreachable_endpoint_is_a_clear_error(strata, service, tmp_path):
    env = fake_credentials(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    run = cli(strata, service, "plan", "--endpoint-url", url, env=env)
    assert run.returncode == 1
    assert f"cannot reach {url}" in run.stderr
    assert "--endpoint-url" in run.stderr


def test_a_template_over_51200_bytes_goes_through_the_artifact_bucket(strata, moto, tmp_path):
    env = fake_credentials(tmp_path)
    service = tmp_path / "big"
    (service / "src").mkdir(parents=True)
    (service / "src" / "app.py").write_text("def handle(event, context):\n    return {}\n")
    queues = "".join(f"    Queue{i}: {{}}\n" for i in range(100))
    (service / "strata.yaml").write_text(
        "service: big\n"
        "stages:\n  prod: { target: aws, region: eu-west-1 }\n"
        f"stateful:\n  queues:\n{queues}"
        "stateless:\n  defaults: { runtime: python3.12, code: src }\n"
        "  functions:\n    f: { handler: app.handle, uses: { Queue0: send } }\n"
    )
    run = cli(strata, service, "deploy", "--endpoint-url", moto, "--yes", env=env)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert "uploaded templates/big-prod-stateful/" in run.stdout
    assert "big-prod-stateful: CREATE_COMPLETE" in run.stdout
    urls = client(moto, "sqs").list_queues(QueueNamePrefix="big-prod-")["QueueUrls"]
    assert len(urls) == 100


def test_a_removal_is_refused_then_allowed_and_runs_stateless_first(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    manifest = service / "strata.yaml"
    original = manifest.read_text()
    manifest.write_text(original.replace("    Receipts: { versioning: true }\n", "    Receipts: { versioning: true }\n    Scratch: {}\n", 1))
    deployed(strata, service, moto, env)
    client(moto, "s3").head_bucket(Bucket=f"orders-prod-scratch-{ACCOUNT}")

    manifest.write_text(original)
    handler = service / "src" / "jobs.py"
    handler.write_text(handler.read_text() + "\n# changed with the removal\n")
    refused = cli(strata, service, "deploy", "--endpoint-url", moto, "--yes", env=env)
    assert refused.returncode == 3, refused.stderr
    assert "bucket/Scratch would be deleted" in refused.stderr
    assert "--allow-destroy bucket/Scratch" in refused.stderr

    run = deployed(strata, service, moto, env, "--allow-destroy", "bucket/Scratch")
    # S4: the stateless stack stops reading what goes before the stateful stack drops it.
    assert run.stdout.index(f"{STATELESS}: UPDATE_COMPLETE") < run.stdout.index(f"{STATEFUL}: UPDATE_COMPLETE")
    # The stack policy is whole again afterwards. (moto deletes a removed
    # resource even with DeletionPolicy Retain, which AWS keeps; so the
    # bucket itself is not checked here.)
    policy = client(moto, "cloudformation").get_stack_policy(StackName=STATEFUL)["StackPolicyBody"]
    assert "LogicalResourceId/TableOrders" in policy and "BucketScratch" not in policy


def test_outputs_are_the_values_cloudformation_published_in_ssm(strata, service, moto, tmp_path):
    import json

    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    run = cli(strata, service, "outputs", "--json", "--endpoint-url", moto, env=env)
    assert run.returncode == 0, run.stderr
    outputs = json.loads(run.stdout)

    ssm = client(moto, "ssm")
    published = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/strata/orders/prod", Recursive=True):
        for p in page["Parameters"]:
            published[p["Name"]] = p["Value"]
    names = {
        "table/Orders": "Orders",
        "bucket/Receipts": "Receipts",
        "queue/OrderEvents": "OrderEvents",
        "queue/OrderEventsDlq": "OrderEventsDlq",
        "parameter/SupportEmail": "SupportEmail",
        "parameter/PaymentKey": "PaymentKey",
    }
    assert sorted(outputs) == sorted(names)
    shown = {f"/strata/orders/prod/{names[a]}/{attr}": v for a, attrs in outputs.items() for attr, v in attrs.items()}
    assert sorted(shown) == sorted(published), "one output per published parameter"
    # The stream ARN carries a timestamp that only DynamoDB (or SSM) knows,
    # and no function reads it: CloudFormation does not report it.
    assert shown.pop("/strata/orders/prod/Orders/stream_arn") is None
    for name, value in shown.items():
        assert value == published[name], name
    assert outputs["table/Orders"]["name"] == TABLE

    text = cli(strata, service, "outputs", "--endpoint-url", moto, env=env)
    assert text.returncode == 0, text.stderr
    assert f"  name        {TABLE}   (/strata/orders/prod/Orders/name)" in text.stdout
    assert "aws ssm get-parameter --name /strata/orders/prod/Orders/stream_arn" in text.stdout


def test_outputs_and_drift_of_a_stage_not_deployed_say_so(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    run = cli(strata, service, "outputs", "--endpoint-url", moto, env=env)
    assert run.returncode == 0, run.stderr
    assert f"Nothing is deployed in stage prod ({STATEFUL} does not exist)" in run.stdout
    drift = cli(strata, service, "drift", "--endpoint-url", moto, env=env)
    assert drift.returncode == 0, drift.stderr
    assert f"Nothing is deployed in stage prod ({STATEFUL} does not exist)" in drift.stdout


def test_drift_where_the_endpoint_has_no_drift_detection_is_one_clear_line(strata, service, moto, tmp_path):
    env = fake_credentials(tmp_path)
    deployed(strata, service, moto, env)
    for extra in ((), ("--json",), ("--detailed-exitcode",)):
        run = cli(strata, service, "drift", "--endpoint-url", moto, *extra, env=env)
        assert run.returncode == 1, f"{run.stdout}\n{run.stderr}"
        assert run.stdout == ""
        message = " ".join(run.stderr.split())
        assert f"the endpoint {moto} does not support CloudFormation drift detection" in message
        assert "DetectStackDrift is not implemented there" in message
        assert "panicked" not in run.stderr and "<html" not in run.stderr.lower()
        assert "ResponseError" not in run.stderr and "DispatchFailure" not in run.stderr
    # Nothing was changed by asking.
    assert stack(moto, STATEFUL)["StackStatus"] == "CREATE_COMPLETE"
