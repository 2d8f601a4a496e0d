//! The table lifecycle the local provider drives: create, describe, update
//! and delete a table from a manifest [`Table`], and count what a table holds
//! (plans say how much data a replacement or deletion would destroy).
//!
//! Every call goes through the same engine operations the endpoint serves
//! (`DynamoDb::execute`), so a table made here is exactly what a client
//! creating it over the wire would get, and the engine's validation applies.
//! Tables are on-demand (`PAY_PER_REQUEST`) and every index projects `ALL`,
//! as the aws target synthesizes them.

use serde_json::{Value, json};
use strata_model::{AttributeType, Index, KeyAttribute, StreamView, Table};

use super::DynamoDb;

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("table {name} already exists")]
    Exists { name: String },
    #[error("table {name} does not exist")]
    NotFound { name: String },
    /// Key schema changes need a new table: the plan treats them as a
    /// replacement, never as an update.
    #[error("table {name}: the {key} cannot change in place")]
    KeyChange { name: String, key: &'static str },
    #[error("{operation} on table {name} failed: {message}")]
    Engine {
        operation: &'static str,
        name: String,
        message: String,
    },
}

/// A table as it exists in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    /// The table's definition, read back from the engine.
    pub spec: Table,
    pub arn: String,
    /// The current stream's ARN, when the table has a stream.
    pub stream_arn: Option<String>,
}

/// How much a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    pub items: u64,
    /// Sum of the items' DynamoDB sizes (names and values), in bytes.
    pub bytes: u64,
}

impl DynamoDb {
    /// Create `name` from `spec`, with its indexes, stream and TTL.
    pub fn create_table(&self, name: &str, spec: &Table) -> Result<TableState, TableError> {
        let mut keys = vec![&spec.partition_key];
        keys.extend(&spec.sort_key);
        for index in &spec.indexes {
            keys.push(&index.partition_key);
            keys.extend(&index.sort_key);
        }
        let mut definitions: Vec<Value> = Vec::new();
        for key in keys {
            let definition = attribute_definition(key);
            if !definitions.contains(&definition) {
                definitions.push(definition);
            }
        }
        let mut body = json!({
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": key_schema(&spec.partition_key, spec.sort_key.as_ref()),
            "AttributeDefinitions": definitions,
        });
        if !spec.indexes.is_empty() {
            body["GlobalSecondaryIndexes"] = spec.indexes.iter().map(index_definition).collect();
        }
        if let Some(view) = spec.stream {
            body["StreamSpecification"] =
                json!({"StreamEnabled": true, "StreamViewType": view_type(view)});
        }
        self.call("CreateTable", name, &body)?;
        if let Some(attribute) = &spec.ttl {
            self.set_ttl(name, attribute, true)?;
        }
        self.require(name)
    }

    /// The table as it is now, or `None` when there is no such table.
    pub fn describe_table(&self, name: &str) -> Result<Option<TableState>, TableError> {
        let described = match self.call("DescribeTable", name, &json!({"TableName": name})) {
            Ok(value) => value,
            Err(TableError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let table = &described["Table"];
        let ttl = self.call("DescribeTimeToLive", name, &json!({"TableName": name}))?;
        let ttl = &ttl["TimeToLiveDescription"];
        let ttl = match ttl["TimeToLiveStatus"].as_str() {
            Some("ENABLED" | "ENABLING") => ttl["AttributeName"].as_str().map(str::to_owned),
            _ => None,
        };
        let bad = |what: &str| TableError::Engine {
            operation: "DescribeTable",
            name: name.to_owned(),
            message: format!("unexpected description: {what}"),
        };
        let types = &table["AttributeDefinitions"];
        let (partition_key, sort_key) =
            read_key_schema(&table["KeySchema"], types).ok_or_else(|| bad("key schema"))?;
        let mut indexes = Vec::new();
        for index in table["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (partition_key, sort_key) = read_key_schema(&index["KeySchema"], types)
                .ok_or_else(|| bad("index key schema"))?;
            indexes.push(Index {
                name: index["IndexName"]
                    .as_str()
                    .ok_or_else(|| bad("index name"))?
                    .to_owned(),
                partition_key,
                sort_key,
            });
        }
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        if self.half_created(name, &indexes) {
            self.delete_table(name)?;
            return Ok(None);
        }
        let stream_spec = &table["StreamSpecification"];
        let stream = match stream_spec["StreamEnabled"].as_bool() {
            Some(true) => Some(
                stream_spec["StreamViewType"]
                    .as_str()
                    .and_then(parse_view_type)
                    .ok_or_else(|| bad("stream view type"))?,
            ),
            _ => None,
        };
        Ok(Some(TableState {
            spec: Table {
                partition_key,
                sort_key,
                indexes,
                stream,
                ttl,
            },
            arn: table["TableArn"].as_str().unwrap_or_default().to_owned(),
            stream_arn: stream
                .and(table["LatestStreamArn"].as_str())
                .map(str::to_owned),
        }))
    }

    /// Bring `name` to `spec` in place: drop indexes that went or changed,
    /// add new ones (backfilled by the engine), and switch the stream and TTL.
    /// A change of the table's own keys is [`TableError::KeyChange`]: that
    /// needs a new table, which is the plan's decision, not this call's.
    pub fn update_table(&self, name: &str, spec: &Table) -> Result<TableState, TableError> {
        let current = self.require(name)?.spec;
        if current.partition_key != spec.partition_key {
            return Err(TableError::KeyChange {
                name: name.to_owned(),
                key: "partition key",
            });
        }
        if current.sort_key != spec.sort_key {
            return Err(TableError::KeyChange {
                name: name.to_owned(),
                key: "sort key",
            });
        }
        // DynamoDB takes one index creation or deletion per UpdateTable.
        for index in &current.indexes {
            if !spec.indexes.contains(index) {
                let update = json!({"TableName": name, "GlobalSecondaryIndexUpdates": [
                    {"Delete": {"IndexName": index.name}}
                ]});
                self.call("UpdateTable", name, &update)?;
            }
        }
        for index in &spec.indexes {
            if !current.indexes.contains(index) {
                let mut definitions = vec![attribute_definition(&index.partition_key)];
                definitions.extend(index.sort_key.as_ref().map(attribute_definition));
                let update = json!({
                    "TableName": name,
                    "AttributeDefinitions": definitions,
                    "GlobalSecondaryIndexUpdates": [{"Create": index_definition(index)}],
                });
                self.call("UpdateTable", name, &update)?;
            }
        }
        if current.stream != spec.stream {
            // A stream's view type cannot change while it is enabled: turn it
            // off, then on with the new view (a new stream ARN, as on AWS).
            if current.stream.is_some() {
                let off =
                    json!({"TableName": name, "StreamSpecification": {"StreamEnabled": false}});
                self.call("UpdateTable", name, &off)?;
            }
            if let Some(view) = spec.stream {
                let on = json!({"TableName": name, "StreamSpecification":
                    {"StreamEnabled": true, "StreamViewType": view_type(view)}});
                self.call("UpdateTable", name, &on)?;
            }
        }
        if current.ttl != spec.ttl {
            if let Some(old) = &current.ttl {
                self.set_ttl(name, old, false)?;
            }
            if let Some(new) = &spec.ttl {
                self.set_ttl(name, new, true)?;
            }
        }
        self.require(name)
    }

    /// Delete `name` and everything in it.
    pub fn delete_table(&self, name: &str) -> Result<(), TableError> {
        self.call("DeleteTable", name, &json!({"TableName": name}))
            .map(drop)
    }

    /// How many items `name` holds and their size: what deleting it destroys.
    pub fn table_size(&self, name: &str) -> Result<TableSize, TableError> {
        let stats = self.db.table_stats().map_err(|e| TableError::Engine {
            operation: "CountItems",
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        stats
            .into_iter()
            .find(|s| s.table_name == name)
            .map(|s| TableSize {
                items: u64::try_from(s.item_count).unwrap_or(0),
                bytes: s.size_bytes,
            })
            .ok_or_else(|| TableError::NotFound {
                name: name.to_owned(),
            })
    }

    /// dynoxide's CreateTable is not one transaction: it records the table,
    /// then creates its data and index tables, each committed on its own. A
    /// process killed in between (a deploy killed mid-create) leaves a table
    /// that DescribeTable shows but every read of which fails with "no such
    /// table", and which breaks the item counts of every table. Such a table
    /// holds nothing, so [`Self::describe_table`] deletes what there is of it
    /// and reports it absent: the next deploy creates it whole.
    fn half_created(&self, name: &str, indexes: &[Index]) -> bool {
        let mut probes = std::iter::once(None).chain(indexes.iter().map(|i| Some(&i.name)));
        probes.any(|index| {
            let mut body = json!({"TableName": name, "Limit": 1, "Select": "COUNT"});
            if let Some(index) = index {
                body["IndexName"] = json!(index);
            }
            matches!(self.execute("Scan", &body.to_string()),
                Err(e) if e.to_string().contains("no such table"))
        })
    }

    fn require(&self, name: &str) -> Result<TableState, TableError> {
        self.describe_table(name)?
            .ok_or_else(|| TableError::NotFound {
                name: name.to_owned(),
            })
    }

    fn set_ttl(&self, name: &str, attribute: &str, enabled: bool) -> Result<(), TableError> {
        let body = json!({"TableName": name, "TimeToLiveSpecification":
            {"Enabled": enabled, "AttributeName": attribute}});
        self.call("UpdateTimeToLive", name, &body).map(drop)
    }

    fn call(&self, operation: &'static str, name: &str, body: &Value) -> Result<Value, TableError> {
        match self.execute(operation, &body.to_string()) {
            Ok(out) => serde_json::from_str(&out).map_err(|e| TableError::Engine {
                operation,
                name: name.to_owned(),
                message: e.to_string(),
            }),
            Err(dynoxide::DynoxideError::ResourceNotFoundException(_)) => {
                Err(TableError::NotFound {
                    name: name.to_owned(),
                })
            }
            Err(dynoxide::DynoxideError::ResourceInUseException(_))
                if operation == "CreateTable" =>
            {
                Err(TableError::Exists {
                    name: name.to_owned(),
                })
            }
            Err(e) => Err(TableError::Engine {
                operation,
                name: name.to_owned(),
                message: e.to_string(),
            }),
        }
    }
}

fn type_letter(kind: AttributeType) -> &'static str {
    match kind {
        AttributeType::S => "S",
        AttributeType::N => "N",
        AttributeType::B => "B",
    }
}

fn attribute_definition(key: &KeyAttribute) -> Value {
    json!({"AttributeName": key.name, "AttributeType": type_letter(key.kind)})
}

fn key_schema(partition: &KeyAttribute, sort: Option<&KeyAttribute>) -> Value {
    let mut schema = vec![json!({"AttributeName": partition.name, "KeyType": "HASH"})];
    if let Some(sort) = sort {
        schema.push(json!({"AttributeName": sort.name, "KeyType": "RANGE"}));
    }
    Value::Array(schema)
}

fn index_definition(index: &Index) -> Value {
    json!({
        "IndexName": index.name,
        "KeySchema": key_schema(&index.partition_key, index.sort_key.as_ref()),
        "Projection": {"ProjectionType": "ALL"},
    })
}

fn view_type(view: StreamView) -> &'static str {
    match view {
        StreamView::KeysOnly => "KEYS_ONLY",
        StreamView::NewImage => "NEW_IMAGE",
        StreamView::OldImage => "OLD_IMAGE",
        StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
    }
}

fn parse_view_type(text: &str) -> Option<StreamView> {
    Some(match text {
        "KEYS_ONLY" => StreamView::KeysOnly,
        "NEW_IMAGE" => StreamView::NewImage,
        "OLD_IMAGE" => StreamView::OldImage,
        "NEW_AND_OLD_IMAGES" => StreamView::NewAndOldImages,
        _ => return None,
    })
}

/// The (partition, sort) keys of a `KeySchema`, typed from the table's
/// `AttributeDefinitions`.
fn read_key_schema(
    schema: &Value,
    definitions: &Value,
) -> Option<(KeyAttribute, Option<KeyAttribute>)> {
    let typed = |name: &str| -> Option<KeyAttribute> {
        let kind = definitions
            .as_array()?
            .iter()
            .find(|d| d["AttributeName"] == name)?["AttributeType"]
            .as_str()?;
        let kind = match kind {
            "S" => AttributeType::S,
            "N" => AttributeType::N,
            "B" => AttributeType::B,
            _ => return None,
        };
        Some(KeyAttribute {
            name: name.to_owned(),
            kind,
        })
    };
    let mut partition = None;
    let mut sort = None;
    for element in schema.as_array()? {
        let name = element["AttributeName"].as_str()?;
        match element["KeyType"].as_str()? {
            "HASH" => partition = Some(typed(name)?),
            "RANGE" => sort = Some(typed(name)?),
            _ => return None,
        }
    }
    Some((partition?, sort))
}

#[cfg(test)]
mod tests;
