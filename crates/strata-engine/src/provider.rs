//! What the engine needs from a target: create, read, update and delete one
//! stateful resource, and say how much data a destructive change would take.
//! The local target and the aws target implement it; the engine never knows
//! which one it talks to.
//!
//! Calls are blocking. The engine applies one resource at a time in
//! dependency order, so concurrency would buy little; a target built on an
//! async SDK drives its own runtime inside its provider.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use strata_model::{Address, Resource};

/// A resource as the target reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// Properties in the model's serialized form, as far as the target can tell.
    pub properties: serde_json::Value,
    /// Published outputs (name, arn, url, stream_arn).
    pub outputs: BTreeMap<String, String>,
}

/// How much data a destructive change would remove. `None` where the target
/// cannot tell (a plan then says "unknown", never "none").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAtRisk {
    pub items: Option<u64>,
    pub objects: Option<u64>,
    pub bytes: Option<u64>,
    pub messages: Option<u64>,
}

impl fmt::Display for DataAtRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.items, "item"),
            (self.objects, "object"),
            (self.messages, "message"),
        ]
        .into_iter()
        .filter_map(|(n, word)| n.map(|n| format!("{n} {word}{}", if n == 1 { "" } else { "s" })))
        .chain(self.bytes.map(|b| format!("{b} bytes")))
        .collect();
        if parts.is_empty() {
            f.write_str("an unknown amount of data")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{address}: {message}")]
    Failed { address: Address, message: String },
    #[error("{address}: the target cannot be reached: {message}")]
    Unreachable { address: Address, message: String },
}

pub trait Provider {
    /// The name the target gives this resource in this stage (e.g.
    /// `orders-dev-Orders`). Recorded in state at creation and never
    /// recomputed, so `state mv` can keep a resource under a new address.
    fn physical_id(&self, resource: &Resource) -> String;

    /// Creates the resource, or adopts one that already exists under
    /// `physical_id` (a retained resource coming back, or a create that a
    /// killed run finished). Must be idempotent.
    fn create(&self, resource: &Resource, physical_id: &str) -> Result<Live, ProviderError>;

    /// Changes the resource in place from `previous` properties to
    /// `resource`'s; only called for changes the replacement rules allow.
    fn update(
        &self,
        resource: &Resource,
        physical_id: &str,
        previous: &serde_json::Value,
    ) -> Result<Live, ProviderError>;

    /// Deletes the resource and its data. Succeeds if it is already gone.
    fn delete(&self, address: &Address, physical_id: &str) -> Result<(), ProviderError>;

    /// The resource as it is now, or `None` when it does not exist.
    fn read(&self, address: &Address, physical_id: &str) -> Result<Option<Live>, ProviderError>;

    /// What deleting it would remove.
    fn data_at_risk(
        &self,
        address: &Address,
        physical_id: &str,
    ) -> Result<DataAtRisk, ProviderError>;
}
