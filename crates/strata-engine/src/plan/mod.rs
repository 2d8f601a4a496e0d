//! Plans for the stateful stack: the manifest's resources against state,
//! each address given one [`Action`], with the properties that change and
//! what forces a replacement. The safety rules of SPEC §4 read the plan
//! (`refusals`); apply carries it out.

pub mod replacement;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_model::{Address, Resource, ResourceKind, Service, StackKind};

use crate::provider::DataAtRisk;
use crate::state::StackState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    /// Take over a retained resource whose block came back (S3).
    Adopt,
    Update,
    /// Delete and create again: the data goes.
    Replace,
    /// Delete the resource and its data (only with `--allow-destroy`).
    Delete,
    /// The block left the manifest: forget the resource, keep it and its data.
    Retain,
}

impl Action {
    /// Whether carrying it out removes data.
    pub fn is_destructive(self) -> bool {
        matches!(self, Self::Replace | Self::Delete)
    }

    /// The diff sign people know from Terraform.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::NoOp => " ",
            Self::Create | Self::Adopt => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
            Self::Retain => "retain",
        }
    }
}

/// One property that differs between state and manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyChange {
    /// `sort_key`, `indexes.ByCustomer`, `dead_letter`.
    pub property: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChange {
    pub address: Address,
    pub action: Action,
    /// The target's name for it: from state when known, else the provider's scheme.
    pub physical_id: String,
    pub changes: Vec<PropertyChange>,
    /// Filled in by the caller for destructive actions, from the provider.
    pub data_at_risk: Option<DataAtRisk>,
}

impl PlannedChange {
    pub fn forced_by(&self) -> impl Iterator<Item = &str> {
        self.changes
            .iter()
            .filter(|c| c.forces_replacement)
            .map(|c| c.property.as_str())
    }
}

/// "This removal and this addition look like one resource renamed."
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenameHint {
    pub from: Address,
    pub to: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub stack: StackKind,
    /// Every managed or wanted address, in apply order.
    pub changes: Vec<PlannedChange>,
    pub renames: Vec<RenameHint>,
}

/// Addresses the user allowed to be destroyed in this run (`--allow-destroy`).
#[derive(Debug, Clone, Default)]
pub struct AllowDestroy {
    pub all: bool,
    pub addresses: BTreeSet<Address>,
}

impl AllowDestroy {
    pub fn allows(&self, address: &Address) -> bool {
        self.all || self.addresses.contains(address)
    }
}

/// A destructive change that was not allowed (S2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub address: Address,
    pub action: Action,
    pub forced_by: Vec<String>,
    pub data_at_risk: Option<DataAtRisk>,
}

/// The stateful resource's properties as the engine compares and stores them.
pub fn properties(resource: &Resource) -> Value {
    let mut value = serde_json::to_value(&resource.spec).expect("resource specs serialize");
    // The kind is part of the address; name and kind are not properties.
    if let Value::Object(map) = &mut value {
        map.remove("kind");
    }
    value
}

impl Plan {
    /// Plans the stateful stack. `physical_id` names a new resource (the
    /// provider's scheme). `allow` only decides removals: a removed block is
    /// retained unless its address is allowed to be destroyed.
    pub fn stateful(
        service: &Service,
        state: &StackState,
        allow: &AllowDestroy,
        physical_id: impl Fn(&Resource) -> String,
    ) -> Self {
        let desired: BTreeMap<Address, &Resource> = service
            .stateful
            .resources
            .iter()
            .map(|r| (r.address(), r))
            .collect();
        let mut changes = Vec::new();
        for resource in &service.stateful.resources {
            let address = resource.address();
            let after = properties(resource);
            let change = match (state.resources.get(&address), state.retained.get(&address)) {
                (Some(current), _) => {
                    let diffs = diff(address.kind, &current.properties, &after);
                    let action = if diffs.is_empty() {
                        Action::NoOp
                    } else if diffs.iter().any(|d| d.forces_replacement) {
                        Action::Replace
                    } else {
                        Action::Update
                    };
                    PlannedChange {
                        address,
                        action,
                        physical_id: current.physical_id.clone(),
                        changes: diffs,
                        data_at_risk: None,
                    }
                }
                (None, Some(retained)) => PlannedChange {
                    address: address.clone(),
                    action: Action::Adopt,
                    physical_id: retained.physical_id.clone(),
                    changes: diff(address.kind, &retained.properties, &after),
                    data_at_risk: None,
                },
                (None, None) => PlannedChange {
                    address: address.clone(),
                    action: Action::Create,
                    physical_id: physical_id(resource),
                    changes: diff(address.kind, &Value::Null, &after),
                    data_at_risk: None,
                },
            };
            changes.push(change);
        }
        for (address, current) in &state.resources {
            if desired.contains_key(address) {
                continue;
            }
            // S3: leaving the manifest is not a deletion. Only an explicit
            // `--allow-destroy` for this address (or an unprotected entry) deletes.
            let action = if allow.allows(address) || !current.protected {
                Action::Delete
            } else {
                Action::Retain
            };
            changes.push(PlannedChange {
                address: address.clone(),
                action,
                physical_id: current.physical_id.clone(),
                changes: diff(address.kind, &current.properties, &Value::Null),
                data_at_risk: None,
            });
        }
        let renames = rename_hints(&changes, state, &desired);
        order(&mut changes, service);
        Self {
            stack: StackKind::Stateful,
            changes,
            renames,
        }
    }

    /// A plan that deletes every managed resource (`destroy --stack stateful`).
    pub fn destroy(state: &StackState) -> Self {
        let changes = state
            .resources
            .iter()
            .map(|(address, current)| PlannedChange {
                address: address.clone(),
                action: Action::Delete,
                physical_id: current.physical_id.clone(),
                changes: diff(address.kind, &current.properties, &Value::Null),
                data_at_risk: None,
            })
            .collect();
        Self {
            stack: state.stack,
            changes,
            renames: vec![],
        }
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// Destructive changes not allowed in this run: any one refuses the run (S2).
    pub fn refusals(&self, allow: &AllowDestroy) -> Vec<Refusal> {
        self.changes
            .iter()
            .filter(|c| c.action.is_destructive() && !allow.allows(&c.address))
            .map(|c| Refusal {
                address: c.address.clone(),
                action: c.action,
                forced_by: c.forced_by().map(str::to_owned).collect(),
                data_at_risk: c.data_at_risk,
            })
            .collect()
    }
}

/// Property-by-property difference; `Null` stands for "absent" on either side.
/// Table indexes are compared one by one so that adding an index reads as
/// `indexes.ByCustomer` and not as a change of the whole list.
pub(crate) fn diff(kind: ResourceKind, before: &Value, after: &Value) -> Vec<PropertyChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (old, new) = (
            b.get(key).filter(|v| !v.is_null()),
            a.get(key).filter(|v| !v.is_null()),
        );
        if old == new {
            continue;
        }
        if key == "indexes" {
            out.extend(diff_indexes(old, new));
            continue;
        }
        // A resource that is created or deleted forces nothing: it is not replaced.
        let replaced =
            !before.is_null() && !after.is_null() && replacement::forces_replacement(kind, key);
        out.push(PropertyChange {
            property: key.clone(),
            before: old.cloned(),
            after: new.cloned(),
            forces_replacement: replaced,
        });
    }
    out
}

fn diff_indexes(old: Option<&Value>, new: Option<&Value>) -> Vec<PropertyChange> {
    let by_name = |v: Option<&Value>| -> BTreeMap<String, Value> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| Some((i.get("name")?.as_str()?.to_owned(), i.clone())))
            .collect()
    };
    let (old, new) = (by_name(old), by_name(new));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| PropertyChange {
            property: format!("indexes.{n}"),
            before: old.get(n).cloned(),
            after: new.get(n).cloned(),
            forces_replacement: false,
        })
        .collect()
}

/// A retained (or deleted) resource and a created one of the same kind with
/// the same properties are most likely one resource renamed in the manifest.
fn rename_hints(
    changes: &[PlannedChange],
    state: &StackState,
    desired: &BTreeMap<Address, &Resource>,
) -> Vec<RenameHint> {
    let mut hints = Vec::new();
    for gone in changes
        .iter()
        .filter(|c| matches!(c.action, Action::Retain | Action::Delete))
    {
        let Some(old) = state.resources.get(&gone.address) else {
            continue;
        };
        for new in changes
            .iter()
            .filter(|c| c.action == Action::Create && c.address.kind == gone.address.kind)
        {
            if desired
                .get(&new.address)
                .is_some_and(|r| properties(r) == old.properties)
            {
                hints.push(RenameHint {
                    from: gone.address.clone(),
                    to: new.address.clone(),
                });
            }
        }
    }
    hints
}

/// Apply order within the stateful stack: creations and updates first, a
/// dead-letter queue before the queue that names it; retains and deletions
/// last, the referring queue before its dead-letter queue.
fn order(changes: &mut [PlannedChange], service: &Service) {
    let dead_letter_of: BTreeMap<String, String> = service
        .stateful
        .resources
        .iter()
        .filter_map(|r| match &r.spec {
            strata_model::ResourceSpec::Queue(q) => q
                .dead_letter
                .as_ref()
                .map(|d| (r.name.to_string(), d.queue.to_string())),
            _ => None,
        })
        .collect();
    let rank = |c: &PlannedChange| -> (u8, u8) {
        let removal = matches!(c.action, Action::Retain | Action::Delete);
        let is_dlq = c.address.kind == ResourceKind::Queue
            && dead_letter_of.values().any(|d| *d == c.address.name);
        match (removal, is_dlq) {
            (false, true) => (0, 0),
            (false, false) => (0, 1),
            (true, false) => (1, 0),
            (true, true) => (1, 1),
        }
    };
    changes.sort_by_key(rank);
}
