"""Table stream triggers of `strata dev`: item changes made through DynamoDB
(boto3 here) reach the function that has a `table` event as Lambda's
DynamoDB event source mapping delivers them: INSERT, MODIFY and REMOVE
records with the images the table's stream view carries, in order, in
batches of at most `batch_size`; a failed batch is retried and blocks the
shard, a partial batch response resumes at the failed record, and a hot
swap hands the position to the new release without a gap or a repeat."""

import json
import re
import time

from strata_server import SWAPPED

CHANGES = "computetest-dev-Changes"
KEYS = "computetest-dev-Keys"


def wait_for(predicate, timeout=30, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def payloads(dev, key, start=0):
    """The JSON documents a function printed under `key`, in order."""
    out = []
    for line in dev.lines[start:]:
        if "] {" not in line:
            continue
        try:
            doc = json.loads(line.split("] ", 1)[1])
        except ValueError:
            continue
        if key in doc:
            out.append(doc)
    return out


def delivered(dev, prefix, start=0):
    """Every record onChange took whose item key starts with `prefix`."""
    return [
        r
        for doc in payloads(dev, "stream", start)
        for r in doc["stream"]
        if r["dynamodb"]["Keys"]["pk"]["S"].startswith(prefix)
    ]


def s(value):
    return {"S": value}


def test_puts_updates_and_deletes_arrive_as_insert_modify_remove_with_both_images(dev):
    db = dev.client("dynamodb")
    db.put_item(TableName=CHANGES, Item={"pk": s("life-1"), "n": {"N": "1"}})
    db.update_item(
        TableName=CHANGES,
        Key={"pk": s("life-1")},
        UpdateExpression="SET n = :two",
        ExpressionAttributeValues={":two": {"N": "2"}},
    )
    db.delete_item(TableName=CHANGES, Key={"pk": s("life-1")})
    records = wait_for(lambda: len(delivered(dev, "life-")) >= 3 and delivered(dev, "life-"))
    assert records, dev.output()
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    for r in records:
        assert r["eventSource"] == "aws:dynamodb"
        assert r["eventVersion"] == "1.1"
        assert r["awsRegion"] == "us-east-1"
        assert re.fullmatch(r"arn:aws:dynamodb:[^:]+:\d{12}:table/" + CHANGES + "/stream/.+", r["eventSourceARN"])
        assert r["eventID"]
        d = r["dynamodb"]
        assert d["Keys"] == {"pk": s("life-1")}
        assert d["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert d["SizeBytes"] > 0
        assert isinstance(d["ApproximateCreationDateTime"], (int, float))
    assert insert["dynamodb"]["NewImage"] == {"pk": s("life-1"), "n": {"N": "1"}}
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"] == {"pk": s("life-1"), "n": {"N": "1"}}
    assert modify["dynamodb"]["NewImage"] == {"pk": s("life-1"), "n": {"N": "2"}}
    assert remove["dynamodb"]["OldImage"] == {"pk": s("life-1"), "n": {"N": "2"}}
    assert "NewImage" not in remove["dynamodb"]
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence == sorted(sequence) and len(set(sequence)) == 3


def test_many_writes_come_in_order_in_batches_of_at_most_batch_size(dev):
    db = dev.client("dynamodb")
    start = len(dev.lines)
    keys = [f"order-{i:02}" for i in range(15)]
    for key in keys:
        db.put_item(TableName=CHANGES, Item={"pk": s(key)})
    records = wait_for(lambda: len(delivered(dev, "order-", start)) >= 15 and delivered(dev, "order-", start))
    assert records, dev.output()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == keys
    batches = [len(doc["stream"]) for doc in payloads(dev, "stream", start)]
    assert batches and max(batches) <= 4, batches


def test_a_failed_batch_blocks_the_shard_and_is_retried_until_it_succeeds(dev):
    db = dev.client("dynamodb")
    start = len(dev.lines)
    for key in ("retry-a", "fail-once-b", "retry-c"):
        db.put_item(TableName=CHANGES, Item={"pk": s(key)})
    got = wait_for(
        lambda: [
            r["dynamodb"]["Keys"]["pk"]["S"]
            for r in delivered(dev, "", start)
            if r["dynamodb"]["Keys"]["pk"]["S"] in ("retry-a", "fail-once-b", "retry-c")
        ]
        if len(delivered(dev, "retry-c", start)) >= 1
        else None
    )
    assert got == ["retry-a", "fail-once-b", "retry-c"], dev.output()
    output = dev.output()
    assert "first delivery of fail-once-b fails" in output
    assert "is retried in 1 s" in output


def test_a_partial_batch_response_resumes_at_the_failed_record(dev):
    db = dev.client("dynamodb")
    start = len(dev.lines)
    # One write that makes three records, so they come in one batch.
    db.transact_write_items(
        TransactItems=[{"Put": {"TableName": CHANGES, "Item": {"pk": s(k)}}} for k in ("p-1", "partial-2", "p-3")]
    )
    names = lambda: [r["dynamodb"]["Keys"]["pk"]["S"] for r in delivered(dev, "p", start)]  # noqa: E731
    assert wait_for(lambda: "p-3" in names()), dev.output()
    # p-1 was taken once; partial-2 was reported, then delivered again with p-3.
    assert names() == ["p-1", "partial-2", "p-3"], dev.output()
    assert "reported record" in dev.output()


def test_a_keys_only_stream_carries_keys_and_the_function_reads_only_the_stream(dev):
    db = dev.client("dynamodb")
    db.put_item(TableName=KEYS, Item={"pk": s("k"), "sk": {"N": "7"}, "big": s("x" * 100)})
    docs = wait_for(lambda: payloads(dev, "keys"))
    assert docs, dev.output()
    record = docs[0]["keys"][0]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["Keys"] == {"pk": s("k"), "sk": {"N": "7"}}
    assert record["dynamodb"]["StreamViewType"] == "KEYS_ONLY"
    assert "NewImage" not in record["dynamodb"] and "OldImage" not in record["dynamodb"]
    # The table event grants the stream, not the items.
    assert docs[0]["stream_status"] == "ENABLED"
    assert docs[0]["scan"] == "AccessDeniedException"


def test_a_hot_swap_continues_from_the_checkpoint_without_gap_or_repeat(own_dev):
    dev, service = own_dev()
    db = dev.client("dynamodb")
    handlers = service / "src" / "handlers.py"
    written = []

    def write(n):
        for _ in range(n):
            key = f"swap-{len(written):03}"
            db.put_item(TableName=CHANGES, Item={"pk": s(key)})
            written.append(key)

    write(5)
    assert wait_for(lambda: len(delivered(dev, "swap-")) >= 5), dev.output()
    for version in ("v2", "v3"):
        seen = len(dev.lines)
        text = re.sub(r'^VERSION = ".*"$', f'VERSION = "{version}"', handlers.read_text(), flags=re.M)
        tmp = handlers.with_name(".handlers.py.new")
        tmp.write_text(text)
        tmp.replace(handlers)
        # Writes go on while the release changes.
        write(6)
        assert dev.wait_for_line(lambda l: bool(SWAPPED.match(l)), timeout=30, start=seen), dev.output()
        write(4)
    assert wait_for(lambda: len(delivered(dev, "swap-")) >= len(written)), dev.output()
    time.sleep(1)
    got = [r["dynamodb"]["Keys"]["pk"]["S"] for r in delivered(dev, "swap-")]
    assert got == written, dev.output()
    versions = [doc["version"] for doc in payloads(dev, "stream")]
    assert versions[-1] == "v3", versions
