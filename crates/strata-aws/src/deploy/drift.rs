//! `strata drift` of an aws stage: CloudFormation's own drift detection on
//! the stateful stack (DetectStackDrift, waited for with
//! DescribeStackDriftDetectionStatus, read with DescribeStackResourceDrifts),
//! mapped back to addresses.
//!
//! A data resource that drifted becomes the engine's `Drift`, as on local
//! stages, so the CLI renders both the same way: `Changed` with one
//! `PropertyChange` per property difference (`before` what the template
//! says, `after` what AWS holds), `Vanished` when it was deleted. A published
//! output parameter (`/strata/...`) that drifted is reported apart: it holds
//! no data, but the stateless stack reads it, so an edited one points the
//! functions somewhere else and a deleted one stops the next stateless
//! deploy. Changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use strata_engine::drift::Drift;
use strata_engine::plan::PropertyChange;
use strata_model::{Address, StackKind};

use super::cloud::{Cloud, PropertyDifference, ResourceDrift};
use super::outputs::{deployed_template, published};
use super::run::{DeployError, Poll, ctx};
use crate::synth::Names;

/// Longest wait for a drift detection (AWS: seconds to minutes, by the
/// number of resources).
const DETECTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A published output parameter changed or deleted outside Strata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedDrift {
    /// The resource whose output it is.
    pub address: Address,
    /// The SSM parameter, `/strata/<service>/<stage>/<Resource>/<attr>`.
    pub parameter: String,
    /// `false`: deleted.
    pub exists: bool,
    pub changes: Vec<PropertyChange>,
}

/// What one drift detection of the stateful stack found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub stack: String,
    /// Resources CloudFormation checked (data resources and published
    /// outputs).
    pub checked: usize,
    pub drift: Vec<Drift>,
    pub published: Vec<PublishedDrift>,
    /// Logical ids CloudFormation could not check (`NOT_CHECKED`, `UNKNOWN`).
    pub not_checked: Vec<String>,
    /// Why the detection ended in `DETECTION_FAILED`: some resources were
    /// not checked, the others were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.drift.is_empty() || !self.published.is_empty()
    }
}

/// Runs a drift detection of the stage's stateful stack; `None` when that
/// stack is not deployed.
pub async fn drift<C: Cloud>(
    cloud: &C,
    service: &str,
    stage: &str,
) -> Result<Option<DriftReport>, DeployError> {
    let names = Names { service, stage };
    let stack = names.stack(StackKind::Stateful);
    cloud
        .account()
        .await
        .map_err(ctx("checking the AWS credentials (STS GetCallerIdentity)"))?;
    match cloud
        .describe_stack(&stack)
        .await
        .map_err(ctx(format!("reading {stack}")))?
    {
        None => return Ok(None),
        Some(info) if info.status == "REVIEW_IN_PROGRESS" => return Ok(None),
        Some(_) => {}
    }
    let id = cloud
        .detect_drift(&stack)
        .await
        .map_err(ctx(format!("starting drift detection of {stack}")))?;
    let mut poll = Poll::new();
    let detection = loop {
        let d = cloud
            .drift_detection(&id)
            .await
            .map_err(ctx(format!("reading the drift detection of {stack}")))?;
        if d.status != "DETECTION_IN_PROGRESS" {
            break d;
        }
        if poll.waited >= DETECTION_TIMEOUT {
            return Err(DeployError::Timeout {
                stack,
                what: "drift detection",
                status: d.status,
                waited: poll.waited,
            });
        }
        poll.wait(cloud).await;
    };
    let drifts = cloud
        .resource_drifts(&stack)
        .await
        .map_err(ctx(format!("reading the resource drifts of {stack}")))?;
    let template = deployed_template(cloud, &stack).await?;
    let mut report = report(&stack, &template, names, drifts);
    if detection.status == "DETECTION_FAILED" {
        report.incomplete = Some(
            detection
                .reason
                .unwrap_or_else(|| "no reason given".to_owned()),
        );
    }
    Ok(Some(report))
}

/// The detection's rows by address, in address order.
fn report(
    stack: &str,
    template: &Value,
    names: Names<'_>,
    drifts: Vec<ResourceDrift>,
) -> DriftReport {
    let data: BTreeMap<&str, Address> = template
        .get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(id, r)| {
            let address = r["Metadata"]["strata:address"].as_str()?.parse().ok()?;
            Some((id.as_str(), address))
        })
        .collect();
    let outputs: BTreeMap<String, (Address, String)> = published(template, names)
        .into_iter()
        .map(|(id, address, _, parameter)| (id, (address, parameter)))
        .collect();
    let mut out = DriftReport {
        stack: stack.to_owned(),
        checked: 0,
        drift: vec![],
        published: vec![],
        not_checked: vec![],
        incomplete: None,
    };
    for d in drifts {
        let physical_id = d.physical_id.clone().unwrap_or_default();
        if matches!(d.status.as_str(), "NOT_CHECKED" | "UNKNOWN") {
            out.not_checked.push(d.logical_id);
            continue;
        }
        out.checked += 1;
        let deleted = d.status == "DELETED";
        if !deleted && d.status != "MODIFIED" {
            continue;
        }
        let changes: Vec<PropertyChange> = d.differences.iter().map(property_change).collect();
        if let Some(address) = data.get(d.logical_id.as_str()) {
            out.drift.push(if deleted {
                Drift::Vanished {
                    address: address.clone(),
                    physical_id,
                }
            } else {
                Drift::Changed {
                    address: address.clone(),
                    physical_id,
                    changes,
                }
            });
        } else if let Some((address, parameter)) = outputs.get(&d.logical_id) {
            out.published.push(PublishedDrift {
                address: address.clone(),
                parameter: parameter.clone(),
                exists: !deleted,
                changes,
            });
        }
    }
    out.drift.sort_by(|a, b| a.address().cmp(b.address()));
    out.published
        .sort_by(|a, b| (&a.address, &a.parameter).cmp(&(&b.address, &b.parameter)));
    out.not_checked.sort();
    out
}

/// `/VersioningConfiguration/Status` as `VersioningConfiguration.Status`,
/// with the values as JSON where CloudFormation sent JSON text.
fn property_change(p: &PropertyDifference) -> PropertyChange {
    let value = |v: &Option<String>| {
        v.as_ref()
            .map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone())))
    };
    PropertyChange {
        property: p.path.trim_start_matches('/').replace('/', "."),
        before: if p.kind == "ADD" {
            None
        } else {
            value(&p.expected)
        },
        after: if p.kind == "REMOVE" {
            None
        } else {
            value(&p.actual)
        },
        forces_replacement: false,
    }
}
