"""Scan (Segment/TotalSegments, Limit, ExclusiveStartKey, FilterExpression,
Select COUNT) and the 1 MB page limit of Query and Scan, as the Scan and
Query references describe them."""

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


N_ITEMS = 40


@pytest.fixture
def table(ddb, table_name, make_table):
    make_table(ddb, table_name)
    for i in range(N_ITEMS):
        ddb.put_item(TableName=table_name, Item={"pk": {"S": f"p{i:02}"}, "n": {"N": str(i)}})
    return table_name


def pks(items):
    return sorted(item["pk"]["S"] for item in items)


ALL = [f"p{i:02}" for i in range(N_ITEMS)]


def test_parallel_scan_segments_partition_the_table(ddb, table):
    seen = []
    for segment in range(4):
        page = ddb.scan(TableName=table, Segment=segment, TotalSegments=4)
        assert "LastEvaluatedKey" not in page
        seen.extend(page["Items"])
    # Every item in exactly one segment.
    assert pks(seen) == ALL


def test_segment_must_be_below_total_segments(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.scan(TableName=table, Segment=4, TotalSegments=4)
    assert error_code(err) == "ValidationException"


def test_segment_without_total_segments_is_refused(ddb, table):
    with pytest.raises(ClientError) as err:
        ddb.scan(TableName=table, Segment=0)
    assert error_code(err) == "ValidationException"


def test_limit_and_exclusive_start_key_page_through_everything(ddb, table):
    seen, start, pages = [], None, 0
    while True:
        args = {"TableName": table, "Limit": 7}
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        pages += 1
        assert len(page["Items"]) <= 7
        seen.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        assert pages < 20
    assert pks(seen) == ALL
    assert pages >= 6


def test_limit_counts_items_read_before_the_filter(ddb, table):
    # "Limit" caps the items evaluated; the filter then drops some of them.
    page = ddb.scan(
        TableName=table,
        Limit=10,
        FilterExpression="n >= :big",
        ExpressionAttributeValues={":big": {"N": "1000"}},
    )
    assert page["Items"] == []
    assert page["Count"] == 0
    assert page["ScannedCount"] == 10
    assert "LastEvaluatedKey" in page


def test_filter_expression_and_select_count(ddb, table):
    filtered = ddb.scan(
        TableName=table,
        FilterExpression="n < :ten",
        ExpressionAttributeValues={":ten": {"N": "10"}},
    )
    assert pks(filtered["Items"]) == ALL[:10]
    assert filtered["Count"] == 10
    assert filtered["ScannedCount"] == N_ITEMS
    counted = ddb.scan(
        TableName=table,
        Select="COUNT",
        FilterExpression="n < :ten",
        ExpressionAttributeValues={":ten": {"N": "10"}},
    )
    assert "Items" not in counted
    assert counted["Count"] == 10


def test_scan_projection_expression(ddb, table):
    page = ddb.scan(TableName=table, ProjectionExpression="n", Limit=3)
    assert all(set(item) == {"n"} for item in page["Items"])


BIG = "x" * (100 * 1024)  # ~100 KB per item: a 1 MB page holds about ten


@pytest.fixture
def big_items(ddb, table_name, make_table):
    make_table(ddb, table_name, sort="sk")
    for i in range(25):
        ddb.put_item(
            TableName=table_name,
            Item={"pk": {"S": "big"}, "sk": {"S": f"s{i:02}"}, "blob": {"S": BIG}},
        )
    return table_name


def drain(call, **args):
    pages, items, start = [], [], None
    while True:
        if start:
            args["ExclusiveStartKey"] = start
        page = call(**args)
        pages.append(len(page["Items"]))
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start or len(pages) > 30:
            return pages, items


def test_scan_stops_a_page_at_1_mb(ddb, big_items):
    pages, items = drain(ddb.scan, TableName=big_items)
    assert len(items) == 25
    # 25 items of 100 KB cannot come back in one 1 MB page.
    assert len(pages) >= 3
    assert max(pages) <= 11


def test_query_stops_a_page_at_1_mb(ddb, big_items):
    pages, items = drain(
        ddb.query,
        TableName=big_items,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "big"}},
    )
    assert [item["sk"]["S"] for item in items] == [f"s{i:02}" for i in range(25)]
    assert len(pages) >= 3
    assert max(pages) <= 11


def test_query_select_count_over_1_mb_is_paged_too(ddb, big_items):
    # The 1 MB limit applies to the data read, even when only a count is returned.
    page = ddb.query(
        TableName=big_items,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "big"}},
        Select="COUNT",
    )
    assert page["Count"] < 25
    assert "LastEvaluatedKey" in page
