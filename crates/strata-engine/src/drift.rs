//! Drift: the stateful stack's state against what the target really holds,
//! for `strata drift` and `plan --refresh`. A resource is either as state
//! recorded it, changed outside Strata (property by property, as a plan
//! shows them), or gone.
//!
//! Reading never changes anything. [`refresh`] folds what was read into a
//! copy of the state, so a plan made on it proposes to put back what was
//! changed and to create again what vanished, under the same safety rules as
//! any other plan: a resource recreated outside with another key schema
//! reads as a replacement, and is refused without `--allow-destroy`.

use serde::Serialize;
use serde_json::Value;
use strata_model::{Address, ResourceKind};

use crate::plan::{self, PropertyChange};
use crate::provider::{Provider, ProviderError};
use crate::state::StackState;

/// What happened to one managed resource outside Strata.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    /// The target has no resource under the recorded physical id.
    Vanished {
        address: Address,
        physical_id: String,
    },
    /// It exists with properties other than the ones last applied; `before`
    /// is state, `after` is the target.
    Changed {
        address: Address,
        physical_id: String,
        changes: Vec<PropertyChange>,
    },
}

impl Drift {
    pub fn address(&self) -> &Address {
        match self {
            Self::Vanished { address, .. } | Self::Changed { address, .. } => address,
        }
    }
}

/// Reads every managed resource of `state` from the target, in address order.
pub fn detect(state: &StackState, provider: &dyn Provider) -> Result<Vec<Drift>, ProviderError> {
    let mut out = Vec::new();
    for (address, recorded) in &state.resources {
        let physical_id = recorded.physical_id.clone();
        match provider.read(address, &physical_id)? {
            None => out.push(Drift::Vanished {
                address: address.clone(),
                physical_id,
            }),
            Some(live) => {
                let live = comparable(address, &recorded.properties, live.properties);
                let changes = plan::diff(address.kind, &recorded.properties, &live);
                if !changes.is_empty() {
                    out.push(Drift::Changed {
                        address: address.clone(),
                        physical_id,
                        changes,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The live properties with what state leaves open put back to state's
/// value. A parameter without a value in the manifest gets one from
/// `strata param set`, which is Strata's own way of changing it, not drift;
/// the same holds for a secure parameter, whose value is never read.
fn comparable(address: &Address, recorded: &Value, mut live: Value) -> Value {
    if address.kind == ResourceKind::Parameter
        && recorded.get("value").is_none_or(Value::is_null)
        && let Some(map) = live.as_object_mut()
    {
        map.insert("value".to_owned(), Value::Null);
    }
    live
}

/// State as the target has it: vanished resources leave `state` (a plan then
/// creates them again under their recorded physical ids, which it finds in
/// the returned list), changed ones take the live values of the properties
/// that drifted. Returns the vanished resources' addresses and physical ids.
pub fn refresh(state: &mut StackState, drift: &[Drift]) -> Vec<(Address, String)> {
    let mut vanished = Vec::new();
    for d in drift {
        match d {
            Drift::Vanished {
                address,
                physical_id,
            } => {
                state.resources.remove(address);
                vanished.push((address.clone(), physical_id.clone()));
            }
            Drift::Changed {
                address, changes, ..
            } => {
                let Some(recorded) = state.resources.get_mut(address) else {
                    continue;
                };
                for change in changes {
                    apply_change(&mut recorded.properties, change);
                }
            }
        }
    }
    vanished
}

/// Sets one drifted property to its live value. Index changes are named
/// `indexes.<name>` and edit that one entry of the list.
fn apply_change(properties: &mut Value, change: &PropertyChange) {
    let Some(map) = properties.as_object_mut() else {
        return;
    };
    if let Some(index) = change.property.strip_prefix("indexes.") {
        let list = map.entry("indexes").or_insert_with(|| Value::Array(vec![]));
        let Some(items) = list.as_array_mut() else {
            return;
        };
        items.retain(|i| i.get("name").and_then(Value::as_str) != Some(index));
        if let Some(after) = &change.after {
            items.push(after.clone());
            items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        }
        return;
    }
    map.insert(
        change.property.clone(),
        change.after.clone().unwrap_or(Value::Null),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::state::ResourceState;

    fn state(resources: &[(&str, Value)]) -> StackState {
        let mut state = StackState::empty("shop", "dev", strata_model::StackKind::Stateful);
        for (address, properties) in resources {
            state.resources.insert(
                address.parse().expect("address"),
                ResourceState {
                    physical_id: format!("shop-dev-{address}"),
                    properties: properties.clone(),
                    outputs: BTreeMap::new(),
                    protected: true,
                },
            );
        }
        state
    }

    #[test]
    fn refresh_takes_live_values_and_drops_what_vanished() {
        let mut s = state(&[
            (
                "queue/Jobs",
                json!({"visibility_timeout": 30, "fifo": false}),
            ),
            ("table/Orders", json!({"indexes": [{"name": "A", "x": 1}]})),
            ("bucket/Files", json!({"versioning": false})),
        ]);
        let drift = vec![
            Drift::Changed {
                address: "queue/Jobs".parse().expect("address"),
                physical_id: "p".into(),
                changes: plan::diff(
                    ResourceKind::Queue,
                    &json!({"visibility_timeout": 30}),
                    &json!({"visibility_timeout": 60}),
                ),
            },
            Drift::Changed {
                address: "table/Orders".parse().expect("address"),
                physical_id: "p".into(),
                changes: plan::diff(
                    ResourceKind::Table,
                    &json!({"indexes": [{"name": "A", "x": 1}]}),
                    &json!({"indexes": [{"name": "A", "x": 1}, {"name": "B", "x": 2}]}),
                ),
            },
            Drift::Vanished {
                address: "bucket/Files".parse().expect("address"),
                physical_id: "shop-dev-bucket/Files".into(),
            },
        ];
        let vanished = refresh(&mut s, &drift);
        assert_eq!(vanished.len(), 1);
        assert!(
            !s.resources
                .contains_key(&"bucket/Files".parse().expect("address"))
        );
        let jobs = &s.resources[&"queue/Jobs".parse().expect("address")].properties;
        assert_eq!(jobs, &json!({"visibility_timeout": 60, "fifo": false}));
        let orders = &s.resources[&"table/Orders".parse().expect("address")].properties;
        assert_eq!(
            orders,
            &json!({"indexes": [{"name": "A", "x": 1}, {"name": "B", "x": 2}]})
        );
    }

    #[test]
    fn a_parameter_value_set_with_param_set_is_not_drift() {
        let address: Address = "parameter/Key".parse().expect("address");
        let live = comparable(
            &address,
            &json!({"value": null, "secure": false}),
            json!({"value": "set", "secure": false}),
        );
        assert_eq!(live, json!({"value": null, "secure": false}));
        let pinned = comparable(
            &address,
            &json!({"value": "a", "secure": false}),
            json!({"value": "b", "secure": false}),
        );
        assert_eq!(
            pinned["value"], "b",
            "a value from the manifest is compared"
        );
    }
}
