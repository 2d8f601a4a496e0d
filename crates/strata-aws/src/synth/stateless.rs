//! The stateless template: per function a role, a log group and the Lambda
//! function, then its events (HTTP routes on one HTTP API, queue and table
//! stream event source mappings, schedule and bucket rules on EventBridge).
//!
//! Stateful values come in only through template parameters of type
//! `AWS::SSM::Parameter::Value<String>` whose defaults are the `/strata/...`
//! names the stateful stack publishes. No Export/ImportValue: an export
//! locks the stateful stack as long as anything imports it, which would make
//! the two lifecycles one again.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_model::{
    Address, BucketEventKind, Event, Function, PayloadVersion, ResourceKind, Service, StackKind,
    StreamStart,
};

use super::SynthError;
use super::iam::{self, Inputs};
use super::names::{Attr, Names, input_id};
use super::template::{Template, get_att, reference, sub};

/// Days CloudWatch keeps a function's logs; the manifest has no setting yet.
pub const LOG_RETENTION_DAYS: u32 = 30;

/// The template parameter holding the artifact bucket the code zips are in.
pub const CODE_BUCKET_PARAMETER: &str = "CodeBucket";

/// The template parameter holding the object key of a function's zip.
pub fn code_key_parameter(function: &str) -> String {
    format!("{function}CodeKey")
}

struct Stateless<'a> {
    names: Names<'a>,
    t: Template,
}

impl Inputs for Stateless<'_> {
    fn input(&mut self, address: &Address, attr: Attr) -> Result<Value, SynthError> {
        let id = input_id(address, attr);
        if !self.t.has_parameter(&id) {
            let body = json!({
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": self.names.output_parameter(address, attr),
                "Description": format!("{} of {address}, published by the stateful stack", attr.path()),
            });
            self.t.add_parameter(id.clone(), body)?;
        }
        Ok(reference(&id))
    }
}

fn payload(version: PayloadVersion) -> (&'static str, &'static str) {
    match version {
        PayloadVersion::V1 => ("1.0", "V1"),
        PayloadVersion::V2 => ("2.0", "V2"),
    }
}

/// An EventBridge match on an object key (S3 sends the key URL-decoded).
/// A prefix and a suffix together become one wildcard, the only way to ask
/// for both on the same field; `*` and `\` in them are escaped.
fn key_filter(prefix: Option<&str>, suffix: Option<&str>) -> Option<Value> {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('*', "\\*");
    match (prefix, suffix) {
        (None, None) => None,
        (Some(p), None) => Some(json!([{ "prefix": p }])),
        (None, Some(s)) => Some(json!([{ "suffix": s }])),
        (Some(p), Some(s)) => Some(json!([{ "wildcard": format!("{}*{}", escape(p), escape(s)) }])),
    }
}

pub fn build(service: &Service, names: Names<'_>) -> Result<Template, SynthError> {
    let t = Template::new(
        names.stack(StackKind::Stateless),
        format!(
            "{} {}: stateless stack (functions and their events), written by strata synth",
            names.service, names.stage
        ),
        json!({ "strata:service": names.service, "strata:stage": names.stage, "strata:stack": "stateless" }),
    );
    let mut s = Stateless { names, t };
    s.t.add_parameter(
        CODE_BUCKET_PARAMETER,
        json!({ "Type": "String", "Description": "bucket holding the code zips" }),
    )?;

    let has_http = service
        .stateless
        .functions
        .iter()
        .any(|f| f.events.iter().any(|e| matches!(e, Event::Http { .. })));
    if has_http {
        http_api(service, &mut s)?;
    }
    for f in &service.stateless.functions {
        function(service, f, &mut s)?;
    }
    Ok(s.t)
}

fn http_api(service: &Service, s: &mut Stateless<'_>) -> Result<(), SynthError> {
    let mut props = json!({
        "Name": s.names.api(),
        "ProtocolType": "HTTP",
        "Description": format!("HTTP routes of {} {}", s.names.service, s.names.stage),
    });
    if let Some(cors) = &service.stateless.http.cors {
        let methods = if cors.methods.is_empty() {
            vec!["*".to_owned()]
        } else {
            cors.methods.clone()
        };
        // The manifest's documented default.
        let headers = if cors.headers.is_empty() {
            vec!["Content-Type".to_owned(), "Authorization".to_owned()]
        } else {
            cors.headers.clone()
        };
        let mut c = json!({
            "AllowOrigins": cors.origins,
            "AllowMethods": methods,
            "AllowHeaders": headers,
            "AllowCredentials": cors.allow_credentials,
        });
        if let Some(max_age) = cors.max_age {
            c["MaxAge"] = json!(max_age);
        }
        props["CorsConfiguration"] = c;
    }
    s.t.add_resource(
        "HttpApi",
        json!({ "Type": "AWS::ApiGatewayV2::Api", "Properties": props }),
    )?;
    s.t.add_resource(
        "HttpApiStage",
        json!({
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": { "ApiId": reference("HttpApi"), "StageName": "$default", "AutoDeploy": true },
        }),
    )?;
    s.t.add_output(
        "ApiUrl",
        json!({ "Description": "base URL of the HTTP API", "Value": get_att("HttpApi", "ApiEndpoint") }),
    )?;
    Ok(())
}

fn function(service: &Service, f: &Function, s: &mut Stateless<'_>) -> Result<(), SynthError> {
    let n = f.name.as_str();
    let fn_id = format!("{n}Function");
    let role_id = format!("{n}Role");
    let log_id = format!("{n}LogGroup");
    let physical = s.names.function(n);

    s.t.add_resource(
        log_id.clone(),
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": format!("/aws/lambda/{physical}"),
                "RetentionInDays": LOG_RETENTION_DAYS,
            },
        }),
    )?;

    let mut statements = vec![iam::logs(&log_id)];
    for (address, access) in f.permissions() {
        statements.extend(iam::grant(service, &address, access, s)?);
    }
    for table in f.streams() {
        statements.push(iam::stream(&table, s)?);
    }
    s.t.add_resource(
        role_id.clone(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                // No RoleName: CloudFormation picks a unique one, so deploying
                // needs CAPABILITY_IAM only, not CAPABILITY_NAMED_IAM.
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": "lambda.amazonaws.com" },
                        "Action": "sts:AssumeRole",
                    }],
                },
                "Policies": [{
                    "PolicyName": "strata-access",
                    "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
                }],
            },
        }),
    )?;

    // The user's variables, then the injected ones (validation keeps them apart).
    let mut env: BTreeMap<String, Value> =
        f.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    for grant in &f.uses {
        let attr = match grant.resource.kind {
            ResourceKind::Queue => Attr::Url,
            _ => Attr::Name,
        };
        let value = s.input(&grant.resource, attr)?;
        env.insert(grant.env_var.clone(), value);
    }
    let code_key = code_key_parameter(n);
    s.t.add_parameter(
        code_key.clone(),
        json!({ "Type": "String", "Description": format!("object key of the code zip of function/{n}") }),
    )?;
    let mut props = json!({
        "FunctionName": physical,
        "Runtime": f.runtime.id(),
        // `provided` runtimes run the `bootstrap` executable; Lambda ignores the
        // handler then, but CloudFormation requires one for zip packages.
        "Handler": f.handler.as_deref().unwrap_or("bootstrap"),
        "MemorySize": f.memory,
        "Timeout": f.timeout,
        "Role": get_att(&role_id, "Arn"),
        "Code": { "S3Bucket": reference(CODE_BUCKET_PARAMETER), "S3Key": reference(&code_key) },
        // Names the group this stack owns (with its retention), and makes
        // CloudFormation create it before the function can log.
        "LoggingConfig": { "LogGroup": reference(&log_id) },
    });
    if !env.is_empty() {
        props["Environment"] = json!({ "Variables": env });
    }
    if let Some(d) = &f.description {
        props["Description"] = json!(d);
    }
    s.t.add_resource(
        fn_id.clone(),
        json!({ "Type": "AWS::Lambda::Function", "Properties": props }),
    )?;

    let mut http_permission = false;
    let mut integrations: BTreeMap<&'static str, String> = BTreeMap::new();
    for (i, event) in f.events.iter().enumerate() {
        match event {
            Event::Http {
                route,
                payload: version,
            } => {
                let (format_version, suffix) = payload(*version);
                let integration_id = format!("{n}Integration{suffix}");
                if !integrations.contains_key(suffix) {
                    s.t.add_resource(
                        integration_id.clone(),
                        json!({
                            "Type": "AWS::ApiGatewayV2::Integration",
                            "Properties": {
                                "ApiId": reference("HttpApi"),
                                "IntegrationType": "AWS_PROXY",
                                "IntegrationUri": get_att(&fn_id, "Arn"),
                                "PayloadFormatVersion": format_version,
                            },
                        }),
                    )?;
                    integrations.insert(suffix, integration_id.clone());
                }
                s.t.add_resource(
                    format!("{n}Event{i}Route"),
                    json!({
                        "Type": "AWS::ApiGatewayV2::Route",
                        "Properties": {
                            "ApiId": reference("HttpApi"),
                            "RouteKey": route.to_string(),
                            "Target": sub(format!("integrations/${{{integration_id}}}")),
                        },
                    }),
                )?;
                http_permission = true;
            }
            Event::Queue {
                queue,
                batch_size,
                batch_window,
            } => {
                let address = Address::new(ResourceKind::Queue, queue.as_str());
                let mut props = json!({
                    "EventSourceArn": s.input(&address, Attr::Arn)?,
                    "FunctionName": reference(&fn_id),
                    "BatchSize": batch_size,
                    // Lets the handler return the failed messages of a batch
                    // instead of failing (and retrying) the whole batch.
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "Enabled": true,
                });
                // Validation refuses a window on a FIFO queue, which Lambda does not take.
                if *batch_window > 0 {
                    props["MaximumBatchingWindowInSeconds"] = json!(batch_window);
                }
                s.t.add_resource(
                    format!("{n}Event{i}Mapping"),
                    json!({ "Type": "AWS::Lambda::EventSourceMapping", "Properties": props }),
                )?;
            }
            Event::Schedule { schedule } => {
                let rule = format!("{n}Event{i}Rule");
                s.t.add_resource(
                    rule.clone(),
                    json!({
                        "Type": "AWS::Events::Rule",
                        "Properties": {
                            "Description": format!("function/{n}: {schedule}"),
                            "ScheduleExpression": schedule.to_string(),
                            "State": "ENABLED",
                            "Targets": [{ "Id": "Function", "Arn": get_att(&fn_id, "Arn") }],
                        },
                    }),
                )?;
                rule_permission(s, &fn_id, &rule, &format!("{n}Event{i}Permission"))?;
            }
            Event::Bucket {
                bucket,
                on,
                prefix,
                suffix,
            } => {
                let address = Address::new(ResourceKind::Bucket, bucket.as_str());
                let detail_type = match on {
                    BucketEventKind::Created => "Object Created",
                    BucketEventKind::Removed => "Object Deleted",
                };
                let mut detail = json!({ "bucket": { "name": [s.input(&address, Attr::Name)?] } });
                if let Some(filter) = key_filter(prefix.as_deref(), suffix.as_deref()) {
                    detail["object"] = json!({ "key": filter });
                }
                let rule = format!("{n}Event{i}Rule");
                s.t.add_resource(
                    rule.clone(),
                    json!({
                        "Type": "AWS::Events::Rule",
                        "Properties": {
                            "Description": format!("function/{n}: {}", event.summary()),
                            "EventPattern": {
                                "source": ["aws.s3"],
                                "detail-type": [detail_type],
                                "detail": detail,
                            },
                            "State": "ENABLED",
                            "Targets": [{ "Id": "Function", "Arn": get_att(&fn_id, "Arn") }],
                        },
                    }),
                )?;
                rule_permission(s, &fn_id, &rule, &format!("{n}Event{i}Permission"))?;
            }
            Event::Table {
                table,
                batch_size,
                batch_window,
                start,
            } => {
                let address = Address::new(ResourceKind::Table, table.as_str());
                let mut props = json!({
                    // The stream's ARN changes when the stream is turned off and
                    // on again; the stateful stack republishes it, and the
                    // next stateless deploy moves the mapping to it.
                    "EventSourceArn": s.input(&address, Attr::StreamArn)?,
                    "FunctionName": reference(&fn_id),
                    "StartingPosition": match start {
                        StreamStart::Latest => "LATEST",
                        StreamStart::TrimHorizon => "TRIM_HORIZON",
                    },
                    "BatchSize": batch_size,
                    // The handler may name the first failed record; Lambda then
                    // checkpoints before it and retries from there.
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "Enabled": true,
                });
                if *batch_window > 0 {
                    props["MaximumBatchingWindowInSeconds"] = json!(batch_window);
                }
                s.t.add_resource(
                    format!("{n}Event{i}Mapping"),
                    json!({ "Type": "AWS::Lambda::EventSourceMapping", "Properties": props }),
                )?;
            }
        }
    }
    if http_permission {
        s.t.add_resource(
            format!("{n}ApiPermission"),
            json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": reference(&fn_id),
                    "Principal": "apigateway.amazonaws.com",
                    // Any stage and route of this API only.
                    "SourceArn": sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*"),
                },
            }),
        )?;
    }
    Ok(())
}

/// Lets one EventBridge rule, and only it, invoke the function.
fn rule_permission(
    s: &mut Stateless<'_>,
    fn_id: &str,
    rule_id: &str,
    id: &str,
) -> Result<(), SynthError> {
    s.t.add_resource(
        id,
        json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": reference(fn_id),
                "Principal": "events.amazonaws.com",
                "SourceArn": get_att(rule_id, "Arn"),
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_filters_use_eventbridge_matching() {
        assert_eq!(key_filter(None, None), None);
        assert_eq!(
            key_filter(Some("in/"), None),
            Some(json!([{ "prefix": "in/" }]))
        );
        assert_eq!(
            key_filter(None, Some(".jpg")),
            Some(json!([{ "suffix": ".jpg" }]))
        );
        assert_eq!(
            key_filter(Some("a*b/"), Some(".jpg")),
            Some(json!([{ "wildcard": "a\\*b/*.jpg" }]))
        );
    }
}
