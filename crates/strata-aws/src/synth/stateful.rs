//! The stateful template: tables, buckets, queues and parameters, each kept
//! on delete and on replacement (`Retain`), each output published as an SSM
//! parameter for the stateless stack, and the stack policy that refuses
//! replacing or deleting any of them.
//!
//! Parameters without a value in the manifest (every `secure: true` one, and
//! plain ones left empty) are not in the template at all: CloudFormation
//! cannot create a SecureString, and a value the user sets with
//! `strata param set` must not be overwritten by the next deploy. Their names
//! and ARNs are still published, so the stateless side reads every parameter
//! the same way.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_model::{
    Address, AttributeType, KeyAttribute, ResourceSpec, Service, StackKind, StreamView,
};

use super::SynthError;
use super::names::{Attr, Names, output_id, resource_id};
use super::template::{Template, get_att, reference, sub};

/// The stateful template and the stack policy that goes with it.
#[derive(Debug)]
pub struct Stateful {
    pub template: Template,
    pub stack_policy: Value,
}

/// The outputs a resource publishes, with how each is read in the template.
fn outputs(spec: &ResourceSpec) -> Vec<Attr> {
    match spec {
        ResourceSpec::Table(t) if t.stream.is_some() => {
            vec![Attr::Name, Attr::Arn, Attr::StreamArn]
        }
        ResourceSpec::Table(_) | ResourceSpec::Bucket(_) | ResourceSpec::Parameter(_) => {
            vec![Attr::Name, Attr::Arn]
        }
        ResourceSpec::Queue(_) => vec![Attr::Name, Attr::Arn, Attr::Url],
    }
}

fn attribute_type(kind: AttributeType) -> &'static str {
    match kind {
        AttributeType::S => "S",
        AttributeType::N => "N",
        AttributeType::B => "B",
    }
}

fn key_schema(partition: &KeyAttribute, sort: Option<&KeyAttribute>) -> Value {
    let mut keys = vec![json!({ "AttributeName": partition.name, "KeyType": "HASH" })];
    if let Some(sort) = sort {
        keys.push(json!({ "AttributeName": sort.name, "KeyType": "RANGE" }));
    }
    json!(keys)
}

fn stream_view(view: StreamView) -> &'static str {
    match view {
        StreamView::KeysOnly => "KEYS_ONLY",
        StreamView::NewImage => "NEW_IMAGE",
        StreamView::OldImage => "OLD_IMAGE",
        StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
    }
}

/// Policies every data resource carries: deleting the stack or replacing the
/// resource leaves the real table, bucket, queue or parameter and its data.
fn retained(mut body: Value, address: &Address) -> Value {
    body["DeletionPolicy"] = json!("Retain");
    body["UpdateReplacePolicy"] = json!("Retain");
    // Lets the deploy map a logical id in a change set back to its address.
    body["Metadata"] = json!({ "strata:address": address.to_string() });
    body
}

pub fn build(service: &Service, names: Names<'_>) -> Result<Stateful, SynthError> {
    let stack = names.stack(StackKind::Stateful);
    let mut t = Template::new(
        stack.clone(),
        format!(
            "{} {}: stateful stack (tables, buckets, queues, parameters), written by strata synth",
            names.service, names.stage
        ),
        json!({ "strata:service": names.service, "strata:stage": names.stage, "strata:stack": "stateful" }),
    );
    let mut protected: Vec<String> = Vec::new();
    // Lower-cased bucket names, to report two buckets that only differ in case.
    let mut buckets: BTreeMap<String, Address> = BTreeMap::new();

    for resource in &service.stateful.resources {
        let address = resource.address();
        let id = resource_id(&address);
        // How each output reads in this template; `None` for out-of-band parameters.
        let mut values: BTreeMap<Attr, Value> = BTreeMap::new();
        let body = match &resource.spec {
            ResourceSpec::Table(table) => {
                // Every key attribute of the table and its indexes, once, by name.
                let mut attributes: BTreeMap<&str, AttributeType> = BTreeMap::new();
                let keys = std::iter::once(&table.partition_key)
                    .chain(table.sort_key.as_ref())
                    .chain(table.indexes.iter().flat_map(|i| {
                        std::iter::once(&i.partition_key).chain(i.sort_key.as_ref())
                    }));
                for key in keys {
                    attributes.insert(&key.name, key.kind);
                }
                let definitions: Vec<Value> = attributes
                    .iter()
                    .map(|(name, kind)| json!({ "AttributeName": name, "AttributeType": attribute_type(*kind) }))
                    .collect();
                let mut props = json!({
                    "TableName": names.table(resource.name.as_str()),
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": definitions,
                    "KeySchema": key_schema(&table.partition_key, table.sort_key.as_ref()),
                });
                if !table.indexes.is_empty() {
                    let indexes: Vec<Value> = table
                        .indexes
                        .iter()
                        .map(|i| {
                            json!({
                                "IndexName": i.name,
                                "KeySchema": key_schema(&i.partition_key, i.sort_key.as_ref()),
                                "Projection": { "ProjectionType": "ALL" },
                            })
                        })
                        .collect();
                    props["GlobalSecondaryIndexes"] = json!(indexes);
                }
                if let Some(view) = table.stream {
                    props["StreamSpecification"] = json!({ "StreamViewType": stream_view(view) });
                    values.insert(Attr::StreamArn, get_att(&id, "StreamArn"));
                }
                if let Some(ttl) = &table.ttl {
                    props["TimeToLiveSpecification"] =
                        json!({ "AttributeName": ttl, "Enabled": true });
                }
                values.insert(Attr::Name, reference(&id));
                values.insert(Attr::Arn, get_att(&id, "Arn"));
                Some(json!({ "Type": "AWS::DynamoDB::Table", "Properties": props }))
            }
            ResourceSpec::Bucket(bucket) => {
                let name = names.bucket(resource.name.as_str());
                if let Some(other) = buckets.insert(name.clone(), address.clone()) {
                    return Err(SynthError::NameClash {
                        first: other,
                        second: address,
                        name,
                    });
                }
                let mut props = json!({
                    "BucketName": sub(name),
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                        ]
                    },
                    // Object events go to EventBridge, where the stateless stack's
                    // rules pick them up: the bucket never names a function.
                    "NotificationConfiguration": { "EventBridgeConfiguration": { "EventBridgeEnabled": true } },
                });
                if bucket.versioning {
                    props["VersioningConfiguration"] = json!({ "Status": "Enabled" });
                }
                values.insert(Attr::Name, reference(&id));
                values.insert(Attr::Arn, get_att(&id, "Arn"));
                Some(json!({ "Type": "AWS::S3::Bucket", "Properties": props }))
            }
            ResourceSpec::Queue(queue) => {
                let mut props = json!({
                    "QueueName": names.queue(&address, queue.fifo)?,
                    "VisibilityTimeout": queue.visibility_timeout,
                    "MessageRetentionPeriod": queue.retention,
                    "DelaySeconds": queue.delay,
                });
                if queue.fifo {
                    props["FifoQueue"] = json!(true);
                }
                if let Some(dlq) = &queue.dead_letter {
                    let dlq_id = resource_id(&Address::new(
                        strata_model::ResourceKind::Queue,
                        dlq.queue.as_str(),
                    ));
                    props["RedrivePolicy"] = json!({
                        "deadLetterTargetArn": get_att(&dlq_id, "Arn"),
                        "maxReceiveCount": dlq.max_receives,
                    });
                }
                values.insert(Attr::Name, get_att(&id, "QueueName"));
                values.insert(Attr::Arn, get_att(&id, "Arn"));
                values.insert(Attr::Url, reference(&id));
                Some(json!({ "Type": "AWS::SQS::Queue", "Properties": props }))
            }
            ResourceSpec::Parameter(parameter) => {
                let name = names.parameter(resource.name.as_str());
                values.insert(
                    Attr::Arn,
                    sub(format!(
                        "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"
                    )),
                );
                match (&parameter.value, parameter.secure) {
                    (Some(value), false) => {
                        values.insert(Attr::Name, reference(&id));
                        Some(json!({
                            "Type": "AWS::SSM::Parameter",
                            "Properties": { "Name": name, "Type": "String", "Value": value },
                        }))
                    }
                    // Set out of band (see the module docs).
                    _ => {
                        values.insert(Attr::Name, json!(name));
                        None
                    }
                }
            }
        };
        if let Some(body) = body {
            t.add_resource(id.clone(), retained(body, &address))?;
            protected.push(format!("LogicalResourceId/{id}"));
        }
        for attr in outputs(&resource.spec) {
            let value = values
                .remove(&attr)
                .expect("every published attribute has a value above");
            t.add_resource(
                output_id(&address, attr),
                json!({
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": names.output_parameter(&address, attr),
                        "Type": "String",
                        "Value": value,
                        "Description": format!("{} of {address}, published by strata for the stateless stack", attr.path()),
                    },
                }),
            )?;
        }
    }

    let mut statements = vec![json!({
        "Effect": "Allow",
        "Principal": "*",
        "Action": "Update:*",
        "Resource": "*",
    })];
    if !protected.is_empty() {
        protected.sort();
        statements.push(json!({
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["Update:Replace", "Update:Delete"],
            "Resource": protected,
        }));
    }
    Ok(Stateful {
        template: t,
        stack_policy: json!({ "Statement": statements }),
    })
}
