"""DynamoDB Streams: a table with a StreamSpecification keeps one record per
change, read through the real `dynamodbstreams` client (ListStreams,
DescribeStream, GetShardIterator, GetRecords), as the Streams API reference
describes them."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def streams(server):
    return server.client(service="dynamodbstreams")


def make_streamed(ddb, make_table, name, view):
    make_table(ddb, name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": view}
    return table["LatestStreamArn"]


def read_all(streams, arn):
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert shards, "a stream has at least one shard"
    records = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for _ in range(10):
            page = streams.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
            if not page["Records"] or not iterator:
                break
    return records


def change(ddb, table):
    key = {"pk": {"S": "a"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}})
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET v = :two",
        ExpressionAttributeValues={":two": {"N": "2"}},
    )
    ddb.delete_item(TableName=table, Key=key)


def test_new_and_old_images_record_every_change_in_order(ddb, streams, make_table, table_name):
    arn = make_streamed(ddb, make_table, table_name, "NEW_AND_OLD_IMAGES")
    change(ddb, table_name)
    records = read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = (r["dynamodb"] for r in records)
    assert all(r["eventSource"] == "aws:dynamodb" for r in records)
    assert insert["Keys"] == {"pk": {"S": "a"}}
    assert insert["NewImage"] == {"pk": {"S": "a"}, "v": {"N": "1"}}
    assert "OldImage" not in insert
    assert modify["OldImage"]["v"] == {"N": "1"} and modify["NewImage"]["v"] == {"N": "2"}
    assert remove["OldImage"]["v"] == {"N": "2"} and "NewImage" not in remove
    assert all(r["StreamViewType"] == "NEW_AND_OLD_IMAGES" for r in (insert, modify, remove))
    # Sequence numbers grow.
    seqs = [int(r["SequenceNumber"]) for r in (insert, modify, remove)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_keys_only_records_carry_no_images(ddb, streams, make_table, table_name):
    arn = make_streamed(ddb, make_table, table_name, "KEYS_ONLY")
    change(ddb, table_name)
    records = read_all(streams, arn)
    assert len(records) == 3
    for record in records:
        assert record["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
        assert "NewImage" not in record["dynamodb"] and "OldImage" not in record["dynamodb"]


def test_a_failed_condition_writes_no_record(ddb, streams, make_table, table_name):
    arn = make_streamed(ddb, make_table, table_name, "NEW_IMAGE")
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}})
    with pytest.raises(ClientError):
        ddb.put_item(
            TableName=table_name, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    assert len(read_all(streams, arn)) == 1


def test_list_streams_names_only_tables_with_a_stream(ddb, streams, make_table, table_name):
    arn = make_streamed(ddb, make_table, table_name, "NEW_IMAGE")
    plain = table_name + "-plain"
    make_table(ddb, plain)
    listed = streams.list_streams(TableName=table_name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [arn]
    assert streams.list_streams(TableName=plain)["Streams"] == []
    assert "LatestStreamArn" not in ddb.describe_table(TableName=plain)["Table"]


def test_describe_of_an_unknown_stream_is_resource_not_found(streams):
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/none/stream/2026-01-01T00:00:00.000"
    with pytest.raises(ClientError) as err:
        streams.describe_stream(StreamArn=arn)
    assert error_code(err) == "ResourceNotFoundException"
