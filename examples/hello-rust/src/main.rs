//! A Rust function on AWS's own runtime client (`lambda_runtime`): it talks
//! to whatever `AWS_LAMBDA_RUNTIME_API` names, Lambda's or `strata dev`'s,
//! and answers with the event and the context it was given.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("fail").and_then(Value::as_bool) == Some(true) {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "message": "hello from rust",
        "event": payload,
        "request_id": context.request_id,
        "function_arn": context.invoked_function_arn,
        "deadline_ms": context.deadline,
        "function_name": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
