"""DynamoDB number and ordering semantics (38 significant digits, exact
decimal arithmetic and comparison, no float rounding), the 400 KB item
limit, key-type checks, and the byte order of binary and string sort keys,
as the data type and limits references describe them."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def table(ddb, table_name, make_table):
    make_table(ddb, table_name)
    return table_name


def get_n(ddb, table, pk="n"):
    return ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]["v"]["N"]


def add(ddb, table, amount, pk="n"):
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": pk}},
        UpdateExpression="ADD v :a",
        ExpressionAttributeValues={":a": {"N": amount}},
    )


def test_add_is_exact_decimal_arithmetic(ddb, table):
    add(ddb, table, "0.1")
    add(ddb, table, "0.2")
    assert get_n(ddb, table) == "0.3"


def test_set_arithmetic_keeps_38_digits(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": "99999999999999999999999999999999999998"}})
    add(ddb, table, "1")
    assert get_n(ddb, table) == "99999999999999999999999999999999999999"
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "n"}},
        UpdateExpression="SET v = v - :tiny",
        ExpressionAttributeValues={":tiny": {"N": "99999999999999999999999999999999999998"}},
    )
    assert get_n(ddb, table) == "1"


def test_38_significant_digits_are_stored_exactly(ddb, table):
    for value in [
        "12345678901234567890123456789012345678",
        "0.12345678901234567890123456789012345678",
        "-9.9999999999999999999999999999999999999",
    ]:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": value}})
        assert get_n(ddb, table) == value


def test_more_than_38_significant_digits_are_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": "123456789012345678901234567890123456789"}})
    assert error_code(err) == "ValidationException"


@pytest.mark.parametrize("value", ["1E+126", "1E-131", "not-a-number", ""])
def test_numbers_out_of_range_or_malformed_are_refused(ddb, table, value):
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": value}})
    assert error_code(err) == "ValidationException"


def test_leading_and_trailing_zeros_are_trimmed(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": "0001.500"}})
    assert get_n(ddb, table) == "1.5"


def test_comparison_is_exact_beyond_float_precision(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": "12345678901234567890123456789012345678"}})
    # As doubles these two are equal; as decimals the stored one is larger.
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "n"}},
        UpdateExpression="SET ok = :t",
        ConditionExpression="v > :w",
        ExpressionAttributeValues={":w": {"N": "12345678901234567890123456789012345677"}, ":t": {"BOOL": True}},
    )
    with pytest.raises(ClientError) as err:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "n"}},
            UpdateExpression="SET ok = :t",
            ConditionExpression="v = :w",
            ExpressionAttributeValues={":w": {"N": "12345678901234567890123456789012345677"}, ":t": {"BOOL": True}},
        )
    assert error_code(err) == "ConditionalCheckFailedException"


def sorted_keys(ddb, name, sort_type, values):
    for value in values:
        ddb.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {sort_type: value}})
    page = ddb.query(
        TableName=name,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ConsistentRead=True,
    )
    return [item["sk"][sort_type] for item in page["Items"]]


def test_number_sort_keys_sort_numerically(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk", sort_type="N")
    got = sorted_keys(ddb, table_name, "N", ["10", "9", "-1", "1.5", "100", "-20", "0.001"])
    assert got == ["-20", "-1", "0.001", "1.5", "9", "10", "100"]


def test_binary_sort_keys_sort_by_unsigned_bytes(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk", sort_type="B")
    values = [b"\xff", b"\x00", b"\x80", b"\x7f", b"\x00\x00", b"\x01"]
    got = sorted_keys(ddb, table_name, "B", values)
    assert got == [b"\x00", b"\x00\x00", b"\x01", b"\x7f", b"\x80", b"\xff"]


def test_string_sort_keys_sort_by_utf8_bytes(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk")
    # UTF-8 byte order puts U+1F600 after U+FFFF; UTF-16 order would not.
    values = ["\U0001f600", "\uffff", "a", "Z", "\u00e9", "aa"]
    got = sorted_keys(ddb, table_name, "S", values)
    assert got == ["Z", "a", "aa", "\u00e9", "\uffff", "\U0001f600"]


def test_binary_key_condition_between(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk", sort_type="B")
    for value in [b"\x00", b"\x10", b"\x80", b"\xf0"]:
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "p"}, "sk": {"B": value}})
    page = ddb.query(
        TableName=table_name,
        KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={":p": {"S": "p"}, ":lo": {"B": b"\x10"}, ":hi": {"B": b"\x90"}},
    )
    assert [item["sk"]["B"] for item in page["Items"]] == [b"\x10", b"\x80"]


def test_key_type_mismatch_is_refused_on_every_path(ddb, table):
    with pytest.raises(ClientError) as put:
        ddb.put_item(TableName=table, Item={"pk": {"N": "1"}})
    assert error_code(put) == "ValidationException"
    with pytest.raises(ClientError) as query:
        ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"N": "1"}},
        )
    assert error_code(query) == "ValidationException"
    with pytest.raises(ClientError) as delete:
        ddb.delete_item(TableName=table, Key={"pk": {"B": b"1"}})
    assert error_code(delete) == "ValidationException"


def test_empty_string_key_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=table, Item={"pk": {"S": ""}})
    assert error_code(err) == "ValidationException"


def test_item_just_under_400kb_is_accepted(ddb, table):
    # Item size counts attribute names and values in UTF-8: "pk" + "x" + "blob" + value.
    value = "x" * (400 * 1024 - 2 - 1 - 4 - 64)
    ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "blob": {"S": value}})
    assert len(ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})["Item"]["blob"]["S"]) == len(value)


def test_update_that_grows_an_item_past_400kb_is_refused(ddb, table):
    half = "y" * (210 * 1024)
    ddb.put_item(TableName=table, Item={"pk": {"S": "g"}, "a": {"S": half}})
    with pytest.raises(ClientError) as err:
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "g"}},
            UpdateExpression="SET b = :b",
            ExpressionAttributeValues={":b": {"S": half}},
        )
    assert error_code(err) == "ValidationException"
    assert "b" not in ddb.get_item(TableName=table, Key={"pk": {"S": "g"}})["Item"]
