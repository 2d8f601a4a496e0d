"""SPEC S6 for SQS: an acknowledged send survives `kill -9`, and a message
received but not deleted is still there after a restart and comes back once
its visibility timeout has run out."""

import time

import boto3
from botocore.config import Config


def client_for(server):
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDDEVELOPER",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )



def test_messages_survive_kill_9_and_in_flight_ones_reappear(start_server, tmp_path):
    data = tmp_path / "data"
    first = start_server(data)
    sqs = client_for(first)
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    for i in range(50):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2)["Messages"]
    assert in_flight
    sqs.delete_message(QueueUrl=url, ReceiptHandle=in_flight[0]["ReceiptHandle"])
    first.kill9()

    second = start_server(data)
    sqs = client_for(second)
    url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
    bodies = []
    end = time.monotonic() + 20
    while len(bodies) < 49 and time.monotonic() < end:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    expected = {f"m{i}" for i in range(50)} - {in_flight[0]["Body"]}
    assert sorted(bodies) == sorted(expected)
