"""Bucket triggers of `strata dev`: object changes made through S3 (boto3
here) reach the functions that ask for them as the EventBridge events
`Object Created` and `Object Deleted`, filtered by kind, prefix and suffix,
and a failed invocation is retried."""

import json
import time

BUCKET = "computetest-dev-uploads"


def wait_for(predicate, timeout=20, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def recorded(dev, pk):
    got = dev.client("dynamodb").get_item(
        TableName="computetest-dev-Orders", Key={"pk": {"S": pk}}, ConsistentRead=True
    )
    item = got.get("Item")
    return json.loads(item["event"]["S"]) if item and "event" in item else None


def created(dev, key):
    return wait_for(lambda: recorded(dev, f"Object Created:{key}"))


def deleted(dev, key):
    return wait_for(lambda: recorded(dev, f"Object Deleted:{key}"))


def test_a_put_reaches_the_function_as_eventbridge_object_created(dev):
    s3 = dev.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key="in/a.txt", Body=b"hello")
    event = created(dev, "in/a.txt")
    assert event, dev.output()
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["resources"] == [f"arn:aws:s3:::{BUCKET}"]
    detail = event["detail"]
    assert detail["bucket"]["name"] == BUCKET
    assert detail["object"]["key"] == "in/a.txt"
    assert detail["object"]["size"] == 5
    assert detail["object"]["etag"] == put["ETag"].strip('"')
    assert detail["object"]["version-id"] == put["VersionId"]
    assert detail["reason"] == "PutObject"


def test_copies_and_multipart_uploads_say_how_the_object_was_created(dev):
    s3 = dev.client("s3")
    s3.put_object(Bucket=BUCKET, Key="source.bin", Body=b"copied")
    s3.copy_object(
        Bucket=BUCKET, Key="in/copy.txt", CopySource={"Bucket": BUCKET, "Key": "source.bin"}
    )
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="in/parts.txt")
    part = s3.upload_part(
        Bucket=BUCKET, Key="in/parts.txt", UploadId=upload["UploadId"], PartNumber=1, Body=b"p1"
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="in/parts.txt",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    copy, parts = created(dev, "in/copy.txt"), created(dev, "in/parts.txt")
    assert copy and parts, dev.output()
    assert copy["detail"]["reason"] == "CopyObject"
    assert parts["detail"]["reason"] == "CompleteMultipartUpload"
    assert parts["detail"]["object"]["etag"].endswith("-1")


def test_prefix_suffix_and_kind_filters_leave_other_changes_out(dev):
    s3 = dev.client("s3")
    for key in ("out/skip.txt", "in/skip.json", "in/last.txt"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    # in/last.txt was written last and matches: once it is in, the others
    # have had their chance.
    assert created(dev, "in/last.txt"), dev.output()
    time.sleep(0.5)
    assert recorded(dev, "Object Created:out/skip.txt") is None
    assert recorded(dev, "Object Created:in/skip.json") is None
    # onRemove has no filters but only takes removals: source.bin's put above
    # was not delivered to it as a creation.
    assert recorded(dev, "Object Created:source.bin") is None


def test_deletes_reach_the_function_as_object_deleted(dev):
    s3 = dev.client("s3")
    first = s3.put_object(Bucket=BUCKET, Key="gone/doc", Body=b"v1")
    marker = s3.delete_object(Bucket=BUCKET, Key="gone/doc")
    event = deleted(dev, "gone/doc")
    assert event, dev.output()
    assert event["detail"]["reason"] == "DeleteObject"
    assert event["detail"]["deletion-type"] == "Delete Marker Created"
    assert event["detail"]["object"]["version-id"] == marker["VersionId"]

    # Deleting the one version for good is its own event.
    s3.put_object(Bucket=BUCKET, Key="gone/version", Body=b"v1")
    version = s3.list_object_versions(Bucket=BUCKET, Prefix="gone/version")["Versions"][0]
    s3.delete_object(Bucket=BUCKET, Key="gone/version", VersionId=version["VersionId"])
    event = deleted(dev, "gone/version")
    assert event, dev.output()
    assert event["detail"]["deletion-type"] == "Permanently Deleted"
    assert event["detail"]["object"]["version-id"] == version["VersionId"]
    assert first["VersionId"] != marker["VersionId"]


def test_a_failed_invocation_is_retried(dev):
    dev.client("s3").put_object(Bucket=BUCKET, Key="in/flaky.txt", Body=b"x")
    event = created(dev, "in/flaky.txt")
    assert event, dev.output()
    attempts = dev.client("dynamodb").get_item(
        TableName="computetest-dev-Orders",
        Key={"pk": {"S": "attempt:in/flaky.txt"}},
        ConsistentRead=True,
    )["Item"]
    assert attempts["n"]["N"] == "2"
    assert "first delivery fails" in dev.output()


def test_an_event_that_fails_every_retry_is_reported_as_dropped(dev):
    dev.client("s3").put_object(Bucket=BUCKET, Key="in/doomed.txt", Body=b"x")
    line = "the event for `in/doomed.txt` failed 3 times and is dropped"
    assert wait_for(lambda: line in dev.output(), timeout=30), dev.output()
    assert dev.output().count("this key always fails") >= 3
