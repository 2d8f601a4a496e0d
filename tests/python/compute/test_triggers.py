"""Queue and schedule triggers of `strata dev`: messages reach their function
in batches as Lambda's SQS event source mapping sends them, failures come
back, a partial batch response redelivers only the failed messages, the
redrive policy moves poison messages to the dead-letter queue, and a
schedule fires with EventBridge's scheduled event."""

import json
import time

from boto3.dynamodb.types import TypeDeserializer


def wait_for(predicate, timeout=30, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def item(dev, pk):
    got = dev.client("dynamodb").get_item(
        TableName="computetest-dev-Orders", Key={"pk": {"S": pk}}, ConsistentRead=True
    )
    raw = got.get("Item")
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()} if raw else None


def queue_url(dev, name):
    return dev.client("sqs").get_queue_url(QueueName=f"computetest-dev-{name}")["QueueUrl"]


def test_queue_messages_reach_the_function_in_batches_with_its_own_rights(dev):
    sqs = dev.client("sqs")
    url = queue_url(dev, "Jobs")
    start = len(dev.lines)
    bodies = [f"job-{i}" for i in range(12)]
    for chunk in (bodies[:10], bodies[10:]):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
        )
    assert wait_for(lambda: all(item(dev, b) for b in bodies)), dev.output()
    stored = item(dev, "job-0")
    assert stored["source"] == "aws:sqs"
    assert stored["receives"] == "1"
    # batch_size: 5 caps every batch the writer saw.
    batches = [json.loads(l.split("] ", 1)[1]) for l in dev.lines[start:] if '"batch"' in l]
    assert batches and all(1 <= b["batch"] <= 5 for b in batches)
    assert sum(b["batch"] for b in batches) == 12
    # Processed messages were deleted: nothing is left in flight or waiting.
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert wait_for(
        lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessagesNotVisible"
        ]
        == "0"
    ), attrs


def test_a_partial_batch_failure_redelivers_only_the_failed_message_then_redrives_it(dev):
    sqs = dev.client("sqs")
    url, dlq = queue_url(dev, "Jobs"), queue_url(dev, "JobsDlq")
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "0", "MessageBody": "partial-ok"},
            {"Id": "1", "MessageBody": "fail"},
        ],
    )
    assert wait_for(lambda: item(dev, "partial-ok")), dev.output()
    # max_receives is 2 and the visibility timeout 4 s: after two failed
    # deliveries the message moves to the dead-letter queue.
    def in_dlq():
        got = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10)
        return [m for m in got.get("Messages", []) if m["Body"] == "fail"]

    moved = wait_for(in_dlq, timeout=40)
    assert moved, dev.output()
    # The message that succeeded was never delivered again.
    assert item(dev, "partial-ok")["receives"] == "1"


def test_a_failed_invocation_returns_the_whole_batch_to_the_queue(dev):
    sqs = dev.client("sqs")
    url = queue_url(dev, "Retries")
    sqs.send_message(QueueUrl=url, MessageBody="retried")
    stored = wait_for(lambda: item(dev, "retried"), timeout=30)
    assert stored, dev.output()
    assert int(stored["receives"]) >= 2


def test_a_rate_schedule_fires_with_the_eventbridge_scheduled_event(dev):
    """rate(1 minute): the first event arrives a minute after `strata dev`
    started (this test runs last in the module, so most of it has passed)."""

    def tick():
        got = dev.client("dynamodb").scan(TableName="computetest-dev-Orders")
        return [i for i in got["Items"] if i["pk"]["S"].startswith("tick-")]

    ticks = wait_for(tick, timeout=90, every=1)
    assert ticks, dev.output()
    event = json.loads(ticks[0]["event"]["S"])
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:000000000000:rule/")
    assert event["time"].endswith("Z")
