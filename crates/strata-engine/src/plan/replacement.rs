//! Which property changes force a stateful resource to be replaced (deleted
//! and created again, losing its data) and which the target changes in place.
//! One table per kind, each rule naming the property, so a refusal can say
//! exactly what forces it.
//!
//! A resource's name is not here: a new name is a new address, which the plan
//! sees as one removal (retained) and one creation, with a rename hint.

use strata_model::ResourceKind;

/// Properties whose change forces replacement, per kind.
pub fn forcing_properties(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        // DynamoDB cannot change a table's key schema (and, were they in the
        // model, its local secondary indexes) after creation. Global indexes,
        // the stream and TTL are changed in place (UpdateTable,
        // UpdateTimeToLive); an index whose keys change is removed and added.
        ResourceKind::Table => &["partition_key", "sort_key"],
        // SQS fixes the queue type at creation (and a FIFO name ends in .fifo).
        ResourceKind::Queue => &["fifo"],
        // SSM cannot turn a String into a SecureString or back in place
        // without rewriting the value, which Strata does not hold.
        ResourceKind::Parameter => &["secure"],
        // Versioning can be turned on and suspended in place.
        ResourceKind::Bucket => &[],
        ResourceKind::Function => &[],
    }
}

pub fn forces_replacement(kind: ResourceKind, property: &str) -> bool {
    forcing_properties(kind).contains(&property)
}
