//! How an aws deploy reads to people: one line per progress note, and each
//! stack's change set with CloudFormation's verdict next to Strata's.
#![cfg_attr(not(feature = "aws"), allow(dead_code))]

use std::fmt::Write as _;

use strata_aws::deploy::changes::Row;
use strata_aws::deploy::{Failure, Note, Source, StackPlan};

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
}
