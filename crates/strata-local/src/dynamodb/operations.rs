//! The DynamoDB operations the endpoint serves: one row per operation, with
//! the engine call and what the operation needs from the tables it names.
//!
//! Adding an operation is adding a row. The access column is what a function
//! principal is checked against; the developer skips it.

use dynoxide::{Database, DynoxideError};
use serde_json::Value;
use strata_model::Access;

use super::wire;
use crate::access::Need;

/// Which tables a request touches, and with what need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touches {
    /// The table named by `TableName`.
    Table(Need),
    /// The whole account (`ListTables`).
    Account(Need),
    /// Every table key of `RequestItems`.
    RequestItems(Need),
    /// `TransactItems`: `Put`, `Update`, `Delete` write, `ConditionCheck`
    /// and `Get` read.
    TransactItems,
    /// The table whose stream `StreamArn` names (DescribeStream,
    /// GetShardIterator).
    StreamArn,
    /// The table a `ShardIterator` was issued for (GetRecords).
    ShardIterator,
    /// The stream of `TableName`, or every stream of the account without it
    /// (ListStreams).
    StreamsOf,
    /// Not mapped to tables yet (PartiQL statements, tag ARNs): functions
    /// are refused, the developer is not.
    Unmapped,
}

pub(crate) type Run = fn(&Database, &str) -> Result<String, DynoxideError>;

/// One served operation.
#[derive(Debug)]
pub(crate) struct Operation {
    pub name: &'static str,
    pub touches: Touches,
    pub run: Run,
}

/// Decode the request, call the engine method of the same name, encode.
macro_rules! engine {
    ($method:ident) => {
        |db: &Database, body: &str| -> Result<String, DynoxideError> {
            let request = wire::decode(body)?;
            let response = db.$method(request)?;
            wire::encode(&response)
        }
    };
}

const READ: Need = Need::Level(Access::Read);
const WRITE: Need = Need::Level(Access::Write);
const MANAGE: Need = Need::Manage;
const STREAM: Need = Need::Stream;

macro_rules! operations {
    ($($name:literal => $method:ident, $touches:expr;)*) => {
        pub(crate) static OPERATIONS: &[Operation] = &[
            $(Operation { name: $name, touches: $touches, run: engine!($method) },)*
        ];
    };
}

operations! {
    "CreateTable" => create_table, Touches::Table(MANAGE);
    "DeleteTable" => delete_table, Touches::Table(MANAGE);
    "DescribeTable" => describe_table, Touches::Table(READ);
    "ListTables" => list_tables, Touches::Account(MANAGE);
    "UpdateTable" => update_table, Touches::Table(MANAGE);
    "UpdateTimeToLive" => update_time_to_live, Touches::Table(MANAGE);
    "DescribeTimeToLive" => describe_time_to_live, Touches::Table(READ);
    "PutItem" => put_item, Touches::Table(WRITE);
    "GetItem" => get_item, Touches::Table(READ);
    "DeleteItem" => delete_item, Touches::Table(WRITE);
    "UpdateItem" => update_item, Touches::Table(WRITE);
    "Query" => query, Touches::Table(READ);
    "Scan" => scan, Touches::Table(READ);
    "BatchGetItem" => batch_get_item, Touches::RequestItems(READ);
    "BatchWriteItem" => batch_write_item, Touches::RequestItems(WRITE);
    "TransactWriteItems" => transact_write_items, Touches::TransactItems;
    "TransactGetItems" => transact_get_items, Touches::TransactItems;
    "ListStreams" => list_streams, Touches::StreamsOf;
    "DescribeStream" => describe_stream, Touches::StreamArn;
    "GetShardIterator" => get_shard_iterator, Touches::StreamArn;
    "GetRecords" => get_records, Touches::ShardIterator;
    "ExecuteStatement" => execute_statement, Touches::Unmapped;
    "ExecuteTransaction" => execute_transaction, Touches::Unmapped;
    "BatchExecuteStatement" => batch_execute_statement, Touches::Unmapped;
    "TagResource" => tag_resource, Touches::Unmapped;
    "UntagResource" => untag_resource, Touches::Unmapped;
    "ListTagsOfResource" => list_tags_of_resource, Touches::Unmapped;
}

/// The operations of the DynamoDB Streams API (target prefix
/// `DynamoDBStreams_20120810`); every other row belongs to DynamoDB's own.
pub(crate) const STREAMS: [&str; 4] = [
    "ListStreams",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
];

pub(crate) fn find(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.name == name)
}

/// The (table, need) pairs a request touches; `None` as the table means the
/// account. A body too malformed to name its tables yields no pairs for the
/// batch forms: the engine then refuses it as invalid, so no table is reached
/// unchecked.
pub(crate) fn touched(touches: Touches, body: &Value) -> Vec<(Option<String>, Need)> {
    let table = |v: &Value| {
        v.get("TableName")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match touches {
        Touches::Table(need) => vec![(table(body), need)],
        Touches::Account(need) => vec![(None, need)],
        Touches::RequestItems(need) => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|items| items.keys().map(|k| (Some(k.clone()), need)).collect())
            .unwrap_or_default(),
        Touches::TransactItems => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|item| item.iter())
                    .map(|(kind, action)| {
                        let need = match kind.as_str() {
                            "ConditionCheck" | "Get" => READ,
                            _ => WRITE,
                        };
                        (table(action), need)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        // The table is read out of the ARN and the iterator exactly as the
        // engine reads it (the second `/`-separated part of the ARN, the
        // table inside the iterator), so the check and the engine always
        // mean the same table. One that names none reaches no table: the
        // engine answers it with ResourceNotFound or ValidationException.
        Touches::StreamArn => body
            .get("StreamArn")
            .and_then(Value::as_str)
            .and_then(|arn| arn.split('/').nth(1))
            .map(|name| vec![(Some(name.to_owned()), STREAM)])
            .unwrap_or_default(),
        Touches::ShardIterator => body
            .get("ShardIterator")
            .and_then(Value::as_str)
            .and_then(dynoxide::actions::get_shard_iterator::decode_shard_iterator)
            .map(|(name, _, _)| vec![(Some(name), STREAM)])
            .unwrap_or_default(),
        Touches::StreamsOf => vec![(table(body), STREAM)],
        Touches::Unmapped => vec![(None, MANAGE)],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_operation_the_engine_knows_has_one_row() {
        let mut names: Vec<_> = OPERATIONS.iter().map(|op| op.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate rows");
        assert!(find("PutItem").is_some());
        assert!(find("putitem").is_none());
        assert!(find("Frobnicate").is_none());
    }

    #[test]
    fn transact_items_split_reads_from_writes() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "Orders", "Item": {}}},
            {"ConditionCheck": {"TableName": "Customers", "Key": {}}},
        ]});
        assert_eq!(
            touched(Touches::TransactItems, &body),
            vec![
                (Some("Orders".to_owned()), WRITE),
                (Some("Customers".to_owned()), READ)
            ]
        );
    }

    #[test]
    fn stream_requests_touch_the_table_the_engine_reads() {
        let arn = "arn:aws:dynamodb:dynoxide:000000000000:table/Orders/stream/1.0";
        assert_eq!(
            touched(Touches::StreamArn, &json!({ "StreamArn": arn })),
            vec![(Some("Orders".to_owned()), STREAM)]
        );
        assert_eq!(
            touched(Touches::StreamArn, &json!({ "StreamArn": "x" })),
            vec![]
        );
        let iterator =
            dynoxide::actions::get_shard_iterator::encode_shard_iterator("Orders", "shard", 3);
        assert_eq!(
            touched(
                Touches::ShardIterator,
                &json!({ "ShardIterator": iterator })
            ),
            vec![(Some("Orders".to_owned()), STREAM)]
        );
        assert_eq!(
            touched(
                Touches::ShardIterator,
                &json!({ "ShardIterator": "garbage" })
            ),
            vec![]
        );
        assert_eq!(
            touched(Touches::StreamsOf, &json!({})),
            vec![(None, STREAM)]
        );
    }

    #[test]
    fn batch_requests_touch_every_named_table() {
        let body = json!({"RequestItems": {"A": {}, "B": {}}});
        assert_eq!(
            touched(Touches::RequestItems(WRITE), &body),
            vec![(Some("A".to_owned()), WRITE), (Some("B".to_owned()), WRITE)]
        );
    }
}
