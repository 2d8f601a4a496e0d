//! How an aws deploy reads to people: one line per progress note, each
//! stack's change set with CloudFormation's verdict next to Strata's, and
//! what `drift` and `outputs` read back, in the local stages' forms.
#![cfg_attr(not(feature = "aws"), allow(dead_code))]

use std::fmt::Write as _;

use strata_aws::deploy::changes::Row;
use strata_aws::deploy::{DriftReport, Failure, Note, Output, Source, StackPlan};
use strata_engine::drift::Drift;

use crate::commands::plan_text;

/// The sign of a row, as in the local plan: `+`, `~`, `-/+`, `-`.
fn sign(row: &Row) -> &'static str {
    match row.action.as_str() {
        "Add" => "+",
        "Remove" => "-",
        "Modify" if row.replaces() => "-/+",
        "Modify" => "~",
        _ => "?",
    }
}

/// "CloudFormation: replacement True (KeySchema)" and Strata's reading.
fn verdicts(row: &Row) -> String {
    if row.action != "Modify" {
        return String::new();
    }
    let cfn = match &row.replacement {
        Some(r) if row.forced_by.is_empty() => format!("CloudFormation: replacement {r}"),
        Some(r) => format!(
            "CloudFormation: replacement {r} ({})",
            row.forced_by.join(", ")
        ),
        None => "CloudFormation: no replacement verdict".to_owned(),
    };
    let strata = match &row.strata {
        Some(v) if v.replacement == Some(true) => {
            format!("Strata: replace ({})", v.forced_by.join(", "))
        }
        Some(v) if !v.changed.is_empty() => format!("Strata: in place ({})", v.changed.join(", ")),
        Some(_) => "Strata: in place".to_owned(),
        None => "Strata: no template change (a parameter or a resolved value)".to_owned(),
    };
    format!("  {cfn}; {strata}")
}

/// One stack's change set.
pub fn plan(p: &StackPlan) -> String {
    let mut out = String::new();
    let how = match (p.exists, p.source) {
        (_, Source::Template) => "from the templates",
        (true, Source::ChangeSet) => "update",
        (false, Source::ChangeSet) => "create",
    };
    if p.rows.is_empty() {
        let _ = writeln!(out, "{} ({}): no changes", p.stack, p.role.as_str());
        return out;
    }
    let _ = writeln!(
        out,
        "{} ({} stack, {how}): {} change{}",
        p.stack,
        p.role.as_str(),
        p.rows.len(),
        if p.rows.len() == 1 { "" } else { "s" }
    );
    if let Some(note) = &p.note {
        let _ = writeln!(out, "  note: {note}");
    }
    let width = p
        .rows
        .iter()
        .map(|r| label(r).len())
        .max()
        .unwrap_or_default();
    for row in &p.rows {
        let _ = writeln!(
            out,
            "  {:>3} {:<width$}  {}{}",
            sign(row),
            label(row),
            row.resource_type,
            verdicts(row)
        );
    }
    out
}

/// The address of a data resource (`table/Orders`), else the logical id.
fn label(row: &Row) -> String {
    match &row.address {
        Some(a) => format!("{a} ({})", row.logical_id),
        None => row.logical_id.clone(),
    }
}

/// One progress line, or `None` for notes shown otherwise.
pub fn note(n: &Note<'_>) -> Option<String> {
    Some(match n {
        Note::Account {
            account,
            region,
            endpoint,
        } => format!("aws: account {account}, region {region}, endpoint {endpoint}"),
        Note::Waiting { stack, status } => format!(
            "{stack} is {status} (an earlier run that was interrupted, or another tool); waiting for it to finish"
        ),
        Note::LeftoverChangeSet { stack, name } => {
            format!("deleted the change set {name} of {stack}, left by an interrupted run")
        }
        Note::DeletingFailed { stack, status } => {
            format!("{stack} is {status} (its creation failed); deleting it to create it again")
        }
        Note::Bootstrapping { stack } => format!(
            "creating the bootstrap stack {stack} (the artifact bucket for code and large templates)"
        ),
        Note::Uploaded { key, bytes } => format!("uploaded {key} ({bytes} bytes)"),
        Note::AlreadyUploaded { key } => format!("already uploaded: {key}"),
        Note::Plan(p) => plan(p).trim_end().to_owned(),
        Note::NoChanges { stack } => format!("{stack}: no changes"),
        Note::Event(e) => {
            let time = e.timestamp.get(11..19).unwrap_or(&e.timestamp);
            let mut line = format!(
                "  {time}  {}  {}  {}",
                e.logical_id, e.resource_type, e.status
            );
            if let Some(reason) = e.reason.as_deref().filter(|r| !r.is_empty()) {
                line.push_str(&format!("  {reason}"));
            }
            line
        }
        Note::Completed { stack, status } => format!("{stack}: {status}"),
        Note::Deleted { stack } => format!("{stack}: deleted"),
        Note::Warning(text) => format!("warning: {text}"),
    })
}

/// The failed resources of a stack, one per line, for the error's help.
pub fn failures(failures: &[Failure]) -> String {
    let mut out = String::new();
    for f in failures {
        let _ = writeln!(
            out,
            "  {} ({}) {}: {}",
            f.logical_id, f.resource_type, f.status, f.reason
        );
    }
    out
}

/// What drifted, as the local `strata drift` shows it: data resources first,
/// then the published outputs that were edited or deleted.
pub fn drift(r: &DriftReport) -> String {
    let mut out = plan_text::drift(&r.drift);
    for p in &r.published {
        let attr = p.parameter.rsplit('/').next().unwrap_or_default();
        if p.exists {
            // The same lines as a changed resource, named by the parameter.
            out.push_str(&plan_text::drift(&[Drift::Changed {
                address: p.address.clone(),
                physical_id: p.parameter.clone(),
                changes: p.changes.clone(),
            }]));
        } else {
            let _ = writeln!(
                out,
                "  - {}: its published {attr} ({}) was deleted outside Strata; the stateless stack can no longer be deployed until it exists again",
                p.address, p.parameter
            );
        }
    }
    out
}

/// The published outputs, as the local `strata outputs` shows them.
pub fn outputs(outputs: &[Output]) -> String {
    let mut out = String::new();
    let mut last = None;
    for o in outputs {
        if last != Some(&o.address) {
            let _ = writeln!(out, "{}", o.address);
            last = Some(&o.address);
        }
        match &o.value {
            Some(value) => {
                let _ = writeln!(out, "  {:<11} {value}   ({})", o.attr, o.parameter);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {:<11} (CloudFormation does not report it: `aws ssm get-parameter --name {} --query Parameter.Value`)",
                    o.attr, o.parameter
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use strata_aws::deploy::Role;
    use strata_aws::deploy::changes::Verdict;

    use super::*;

    #[test]
    fn a_replacement_shows_both_verdicts_and_the_forcing_property() {
        let row = Row {
            logical_id: "TableOrders".into(),
            resource_type: "AWS::DynamoDB::Table".into(),
            address: Some("table/Orders".parse().expect("address")),
            action: "Modify".into(),
            replacement: None,
            forced_by: vec![],
            strata: Some(Verdict {
                action: "Modify",
                replacement: Some(true),
                forced_by: vec!["KeySchema".into()],
                changed: vec!["AttributeDefinitions".into(), "KeySchema".into()],
            }),
        };
        let p = StackPlan {
            stack: "orders-prod-stateful".into(),
            role: Role::Stateful,
            exists: true,
            source: Source::ChangeSet,
            note: None,
            rows: vec![row],
            refusals: vec![],
        };
        assert_eq!(
            plan(&p),
            "orders-prod-stateful (stateful stack, update): 1 change\n  \
             -/+ table/Orders (TableOrders)  AWS::DynamoDB::Table  CloudFormation: no replacement verdict; Strata: replace (KeySchema)\n"
        );
    }

    #[test]
    fn outputs_read_like_the_local_ones_and_an_unknown_value_says_how_to_read_it() {
        let table: strata_model::Address = "table/Orders".parse().expect("address");
        let output = |attr: &str, value: Option<&str>| Output {
            address: table.clone(),
            attr: attr.into(),
            parameter: format!("/strata/orders/prod/Orders/{attr}"),
            value: value.map(str::to_owned),
        };
        assert_eq!(
            outputs(&[
                output("name", Some("orders-prod-Orders")),
                output("stream_arn", None)
            ]),
            "table/Orders\n  \
             name        orders-prod-Orders   (/strata/orders/prod/Orders/name)\n  \
             stream_arn  (CloudFormation does not report it: `aws ssm get-parameter --name /strata/orders/prod/Orders/stream_arn --query Parameter.Value`)\n"
        );
    }

    #[test]
    fn drift_shows_data_resources_then_published_outputs() {
        use strata_aws::deploy::PublishedDrift;
        use strata_engine::plan::PropertyChange;

        let table: strata_model::Address = "table/Orders".parse().expect("address");
        let change = |property: &str, before: &str, after: &str| PropertyChange {
            property: property.into(),
            before: Some(before.into()),
            after: Some(after.into()),
            forces_replacement: false,
        };
        let report = DriftReport {
            stack: "orders-prod-stateful".into(),
            checked: 17,
            drift: vec![
                Drift::Changed {
                    address: table.clone(),
                    physical_id: "orders-prod-Orders".into(),
                    changes: vec![change("BillingMode", "PAY_PER_REQUEST", "PROVISIONED")],
                },
                Drift::Vanished {
                    address: "queue/OrderEvents".parse().expect("address"),
                    physical_id: "https://sqs/orders-prod-OrderEvents".into(),
                },
            ],
            published: vec![
                PublishedDrift {
                    address: table.clone(),
                    parameter: "/strata/orders/prod/Orders/arn".into(),
                    exists: false,
                    changes: vec![],
                },
                PublishedDrift {
                    address: table,
                    parameter: "/strata/orders/prod/Orders/name".into(),
                    exists: true,
                    changes: vec![change("Value", "orders-prod-Orders", "other")],
                },
            ],
            not_checked: vec![],
            incomplete: None,
        };
        assert_eq!(
            drift(&report),
            "  ~ table/Orders (orders-prod-Orders) was changed outside Strata\n      \
             BillingMode: PAY_PER_REQUEST -> PROVISIONED\n  \
             - queue/OrderEvents (https://sqs/orders-prod-OrderEvents) no longer exists: it was deleted outside Strata, with its data\n  \
             - table/Orders: its published arn (/strata/orders/prod/Orders/arn) was deleted outside Strata; the stateless stack can no longer be deployed until it exists again\n  \
             ~ table/Orders (/strata/orders/prod/Orders/name) was changed outside Strata\n      \
             Value: orders-prod-Orders -> other\n"
        );
    }
}
