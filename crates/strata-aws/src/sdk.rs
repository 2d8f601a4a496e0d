//! The `Cloud` of a real account (or of any compatible endpoint, such as a
//! moto server): the AWS SDK for Rust, with the usual credential chain and
//! region. Only CloudFormation, S3 (code and template uploads) and STS (whose
//! account is this?) are linked: every service crate costs minutes of build
//! (SSM alone was the largest, and whether the stateful outputs are
//! published is read from the stateful stack's template instead).
//!
//! Each SDK error becomes a `CloudError` that says which fix applies: no
//! credentials, an endpoint that cannot be reached, a request the service
//! refused, or an operation the endpoint does not implement.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType as CfnChangeSetType, Parameter, TemplateStage,
};
use aws_sdk_s3::primitives::ByteStream;

use crate::deploy::cloud::{
    ChangeDetail, ChangeSetInfo, ChangeSetRequest, ChangeSetSummary, ChangeSetType, Cloud,
    CloudError, DriftDetection, PropertyDifference, ResourceChange, ResourceDrift, StackEvent,
    StackInfo, StackResource, TemplateSource,
};

/// The S3 SDK, for tests that drive an S3 endpoint with the Rust SDK (the
/// local target's, in strata-cli's tests) without a second crate linking it.
pub use aws_sdk_s3 as s3;

/// Pages of stack events read per poll: the newest 300 or so, more than any
/// poll interval produces.
const EVENT_PAGES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no AWS region is set: the stage declares none and the credential chain has none")]
    NoRegion,
}

/// The SDK clients of one region (and endpoint).
#[derive(Debug, Clone)]
pub struct SdkCloud {
    region: String,
    endpoint_url: Option<String>,
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
}

/// Loads the shared configuration (environment, profiles, SSO, instance
/// roles: the chain every AWS tool uses) and builds the clients. `region`
/// (the stage's) wins over the chain's; `endpoint_url` over
/// `AWS_ENDPOINT_URL`.
pub async fn connect(
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> Result<SdkCloud, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .build(),
    );
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or(ConnectError::NoRegion)?;
    let endpoint_url = config.endpoint_url().map(str::to_owned);
    // A custom endpoint is usually an IP and port, where virtual-hosted
    // bucket names cannot resolve.
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(endpoint_url.is_some())
        .build();
    Ok(SdkCloud {
        region,
        cfn: aws_sdk_cloudformation::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        sts: aws_sdk_sts::Client::new(&config),
        endpoint_url,
    })
}

/// Whether the text of an error chain is about missing credentials.
fn mentions_credentials(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("credential") && !t.contains("invalidclienttokenid")
}

impl SdkCloud {
    fn classify<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> CloudError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let text = DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_owned();
                let status = service.raw().http_status();
                if code == "Unknown" && matches!(status, 404 | 500 | 501) {
                    return CloudError::NotImplemented {
                        operation,
                        detail: format!("HTTP {status}"),
                    };
                }
                CloudError::Rejected {
                    operation,
                    code,
                    message: e.message().unwrap_or_default().to_owned(),
                }
            }
            // An answer that is not an AWS error document: moto's HTML page
            // for an action it does not have.
            SdkError::ResponseError(response) => {
                let status = response.raw().http_status();
                if matches!(status, 404 | 500 | 501) {
                    CloudError::NotImplemented {
                        operation,
                        detail: format!("HTTP {status} without an AWS error"),
                    }
                } else {
                    CloudError::Other {
                        operation,
                        detail: text,
                    }
                }
            }
            SdkError::TimeoutError(_) => CloudError::Unreachable {
                endpoint: self.endpoint(),
                detail: "timed out".to_owned(),
            },
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
                CloudError::Unreachable {
                    endpoint: self.endpoint(),
                    detail: text,
                }
            }
            _ if mentions_credentials(&text) => CloudError::NoCredentials { detail: text },
            _ => CloudError::Other {
                operation,
                detail: text,
            },
        }
    }
}

/// The HTTP status of a raw response, for telling "not implemented" apart.
pub trait HasStatus {
    fn http_status(&self) -> u16;
}

impl HasStatus for aws_sdk_cloudformation::config::http::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

fn is_missing_stack(e: &CloudError) -> bool {
    matches!(e, CloudError::Rejected { code, message, .. }
        if code == "ValidationError" && message.contains("does not exist"))
}

fn time(t: Option<&aws_sdk_cloudformation::primitives::DateTime>) -> Option<String> {
    t.and_then(|t| {
        t.fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
            .ok()
    })
}

impl Cloud for SdkCloud {
    fn region(&self) -> &str {
        &self.region
    }

    fn endpoint(&self) -> String {
        self.endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://cloudformation.{}.amazonaws.com", self.region))
    }

    async fn account(&self) -> Result<String, CloudError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.classify("GetCallerIdentity", e))?;
        Ok(out.account().unwrap_or_default().to_owned())
    }

    async fn describe_stack(&self, stack: &str) -> Result<Option<StackInfo>, CloudError> {
        let out = match self.cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out,
            Err(e) => {
                let e = self.classify("DescribeStacks", e);
                return if is_missing_stack(&e) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(s) = out.stacks().first() else {
            return Ok(None);
        };
        Ok(Some(StackInfo {
            status: s
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            status_reason: s.stack_status_reason().map(str::to_owned),
            last_updated: time(s.last_updated_time()),
            termination_protection: s.enable_termination_protection().unwrap_or(false),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
            parameters: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.parameter_value()?.to_owned(),
                    ))
                })
                .collect(),
            resolved: s
                .parameters()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.parameter_key()?.to_owned(),
                        p.resolved_value()?.to_owned(),
                    ))
                })
                .collect(),
        }))
    }

    async fn get_template(&self, stack: &str) -> Result<Option<String>, CloudError> {
        match self
            .cfn
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
        {
            Ok(out) => Ok(out.template_body().map(str::to_owned)),
            Err(e) => {
                let e = self.classify("GetTemplate", e);
                if is_missing_stack(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn create_change_set(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let parameters = r
            .parameters
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect();
        let mut call = self
            .cfn
            .create_change_set()
            .stack_name(&r.stack)
            .change_set_name(&r.name)
            .change_set_type(match r.kind {
                ChangeSetType::Create => CfnChangeSetType::Create,
                ChangeSetType::Update => CfnChangeSetType::Update,
            })
            .set_parameters(Some(parameters))
            .capabilities(Capability::CapabilityIam)
            .description(&r.description);
        call = match &r.template {
            TemplateSource::Body(body) => call.template_body(body),
            TemplateSource::Url(url) => call.template_url(url),
        };
        call.send()
            .await
            .map_err(|e| self.classify("CreateChangeSet", e))?;
        Ok(())
    }

    async fn describe_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> Result<ChangeSetInfo, CloudError> {
        let mut info = ChangeSetInfo::default();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.classify("DescribeChangeSet", e))?;
            info.status = out
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            info.execution_status = out.execution_status().map(|s| s.as_str().to_owned());
            info.reason = out.status_reason().map(str::to_owned);
            for change in out.changes() {
                let Some(rc) = change.resource_change() else {
                    continue;
                };
                info.changes.push(ResourceChange {
                    action: rc
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                    physical_id: rc.physical_resource_id().map(str::to_owned),
                    replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                    details: rc
                        .details()
                        .iter()
                        .filter_map(|d| d.target())
                        .map(|t| ChangeDetail {
                            attribute: t.attribute().map(|a| a.as_str().to_owned()),
                            name: t.name().map(str::to_owned),
                            requires_recreation: t
                                .requires_recreation()
                                .map(|r| r.as_str().to_owned()),
                        })
                        .collect(),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(info),
            }
        }
    }

    async fn list_change_sets(&self, stack: &str) -> Result<Vec<ChangeSetSummary>, CloudError> {
        let out = self
            .cfn
            .list_change_sets()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.classify("ListChangeSets", e))?;
        Ok(out
            .summaries()
            .iter()
            .map(|s| ChangeSetSummary {
                name: s.change_set_name().unwrap_or_default().to_owned(),
                stack: s.stack_name().unwrap_or_default().to_owned(),
                execution_status: s.execution_status().map(|e| e.as_str().to_owned()),
            })
            .collect())
    }

    async fn execute_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError> {
        self.cfn
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| self.classify("ExecuteChangeSet", e))?;
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError> {
        self.cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| self.classify("DeleteChangeSet", e))?;
        Ok(())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError> {
        self.cfn
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.classify("DeleteStack", e))?;
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError> {
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..EVENT_PAGES {
            let out = match self
                .cfn
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let e = self.classify("DescribeStackEvents", e);
                    return if is_missing_stack(&e) {
                        Ok(events)
                    } else {
                        Err(e)
                    };
                }
            };
            events.extend(out.stack_events().iter().map(|e| {
                StackEvent {
                    id: e.event_id().unwrap_or_default().to_owned(),
                    timestamp: time(e.timestamp()).unwrap_or_default(),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: e.resource_type().unwrap_or_default().to_owned(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_owned),
                }
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn set_stack_policy(&self, stack: &str, policy: &str) -> Result<(), CloudError> {
        self.cfn
            .set_stack_policy()
            .stack_name(stack)
            .stack_policy_body(policy)
            .send()
            .await
            .map_err(|e| self.classify("SetStackPolicy", e))?;
        Ok(())
    }

    async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), CloudError> {
        self.cfn
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(on)
            .send()
            .await
            .map_err(|e| self.classify("UpdateTerminationProtection", e))?;
        Ok(())
    }

    async fn object_exists(&self, bucket: &str, key: &str) -> Result<bool, CloudError> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(self.classify("HeadObject", e)),
        }
    }

    async fn put_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), CloudError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.classify("PutObject", e))?;
        Ok(())
    }

    /// AWS's path-style form, with or without a custom endpoint: the URL is
    /// only parsed (CloudFormation reads the object from its own S3), and
    /// this is the form CloudFormation, moto and other emulators all parse
    /// (moto reads a bucket named `127` out of `http://127.0.0.1:PORT/b/k`).
    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("https://s3.{}.amazonaws.com/{bucket}/{key}", self.region)
    }

    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let out = self
            .cfn
            .describe_stack_resource()
            .stack_name(stack)
            .logical_resource_id(logical_id)
            .send()
            .await
            .map_err(|e| self.classify("DescribeStackResource", e))?;
        Ok(out
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id())
            .map(str::to_owned))
    }

    /// ListStackResources rather than DescribeStackResources, which stops at
    /// 100 resources.
    async fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, CloudError> {
        let mut resources = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = match self
                .cfn
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    let e = self.classify("ListStackResources", e);
                    return if is_missing_stack(&e) {
                        Ok(resources)
                    } else {
                        Err(e)
                    };
                }
            };
            resources.extend(out.stack_resource_summaries().iter().map(|r| {
                StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().map(str::to_owned),
                    status: r
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                }
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(resources),
            }
        }
    }

    async fn detect_drift(&self, stack: &str) -> Result<String, CloudError> {
        let out = self
            .cfn
            .detect_stack_drift()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.classify("DetectStackDrift", e))?;
        Ok(out
            .stack_drift_detection_id()
            .unwrap_or_default()
            .to_owned())
    }

    async fn drift_detection(&self, detection_id: &str) -> Result<DriftDetection, CloudError> {
        let out = self
            .cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(detection_id)
            .send()
            .await
            .map_err(|e| self.classify("DescribeStackDriftDetectionStatus", e))?;
        Ok(DriftDetection {
            status: out
                .detection_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            stack_drift_status: out.stack_drift_status().map(|s| s.as_str().to_owned()),
            reason: out.detection_status_reason().map(str::to_owned),
        })
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CloudError> {
        let mut drifts = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cfn
                .describe_stack_resource_drifts()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.classify("DescribeStackResourceDrifts", e))?;
            drifts.extend(out.stack_resource_drifts().iter().map(|d| {
                ResourceDrift {
                    logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: d.resource_type().unwrap_or_default().to_owned(),
                    physical_id: d.physical_resource_id().map(str::to_owned),
                    status: d
                        .stack_resource_drift_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    differences: d
                        .property_differences()
                        .iter()
                        .map(|p| PropertyDifference {
                            path: p.property_path().unwrap_or_default().to_owned(),
                            expected: p.expected_value().map(str::to_owned),
                            actual: p.actual_value().map(str::to_owned),
                            kind: p
                                .difference_type()
                                .map(|k| k.as_str().to_owned())
                                .unwrap_or_default(),
                        })
                        .collect(),
                }
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(drifts),
            }
        }
    }

    async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
