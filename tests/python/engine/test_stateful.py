"""The stateful stack end to end on the local target: the scenarios of issue
5 (peer tools' failures), each run through the real binary, with the data
checked through `strata serve` and boto3 between deploys."""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

from strata_server import strata_bin


ORDERS = "  tables:\n    Orders: {{ partition_key: pk:S, sort_key: {sort} }}\n"
ORDERS_WITH_INDEX = (
    "  tables:\n    Orders:\n      partition_key: pk:S\n      sort_key: sk:S\n"
    "      indexes: { ByCustomer: { partition_key: customerId:S } }\n"
)
QUEUES = "  queues:\n    Jobs: {}\n"
NO_QUEUES = "  queues: {}\n  parameters:\n    Mode: { value: fast }\n"


def put_orders(server, n, table="shop-dev-Orders"):
    ddb = server.client()
    for i in range(n):
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": f"o{i}"}, "sk": {"S": "a"}, "customerId": {"S": "c1"}},
        )


def item_count(server, table="shop-dev-Orders"):
    return server.client().scan(TableName=table, Select="COUNT")["Count"]


def state(service):
    return json.loads((service.state / "stateful.json").read_text())["state"]


def test_plan_detailed_exitcode_is_2_with_changes_then_0_after_deploy(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    first = service.run("plan", "--detailed-exitcode")
    assert first.returncode == 2, first.stderr
    assert "+ table/Orders (shop-dev-Orders) will be created" in first.stdout
    assert service.run("plan").returncode == 0
    service.ok("deploy", "--yes")
    after = service.run("plan", "--detailed-exitcode")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "No changes" in after.stdout


def test_deploy_without_yes_and_without_a_terminal_changes_nothing(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    done = service.run("deploy", stdin="")
    assert done.returncode == 1
    assert "--yes" in done.stderr
    assert service.run("plan", "--detailed-exitcode").returncode == 2


def test_sort_key_change_is_refused_naming_sort_key_and_the_items_then_replaced_when_allowed(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    service.ok("deploy", "--yes")
    with service.serve() as server:
        put_orders(server, 3)
    service.manifest(ORDERS.format(sort="createdAt:N"))

    refused = service.run("deploy", "--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "-/+ table/Orders" in refused.stdout
    assert "sort_key: sk:S -> createdAt:N   # forces replacement" in refused.stdout
    assert "table/Orders would be replaced because sort_key changed" in refused.stderr
    assert "3 items" in refused.stderr
    assert "deploy --allow-destroy table/Orders" in refused.stderr
    plan = service.run("plan", "--detailed-exitcode")
    assert plan.returncode == 3
    with service.serve() as server:
        assert item_count(server) == 3, "a refused deploy touched the data"

    allowed = service.run("deploy", "--yes", "--allow-destroy", "table/Orders")
    assert allowed.returncode == 0, allowed.stderr
    assert "data at risk: 3 items" in allowed.stdout
    with service.serve() as server:
        table = server.client().describe_table(TableName="shop-dev-Orders")["Table"]
        keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
        assert keys == {"pk": "HASH", "createdAt": "RANGE"}
        assert item_count(server) == 0


def test_an_allow_destroy_address_that_matches_no_destructive_change_is_pointed_out(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    service.ok("deploy", "--yes")
    service.manifest(ORDERS.format(sort="createdAt:N"))
    typo = service.run("deploy", "--yes", "--allow-destroy", "table/Order")
    assert typo.returncode == 3, typo.stdout + typo.stderr
    assert "warning: --allow-destroy table/Order matches no replacement or deletion" in typo.stderr
    right = service.run("deploy", "--yes", "--allow-destroy", "table/Orders")
    assert right.returncode == 0, right.stderr
    assert "warning" not in right.stderr


def test_removed_queue_is_retained_with_its_messages_and_adopted_back(service):
    service.manifest(QUEUES)
    service.ok("deploy", "--yes")
    with service.serve() as server:
        sqs = server.client(service="sqs")
        url = sqs.get_queue_url(QueueName="shop-dev-Jobs")["QueueUrl"]
        for body in ("one", "two"):
            sqs.send_message(QueueUrl=url, MessageBody=body)

    service.manifest(NO_QUEUES)
    plan = service.run("plan")
    assert "retain queue/Jobs (shop-dev-Jobs) leaves the state" in plan.stdout
    service.ok("deploy", "--yes")
    st = state(service)
    assert "queue/Jobs" not in st["resources"]
    assert "queue/Jobs" in st["retained"]
    with service.serve() as server:
        sqs = server.client(service="sqs")
        url = sqs.get_queue_url(QueueName="shop-dev-Jobs")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "2"

    service.manifest(QUEUES)
    plan = service.run("plan")
    assert "+ queue/Jobs (shop-dev-Jobs) will be adopted" in plan.stdout
    service.ok("deploy", "--yes")
    assert "queue/Jobs" in state(service)["resources"]
    with service.serve() as server:
        sqs = server.client(service="sqs")
        url = sqs.get_queue_url(QueueName="shop-dev-Jobs")["QueueUrl"]
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["Body"] for m in got) == ["one", "two"]


def test_index_added_to_a_table_with_data_is_an_update_in_place_and_answers_queries(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    service.ok("deploy", "--yes")
    with service.serve() as server:
        put_orders(server, 4)
    service.manifest(ORDERS_WITH_INDEX)
    plan = service.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "~ table/Orders (shop-dev-Orders) will be updated in place" in plan.stdout
    assert "indexes.ByCustomer: (none) -> { partition_key: customerId:S }" in plan.stdout
    service.ok("deploy", "--yes")
    with service.serve() as server:
        assert item_count(server) == 4
        answer = server.client().query(
            TableName="shop-dev-Orders",
            IndexName="ByCustomer",
            KeyConditionExpression="customerId = :c",
            ExpressionAttributeValues={":c": {"S": "c1"}},
        )
        assert answer["Count"] == 4


def test_rename_is_hinted_and_state_mv_keeps_the_data(service):
    service.manifest(ORDERS.format(sort="sk:S"))
    service.ok("deploy", "--yes")
    with service.serve() as server:
        put_orders(server, 2)
    service.manifest(ORDERS.format(sort="sk:S").replace("Orders:", "Purchases:"))
    plan = service.run("plan")
    assert "retain table/Orders" in plan.stdout
    assert "+ table/Purchases (shop-dev-Purchases) will be created" in plan.stdout
    assert "state mv table/Orders table/Purchases" in plan.stdout

    service.ok("state", "mv", "table/Orders", "table/Purchases")
    after = service.run("plan", "--detailed-exitcode")
    assert after.returncode == 0, after.stdout + after.stderr
    assert state(service)["resources"]["table/Purchases"]["physical_id"] == "shop-dev-Orders"
    outputs = json.loads(service.ok("outputs", "--json").stdout)
    assert outputs["table/Purchases"]["name"] == "shop-dev-Orders"
    with service.serve() as server:
        assert item_count(server) == 2
        ssm = server.client(service="ssm")
        published = ssm.get_parameter(Name="/strata/shop/dev/Purchases/name")["Parameter"]
        assert published["Value"] == "shop-dev-Orders"
        names = [p["Name"] for p in ssm.describe_parameters()["Parameters"]]
        assert not [n for n in names if n.startswith("/strata/shop/dev/Orders/")]


def test_secure_parameter_value_never_appears_in_output_or_files(service):
    secret = "pk_live_S3CR3T-0f1e2d3c"
    service.manifest("  parameters:\n    PaymentKey: { secure: true }\n    Mode: { value: fast }\n")
    outputs = [service.ok("deploy", "--yes")]
    outputs.append(service.ok("param", "set", "PaymentKey", secret))
    outputs.append(service.run("param", "set", "PaymentKey", "-", stdin=secret + "\n"))
    service.manifest("  parameters:\n    PaymentKey: { secure: true }\n    Mode: { value: slow }\n")
    for args in (
        ("plan",), ("plan", "--json"), ("plan", "--refresh"), ("deploy", "--yes"),
        ("deploy", "--yes", "--json"), ("outputs",), ("outputs", "--json"), ("drift",), ("drift", "--json"),
    ):
        outputs.append(service.run(*args))
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout and secret not in done.stderr
    for root, _, files in os.walk(service.dir / ".strata"):
        for name in files:
            data = open(os.path.join(root, name), "rb").read()
            assert secret.encode() not in data, f"the secret is readable in {name}"
    with service.serve() as server:
        ssm = server.client(service="ssm")
        p = ssm.get_parameter(Name="/shop/dev/PaymentKey", WithDecryption=True)["Parameter"]
        assert p["Type"] == "SecureString"
        assert p["Value"] == secret, "the deploy overwrote the value set with param set"
        assert p["Version"] == 2
        assert ssm.get_parameter(Name="/shop/dev/Mode")["Parameter"]["Value"] == "slow"


def test_param_set_refuses_a_parameter_whose_value_is_in_the_manifest(service):
    service.manifest("  parameters:\n    Mode: { value: fast }\n")
    done = service.run("param", "set", "Mode", "other")
    assert done.returncode == 1
    assert "takes its value from strata.yaml" in done.stderr


def test_commands_fail_clearly_while_serve_holds_the_data(service):
    service.manifest(QUEUES)
    service.ok("deploy", "--yes")
    with service.serve() as server:
        pid = server.proc.pid
        for args in (("plan",), ("deploy", "--yes"), ("param", "set", "Jobs", "x")):
            done = service.run(*args)
            assert done.returncode == 1, args
            if args[0] != "param":
                assert f"pid {pid}" in done.stderr, done.stderr
                assert "in use" in done.stderr
        # outputs read state only and work while the endpoint runs.
        assert "queue/Jobs" in service.ok("outputs").stdout


def test_a_dead_runs_lock_is_taken_over_with_a_warning(service):
    service.manifest(QUEUES)
    service.state.mkdir(parents=True)
    record = {"owner": "ci", "pid": 999999, "host": "elsewhere", "since": 1, "command": "strata deploy"}
    (service.state / "stateful.lock").write_text(json.dumps(record))
    done = service.ok("deploy", "--yes")
    assert "took over the stateful lock left by `strata deploy` by ci (pid 999999" in done.stderr


def test_unlock_clears_a_dead_runs_record(service):
    service.manifest(QUEUES)
    service.state.mkdir(parents=True)
    record = {"owner": "ci", "pid": 999999, "host": "elsewhere", "since": 1, "command": "strata deploy"}
    (service.state / "stateful.lock").write_text(json.dumps(record))
    done = service.ok("unlock", "--yes")
    assert "Released the stateful lock left by `strata deploy` by ci (pid 999999" in done.stdout
    assert "not locked" in service.ok("unlock", "--yes").stdout


def test_destroy_deletes_only_what_is_named(service):
    service.manifest(QUEUES + ORDERS.format(sort="sk:S"))
    service.ok("deploy", "--yes")
    done = service.ok("destroy", "--stack", "stateful", "--allow-destroy", "queue/Jobs", "--yes")
    assert "Destroyed 1 resource" in done.stdout
    st = state(service)
    assert "queue/Jobs" not in st["resources"] and "table/Orders" in st["resources"]
    with service.serve() as server:
        names = server.client(service="sqs").list_queues().get("QueueUrls", [])
        assert names == []
        server.client().describe_table(TableName="shop-dev-Orders")


def test_examples_orders_deploys_its_stateful_stack_locally(tmp_path, service_at):
    repo = pathlib.Path(__file__).resolve().parents[3]
    folder = tmp_path / "orders"
    shutil.copytree(
        repo / "examples" / "orders", folder, ignore=shutil.ignore_patterns(".strata", "__pycache__")
    )
    orders = service_at(folder)
    done = orders.ok("deploy", "--yes")
    assert "Applied 6 changes" in done.stdout
    assert orders.run("plan", "--detailed-exitcode").returncode == 0
    outputs = json.loads(orders.ok("outputs", "--json").stdout)
    assert outputs["table/Orders"]["stream_arn"]
    assert outputs["queue/OrderEvents"]["url"].endswith("/orders-dev-OrderEvents")
    with orders.serve() as server:
        attrs = server.client(service="sqs").get_queue_attributes(
            QueueUrl=outputs["queue/OrderEvents"]["url"], AttributeNames=["RedrivePolicy"]
        )["Attributes"]
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5
        table = server.client().describe_table(TableName="orders-dev-Orders")["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["ByCustomer"]


def _kill_deploy_after(service, done_ops):
    """Start `strata deploy --yes` and kill -9 it once its journal records
    `done_ops` finished operations. Returns how many its journal says it
    finished."""
    journal = service.state / "stateful.journal.json"
    proc = subprocess.Popen(
        [strata_bin(), "--dir", str(service.dir), "deploy", "--yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    finished = 0
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                entries = json.loads(journal.read_text())["entries"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.001)
                continue
            finished = sum(1 for e in entries if e["status"] == "done")
            if finished >= done_ops:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the deploy ended before it could be killed"
    # What the killed run left, which may be an operation more than was seen.
    entries = json.loads(journal.read_text())["entries"]
    return sum(1 for e in entries if e["status"] == "done")


def test_deploy_killed_at_several_points_is_reconciled_by_the_next_run(service):
    # Enough resources that the run is still going well after the last
    # kill point, however fast the machine.
    queues = "".join(f"    Q{i}: {{}}\n" for i in range(120))
    tables = "".join(f"    T{i}: {{ partition_key: pk:S }}\n" for i in range(30))
    service.manifest(f"  queues:\n{queues}  tables:\n{tables}")
    for point in (0, 7, 33):
        finished = _kill_deploy_after(service, point)
        assert (service.state / "stateful.lock").exists(), "a killed run leaves its lock"
        assert (service.state / "stateful.journal.json").exists(), "and its journal"
        plan = service.run("plan", "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout + plan.stderr
        assert "took over the stateful lock left by `strata deploy`" in plan.stderr
        creates = plan.stdout.count(" will be created")
        assert creates <= 150 - finished, "a finished create is planned again"
        # Every operation the journal left pending is settled: named when it
        # had happened, counted when it had not begun.
        named = plan.stderr.count("reconciled: an interrupted create of ")
        counted = re.search(r"reconciled: (\d+) operations? of the interrupted run had not begun", plan.stderr)
        assert named + (int(counted.group(1)) if counted else 0) == 150 - finished, plan.stderr
        # Undo the creations so the next kill point starts from nothing
        # again, except on the last round, which is finished by a deploy.
        if point != 33:
            service.ok("destroy", "--stack", "stateful", "--allow-destroy", "all", "--yes")
    done = service.ok("deploy", "--yes")
    assert "took over" not in done.stderr, "the plan already released the lock"
    assert service.run("plan", "--detailed-exitcode").returncode == 0
    assert not (service.state / "stateful.journal.json").exists()
    resources = state(service)["resources"]
    assert len(resources) == 150
    with service.serve() as server:
        urls = server.client(service="sqs").list_queues(MaxResults=1000)["QueueUrls"]
        assert len(urls) == 120
        tables_live = server.client().list_tables()["TableNames"]
        assert len(tables_live) == 30
