//! The local provider against real stores on a temporary data directory:
//! each kind is created, adopted on a second create, read back in the form
//! the engine compares, changed in place, counted and deleted, and its
//! outputs appear under `/strata/...`.

use serde_json::json;
use strata_engine::plan;
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

fn service(stateful: &str) -> Service {
    let text = format!("service: shop\nstateful:\n{stateful}");
    strata_model::check_str(&text, &AnyCode)
        .unwrap_or_else(|e| panic!("manifest: {e:?}"))
        .service
}

fn resource<'s>(service: &'s Service, name: &str) -> &'s Resource {
    service.resource(name).expect("declared")
}

struct Fixture {
    provider: LocalProvider,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = DataDir::open(tmp.path()).expect("data dir");
    Fixture {
        provider: LocalProvider::open(data, "shop", "dev", Durability::Process).expect("open"),
        _tmp: tmp,
    }
}

fn output(p: &LocalProvider, name: &str) -> Option<String> {
    p.ssm.parameter(name).expect("ssm").and_then(|i| i.value)
}

#[test]
fn physical_names_follow_the_aws_scheme_without_the_account() {
    let names = LocalNames {
        service: "orders".into(),
        stage: "dev".into(),
    };
    assert_eq!(names.table("Orders"), "orders-dev-Orders");
    assert_eq!(names.queue("Jobs", true), "orders-dev-Jobs.fifo");
    assert_eq!(names.bucket("Receipts"), "orders-dev-receipts");
    assert_eq!(names.parameter("PaymentKey"), "/orders/dev/PaymentKey");
    let long = LocalNames {
        service: "a-very-long-service-name-of-forty-chars".into(),
        stage: "production".into(),
    };
    let bucket = long.bucket("UploadsOfTheCustomers");
    assert_eq!(bucket.len(), BUCKET_NAME_MAX);
    assert_ne!(bucket, long.bucket("UploadsOfTheCustomers2"));
    assert_eq!(names.queue_logical("orders-dev-Jobs.fifo"), "Jobs");
}

#[test]
fn a_table_is_created_adopted_and_grows_an_index_in_place_keeping_its_items() {
    let f = fixture();
    let p = &f.provider;
    let before = service("  tables:\n    Orders: { partition_key: pk:S, sort_key: sk:S }\n");
    let orders = resource(&before, "Orders");
    let physical = p.physical_id(orders);
    let live = p.create(orders, &physical).expect("create");
    assert_eq!(live.properties, plan::properties(orders));
    assert_eq!(live.outputs["name"], "shop-dev-Orders");
    assert_eq!(
        output(p, "/strata/shop/dev/Orders/arn").as_deref(),
        Some(live.outputs["arn"].as_str())
    );
    for i in 0..3 {
        let item = json!({"TableName": physical, "Item": {
            "pk": {"S": format!("o{i}")}, "sk": {"S": "a"}, "customerId": {"S": "c1"}}});
        p.dynamodb
            .execute("PutItem", &item.to_string())
            .expect("put");
    }
    // A second create adopts the table and its data.
    p.create(orders, &physical).expect("adopt");
    let risk = p.data_at_risk(&orders.address(), &physical).expect("risk");
    assert_eq!(risk.items, Some(3));

    let after = service(concat!(
        "  tables:\n    Orders:\n      partition_key: pk:S\n      sort_key: sk:S\n",
        "      indexes: { ByCustomer: { partition_key: customerId:S } }\n",
        "      stream: new_image\n      ttl: expiresAt\n",
    ));
    let orders = resource(&after, "Orders");
    let live = p
        .update(
            orders,
            &physical,
            &plan::properties(resource(&before, "Orders")),
        )
        .expect("update");
    assert_eq!(live.properties, plan::properties(orders));
    let read = p
        .read(&orders.address(), &physical)
        .expect("read")
        .expect("exists");
    assert_eq!(read, live);
    assert!(output(p, "/strata/shop/dev/Orders/stream_arn").is_some());
    let query = json!({"TableName": physical, "IndexName": "ByCustomer",
        "KeyConditionExpression": "customerId = :c",
        "ExpressionAttributeValues": {":c": {"S": "c1"}}});
    let answer: Value = serde_json::from_str(
        &p.dynamodb
            .execute("Query", &query.to_string())
            .expect("query"),
    )
    .expect("json");
    assert_eq!(answer["Count"], 3);

    // Turning the stream off removes its published ARN.
    p.update(resource(&before, "Orders"), &physical, &Value::Null)
        .expect("back");
    assert_eq!(output(p, "/strata/shop/dev/Orders/stream_arn"), None);

    p.delete(&orders.address(), &physical).expect("delete");
    p.delete(&orders.address(), &physical)
        .expect("delete again");
    assert_eq!(p.read(&orders.address(), &physical).expect("read"), None);
    assert_eq!(output(p, "/strata/shop/dev/Orders/name"), None);
}

#[test]
fn queues_are_created_with_their_dead_letter_queue_and_read_back_as_the_manifest_says() {
    let f = fixture();
    let p = &f.provider;
    let s = service(concat!(
        "  queues:\n",
        "    Jobs: { visibility_timeout: 45, delay: 2, dead_letter: { queue: JobsDlq, max_receives: 4 } }\n",
        "    JobsDlq: {}\n",
    ));
    for name in ["JobsDlq", "Jobs"] {
        let r = resource(&s, name);
        let live = p.create(r, &p.physical_id(r)).expect("create");
        assert_eq!(live.properties, plan::properties(r), "{name}");
    }
    let jobs = resource(&s, "Jobs");
    let read = p
        .read(&jobs.address(), "shop-dev-Jobs")
        .expect("read")
        .expect("exists");
    assert_eq!(read.properties, plan::properties(jobs));
    assert_eq!(
        read.outputs["url"],
        "http://127.0.0.1:4566/000000000000/shop-dev-Jobs"
    );
    let risk = p
        .data_at_risk(&jobs.address(), "shop-dev-Jobs")
        .expect("risk");
    assert_eq!(risk.messages, Some(0));
    assert_eq!(risk.to_string(), "0 messages");
}

#[test]
fn a_secure_parameter_exists_without_a_value_and_deploys_never_overwrite_it() {
    let f = fixture();
    let p = &f.provider;
    let s = service(concat!(
        "  parameters:\n",
        "    Email: { value: a@example.com }\n",
        "    Key: { secure: true }\n",
    ));
    let (email, key) = (resource(&s, "Email"), resource(&s, "Key"));
    p.create(email, "/shop/dev/Email").expect("email");
    assert_eq!(
        p.ssm
            .parameter("/shop/dev/Email")
            .expect("ssm")
            .and_then(|i| i.value),
        Some("a@example.com".to_owned())
    );
    assert_eq!(p.read(&key.address(), "/shop/dev/Key").expect("read"), None);
    let live = p.create(key, "/shop/dev/Key").expect("key");
    assert_eq!(live.properties, plan::properties(key));
    assert_eq!(p.ssm.parameter("/shop/dev/Key").expect("ssm"), None);
    let read = p
        .read(&key.address(), "/shop/dev/Key")
        .expect("read")
        .expect("exists once published");
    assert_eq!(read.properties, plan::properties(key));

    p.set_parameter(key, "/shop/dev/Key", "s3cr3t-value")
        .expect("set");
    p.update(key, "/shop/dev/Key", &Value::Null)
        .expect("deploy");
    let stored = p.ssm.parameter("/shop/dev/Key").expect("ssm").expect("set");
    assert!(stored.secure);
    assert_eq!(stored.version, 1, "a deploy wrote over the secret");
    assert_eq!(
        p.read(&key.address(), "/shop/dev/Key")
            .expect("read")
            .expect("exists")
            .properties,
        plan::properties(key)
    );
}

#[test]
fn buckets_live_in_the_registry_with_their_versioning() {
    let f = fixture();
    let p = &f.provider;
    let s = service("  buckets:\n    Receipts: { versioning: true }\n");
    let receipts = resource(&s, "Receipts");
    let physical = p.physical_id(receipts);
    assert_eq!(physical, "shop-dev-receipts");
    let live = p.create(receipts, &physical).expect("create");
    assert_eq!(live.properties, plan::properties(receipts));
    assert_eq!(live.outputs["arn"], "arn:aws:s3:::shop-dev-receipts");
    assert_eq!(
        p.data_at_risk(&receipts.address(), &physical)
            .expect("risk")
            .objects,
        Some(0)
    );
    p.delete(&receipts.address(), &physical).expect("delete");
    assert_eq!(p.read(&receipts.address(), &physical).expect("read"), None);
}
