"""Drift end to end on the local target: resources changed or deleted with
boto3 behind Strata's back (through `strata serve`), then `strata drift`,
`plan --refresh` and `deploy --refresh` through the real binary."""

import json

MANIFEST = (
    "  tables:\n    Orders: { partition_key: pk:S }\n"
    "  buckets:\n    Files: {}\n"
    "  queues:\n    Jobs: { visibility_timeout: 30 }\n"
    "  parameters:\n    Mode: { value: fast }\n    Token: {}\n"
)


def test_drift_names_what_changed_outside_and_refresh_puts_it_back(service):
    service.manifest(MANIFEST)
    service.ok("deploy", "--yes")
    service.ok("param", "set", "Token", "set-by-strata")
    clean = service.run("drift", "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift: 5 resources" in clean.stdout, "a value from `param set` is not drift"

    with service.serve() as server:
        sqs = server.client(service="sqs")
        url = sqs.get_queue_url(QueueName="shop-dev-Jobs")["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99"})
        server.client(service="s3").delete_bucket(Bucket="shop-dev-files")
        server.client(service="ssm").put_parameter(
            Name="/shop/dev/Mode", Value="slow", Type="String", Overwrite=True
        )
        server.client().update_table(
            TableName="shop-dev-Orders",
            AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": "Extra",
                "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }}],
        )

    drifted = service.run("drift", "--detailed-exitcode")
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    text = drifted.stdout
    assert "- bucket/Files (shop-dev-files) no longer exists" in text
    assert "~ queue/Jobs (shop-dev-Jobs) was changed outside Strata" in text
    assert "visibility_timeout: 30 -> 99" in text
    assert "indexes.Extra: (none) -> { partition_key: x:S }" in text
    assert "~ parameter/Mode" in text and "slow" not in text, "parameter values are masked"
    assert "4 of 5 resources drifted" in text
    assert "deploy --refresh" in text
    assert service.run("drift").returncode == 0, "without --detailed-exitcode drift exits 0"

    report = json.loads(service.ok("drift", "--json").stdout)
    assert report["checked"] == 5
    kinds = {d["address"]: d["drift"] for d in report["drift"]}
    assert kinds == {
        "bucket/Files": "vanished",
        "queue/Jobs": "changed",
        "table/Orders": "changed",
        "parameter/Mode": "changed",
    }

    assert service.run("plan", "--detailed-exitcode").returncode == 0, "state alone says nothing changed"
    refreshed = service.run("plan", "--refresh", "--detailed-exitcode")
    assert refreshed.returncode == 2, refreshed.stdout + refreshed.stderr
    assert "+ bucket/Files (shop-dev-files) will be created" in refreshed.stdout
    assert "visibility_timeout: 99 -> 30" in refreshed.stdout
    plan = json.loads(service.ok("plan", "--refresh", "--json").stdout)
    assert len(plan["drift"]) == 4

    service.ok("deploy", "--refresh", "--yes")
    after = service.run("drift", "--detailed-exitcode")
    assert after.returncode == 0, after.stdout
    with service.serve() as server:
        assert server.client(service="s3").head_bucket(Bucket="shop-dev-files")
        indexes = server.client().describe_table(TableName="shop-dev-Orders")["Table"].get(
            "GlobalSecondaryIndexes", []
        )
        assert indexes == [], "the index added outside was removed"
        ssm = server.client(service="ssm")
        assert ssm.get_parameter(Name="/shop/dev/Mode")["Parameter"]["Value"] == "fast"
        assert ssm.get_parameter(Name="/shop/dev/Token")["Parameter"]["Value"] == "set-by-strata"


def test_refresh_refuses_to_put_back_a_key_changed_outside(service):
    service.manifest("  tables:\n    Orders: { partition_key: pk:S }\n")
    service.ok("deploy", "--yes")
    with service.serve() as server:
        ddb = server.client()
        ddb.delete_table(TableName="shop-dev-Orders")
        ddb.get_waiter("table_not_exists").wait(TableName="shop-dev-Orders")
        ddb.create_table(
            TableName="shop-dev-Orders",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="shop-dev-Orders", Item={"id": {"N": "1"}})

    drift = service.ok("drift").stdout
    assert "partition_key: pk:S -> id:N" in drift
    refused = service.run("deploy", "--refresh", "--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "table/Orders would be replaced because partition_key changed" in refused.stderr
    assert "1 item" in refused.stderr
    with service.serve() as server:
        count = server.client().scan(TableName="shop-dev-Orders", Select="COUNT")["Count"]
        assert count == 1, "a refused deploy touched the data"


def test_drift_on_a_stage_never_deployed_is_empty(service):
    service.manifest(MANIFEST)
    done = service.ok("drift")
    assert "No drift: 0 resources" in done.stdout
