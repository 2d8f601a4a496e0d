"""SQS queues and messages through boto3, from AWS's documented behaviour
(SQS API Reference). Waits are bounded: visibility timeouts of 1-2 s and
polls with a deadline, never a timing assertion."""

import hashlib
import json
import struct
import time
import uuid

import pytest
from botocore.exceptions import ClientError

DEADLINE = 15


def receive_until(sqs, url, want=1, deadline=DEADLINE, **kwargs):
    """Receive until `want` messages arrived or the deadline passed."""
    got = []
    end = time.monotonic() + deadline
    while len(got) < want and time.monotonic() < end:
        got += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10, **kwargs).get(
            "Messages", []
        )
    return got


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def attributes_md5(attrs):
    """MD5OfMessageAttributes as the SQS documentation describes it."""
    out = b""
    for name in sorted(attrs):
        a = attrs[name]
        for part in (name.encode(), a["DataType"].encode()):
            out += struct.pack(">I", len(part)) + part
        if "StringValue" in a:
            value = a["StringValue"].encode()
            out += b"\x01" + struct.pack(">I", len(value)) + value
        else:
            value = a["BinaryValue"]
            out += b"\x02" + struct.pack(">I", len(value)) + value
    return hashlib.md5(out).hexdigest()


def test_create_get_url_list_and_delete(sqs, queue_name, server):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    assert url == f"{server.url}/000000000000/{queue_name}"
    # Creating again with the same attributes is idempotent.
    assert sqs.create_queue(QueueName=queue_name)["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=queue_name)["QueueUrls"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as excinfo:
        sqs.get_queue_url(QueueName=queue_name)
    assert error_code(excinfo) == "AWS.SimpleQueueService.NonExistentQueue"
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=queue_name)


def test_nonexistent_queue_error_has_the_query_compatible_header(sqs):
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl="http://127.0.0.1/000000000000/nope-nope", MessageBody="x")
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == (
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    )
    assert response["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_create_with_other_attributes_is_refused(sqs, queue_name):
    sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(sqs.exceptions.QueueNameExists) as excinfo:
        sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "20"})
    assert error_code(excinfo) == "QueueAlreadyExists"


@pytest.mark.parametrize(
    "name, attrs, code",
    [
        ("bad name", {}, "InvalidParameterValue"),
        ("x" * 81, {}, "InvalidParameterValue"),
        ("nofifo", {"FifoQueue": "true"}, "InvalidParameterValue"),
        ("ok-name", {"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
        ("ok-name", {"NoSuchAttribute": "1"}, "InvalidAttributeName"),
        ("ok-name", {"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),
    ],
)
def test_invalid_queue_definitions(sqs, name, attrs, code):
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=name, Attributes=attrs)
    assert error_code(excinfo) == code


def test_attributes_defaults_set_and_counts(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["MaximumMessageSize"] == "262144"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{queue_name}"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})
    one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert one == {"VisibilityTimeout": "5"}
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b", DelaySeconds=60)
    receive_until(sqs, url, want=1)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    assert error_code(excinfo) == "InvalidAttributeName"


def test_send_receive_delete_with_attributes_and_md5s(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    user = {
        "Color": {"DataType": "String", "StringValue": "blue"},
        "Count": {"DataType": "Number", "StringValue": "3"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
    }
    body = "héllo wörld"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=user)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == attributes_md5(user)
    before = int(time.time() * 1000)
    [msg] = receive_until(
        sqs, url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    assert msg["Body"] == body
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert msg["MessageAttributes"] == user
    assert msg["MD5OfMessageAttributes"] == attributes_md5(user)
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(msg["Attributes"]["SentTimestamp"]) <= before + 1000
    assert msg["Attributes"]["SenderId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", []) == []


def test_message_attribute_selection(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    user = {
        "a.x": {"DataType": "String", "StringValue": "1"},
        "b": {"DataType": "String", "StringValue": "2"},
    }
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageAttributes=user)
    [msg] = receive_until(sqs, url, MessageAttributeNames=["a.*"])
    assert msg["MessageAttributes"] == {"a.x": user["a.x"]}
    assert msg["MD5OfMessageAttributes"] == attributes_md5({"a.x": user["a.x"]})
    assert "Attributes" not in msg


def test_invalid_messages_are_refused(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name, Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert error_code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="bell\x07")
    assert error_code(excinfo) == "InvalidMessageContents"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(
            QueueUrl=url, MessageBody="x", MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}}
        )
    assert error_code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_code(excinfo) == "InvalidParameterValue"


def test_visibility_timeout_returns_message_with_higher_receive_count(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    [first] = receive_until(sqs, url, VisibilityTimeout=1)
    [second] = receive_until(sqs, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"


def test_change_visibility_makes_a_message_visible_again(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    [msg] = receive_until(sqs, url, VisibilityTimeout=600)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    [again] = receive_until(sqs, url, VisibilityTimeout=600)
    assert again["MessageId"] == msg["MessageId"]
    result = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "ReceiptHandle": again["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "bad", "ReceiptHandle": "garbage", "VisibilityTimeout": 0},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in result["Failed"]] == [
        ("bad", "ReceiptHandleIsInvalid", True)
    ]


def test_invalid_receipt_handle(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_batches(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(e["Id"] for e in result["Successful"]) == sorted(e["Id"] for e in entries)
    for e in result["Successful"]:
        assert e["MD5OfMessageBody"] == hashlib.md5(f"body {e['Id'][1:]}".encode()).hexdigest()
    msgs = receive_until(sqs, url, want=10)
    assert sorted(m["Body"] for m in msgs) == sorted(e["MessageBody"] for e in entries)
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
    )
    assert len(deleted["Successful"]) == 10 and deleted["Failed"] == []
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=entries + [{"Id": "m10", "MessageBody": "x"}])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}] * 2)
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "no spaces", "MessageBody": "x"}])
    mixed = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "good", "MessageBody": "x"}, {"Id": "bad", "MessageBody": "\x07"}]
    )
    assert [e["Id"] for e in mixed["Successful"]] == ["good"]
    assert [e["Code"] for e in mixed["Failed"]] == ["InvalidMessageContents"]


def test_long_poll_wakes_on_send(sqs, queue_name, server):
    import threading

    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    result = {}

    def poll():
        result["r"] = sqs_other.receive_message(QueueUrl=url, WaitTimeSeconds=10)

    import boto3
    from botocore.config import Config

    sqs_other = boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDOTHER",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    t.join(30)
    assert not t.is_alive()
    assert [m["Body"] for m in result["r"].get("Messages", [])] == ["wake up"]


def test_long_poll_on_an_empty_queue_returns_nothing(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def test_delay_seconds(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    [msg] = receive_until(sqs, url)
    assert msg["Body"] == "later"


def test_purge_queue(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)


def test_redrive_to_dead_letter_queue(sqs, queue_name):
    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    assert json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 2,
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        [m] = receive_until(sqs, url, VisibilityTimeout=0)
        assert m["MessageId"] == sent["MessageId"]
    # The third receive finds it over maxReceiveCount and moves it.
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    [dead] = receive_until(sqs, dlq_url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["ApproximateReceiveCount"] == "1"


def test_redrive_policy_must_name_an_existing_queue(sqs, queue_name):
    policy = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:absent", "maxReceiveCount": 1})
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": policy})
    assert error_code(excinfo) == "InvalidParameterValue"


def test_retention_period_range(sqs, queue_name):
    # 60 s is the smallest retention SQS allows, too long to wait for here:
    # this checks the range, and expiry itself is a Rust unit test with a
    # fixed clock (sqs::store::tests::retention_drops_old_messages_on_read).
    url = sqs.create_queue(QueueName=queue_name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"] == {
        "MessageRetentionPeriod": "60"
    }
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "59"})
    assert error_code(excinfo) == "InvalidAttributeValue"


def test_list_queues_pages(sqs):
    base = f"page-{uuid.uuid4().hex[:8]}"
    urls = sorted(sqs.create_queue(QueueName=f"{base}-{i}")["QueueUrl"] for i in range(5))
    first = sqs.list_queues(QueueNamePrefix=base, MaxResults=2)
    assert len(first["QueueUrls"]) == 2
    seen = list(first["QueueUrls"])
    token = first.get("NextToken")
    while token:
        page = sqs.list_queues(QueueNamePrefix=base, MaxResults=2, NextToken=token)
        seen += page["QueueUrls"]
        token = page.get("NextToken")
    assert sorted(seen) == urls


def test_binary_attribute_round_trips_base64(sqs, queue_name):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    raw = bytes(range(256))
    sqs.send_message(
        QueueUrl=url, MessageBody="b", MessageAttributes={"bin": {"DataType": "Binary.gz", "BinaryValue": raw}}
    )
    [msg] = receive_until(sqs, url, MessageAttributeNames=["All"])
    assert msg["MessageAttributes"]["bin"] == {"DataType": "Binary.gz", "BinaryValue": raw}


def _raw_receive(server, url, wait_seconds):
    """A ReceiveMessage long poll sent on a raw socket, left waiting."""
    import json
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(server.url)
    body = json.dumps({"QueueUrl": url, "WaitTimeSeconds": wait_seconds}).encode()
    sock = socket.create_connection((endpoint.hostname, endpoint.port))
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: " + endpoint.netloc.encode() + b"\r\n"
        b"X-Amz-Target: AmazonSQS.ReceiveMessage\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=AKIDDEVELOPER/20260101/us-east-1/sqs/aws4_request, "
        b"SignedHeaders=host, Signature=0\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    return sock


def test_a_long_poll_whose_client_hung_up_takes_no_message(sqs, queue_name, server):
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sock = _raw_receive(server, url, 20)
    time.sleep(0.5)
    sock.close()
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="for a live client")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in got] == ["for a live client"]


def test_a_stop_answers_long_polls_and_does_not_wait_for_a_client_that_never_finishes(start_server):
    import socket
    from urllib.parse import urlparse

    from strata_server import client_for

    server = start_server()
    sqs = client_for(server, "sqs")
    url = sqs.create_queue(QueueName="stopping")["QueueUrl"]
    poll = _raw_receive(server, url, 20)
    endpoint = urlparse(server.url)
    # Promises ten bytes of body and sends one.
    stuck = socket.create_connection((endpoint.hostname, endpoint.port))
    stuck.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        b"Content-Length: 10\r\n\r\n{"
    )
    time.sleep(0.5)
    try:
        # Without a limit on the drain, the stuck client would hold the
        # server until `stop` gives up and kills it (exit code -9).
        assert server.stop() == 0
        # The poll was answered before the process exited, long before its
        # own 20 s wait would have ended.
        poll.settimeout(5)
        assert poll.recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        poll.close()
        stuck.close()


def test_a_batch_send_wakes_one_waiting_poll_per_message(sqs, queue_name, server):
    import threading

    from strata_server import client_for

    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    bodies = []

    def poll():
        got = client_for(server, "sqs").receive_message(QueueUrl=url, WaitTimeSeconds=20)
        bodies.extend(m["Body"] for m in got.get("Messages", []))

    polls = [threading.Thread(target=poll) for _ in range(5)]
    for t in polls:
        t.start()
    time.sleep(0.5)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
    for t in polls:
        # Liveness, not speed: a poll that was not woken would sit out its
        # whole 20 s wait.
        t.join(15)
    assert not any(t.is_alive() for t in polls)
    assert sorted(bodies) == [f"m{i}" for i in range(5)]
