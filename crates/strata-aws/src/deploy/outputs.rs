//! `strata outputs` of an aws stage: the values the deployed stateful stack
//! published under `/strata/<service>/<stage>/<Resource>/<attr>`, read
//! through CloudFormation alone.
//!
//! The SSM client is not linked (its crate is the costliest of the SDK to
//! build), so the values are worked out the way CloudFormation worked them
//! out when it wrote the parameters: each published parameter's `Value` in
//! the deployed template, with `Ref` resolved to the physical ids of
//! ListStackResources, the pseudo parameters to the account and region, and
//! `Fn::GetAtt` to the ARN forms AWS documents for tables, buckets and
//! queues. A table's `StreamArn` carries a timestamp no such form gives; it
//! is taken from the stateless stack when that stack reads it (CloudFormation
//! reports what it resolved an SSM-typed parameter to), and is otherwise
//! unknown (`None`), which the CLI says with the command that reads it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use strata_model::{Address, ResourceKind, StackKind};

use super::cloud::Cloud;
use super::run::{DeployError, ctx};
use crate::synth::Names;
use crate::synth::{Attr, output_id};

/// One published output of the deployed stateful stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub address: Address,
    /// `name`, `arn`, `url` or `stream_arn`.
    pub attr: String,
    /// The SSM parameter it is published as.
    pub parameter: String,
    /// `None` when CloudFormation does not tell it: a stream ARN no function
    /// reads (see the module comment), or an output of a resource the stack
    /// lists as deleted.
    pub value: Option<String>,
}

/// The published outputs, in address then attribute order; `None` when the
/// stateful stack is not deployed (absent, or only a change set under review).
pub async fn outputs<C: Cloud>(
    cloud: &C,
    service: &str,
    stage: &str,
) -> Result<Option<Vec<Output>>, DeployError> {
    let names = Names { service, stage };
    let stack = names.stack(StackKind::Stateful);
    let account = cloud
        .account()
        .await
        .map_err(ctx("checking the AWS credentials (STS GetCallerIdentity)"))?;
    let Some(info) = cloud
        .describe_stack(&stack)
        .await
        .map_err(ctx(format!("reading {stack}")))?
    else {
        return Ok(None);
    };
    if info.status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    let template = deployed_template(cloud, &stack).await?;
    let physical: BTreeMap<String, String> = cloud
        .stack_resources(&stack)
        .await
        .map_err(ctx(format!("listing the resources of {stack}")))?
        .into_iter()
        // A creation that rolled back lists its resources as deleted; their
        // old names are no value anyone can use.
        .filter(|r| r.status != "DELETE_COMPLETE")
        .filter_map(|r| Some((r.logical_id, r.physical_id?)))
        .collect();
    let scope = Scope {
        template: &template,
        physical: &physical,
        parameters: &info.parameters,
        account: &account,
        region: cloud.region(),
        stack: &stack,
    };
    let mut out: Vec<Output> = published(&template, names)
        .into_iter()
        .map(|(logical_id, address, attr, parameter)| {
            let value = template["Resources"][logical_id.as_str()]["Properties"]
                .get("Value")
                .and_then(|v| scope.resolve(v));
            Output {
                address,
                attr: attr.to_owned(),
                parameter,
                value,
            }
        })
        .collect();
    if out.iter().any(|o| o.value.is_none()) {
        let read = read_by_stateless(cloud, names).await?;
        for o in out.iter_mut().filter(|o| o.value.is_none()) {
            o.value = read.get(&o.parameter).cloned();
        }
    }
    out.sort_by(|a, b| (&a.address, &a.attr).cmp(&(&b.address, &b.attr)));
    Ok(Some(out))
}

/// The template a stack was last deployed with, parsed.
pub(super) async fn deployed_template<C: Cloud>(
    cloud: &C,
    stack: &str,
) -> Result<Value, DeployError> {
    let body = cloud
        .get_template(stack)
        .await
        .map_err(ctx(format!("reading the template of {stack}")))?
        .unwrap_or_default();
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The published output parameters of a stateful template: logical id,
/// address, attribute and SSM name. The address comes from the logical id
/// (`Output<Kind><Name><Attr>`, `names::output_id`), checked against the
/// name, so an output of a parameter without a value (not in the template
/// itself) is found as well as one of a table.
pub(super) fn published(
    template: &Value,
    names: Names<'_>,
) -> Vec<(String, Address, &'static str, String)> {
    let prefix = format!("/strata/{}/{}/", names.service, names.stage);
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (logical_id, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::SSM::Parameter") {
            continue;
        }
        let Some(parameter) = r["Properties"].get("Name").and_then(Value::as_str) else {
            continue;
        };
        let Some((name, attr)) = parameter
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        let Some(attr) = [Attr::Name, Attr::Arn, Attr::Url, Attr::StreamArn]
            .into_iter()
            .find(|a| a.path() == attr)
        else {
            continue;
        };
        let address = [
            ResourceKind::Table,
            ResourceKind::Bucket,
            ResourceKind::Queue,
            ResourceKind::Parameter,
        ]
        .into_iter()
        .map(|kind| Address::new(kind, name))
        .find(|a| output_id(a, attr) == *logical_id);
        if let Some(address) = address {
            out.push((
                logical_id.clone(),
                address,
                attr.path(),
                parameter.to_owned(),
            ));
        }
    }
    out
}

/// What the stateless stack read for each `/strata/...` parameter it takes:
/// AWS reports it as the parameter's `ResolvedValue`; moto puts the value
/// itself where AWS keeps the parameter's name.
async fn read_by_stateless<C: Cloud>(
    cloud: &C,
    names: Names<'_>,
) -> Result<BTreeMap<String, String>, DeployError> {
    let stack = names.stack(StackKind::Stateless);
    let Some(info) = cloud
        .describe_stack(&stack)
        .await
        .map_err(ctx(format!("reading {stack}")))?
    else {
        return Ok(BTreeMap::new());
    };
    let template = deployed_template(cloud, &stack).await?;
    let Some(params) = template.get("Parameters").and_then(Value::as_object) else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, p) in params {
        let Some(name) = p.get("Default").and_then(Value::as_str) else {
            continue;
        };
        let is_ssm = p
            .get("Type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value"));
        if !is_ssm || !name.starts_with("/strata/") {
            continue;
        }
        let value = info
            .resolved
            .get(key)
            .or_else(|| info.parameters.get(key).filter(|v| *v != name));
        if let Some(value) = value {
            out.insert(name.to_owned(), value.clone());
        }
    }
    Ok(out)
}

/// What a template expression needs to be evaluated after the deploy.
struct Scope<'a> {
    template: &'a Value,
    physical: &'a BTreeMap<String, String>,
    parameters: &'a BTreeMap<String, String>,
    account: &'a str,
    region: &'a str,
    stack: &'a str,
}

impl Scope<'_> {
    fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// The value of an expression, or `None` where it needs something
    /// CloudFormation does not report.
    fn resolve(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) if m.len() == 1 => {
                let (f, arg) = m.iter().next().expect("one entry");
                match f.as_str() {
                    "Ref" => self.reference(arg.as_str()?),
                    "Fn::GetAtt" => {
                        let (id, attr) = match arg {
                            Value::Array(a) if a.len() == 2 => (a[0].as_str()?, a[1].as_str()?),
                            Value::String(s) => s.split_once('.')?,
                            _ => return None,
                        };
                        self.attribute(id, attr)
                    }
                    "Fn::Sub" => self.sub(arg.as_str()?),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::AccountId" => Some(self.account.to_owned()),
            "AWS::Region" => Some(self.region.to_owned()),
            "AWS::Partition" => Some(self.partition().to_owned()),
            "AWS::StackName" => Some(self.stack.to_owned()),
            "AWS::URLSuffix" => Some(
                if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                }
                .to_owned(),
            ),
            _ => self
                .physical
                .get(name)
                .or_else(|| self.parameters.get(name))
                .cloned(),
        }
    }

    /// The attributes the stateful template reads, in the forms AWS
    /// documents for them (the ARN formats of the service authorization
    /// reference).
    fn attribute(&self, id: &str, attr: &str) -> Option<String> {
        let kind = self.template["Resources"][id]["Type"].as_str()?;
        let physical = self.physical.get(id)?;
        let (p, r, a) = (self.partition(), self.region, self.account);
        match (kind, attr) {
            ("AWS::DynamoDB::Table", "Arn") => {
                Some(format!("arn:{p}:dynamodb:{r}:{a}:table/{physical}"))
            }
            ("AWS::S3::Bucket", "Arn") => Some(format!("arn:{p}:s3:::{physical}")),
            // A queue's physical id is its URL; the name is its last segment.
            ("AWS::SQS::Queue", "Arn") => {
                let name = physical.rsplit('/').next()?;
                Some(format!("arn:{p}:sqs:{r}:{a}:{name}"))
            }
            ("AWS::SQS::Queue", "QueueName") => physical.rsplit('/').next().map(str::to_owned),
            ("AWS::SQS::Queue", "QueueUrl") => Some(physical.clone()),
            _ => None,
        }
    }

    /// `Fn::Sub` with a string: `${Name}`, `${Name.Attr}`, `${!Literal}`.
    fn sub(&self, text: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some((id, attr)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}
