//! Least-privilege IAM: what each access level of `uses` allows on AWS.
//!
//! A function's role holds exactly `Function::permissions()`: for every
//! stateful resource, the actions of its level on that resource's ARN only
//! (and what lives under it: a table's indexes, a bucket's objects), plus
//! reading the stream of each table in `Function::streams()` (its table
//! events) on that stream's ARN, plus writing to its own log group. Nothing
//! else, no wildcards on resources beyond those sub-paths. The same grants
//! are the local endpoint's policy.

use serde_json::{Value, json};
use strata_model::{Access, Address, ResourceSpec, Service};

use super::SynthError;
use super::names::{Attr, input_id, resource_id};
use super::template::{get_att, sub};

/// Hands out references to stateful outputs; the stateless template declares
/// a parameter for each one actually used (an unused parameter is noise, and
/// cfn-lint warns about it).
pub trait Inputs {
    fn input(&mut self, address: &Address, attr: Attr) -> Result<Value, SynthError>;
}

/// DynamoDB item reads. `ConditionCheckItem` is what a read-only condition
/// inside `TransactWriteItems` needs; `DescribeTable` lets SDK helpers and
/// ORMs find the key schema.
const TABLE_READ: &[&str] = &[
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
];
const TABLE_WRITE: &[&str] = &[
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
];
const OBJECT_READ: &[&str] = &["s3:GetObject"];
/// Reading an older version of an object, only on versioned buckets.
const OBJECT_READ_VERSIONED: &[&str] = &["s3:GetObjectVersion"];
/// `AbortMultipartUpload` lets the SDKs clean up a failed large upload.
const OBJECT_WRITE: &[&str] = &["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"];
const BUCKET_READ: &[&str] = &["s3:ListBucket"];
const QUEUE_SEND: &[&str] = &["sqs:GetQueueAttributes", "sqs:SendMessage"];
/// What a consumer needs, including the event source mapping that polls for
/// the function with the function's own role.
const QUEUE_CONSUME: &[&str] = &[
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];
const PARAMETER_READ: &[&str] = &["ssm:GetParameter", "ssm:GetParameters"];
/// What Lambda's DynamoDB event source mapping needs from the function's
/// role to read a table's stream (the Lambda developer guide lists these
/// four; the DynamoDB guide scopes them to the stream's ARN).
const STREAM_READ: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

fn has(access: Access, level: Access) -> bool {
    access.covers(level)
}

/// Sorted, without duplicates, as a JSON array.
fn actions(groups: &[&[&str]]) -> Value {
    let mut all: Vec<&str> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    json!(all)
}

fn statement(sid: String, actions: Value, resources: Vec<Value>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The statements granting `access` on the resource at `address`.
pub fn grant(
    service: &Service,
    address: &Address,
    access: Access,
    inputs: &mut dyn Inputs,
) -> Result<Vec<Value>, SynthError> {
    let Some(resource) = service.resource(&address.name) else {
        // Validation resolved every `uses` and event; a missing resource
        // cannot reach synthesis, and granting nothing is the safe answer.
        return Ok(Vec::new());
    };
    let id = resource_id(address);
    let arn = inputs.input(address, Attr::Arn)?;
    let arn_param = input_id(address, Attr::Arn);
    let mut out = Vec::new();
    match &resource.spec {
        ResourceSpec::Table(_) => {
            let mut groups: Vec<&[&str]> = Vec::new();
            let mut resources = vec![arn];
            if has(access, Access::Read) {
                groups.push(TABLE_READ);
                // Queries and scans on global secondary indexes.
                resources.push(sub(format!("${{{arn_param}}}/index/*")));
            }
            if has(access, Access::Write) {
                groups.push(TABLE_WRITE);
            }
            out.push(statement(id, actions(&groups), resources));
        }
        ResourceSpec::Bucket(bucket) => {
            let mut groups: Vec<&[&str]> = Vec::new();
            if has(access, Access::Read) {
                groups.push(OBJECT_READ);
                if bucket.versioning {
                    groups.push(OBJECT_READ_VERSIONED);
                }
            }
            if has(access, Access::Write) {
                groups.push(OBJECT_WRITE);
            }
            out.push(statement(
                format!("{id}Objects"),
                actions(&groups),
                vec![sub(format!("${{{arn_param}}}/*"))],
            ));
            if has(access, Access::Read) {
                out.push(statement(
                    format!("{id}List"),
                    actions(&[BUCKET_READ]),
                    vec![arn],
                ));
            }
        }
        ResourceSpec::Queue(_) => {
            let mut groups: Vec<&[&str]> = Vec::new();
            if has(access, Access::Send) {
                groups.push(QUEUE_SEND);
            }
            if has(access, Access::Consume) {
                groups.push(QUEUE_CONSUME);
            }
            out.push(statement(id, actions(&groups), vec![arn]));
        }
        ResourceSpec::Parameter(parameter) => {
            out.push(statement(id.clone(), actions(&[PARAMETER_READ]), vec![arn]));
            if parameter.secure {
                // SecureString values are encrypted with the AWS managed key
                // `alias/aws/ssm`. Decrypt is authorised on the key, not the
                // alias, so the statement names any key of the account and
                // narrows it to that alias and to calls made through SSM.
                out.push(json!({
                    "Sid": format!("{id}Decrypt"),
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
                    "Condition": {
                        "StringEquals": { "kms:ViaService": sub("ssm.${AWS::Region}.amazonaws.com") },
                        "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
                    },
                }));
            }
        }
    }
    Ok(out)
}

/// The statement letting a table event's mapping read the stream of the
/// table at `address`, on the stream's ARN only: nothing on the table or its
/// items.
pub fn stream(address: &Address, inputs: &mut dyn Inputs) -> Result<Value, SynthError> {
    let arn = inputs.input(address, Attr::StreamArn)?;
    Ok(statement(
        format!("{}Stream", resource_id(address)),
        actions(&[STREAM_READ]),
        vec![arn],
    ))
}

/// Writing to the function's own log group: what AWSLambdaBasicExecutionRole
/// grants, narrowed from every log group to this one. `CreateLogGroup` is not
/// needed because the stack creates the group.
pub fn logs(log_group_id: &str) -> Value {
    json!({
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        // The log group's `Arn` attribute ends in `:*`, which covers its streams.
        "Resource": [get_att(log_group_id, "Arn")],
    })
}
