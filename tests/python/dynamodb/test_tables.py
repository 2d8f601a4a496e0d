"""Table lifecycle against the AWS documented behaviour of CreateTable,
DescribeTable, ListTables and DeleteTable."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_and_delete(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk", sort_type="N")
    table = ddb.describe_table(TableName=table_name)["Table"]
    assert table["TableName"] == table_name
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
    ]
    assert table["ItemCount"] == 0
    assert table["TableArn"].endswith(f":table/{table_name}")
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    deleted = ddb.delete_table(TableName=table_name)["TableDescription"]
    assert deleted["TableName"] == table_name
    with pytest.raises(ClientError) as err:
        ddb.describe_table(TableName=table_name)
    assert error_code(err) == "ResourceNotFoundException"


def test_creating_an_existing_table_is_resource_in_use(ddb, table_name, make_table):
    make_table(ddb, table_name)
    with pytest.raises(ClientError) as err:
        make_table(ddb, table_name)
    assert error_code(err) == "ResourceInUseException"


def test_missing_table_is_resource_not_found(ddb):
    for call in (
        lambda: ddb.describe_table(TableName="no-such-table"),
        lambda: ddb.delete_table(TableName="no-such-table"),
        lambda: ddb.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}}),
        lambda: ddb.put_item(TableName="no-such-table", Item={"pk": {"S": "a"}}),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "ResourceNotFoundException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_key_attribute_must_be_defined(ddb, table_name):
    with pytest.raises(ClientError) as err:
        ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert error_code(err) == "ValidationException"


def test_list_tables_pages_in_name_order(ddb, make_table):
    names = [f"list-{i}-{suffix}" for i, suffix in enumerate(["c", "a", "b"])]
    for name in names:
        make_table(ddb, name)
    # Other tests share the server: gather every page of the default limit (100).
    listed, kwargs = [], {}
    while True:
        page = ddb.list_tables(**kwargs)
        assert len(page["TableNames"]) <= 100
        listed += page["TableNames"]
        if "LastEvaluatedTableName" not in page:
            break
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
    assert [n for n in listed if n.startswith("list-")] == sorted(names)

    # Limit=1 pages one name at a time; LastEvaluatedTableName continues.
    seen = []
    kwargs = {"Limit": 1}
    while True:
        page = ddb.list_tables(**kwargs)
        assert len(page["TableNames"]) <= 1
        seen += page["TableNames"]
        if "LastEvaluatedTableName" not in page:
            break
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
    assert seen == listed
