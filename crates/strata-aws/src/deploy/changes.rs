//! Reading a change set against the safety rules: which row is which Strata
//! address, whether it replaces or removes a data resource (S2), and
//! Strata's own verdict from the previous and the new template.
//!
//! CloudFormation says in `Replacement` (and per property in `Details`)
//! whether a `Modify` replaces the resource. Not every endpoint says it:
//! moto lists only action, logical id and type. So every row also gets
//! Strata's verdict, a diff of the two templates' properties against the
//! table of properties CloudFormation documents as "Update requires:
//! Replacement". A refusal is decided by CloudFormation's word where it gave
//! one and by Strata's where it did not; both are shown by `strata plan`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use strata_engine::{Action, AllowDestroy, Refusal};
use strata_model::{Address, ResourceKind};

/// The data a resource type holds, for the four kinds of the stateful stack.
/// The published outputs are `AWS::SSM::Parameter` too, but carry no address
/// (see `address_of`), so they are never data.
pub fn data_kind(resource_type: &str) -> Option<ResourceKind> {
    match resource_type {
        "AWS::DynamoDB::Table" => Some(ResourceKind::Table),
        "AWS::S3::Bucket" => Some(ResourceKind::Bucket),
        "AWS::SQS::Queue" => Some(ResourceKind::Queue),
        "AWS::SSM::Parameter" => Some(ResourceKind::Parameter),
        _ => None,
    }
}

/// Properties whose change replaces a resource of this type, from the
/// CloudFormation resource reference ("Update requires: Replacement"), for
/// the types Strata synthesizes. A type not listed is taken as updated in
/// place, which only matters for the verdict shown next to CloudFormation's:
/// data resources are all listed.
pub fn replacing_properties(resource_type: &str) -> &'static [&'static str] {
    match resource_type {
        // A table's keys and local indexes are fixed at creation; so is
        // every name.
        "AWS::DynamoDB::Table" => &["KeySchema", "LocalSecondaryIndexes", "TableName"],
        "AWS::S3::Bucket" => &["BucketName", "ObjectLockEnabled"],
        "AWS::SQS::Queue" => &["FifoQueue", "QueueName"],
        "AWS::SSM::Parameter" => &["Name"],
        "AWS::IAM::Role" => &["Path", "RoleName"],
        "AWS::Logs::LogGroup" => &["LogGroupName"],
        "AWS::Lambda::Function" => &["FunctionName", "PackageType"],
        "AWS::Lambda::EventSourceMapping" => &["EventSourceArn"],
        "AWS::Lambda::Permission" => &[
            "Action",
            "EventSourceToken",
            "FunctionName",
            "Principal",
            "SourceAccount",
            "SourceArn",
        ],
        "AWS::Events::Rule" => &["Name"],
        "AWS::ApiGatewayV2::Api" => &[],
        "AWS::ApiGatewayV2::Stage" => &["ApiId", "StageName"],
        "AWS::ApiGatewayV2::Integration" => &["ApiId"],
        "AWS::ApiGatewayV2::Route" => &["ApiId"],
        "AWS::S3::BucketPolicy" => &["Bucket"],
        _ => &[],
    }
}

/// Strata's reading of one logical id, from the two templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `Add`, `Modify` or `Remove`, as CloudFormation spells them.
    pub action: &'static str,
    /// For `Modify`: whether it replaces the resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<bool>,
    /// The properties that force the replacement (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced_by: Vec<String>,
    /// Every property whose value changed, for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// One resource change, CloudFormation's word and Strata's side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub logical_id: String,
    pub resource_type: String,
    /// The Strata address, for the stateful data resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// CloudFormation's action (`Add`, `Modify`, `Remove`, ...), or Strata's
    /// when no change set could be made (`source: template`).
    pub action: String,
    /// CloudFormation's `Replacement` (`True`, `False`, `Conditional`), when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The properties CloudFormation's `Details` name as recreating.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced_by: Vec<String>,
    /// Strata's verdict from the templates; `None` when the change comes
    /// from outside them (a parameter value, a drifted resource).
    pub strata: Option<Verdict>,
}

impl Row {
    /// Whether the row replaces the resource: CloudFormation's word when it
    /// gave one (`Conditional` counts: it may), Strata's otherwise.
    pub fn replaces(&self) -> bool {
        if self.action != "Modify" {
            return false;
        }
        match self.replacement.as_deref() {
            Some(r) => r == "True" || r == "Conditional",
            None => self
                .strata
                .as_ref()
                .is_some_and(|v| v.replacement == Some(true)),
        }
    }

    /// The engine's action when the row would destroy a data resource.
    pub fn destruction(&self) -> Option<Action> {
        self.address.as_ref()?;
        if self.action == "Remove" {
            Some(Action::Delete)
        } else if self.replaces() {
            Some(Action::Replace)
        } else {
            None
        }
    }

    /// What forces the replacement: CloudFormation's details, else Strata's diff.
    pub fn forcing(&self) -> Vec<String> {
        if !self.forced_by.is_empty() {
            return self.forced_by.clone();
        }
        self.strata
            .as_ref()
            .map(|v| v.forced_by.clone())
            .unwrap_or_default()
    }
}

/// The address a template gives a logical id (`Metadata.strata:address`),
/// kept only when it is a data resource of the matching kind.
fn address_of(template: Option<&Value>, logical_id: &str, resource_type: &str) -> Option<Address> {
    let text = template?
        .get("Resources")?
        .get(logical_id)?
        .get("Metadata")?
        .get("strata:address")?
        .as_str()?;
    let address: Address = text.parse().ok()?;
    (data_kind(resource_type) == Some(address.kind)).then_some(address)
}

/// Replaces each `{"Ref": P}` of a parameter given a value with that value,
/// so a change of a parameter (a new code key) shows in the diff.
fn resolve(value: &Value, parameters: &BTreeMap<String, String>) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(name) = map.get("Ref").and_then(Value::as_str)
                && let Some(v) = parameters.get(name)
            {
                return Value::String(v.clone());
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, parameters)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, parameters)).collect()),
        other => other.clone(),
    }
}

fn resources(template: Option<&Value>) -> BTreeMap<String, Value> {
    template
        .and_then(|t| t.get("Resources"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Template side of one stack: the body and the parameter values it was (or
/// will be) deployed with.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub template: Option<&'a Value>,
    pub parameters: &'a BTreeMap<String, String>,
}

/// Strata's diff of two templates, by logical id, changed ids only.
pub fn diff(old: Side<'_>, new: Side<'_>) -> BTreeMap<String, Verdict> {
    let before = resources(old.template);
    let after = resources(new.template);
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut out = BTreeMap::new();
    for id in ids {
        let verdict = match (before.get(id), after.get(id)) {
            (None, Some(_)) => Verdict {
                action: "Add",
                replacement: None,
                forced_by: vec![],
                changed: vec![],
            },
            (Some(_), None) => Verdict {
                action: "Remove",
                replacement: None,
                forced_by: vec![],
                changed: vec![],
            },
            (Some(a), Some(b)) => {
                let a = resolve(a, old.parameters);
                let b = resolve(b, new.parameters);
                if a == b {
                    continue;
                }
                let kind = b.get("Type").and_then(Value::as_str).unwrap_or_default();
                if a.get("Type") != b.get("Type") {
                    Verdict {
                        action: "Modify",
                        replacement: Some(true),
                        forced_by: vec!["Type".to_owned()],
                        changed: vec!["Type".to_owned()],
                    }
                } else {
                    let empty = serde_json::Map::new();
                    let pa = a
                        .get("Properties")
                        .and_then(Value::as_object)
                        .unwrap_or(&empty);
                    let pb = b
                        .get("Properties")
                        .and_then(Value::as_object)
                        .unwrap_or(&empty);
                    let names: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
                    let changed: Vec<String> = names
                        .into_iter()
                        .filter(|n| pa.get(*n) != pb.get(*n))
                        .cloned()
                        .collect();
                    let forcing = replacing_properties(kind);
                    let forced_by: Vec<String> = changed
                        .iter()
                        .filter(|n| forcing.contains(&n.as_str()))
                        .cloned()
                        .collect();
                    Verdict {
                        action: "Modify",
                        replacement: Some(!forced_by.is_empty()),
                        forced_by,
                        changed,
                    }
                }
            }
            (None, None) => continue,
        };
        out.insert(id.clone(), verdict);
    }
    out
}

/// The rows of a change set, each with its address and Strata's verdict.
/// Sorted by logical id, so a plan reads (and serializes) the same each time.
pub fn rows(changes: &[super::cloud::ResourceChange], old: Side<'_>, new: Side<'_>) -> Vec<Row> {
    let mut verdicts = diff(old, new);
    let mut rows: Vec<Row> = changes
        .iter()
        .map(|c| {
            let address = address_of(new.template, &c.logical_id, &c.resource_type)
                .or_else(|| address_of(old.template, &c.logical_id, &c.resource_type));
            let forced_by = c
                .details
                .iter()
                .filter(|d| d.attribute.as_deref().is_none_or(|a| a == "Properties"))
                .filter(|d| {
                    matches!(
                        d.requires_recreation.as_deref(),
                        Some("Always" | "Conditionally")
                    )
                })
                .filter_map(|d| d.name.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            Row {
                logical_id: c.logical_id.clone(),
                resource_type: c.resource_type.clone(),
                address,
                action: c.action.clone(),
                replacement: c.replacement.clone(),
                forced_by,
                strata: verdicts.remove(&c.logical_id),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    rows
}

/// Rows from Strata's diff alone, for a stack no change set can be made for
/// yet (the stateless stack before the stateful one has published outputs).
pub fn rows_from_diff(old: Side<'_>, new: Side<'_>) -> Vec<Row> {
    diff(old, new)
        .into_iter()
        .map(|(id, verdict)| {
            let body = new
                .template
                .and_then(|t| t.get("Resources")?.get(&id))
                .or_else(|| old.template.and_then(|t| t.get("Resources")?.get(&id)));
            let resource_type = body
                .and_then(|b| b.get("Type"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let address = address_of(new.template, &id, &resource_type)
                .or_else(|| address_of(old.template, &id, &resource_type));
            Row {
                logical_id: id,
                resource_type,
                address,
                action: verdict.action.to_owned(),
                replacement: verdict
                    .replacement
                    .map(|r| if r { "True" } else { "False" }.to_owned()),
                forced_by: vec![],
                strata: Some(verdict),
            }
        })
        .collect()
}

/// S2 on a change set: each destructive row whose address was not allowed,
/// sorted by address. The amount of data is unknown: telling it would need
/// the data services' APIs, which the aws target does not link.
pub fn refusals(rows: &[Row], allow: &AllowDestroy) -> Vec<Refusal> {
    let mut out: Vec<Refusal> = rows
        .iter()
        .filter_map(|row| {
            let action = row.destruction()?;
            let address = row.address.clone()?;
            (!allow.allows(&address)).then(|| Refusal {
                address,
                action,
                forced_by: if action == Action::Replace {
                    row.forcing()
                } else {
                    vec![]
                },
                data_at_risk: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// Logical ids of the destructive rows that were allowed: the stack policy
/// must let exactly these through while the change set runs.
pub fn allowed_destructions(rows: &[Row], allow: &AllowDestroy) -> Vec<String> {
    rows.iter()
        .filter(|r| r.destruction().is_some())
        .filter(|r| r.address.as_ref().is_some_and(|a| allow.allows(a)))
        .map(|r| r.logical_id.clone())
        .collect()
}
