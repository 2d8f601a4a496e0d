//! State: what Strata last applied for one stack of one stage. The model
//! (`StackState`) is separate from its file format (`file.rs`) and from the
//! locked store around it (`store.rs`), so the format can change version
//! without the plan noticing.

mod file;
mod journal;
mod lock;
mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_model::{Address, ResourceKind, StackKind};

pub use file::{CURRENT_VERSION, FileError, decode, encode};
pub use journal::{Journal, JournalEntry, OpStatus};
pub use lock::{Lock, LockError, LockInfo};
pub use store::{StateStore, StoreError};

/// One stack's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    pub service: String,
    pub stage: String,
    pub stack: StackKind,
    /// Incremented by every write, so two writers can never both win unseen.
    pub serial: u64,
    /// Resources Strata manages, by address.
    pub resources: BTreeMap<Address, ResourceState>,
    /// Resources that left the manifest and were kept with their data (S3).
    /// They are no longer managed; adding the block back adopts them.
    pub retained: BTreeMap<Address, RetainedResource>,
}

/// One managed resource as last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// The name the target knows it by (`orders-dev-Orders`), which may differ
    /// from the logical name and survives `state mv`.
    pub physical_id: String,
    /// The resource's properties as applied, in the model's serialized form.
    /// Secure values never appear here: the model holds none.
    pub properties: serde_json::Value,
    /// Published outputs (name, arn, url, stream_arn).
    pub outputs: BTreeMap<String, String>,
    /// Destroying it needs `--allow-destroy`. Kept in state, not taken from the
    /// manifest, so deleting the block does not lift it (S3).
    pub protected: bool,
}

/// A resource removed from the manifest whose data was kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetainedResource {
    pub physical_id: String,
    pub properties: serde_json::Value,
}

impl StackState {
    pub fn empty(service: &str, stage: &str, stack: StackKind) -> Self {
        Self {
            service: service.to_owned(),
            stage: stage.to_owned(),
            stack,
            serial: 0,
            resources: BTreeMap::new(),
            retained: BTreeMap::new(),
        }
    }

    /// Addresses of one kind, for rename hints and counts.
    pub fn of_kind(&self, kind: ResourceKind) -> impl Iterator<Item = (&Address, &ResourceState)> {
        self.resources.iter().filter(move |(a, _)| a.kind == kind)
    }
}

#[cfg(test)]
mod tests;
