"""SPEC S6: a write the local target acknowledged survives `kill -9` of the
process. Also: one process per data directory, and a clean exit on SIGTERM."""

import hashlib
import random
import subprocess
import threading

from botocore.exceptions import BotoCoreError, ClientError

N_ITEMS = 300


def payload(i):
    body = f"item-{i}-" + "x" * (i % 50)
    return body, hashlib.sha256(body.encode()).hexdigest()


def read_all(client, table):
    items = {}
    kwargs = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            items[int(item["pk"]["N"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_acknowledged_writes_survive_kill_9(start_server, tmp_path, make_table):
    data = tmp_path / "data"
    first = start_server(data)
    client = first.client()
    make_table(client, "Durable", key="pk", key_type="N")
    for i in range(N_ITEMS):
        body, digest = payload(i)
        client.put_item(TableName="Durable", Item={"pk": {"N": str(i)}, "body": {"S": body}, "sha": {"S": digest}})
    client.update_item(
        TableName="Durable",
        Key={"pk": {"N": "0"}},
        UpdateExpression="SET marker = :m",
        ExpressionAttributeValues={":m": {"S": "last-write"}},
    )
    first.kill9()

    second = start_server(data)
    items = read_all(second.client(), "Durable")
    assert sorted(items) == list(range(N_ITEMS))
    for i, item in items.items():
        assert item["body"]["S"] == payload(i)[0]
    assert items[0]["marker"] == {"S": "last-write"}
    assert second.client().describe_table(TableName="Durable")["Table"]["TableStatus"] == "ACTIVE"


def test_kill_9_under_write_load_loses_nothing_acknowledged(start_server, tmp_path, make_table):
    data = tmp_path / "data"
    rng = random.Random(6)  # fixed seed: the same kill points on every run
    current = start_server(data)
    make_table(current.client(), "Load", key="pk", key_type="N")
    acked = set()
    ids = iter(range(10**9))
    for round_no in range(3):
        client = current.client()
        stop = threading.Event()

        def writer(client=client):
            while not stop.is_set():
                i = next(ids)
                body, digest = payload(i)
                try:
                    client.put_item(
                        TableName="Load",
                        Item={"pk": {"N": str(i)}, "body": {"S": body}, "sha": {"S": digest}},
                    )
                except (BotoCoreError, ClientError):
                    return
                acked.add(i)

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        # Kill at a random point: once a random number of further writes
        # has been acknowledged, with four writers still sending.
        goal = len(acked) + rng.randint(50, 300)
        while len(acked) < goal and all(t.is_alive() for t in threads):
            stop.wait(0.005)
        current.kill9()
        stop.set()
        for t in threads:
            t.join()

        current = start_server(data)
        items = read_all(current.client(), "Load")
        missing = acked - set(items)
        assert not missing, f"round {round_no}: acknowledged but lost: {sorted(missing)[:10]}"
        # Nothing half-written: every item present is whole.
        for i, item in items.items():
            body, digest = payload(i)
            assert item["body"]["S"] == body and item["sha"]["S"] == digest, f"item {i} is torn"


def test_a_second_server_on_the_same_data_is_refused(start_server, tmp_path, strata):
    data = tmp_path / "data"
    first = start_server(data)
    second = subprocess.run(
        [strata, "serve", "--aws-port", "0", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "in use" in second.stderr
    # The first one is unaffected.
    assert "TableNames" in first.client().list_tables()


def test_sigterm_shuts_down_cleanly_and_keeps_data(start_server, tmp_path, make_table):
    data = tmp_path / "data"
    first = start_server(data)
    make_table(first.client(), "Kept")
    first.client().put_item(TableName="Kept", Item={"pk": {"S": "a"}})
    assert first.stop() == 0
    second = start_server(data)
    assert second.client().get_item(TableName="Kept", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
