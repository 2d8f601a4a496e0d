"""FIFO queues: MessageGroupId ordering with in-flight group blocking, and
deduplication by id or by content within the five-minute window."""

import time

import pytest
from botocore.exceptions import ClientError


def fifo(sqs, name, **attrs):
    attributes = {"FifoQueue": "true", **attrs}
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"]


def test_order_within_a_group_and_group_blocking(sqs, queue_name):
    url = fifo(sqs, queue_name, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a")
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in first] == ["a0"]
    # Group a is blocked while a0 is in flight; b is not.
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in second] == ["b0"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    rest = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in rest] == ["a1", "a2"]
    assert all(m["Attributes"]["MessageGroupId"] == "a" for m in rest)
    seqs = [int(m["Attributes"]["SequenceNumber"]) for m in rest]
    assert seqs == sorted(seqs)


def test_deduplication_by_id_returns_the_first_message(sqs, queue_name):
    url = fifo(sqs, queue_name)
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
    b = sqs.send_message(QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="d1")
    assert a["MessageId"] == b["MessageId"]
    assert "SequenceNumber" in a
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in msgs] == ["x"]


def test_content_based_deduplication(sqs, queue_name):
    url = fifo(sqs, queue_name, ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    c = sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"] != c["MessageId"]


def test_fifo_send_rules(sqs, queue_name):
    url = fifo(sqs, queue_name)
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert excinfo.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=1)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_in_flight_group_unblocks_after_visibility_timeout(sqs, queue_name):
    url = fifo(sqs, queue_name, ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="1", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="2", MessageGroupId="g")
    [m] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert m["Body"] == "1"
    # Not deleted: after the timeout the same message comes back first.
    end = time.monotonic() + 15
    again = []
    while not again and time.monotonic() < end:
        again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
    assert [x["Body"] for x in again] == ["1", "2"]


def test_a_delete_hands_the_next_message_of_its_group_to_a_waiting_poll(sqs, queue_name, server):
    import threading

    from strata_server import client_for

    url = fifo(sqs, queue_name, ContentBasedDeduplication="true")
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
    got = []

    def poll():
        answer = client_for(server, "sqs").receive_message(QueueUrl=url, WaitTimeSeconds=20)
        got.extend(m["Body"] for m in answer.get("Messages", []))

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.5)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    # Liveness, not speed: without a wake-up the poll sits out its 20 s wait
    # (the group stays blocked for it until then).
    waiting.join(15)
    assert not waiting.is_alive()
    assert got == ["second"]
