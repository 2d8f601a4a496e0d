//! Plans for people, the way Terraform shows them: one line per address with
//! its sign (`+`, `~`, `-/+`, `-`, `retain`), the properties that change as
//! `before -> after`, what forces a replacement and how much data would go;
//! then rename hints, the refusal with the exact command that would allow
//! it, a lock taken over from a dead run and what reconcile settled; and
//! drift, what changed outside Strata, in the same notation.
//!
//! Secure values never reach this text: the model holds none, and a
//! parameter's `value` is masked whenever the parameter is secure.

use std::fmt::Write as _;

use serde_json::Value;
use strata_engine::apply::{Outcome, Reconciled};
use strata_engine::drift::Drift;
use strata_engine::plan::{Action, PlannedChange, PropertyChange, Refusal, RenameHint};
use strata_engine::provider::DataAtRisk;
use strata_engine::state::LockInfo;
use strata_model::ResourceKind;

use crate::report::plural;

const MASK: &str = "(sensitive)";

/// The whole plan, ending with its summary line.
pub fn plan(outcome: &Outcome) -> String {
    let mut out = String::new();
    let changes: Vec<&PlannedChange> = outcome
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if changes.is_empty() {
        out.push_str("No changes: the stateful stack matches strata.yaml.\n");
        return out;
    }
    out.push_str("Stateful stack:\n\n");
    for change in &changes {
        change_text(&mut out, change);
        out.push('\n');
    }
    let count = |actions: &[Action]| {
        changes
            .iter()
            .filter(|c| actions.contains(&c.action))
            .count()
    };
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to adopt, {} to update, {} to replace, {} to delete, {} to retain.",
        count(&[Action::Create]),
        count(&[Action::Adopt]),
        count(&[Action::Update]),
        count(&[Action::Replace]),
        count(&[Action::Delete]),
        count(&[Action::Retain]),
    );
    out
}

fn change_text(out: &mut String, c: &PlannedChange) {
    let secure = is_secure(c);
    let (sign, what) = match c.action {
        Action::NoOp => (" ", "unchanged"),
        Action::Create => ("+", "will be created"),
        Action::Adopt => (
            "+",
            "will be adopted: the retained resource comes back with its data",
        ),
        Action::Update => ("~", "will be updated in place"),
        Action::Replace => (
            "-/+",
            "must be replaced: deleted with its data, then created empty",
        ),
        Action::Delete => ("-", "will be deleted with its data"),
        Action::Retain => (
            "retain",
            "leaves the state: the resource and its data are kept (add the block back to adopt it)",
        ),
    };
    let _ = writeln!(out, "  {sign} {} ({}) {what}", c.address, c.physical_id);
    for p in &c.changes {
        property_line(out, c.action, p, secure);
    }
    if c.action.is_destructive() {
        let _ = writeln!(
            out,
            "      data at risk: {}",
            risk_text(c.address.kind, c.data_at_risk.as_ref())
        );
    }
}

fn property_line(out: &mut String, action: Action, p: &PropertyChange, secure: bool) {
    let show = |v: &Option<Value>| -> String {
        match v {
            Some(_) if secure && p.property == "value" => MASK.to_owned(),
            Some(v) => value_text(v),
            None => "(none)".to_owned(),
        }
    };
    let forces = if p.forces_replacement {
        "   # forces replacement"
    } else {
        ""
    };
    let line = match action {
        Action::Create => format!("{}: {}", p.property, show(&p.after)),
        Action::Delete | Action::Retain => format!("{}: {}", p.property, show(&p.before)),
        _ => format!("{}: {} -> {}", p.property, show(&p.before), show(&p.after)),
    };
    let _ = writeln!(out, "      {line}{forces}");
}

/// Whether the change is about a secure parameter (before or after). When
/// `secure` is not among the changes it did not change, and a value that
/// changes then belongs to a plain parameter (secure ones have none).
fn is_secure(c: &PlannedChange) -> bool {
    c.address.kind == ResourceKind::Parameter
        && c.changes.iter().any(|p| {
            p.property == "secure"
                && (p.before == Some(Value::Bool(true)) || p.after == Some(Value::Bool(true)))
        })
}

/// `pk:S`, `{ partition_key: customerId:S, sort_key: createdAt:N }`,
/// `OrderEventsDlq after 5 receives`, or the JSON of anything else.
fn value_text(v: &Value) -> String {
    if let (Some(name), Some(kind)) = (v.get("name"), v.get("type"))
        && let (Some(name), Some(kind)) = (name.as_str(), kind.as_str())
    {
        return format!("{name}:{kind}");
    }
    if let Some(pk) = v.get("partition_key") {
        let mut text = format!("{{ partition_key: {}", value_text(pk));
        if let Some(sk) = v.get("sort_key").filter(|s| !s.is_null()) {
            let _ = write!(text, ", sort_key: {}", value_text(sk));
        }
        text.push_str(" }");
        return text;
    }
    if let (Some(queue), Some(max)) = (v.get("queue"), v.get("max_receives")) {
        return format!(
            "{} after {max} receives",
            queue.as_str().unwrap_or_default()
        );
    }
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn risk_text(kind: ResourceKind, risk: Option<&DataAtRisk>) -> String {
    match (kind, risk) {
        (ResourceKind::Parameter, _) => "its value".to_owned(),
        (_, Some(r)) => r.to_string(),
        (_, None) => "an unknown amount of data".to_owned(),
    }
}

/// Rename hints with the command that keeps the data.
pub fn renames(hints: &[RenameHint], prefix: &str) -> String {
    let mut out = String::new();
    for h in hints {
        let _ = writeln!(
            out,
            "hint: {} and {} look like one resource renamed. To keep its data, move it in \
             state instead of creating a new one:\n      {prefix} state mv {} {}",
            h.from, h.to, h.from, h.to
        );
    }
    out
}

/// The refusal: each address, what forces it, the data at risk, and the
/// command that would allow it.
pub fn refusal(refusals: &[Refusal], prefix: &str, command: &str) -> String {
    let mut out = format!(
        "refused by the safety rules: {} destructive change{} not allowed (nothing was changed)\n",
        refusals.len(),
        if refusals.len() == 1 { "" } else { "s" }
    );
    for r in refusals {
        let why = match r.action {
            Action::Replace if !r.forced_by.is_empty() => {
                format!(
                    "would be replaced because {} changed",
                    r.forced_by.join(", ")
                )
            }
            Action::Replace => "would be replaced".to_owned(),
            _ => "would be deleted".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} {why}; {} would be lost\n      allow it with: {prefix} {command} --allow-destroy {}",
            r.address,
            risk_text(r.address.kind, r.data_at_risk.as_ref()),
            r.address
        );
    }
    if refusals.len() > 1 {
        let all: Vec<String> = refusals
            .iter()
            .map(|r| format!("--allow-destroy {}", r.address))
            .collect();
        let _ = writeln!(out, "  all of them: {prefix} {command} {}", all.join(" "));
    }
    out
}

/// What changed outside Strata, one address at a time. A parameter's value
/// is masked whatever its kind: drift text is for reading, not for secrets.
pub fn drift(drift: &[Drift]) -> String {
    let mut out = String::new();
    for d in drift {
        match d {
            Drift::Vanished {
                address,
                physical_id,
            } => {
                let _ = writeln!(
                    out,
                    "  - {address} ({physical_id}) no longer exists: it was deleted outside Strata, with its data"
                );
            }
            Drift::Changed {
                address,
                physical_id,
                changes,
            } => {
                let _ = writeln!(
                    out,
                    "  ~ {address} ({physical_id}) was changed outside Strata"
                );
                let secure = address.kind == ResourceKind::Parameter;
                for p in changes {
                    property_line(&mut out, Action::Update, p, secure);
                }
            }
        }
    }
    out
}

/// Warnings and notes that come before the plan.
pub fn preamble(stale: Option<&LockInfo>, reconciled: &[Reconciled]) -> String {
    let mut out = String::new();
    if let Some(info) = stale {
        let _ = writeln!(
            out,
            "warning: took over the stateful lock left by {info}; that process is gone, so its \
             run was interrupted"
        );
    }
    // The journal lists every operation of the run up front, so a run
    // killed early leaves many that never began: those are counted, and
    // only the ones whose outcome matters are named.
    let mut not_begun = 0;
    for r in reconciled {
        let began = match r.action {
            Action::Create => r.exists,
            Action::Delete => !r.exists,
            _ => true,
        };
        if !began {
            not_begun += 1;
            continue;
        }
        let _ = writeln!(
            out,
            "reconciled: an interrupted {} of {} was settled from what exists ({})",
            action_word(r.action),
            r.address,
            if r.exists {
                "the resource exists"
            } else {
                "the resource does not exist"
            }
        );
    }
    if not_begun > 0 {
        let _ = writeln!(
            out,
            "reconciled: {} of the interrupted run had not begun and are part of this plan again",
            plural(not_begun, "operation")
        );
    }
    out
}

pub(crate) fn action_word(action: Action) -> &'static str {
    match action {
        Action::NoOp => "no-op",
        Action::Create => "create",
        Action::Adopt => "adopt",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Retain => "retain",
    }
}
