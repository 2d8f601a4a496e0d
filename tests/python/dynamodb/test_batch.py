"""BatchGetItem and BatchWriteItem, as the API reference describes them:
the response shapes (Responses, UnprocessedKeys, UnprocessedItems), the
25-request and 100-key limits, and duplicate keys refused."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def key(i):
    return {"pk": {"S": f"k{i:03}"}}


@pytest.fixture
def table(ddb, table_name, make_table):
    make_table(ddb, table_name)
    return table_name


def put(i, **more):
    return {"PutRequest": {"Item": {**key(i), "n": {"N": str(i)}, **more}}}


def test_batch_write_puts_and_deletes_and_reports_nothing_unprocessed(ddb, table):
    written = ddb.batch_write_item(RequestItems={table: [put(i) for i in range(25)]})
    # "If all requested items are processed, UnprocessedItems is an empty map."
    assert written["UnprocessedItems"] == {}
    deleted = ddb.batch_write_item(
        RequestItems={table: [{"DeleteRequest": {"Key": key(i)}} for i in range(0, 25, 2)]}
    )
    assert deleted["UnprocessedItems"] == {}
    left = ddb.scan(TableName=table, Select="COUNT")["Count"]
    assert left == 12


def test_batch_write_over_25_requests_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_write_item(RequestItems={table: [put(i) for i in range(26)]})
    assert error_code(err) == "ValidationException"
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 0


def test_batch_write_with_two_requests_for_one_key_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_write_item(RequestItems={table: [put(1), {"DeleteRequest": {"Key": key(1)}}]})
    assert error_code(err) == "ValidationException"
    assert "duplicates" in err.value.response["Error"]["Message"]


def test_batch_write_to_a_missing_table_is_resource_not_found(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_write_item(RequestItems={"no-such-table-here": [put(1)]})
    assert error_code(err) == "ResourceNotFoundException"


def test_batch_write_over_two_tables(ddb, table, make_table, table_name):
    other = table_name + "-b"
    make_table(ddb, other)
    ddb.batch_write_item(RequestItems={table: [put(1)], other: [put(2)]})
    assert "Item" in ddb.get_item(TableName=table, Key=key(1))
    assert "Item" in ddb.get_item(TableName=other, Key=key(2))


def test_batch_get_returns_responses_per_table_and_empty_unprocessed_keys(ddb, table):
    ddb.batch_write_item(RequestItems={table: [put(i) for i in range(10)]})
    got = ddb.batch_get_item(
        RequestItems={table: {"Keys": [key(i) for i in range(12)], "ConsistentRead": True}}
    )
    assert got["UnprocessedKeys"] == {}
    # Missing keys are simply absent; the order of Responses is not defined.
    names = sorted(item["pk"]["S"] for item in got["Responses"][table])
    assert names == [f"k{i:03}" for i in range(10)]


def test_batch_get_with_projection_expression(ddb, table):
    ddb.put_item(TableName=table, Item={**key(1), "a": {"S": "x"}, "b": {"S": "y"}})
    got = ddb.batch_get_item(
        RequestItems={table: {"Keys": [key(1)], "ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a"}}}
    )
    assert got["Responses"][table] == [{"a": {"S": "x"}}]


def test_batch_get_over_100_keys_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(101)]}})
    assert error_code(err) == "ValidationException"


def test_batch_get_of_exactly_100_keys_is_served(ddb, table):
    got = ddb.batch_get_item(RequestItems={table: {"Keys": [key(i) for i in range(100)]}})
    assert got["Responses"][table] == []
    assert got["UnprocessedKeys"] == {}


def test_batch_get_with_a_duplicate_key_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_get_item(RequestItems={table: {"Keys": [key(1), key(1)]}})
    assert error_code(err) == "ValidationException"
    assert "duplicates" in err.value.response["Error"]["Message"]


def test_batch_get_with_a_key_of_the_wrong_type_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"N": "1"}}]}})
    assert error_code(err) == "ValidationException"
