"""Item operations: PutItem, GetItem, UpdateItem, DeleteItem, their
ReturnValues, and condition failures, as the DynamoDB API reference
describes them."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def table(ddb, table_name, make_table):
    make_table(ddb, table_name)
    return table_name


EVERY_TYPE = {
    "pk": {"S": "item-1"},
    "n": {"N": "12345678901234567890123456789012345678"},
    "neg": {"N": "-0.5"},
    "b": {"B": b"\x00\x01\xff"},
    "t": {"BOOL": True},
    "nothing": {"NULL": True},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"BOOL": False}}}]},
    "map": {"M": {"a": {"S": "b"}, "nested": {"L": []}}},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
}


def normalise(item):
    """Sets come back in any order."""
    out = {}
    for name, value in item.items():
        ((kind, inner),) = value.items()
        out[name] = {kind: sorted(inner)} if kind in ("SS", "NS", "BS") else value
    return out


def test_put_then_get_returns_every_attribute_type(ddb, table):
    ddb.put_item(TableName=table, Item=EVERY_TYPE)
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "item-1"}}, ConsistentRead=True)
    assert normalise(got["Item"]) == normalise(EVERY_TYPE)


def test_get_of_a_missing_item_has_no_item_member(ddb, table):
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "absent"}})
    assert "Item" not in got


def test_projection_expression_limits_the_attributes(ddb, table):
    ddb.put_item(TableName=table, Item=EVERY_TYPE)
    got = ddb.get_item(
        TableName=table,
        Key={"pk": {"S": "item-1"}},
        ProjectionExpression="#m.a, t",
        ExpressionAttributeNames={"#m": "map"},
    )
    assert got["Item"] == {"map": {"M": {"a": {"S": "b"}}}, "t": {"BOOL": True}}


def test_put_return_values_all_old(ddb, table):
    first = ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"N": "1"}}, ReturnValues="ALL_OLD")
    assert "Attributes" not in first
    second = ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
    assert second["Attributes"] == {"pk": {"S": "k"}, "v": {"N": "1"}}


def test_update_expression_set_add_remove_and_functions(ddb, table):
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": "u"}, "count": {"N": "10"}, "gone": {"S": "x"}, "tags": {"SS": ["a"]}},
    )
    out = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "u"}},
        UpdateExpression=(
            "SET #c = #c + :five, firstSeen = if_not_exists(firstSeen, :now), "
            "hist = list_append(if_not_exists(hist, :empty), :entry) "
            "REMOVE gone ADD tags :more, visits :one"
        ),
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={
            ":five": {"N": "5"},
            ":now": {"N": "100"},
            ":empty": {"L": []},
            ":entry": {"L": [{"S": "e1"}]},
            ":more": {"SS": ["b"]},
            ":one": {"N": "1"},
        },
        ReturnValues="ALL_NEW",
    )
    item = normalise(out["Attributes"])
    assert item == {
        "pk": {"S": "u"},
        "count": {"N": "15"},
        "firstSeen": {"N": "100"},
        "hist": {"L": [{"S": "e1"}]},
        "tags": {"SS": ["a", "b"]},
        "visits": {"N": "1"},
    }

    # if_not_exists keeps the existing value; UPDATED_NEW returns only what changed.
    again = ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "u"}},
        UpdateExpression="SET firstSeen = if_not_exists(firstSeen, :later) DELETE tags :a",
        ExpressionAttributeValues={":later": {"N": "200"}, ":a": {"SS": ["a"]}},
        ReturnValues="UPDATED_NEW",
    )
    assert again["Attributes"] == {"firstSeen": {"N": "100"}, "tags": {"SS": ["b"]}}


def test_update_creates_a_missing_item(ddb, table):
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "new"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "hello"}},
    )
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "new"}})["Item"] == {
        "pk": {"S": "new"},
        "v": {"S": "hello"},
    }


def test_delete_returns_the_old_item_and_removes_it(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "d"}, "v": {"S": "x"}})
    out = ddb.delete_item(TableName=table, Key={"pk": {"S": "d"}}, ReturnValues="ALL_OLD")
    assert out["Attributes"] == {"pk": {"S": "d"}, "v": {"S": "x"}}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "d"}})


def test_condition_failure_is_conditional_check_failed_with_item_when_asked(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as err:
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": "c"}, "v": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert error_code(err) == "ConditionalCheckFailedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Item" not in err.value.response

    with pytest.raises(ClientError) as err:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "c"}},
            UpdateExpression="SET v = :two",
            ConditionExpression="v = :zero",
            ExpressionAttributeValues={":two": {"N": "2"}, ":zero": {"N": "0"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert error_code(err) == "ConditionalCheckFailedException"
    assert err.value.response["Item"] == {"pk": {"S": "c"}, "v": {"N": "1"}}
    # Nothing changed.
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "c"}})["Item"]["v"] == {"N": "1"}


def test_condition_success_writes(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "ok"}, "v": {"N": "1"}})
    ddb.delete_item(
        TableName=table,
        Key={"pk": {"S": "ok"}},
        ConditionExpression="v BETWEEN :lo AND :hi AND attribute_type(v, :n)",
        ExpressionAttributeValues={":lo": {"N": "0"}, ":hi": {"N": "5"}, ":n": {"S": "N"}},
    )
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "ok"}})


def test_key_of_the_wrong_type_is_a_validation_error(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName=table, Key={"pk": {"N": "1"}})
    assert error_code(err) == "ValidationException"


def test_key_missing_an_attribute_is_a_validation_error(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=table, Item={"other": {"S": "x"}})
    assert error_code(err) == "ValidationException"


def test_unused_expression_value_is_a_validation_error(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "x"}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "a"}, ":unused": {"S": "b"}},
        )
    assert error_code(err) == "ValidationException"


def test_item_over_400kb_is_a_validation_error(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=table, Item={"pk": {"S": "big"}, "blob": {"S": "x" * (400 * 1024 + 1)}})
    assert error_code(err) == "ValidationException"
