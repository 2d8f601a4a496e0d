//! The provider's table lifecycle against a real engine on a temporary data
//! directory: what goes in through a manifest `Table` comes back out of
//! `describe_table`, updates change only what differs, and sizes are counted.

use serde_json::json;
use strata_model::{AttributeType, Index, KeyAttribute, StreamView, Table};

use super::*;
use crate::durability::Durability;
use crate::store::DataDir;

fn key(name: &str, kind: AttributeType) -> KeyAttribute {
    KeyAttribute {
        name: name.to_owned(),
        kind,
    }
}

fn orders() -> Table {
    Table {
        partition_key: key("pk", AttributeType::S),
        sort_key: Some(key("sk", AttributeType::N)),
        indexes: vec![Index {
            name: "ByCustomer".to_owned(),
            partition_key: key("customerId", AttributeType::S),
            sort_key: Some(key("createdAt", AttributeType::N)),
        }],
        stream: Some(StreamView::NewAndOldImages),
        ttl: Some("expiresAt".to_owned()),
    }
}

struct Fixture {
    db: DynamoDb,
    _data: DataDir,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = DataDir::open(tmp.path()).expect("data dir");
    let db = DynamoDb::open(&data, Durability::Process).expect("open");
    Fixture {
        db,
        _data: data,
        _tmp: tmp,
    }
}

fn put(db: &DynamoDb, table: &str, pk: &str, sk: u32, customer: Option<&str>) {
    let mut item = json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}});
    if let Some(c) = customer {
        item["customerId"] = json!({"S": c});
        item["createdAt"] = json!({"N": "1"});
    }
    db.execute(
        "PutItem",
        &json!({"TableName": table, "Item": item}).to_string(),
    )
    .expect("put");
}

#[test]
fn create_then_describe_gives_the_spec_back() {
    let f = fixture();
    let created =
        f.db.create_table("orders-dev-Orders", &orders())
            .expect("create");
    assert_eq!(created.spec, orders());
    assert!(
        created.arn.ends_with(":table/orders-dev-Orders"),
        "{}",
        created.arn
    );
    assert!(created.stream_arn.is_some());
    let described = f.db.describe_table("orders-dev-Orders").expect("describe");
    assert_eq!(described, Some(created));
}

#[test]
fn a_plain_table_has_no_stream_ttl_or_indexes() {
    let f = fixture();
    let spec = Table {
        partition_key: key("id", AttributeType::B),
        sort_key: None,
        indexes: vec![],
        stream: None,
        ttl: None,
    };
    let created = f.db.create_table("plain", &spec).expect("create");
    assert_eq!(created.spec, spec);
    assert_eq!(created.stream_arn, None);
}

#[test]
fn describing_a_missing_table_is_none() {
    let f = fixture();
    assert_eq!(f.db.describe_table("nope").expect("describe"), None);
}

#[test]
fn creating_twice_is_exists() {
    let f = fixture();
    f.db.create_table("tbl", &orders()).expect("create");
    assert!(matches!(
        f.db.create_table("tbl", &orders()),
        Err(TableError::Exists { name }) if name == "tbl"
    ));
}

#[test]
fn update_swaps_indexes_stream_and_ttl_and_keeps_items() {
    let f = fixture();
    f.db.create_table("tbl", &orders()).expect("create");
    put(&f.db, "tbl", "a", 1, Some("alice"));
    put(&f.db, "tbl", "b", 2, None);
    let mut next = orders();
    next.indexes = vec![Index {
        name: "ByStatus".to_owned(),
        partition_key: key("status", AttributeType::S),
        sort_key: None,
    }];
    next.stream = Some(StreamView::KeysOnly);
    next.ttl = Some("gone".to_owned());
    let updated = f.db.update_table("tbl", &next).expect("update");
    assert_eq!(updated.spec, next);
    assert_eq!(f.db.table_size("tbl").expect("size").items, 2);
    // And back to nothing optional.
    next.indexes.clear();
    next.stream = None;
    next.ttl = None;
    let updated = f.db.update_table("tbl", &next).expect("update");
    assert_eq!(updated.spec, next);
    assert_eq!(updated.stream_arn, None);
}

#[test]
fn an_added_index_is_backfilled() {
    let f = fixture();
    let mut spec = orders();
    spec.indexes.clear();
    f.db.create_table("tbl", &spec).expect("create");
    put(&f.db, "tbl", "a", 1, Some("alice"));
    put(&f.db, "tbl", "b", 2, None);
    f.db.update_table("tbl", &orders()).expect("update");
    let out =
        f.db.execute(
            "Query",
            &json!({"TableName": "tbl", "IndexName": "ByCustomer",
                    "KeyConditionExpression": "customerId = :c",
                    "ExpressionAttributeValues": {":c": {"S": "alice"}}})
            .to_string(),
        )
        .expect("query");
    let out: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(out["Count"], 1);
}

#[test]
fn key_changes_are_refused_in_place() {
    let f = fixture();
    f.db.create_table("tbl", &orders()).expect("create");
    let mut next = orders();
    next.sort_key = Some(key("sk", AttributeType::S));
    assert!(matches!(
        f.db.update_table("tbl", &next),
        Err(TableError::KeyChange {
            key: "sort key",
            ..
        })
    ));
    next = orders();
    next.partition_key = key("id", AttributeType::S);
    assert!(matches!(
        f.db.update_table("tbl", &next),
        Err(TableError::KeyChange {
            key: "partition key",
            ..
        })
    ));
}

#[test]
fn table_size_counts_items_and_bytes() {
    let f = fixture();
    f.db.create_table("tbl", &orders()).expect("create");
    assert_eq!(
        f.db.table_size("tbl").expect("size"),
        TableSize { items: 0, bytes: 0 }
    );
    for i in 0..5 {
        put(&f.db, "tbl", "a", i, None);
    }
    let size = f.db.table_size("tbl").expect("size");
    assert_eq!(size.items, 5);
    assert!(size.bytes > 0);
    assert!(matches!(
        f.db.table_size("missing"),
        Err(TableError::NotFound { .. })
    ));
}

#[test]
fn delete_removes_the_table_and_a_second_delete_is_not_found() {
    let f = fixture();
    f.db.create_table("tbl", &orders()).expect("create");
    f.db.delete_table("tbl").expect("delete");
    assert_eq!(f.db.describe_table("tbl").expect("describe"), None);
    assert!(matches!(
        f.db.delete_table("tbl"),
        Err(TableError::NotFound { .. })
    ));
}

#[test]
fn a_table_whose_create_was_cut_off_reads_as_absent_and_can_be_created_again() {
    let f = fixture();
    f.db.create_table("Orders", &orders()).expect("create");
    f.db.create_table("Other", &orders()).expect("create");
    // What a process killed inside CreateTable leaves: the table recorded,
    // its data table never made.
    let file = f._data.path().join(crate::dynamodb::DATABASE_FILE);
    rusqlite::Connection::open(file)
        .expect("open")
        .execute_batch(r#"DROP TABLE "Orders""#)
        .expect("drop the data table");
    assert!(
        f.db.table_size("Other").is_err(),
        "the half table breaks counts"
    );

    assert_eq!(f.db.describe_table("Orders").expect("describe"), None);
    assert_eq!(f.db.table_size("Other").expect("size").items, 0);
    f.db.create_table("Orders", &orders())
        .expect("created again");
    put(&f.db, "Orders", "a", 1, None);
    assert_eq!(f.db.table_size("Orders").expect("size").items, 1);
}
