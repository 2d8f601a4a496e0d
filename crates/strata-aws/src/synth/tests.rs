//! What the templates promise, checked on small manifests: the split between
//! the stacks, least privilege, retention, and the refusals.

use serde_json::Value;
use strata_model::{CodeTree, Service};

use super::*;

struct AnyCode;

impl CodeTree for AnyCode {
    fn is_dir(&self, _: &str) -> bool {
        true
    }
    fn is_file(&self, _: &str) -> bool {
        true
    }
}

fn service(yaml: &str) -> Service {
    match strata_model::check_str(yaml, &AnyCode) {
        Ok(c) => c.service,
        Err(d) => panic!("invalid test manifest: {d:?}"),
    }
}

const BASE: &str = r#"
service: shop
stages:
  prod: { target: aws, region: eu-west-1 }
stateful:
  tables:
    Orders: { partition_key: pk:S, indexes: { ByCustomer: { partition_key: customer:S } } }
    Audit: { partition_key: id:S }
  buckets:
    Receipts: { versioning: true }
  queues:
    Jobs: { visibility_timeout: 60, dead_letter: { queue: JobsDlq, max_receives: 4 } }
    JobsDlq: {}
  parameters:
    Email: { value: a@example.com }
    Secret: { secure: true }
stateless:
  defaults: { runtime: python3.12, code: src }
  functions:
    reader:
      handler: app.read
      uses: { Orders: read, Secret: read }
      events: [ { http: GET /orders } ]
    worker:
      handler: app.work
      events: [ { queue: Jobs, batch_size: 10 } ]
    upload:
      handler: app.upload
      events: [ { bucket: Receipts, prefix: in/, suffix: .pdf } ]
"#;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).expect("templates are JSON")
}

fn both(yaml: &str) -> (Value, Value, Value) {
    let t = templates(&service(yaml), "prod").expect("synthesizes");
    (
        parse(&t.stateful.rendered.body),
        parse(&t.stateless.rendered.body),
        parse(&t.stack_policy),
    )
}

/// Every (action, resource as JSON text) a function's role allows, logs aside.
fn grants(stateless: &Value, function: &str) -> Vec<(String, String)> {
    let statements = &stateless["Resources"][format!("{function}Role")]["Properties"]["Policies"]
        [0]["PolicyDocument"]["Statement"];
    let mut out = Vec::new();
    for s in statements.as_array().expect("statements") {
        if s["Sid"] == "Logs" {
            continue;
        }
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().expect("action").to_owned())
                .collect(),
            other => panic!("unexpected action {other}"),
        };
        let resources: Vec<String> = match &s["Resource"] {
            Value::Array(r) => r.iter().map(Value::to_string).collect(),
            other => vec![other.to_string()],
        };
        for a in &actions {
            for r in &resources {
                out.push((a.clone(), r.clone()));
            }
        }
    }
    out
}

#[test]
fn a_local_stage_is_refused() {
    let err = templates(&service(BASE), "dev").expect_err("dev is local");
    assert!(matches!(err, SynthError::NotAws { .. }));
    assert!(err.to_string().contains("whose target is aws"), "{err}");
    assert!(matches!(
        templates(&service(BASE), "nope"),
        Err(SynthError::UnknownStage { .. })
    ));
}

#[test]
fn every_data_resource_is_retained_and_protected_by_the_stack_policy() {
    let (stateful, _, policy) = both(BASE);
    let deny = &policy["Statement"][1];
    assert_eq!(deny["Effect"], "Deny");
    let protected: Vec<&str> = deny["Resource"]
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    let mut data = Vec::new();
    for (id, r) in stateful["Resources"].as_object().expect("resources") {
        if id.starts_with("Output") {
            continue;
        }
        assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
        data.push(format!("LogicalResourceId/{id}"));
    }
    assert_eq!(protected, data);
    assert_eq!(
        data,
        [
            "LogicalResourceId/BucketReceipts",
            "LogicalResourceId/ParameterEmail",
            "LogicalResourceId/QueueJobs",
            "LogicalResourceId/QueueJobsDlq",
            "LogicalResourceId/TableAudit",
            "LogicalResourceId/TableOrders",
        ]
    );
}

#[test]
fn a_secure_parameter_is_not_created_but_its_name_and_arn_are_published() {
    let (stateful, stateless, _) = both(BASE);
    let resources = &stateful["Resources"];
    assert!(resources.get("ParameterSecret").is_none());
    assert_eq!(
        resources["OutputParameterSecretName"]["Properties"]["Value"],
        "/shop/prod/Secret"
    );
    assert_eq!(
        resources["OutputParameterSecretName"]["Properties"]["Name"],
        "/strata/shop/prod/Secret/name"
    );
    // The reader may decrypt it through SSM, and only through SSM.
    let reader = grants(&stateless, "reader");
    assert!(reader.contains(&(
        "kms:Decrypt".into(),
        r#"{"Fn::Sub":"arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"}"#.into()
    )));
    let statements = stateless["Resources"]["readerRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .to_string();
    assert!(statements.contains("alias/aws/ssm"));
    assert!(statements.contains("kms:ViaService"));
}

#[test]
fn roles_grant_exactly_what_uses_and_queue_events_grant() {
    let (_, stateless, _) = both(BASE);
    let table = r#"{"Ref":"TableOrdersArn"}"#;
    let index = r#"{"Fn::Sub":"${TableOrdersArn}/index/*"}"#;
    let secret = r#"{"Ref":"ParameterSecretArn"}"#;
    let mut reader = grants(&stateless, "reader");
    reader.retain(|(a, _)| a != "kms:Decrypt");
    let mut want = Vec::new();
    for a in [
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    ] {
        want.push((a.to_owned(), table.to_owned()));
        want.push((a.to_owned(), index.to_owned()));
    }
    for a in ["ssm:GetParameter", "ssm:GetParameters"] {
        want.push((a.to_owned(), secret.to_owned()));
    }
    reader.sort();
    want.sort();
    assert_eq!(reader, want, "read only, on Orders and Secret only");

    let queue = r#"{"Ref":"QueueJobsArn"}"#.to_owned();
    let mut worker = grants(&stateless, "worker");
    worker.sort();
    let consume: Vec<(String, String)> = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    .iter()
    .map(|a| ((*a).to_owned(), queue.clone()))
    .collect();
    assert_eq!(
        worker, consume,
        "a queue event grants consume and nothing more"
    );

    assert_eq!(
        grants(&stateless, "upload"),
        [],
        "bucket events grant nothing"
    );
}

#[test]
fn the_stateless_stack_reads_stateful_values_only_through_ssm_parameters() {
    let (stateful, stateless, _) = both(BASE);
    for text in [stateful.to_string(), stateless.to_string()] {
        assert!(!text.contains("Fn::ImportValue"));
        assert!(!text.contains("\"Export\""));
    }
    let published: Vec<String> = stateful["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::SSM::Parameter")
        .map(|r| r["Properties"]["Name"].as_str().expect("name").to_owned())
        .collect();
    for (id, p) in stateless["Parameters"].as_object().expect("parameters") {
        if id == CODE_BUCKET_PARAMETER || id.ends_with("CodeKey") {
            assert_eq!(p["Type"], "String");
            continue;
        }
        assert_eq!(p["Type"], "AWS::SSM::Parameter::Value<String>", "{id}");
        let default = p["Default"].as_str().expect("default");
        assert!(
            published.iter().any(|n| n == default),
            "{id}: {default} is published"
        );
    }
    // And no stateless resource names a stateful logical id directly.
    for r in stateful["Resources"].as_object().expect("resources").keys() {
        assert!(
            !stateless["Resources"]
                .as_object()
                .expect("resources")
                .contains_key(r)
        );
    }
}

#[test]
fn bucket_events_are_eventbridge_rules_and_the_bucket_names_no_function() {
    let (stateful, stateless, _) = both(BASE);
    let bucket = stateful["Resources"]["BucketReceipts"].to_string();
    assert!(!bucket.contains("upload"));
    assert_eq!(
        stateful["Resources"]["BucketReceipts"]["Properties"]["NotificationConfiguration"],
        serde_json::json!({ "EventBridgeConfiguration": { "EventBridgeEnabled": true } })
    );
    let pattern = &stateless["Resources"]["uploadEvent0Rule"]["Properties"]["EventPattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.s3"]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["Object Created"])
    );
    assert_eq!(
        pattern["detail"]["object"]["key"],
        serde_json::json!([{ "wildcard": "in/*.pdf" }])
    );
    assert_eq!(
        pattern["detail"]["bucket"]["name"],
        serde_json::json!([{ "Ref": "BucketReceiptsName" }])
    );
}

#[test]
fn buckets_whose_names_differ_only_in_case_are_refused() {
    let yaml = "service: s\nstages: { prod: { target: aws } }\nstateful:\n  buckets:\n    FilesA: {}\n    FILESA: {}\n";
    // `FILES_A_BUCKET` and `FILESA_BUCKET` differ; `...-filesa-...` does not.
    let err = templates(&service(yaml), "prod").expect_err("clash");
    assert!(matches!(err, SynthError::NameClash { .. }), "{err}");
}

#[test]
fn a_batch_window_reaches_the_event_source_mapping() {
    let yaml = r#"
service: s
stages: { prod: { target: aws } }
stateful:
  queues:
    Jobs: {}
stateless:
  defaults: { runtime: python3.12, code: src }
  functions:
    work:
      handler: app.work
      events: [ { queue: Jobs, batch_size: 100, batch_window: 2 } ]
"#;
    let t = templates(&service(yaml), "prod").expect("synthesizes");
    let stateless = parse(&t.stateless.rendered.body);
    let mapping = &stateless["Resources"]["workEvent0Mapping"]["Properties"];
    assert_eq!(mapping["MaximumBatchingWindowInSeconds"], 2);
    assert_eq!(
        mapping["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    assert_eq!(mapping["BatchSize"], 100);
}

#[test]
fn a_table_event_is_a_stream_mapping_whose_role_reads_only_that_stream() {
    let yaml = r#"
service: s
stages: { prod: { target: aws } }
stateful:
  tables:
    Orders: { partition_key: pk:S, stream: new_and_old_images }
stateless:
  defaults: { runtime: python3.12, code: src }
  functions:
    audit:
      handler: app.audit
      events: [ { table: Orders, batch_size: 500, batch_window: 3, start: trim_horizon } ]
    tail:
      handler: app.tail
      uses: { Orders: read }
      events: [ { table: Orders } ]
"#;
    let (stateful, stateless, _) = both(yaml);
    // The stateful stack publishes the stream ARN; the stateless stack reads
    // it through an SSM parameter and names no stateful logical id.
    assert_eq!(
        stateful["Resources"]["OutputTableOrdersStreamArn"]["Properties"]["Name"],
        "/strata/s/prod/Orders/stream_arn"
    );
    assert_eq!(
        stateless["Parameters"]["TableOrdersStreamArn"],
        serde_json::json!({
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": "/strata/s/prod/Orders/stream_arn",
            "Description": "stream_arn of table/Orders, published by the stateful stack",
        })
    );
    let table = stateful["Resources"]["TableOrders"].to_string();
    assert!(!table.contains("audit"));

    let mapping = &stateless["Resources"]["auditEvent0Mapping"];
    assert_eq!(mapping["Type"], "AWS::Lambda::EventSourceMapping");
    assert_eq!(
        mapping["Properties"],
        serde_json::json!({
            "EventSourceArn": { "Ref": "TableOrdersStreamArn" },
            "FunctionName": { "Ref": "auditFunction" },
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 3,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": true,
        })
    );
    let tail = &stateless["Resources"]["tailEvent0Mapping"]["Properties"];
    assert_eq!(tail["StartingPosition"], "LATEST");
    assert_eq!(tail["BatchSize"], 100);
    assert!(tail.get("MaximumBatchingWindowInSeconds").is_none());

    let stream = r#"{"Ref":"TableOrdersStreamArn"}"#;
    let stream_actions = [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ];
    let want: Vec<(String, String)> = stream_actions
        .iter()
        .map(|a| ((*a).to_owned(), stream.to_owned()))
        .collect();
    assert_eq!(
        grants(&stateless, "audit"),
        want,
        "a table event reads the stream and no item"
    );
    // With `uses`, the table's own read statement stays as it was.
    let tail = grants(&stateless, "tail");
    assert!(tail.contains(&(
        "dynamodb:GetItem".to_owned(),
        r#"{"Ref":"TableOrdersArn"}"#.to_owned()
    )));
    assert!(want.iter().all(|g| tail.contains(g)));
    assert!(
        !tail
            .iter()
            .any(|(a, r)| a == "dynamodb:GetItem" && r == stream)
    );
}
