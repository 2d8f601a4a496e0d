//! The operation journal of an apply: written before the first change and
//! after each one, removed when the apply ends. A journal found at the start
//! of a run means the last apply was killed; its pending operations are the
//! ones whose outcome must be read back from the target (S5).

use serde::{Deserialize, Serialize};
use strata_model::Address;

use crate::plan::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    Pending,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub address: Address,
    pub physical_id: String,
    pub action: Action,
    pub status: OpStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub command: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
    pub entries: Vec<JournalEntry>,
}

impl Journal {
    /// Operations that may or may not have happened.
    pub fn unfinished(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries
            .iter()
            .filter(|e| e.status == OpStatus::Pending)
    }
}
