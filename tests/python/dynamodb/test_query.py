"""Query on a table and on a global secondary index: key conditions, order,
paging, Select COUNT and FilterExpression, as the Query reference describes."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def orders(ddb, table_name, make_table):
    make_table(
        ddb,
        table_name,
        sort="sk",
        more_attributes=[
            {"AttributeName": "customerId", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByCustomer",
                "KeySchema": [
                    {"AttributeName": "customerId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    rows = [
        ("o#1", "line#01", "alice", "30"),
        ("o#1", "line#02", "alice", "10"),
        ("o#1", "line#03", "bob", "20"),
        ("o#1", "note#01", None, None),  # no GSI key: absent from the index
        ("o#2", "line#01", "alice", "20"),
    ]
    for pk, sk, customer, created in rows:
        item = {"pk": {"S": pk}, "sk": {"S": sk}, "qty": {"N": sk[-1]}}
        if customer:
            item["customerId"] = {"S": customer}
            item["createdAt"] = {"N": created}
        ddb.put_item(TableName=table_name, Item=item)
    return table_name


def sks(response):
    return [item["sk"]["S"] for item in response["Items"]]


def test_key_conditions_and_order(ddb, orders):
    eq = {":p": {"S": "o#1"}}
    q = lambda expr, values, **kw: ddb.query(  # noqa: E731
        TableName=orders, KeyConditionExpression=expr, ExpressionAttributeValues={**eq, **values}, **kw
    )
    assert sks(q("pk = :p", {})) == ["line#01", "line#02", "line#03", "note#01"]
    assert sks(q("pk = :p AND begins_with(sk, :b)", {":b": {"S": "line#"}})) == ["line#01", "line#02", "line#03"]
    assert sks(q("pk = :p AND sk BETWEEN :a AND :z", {":a": {"S": "line#02"}, ":z": {"S": "line#03"}})) == [
        "line#02",
        "line#03",
    ]
    assert sks(q("pk = :p AND sk > :a", {":a": {"S": "line#03"}})) == ["note#01"]
    assert sks(q("pk = :p AND sk <= :a", {":a": {"S": "line#01"}})) == ["line#01"]
    assert sks(q("pk = :p", {}, ScanIndexForward=False)) == ["note#01", "line#03", "line#02", "line#01"]


def test_limit_pages_with_last_evaluated_key(ddb, orders):
    seen = []
    kwargs = dict(
        TableName=orders,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "o#1"}},
        Limit=2,
    )
    pages = 0
    while True:
        page = ddb.query(**kwargs)
        pages += 1
        assert page["Count"] <= 2
        seen += sks(page)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert seen == ["line#01", "line#02", "line#03", "note#01"]
    assert pages >= 2


def test_select_count_and_filter(ddb, orders):
    counted = ddb.query(
        TableName=orders,
        KeyConditionExpression="pk = :p",
        FilterExpression="qty >= :two",
        ExpressionAttributeValues={":p": {"S": "o#1"}, ":two": {"N": "2"}},
        Select="COUNT",
    )
    assert "Items" not in counted
    # qty is the last digit of sk: 1, 2, 3, 1; the filter runs after the key
    # condition, so ScannedCount counts all four.
    assert counted["Count"] == 2
    assert counted["ScannedCount"] == 4


def test_query_on_a_global_secondary_index(ddb, orders):
    got = ddb.query(
        TableName=orders,
        IndexName="ByCustomer",
        KeyConditionExpression="customerId = :c AND createdAt >= :t",
        ExpressionAttributeValues={":c": {"S": "alice"}, ":t": {"N": "15"}},
    )
    assert [(i["pk"]["S"], i["sk"]["S"], i["createdAt"]["N"]) for i in got["Items"]] == [
        ("o#2", "line#01", "20"),
        ("o#1", "line#01", "30"),
    ]
    # The index follows writes: moving an item to another customer moves it.
    ddb.update_item(
        TableName=orders,
        Key={"pk": {"S": "o#1"}, "sk": {"S": "line#01"}},
        UpdateExpression="SET customerId = :b",
        ExpressionAttributeValues={":b": {"S": "bob"}},
    )
    bob = ddb.query(
        TableName=orders,
        IndexName="ByCustomer",
        KeyConditionExpression="customerId = :b",
        ExpressionAttributeValues={":b": {"S": "bob"}},
    )
    assert [i["createdAt"]["N"] for i in bob["Items"]] == ["20", "30"]


def test_consistent_read_on_a_gsi_is_refused(ddb, orders):
    with pytest.raises(ClientError) as err:
        ddb.query(
            TableName=orders,
            IndexName="ByCustomer",
            KeyConditionExpression="customerId = :c",
            ExpressionAttributeValues={":c": {"S": "alice"}},
            ConsistentRead=True,
        )
    assert error_code(err) == "ValidationException"


def test_query_on_an_unknown_index_is_refused(ddb, orders):
    with pytest.raises(ClientError) as err:
        ddb.query(
            TableName=orders,
            IndexName="NoSuchIndex",
            KeyConditionExpression="customerId = :c",
            ExpressionAttributeValues={":c": {"S": "alice"}},
        )
    assert error_code(err) == "ValidationException"


def test_key_condition_on_a_non_key_attribute_is_refused(ddb, orders):
    with pytest.raises(ClientError) as err:
        ddb.query(
            TableName=orders,
            KeyConditionExpression="qty = :q",
            ExpressionAttributeValues={":q": {"N": "1"}},
        )
    assert error_code(err) == "ValidationException"
