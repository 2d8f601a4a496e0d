//! Who is calling the endpoint, and what they may touch.
//!
//! Every request names an access key id in its SigV4 `Authorization` header.
//! A key the [`AccessRegistry`] does not know is the developer (a terminal,
//! a test, the AWS CLI): full access, as SPEC §5 wants for local work. A key
//! the registry knows belongs to one function, registered when that function
//! starts, and carries the `uses` grants of strata.yaml: the same policy that
//! becomes IAM on AWS. Services call [`Principal::authorize`] once per resource
//! a request touches, before doing anything.
//!
//! Invariant: function keys are generated per function process and never
//! reused, so a key that is revoked (function removed) cannot come back as
//! the developer inside a still-running function.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use strata_model::{Access, Address};

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Anyone with a key Strata did not issue: full access.
    Developer,
    /// A function, limited to its grants.
    Function(Arc<FunctionGrants>),
}

/// What one function may do: its `uses`, by resource address, and the
/// tables whose streams it reads (its table events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionGrants {
    function: String,
    grants: BTreeMap<Address, Access>,
    streams: BTreeSet<Address>,
}

impl FunctionGrants {
    pub fn new(
        function: impl Into<String>,
        grants: impl IntoIterator<Item = (Address, Access)>,
    ) -> Self {
        let mut map = BTreeMap::new();
        for (address, access) in grants {
            // Two grants on one resource add up, as two IAM statements would.
            map.entry(address)
                .and_modify(|held: &mut Access| *held = held.union(access))
                .or_insert(access);
        }
        Self {
            function: function.into(),
            grants: map,
            streams: BTreeSet::new(),
        }
    }

    /// Also allow reading the streams of `tables` (and nothing else on them).
    pub fn with_streams(mut self, tables: impl IntoIterator<Item = Address>) -> Self {
        self.streams.extend(tables);
        self
    }

    pub fn reads_stream(&self, table: &Address) -> bool {
        self.streams.contains(table)
    }

    pub fn function(&self) -> &str {
        &self.function
    }

    pub fn grant(&self, address: &Address) -> Option<Access> {
        self.grants.get(address).copied()
    }
}

/// What one request needs from one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A data operation covered by an access level of `uses`.
    Level(Access),
    /// Reading a table's stream (DescribeStream, GetShardIterator,
    /// GetRecords, ListStreams of one table): granted by a table event only,
    /// never by `read`, as on AWS where the stream has its own ARN.
    Stream,
    /// A control-plane operation (create, delete or reconfigure a resource,
    /// list the account's resources). `uses` never grants these: only the
    /// stateful stack's own deploy changes stateful resources (SPEC S1).
    Manage,
}

/// One check: `operation` (`dynamodb:PutItem`) on `resource`, or on the
/// account when `resource` is `None`.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub operation: &'a str,
    pub resource: Option<&'a Address>,
    pub need: Need,
}

/// A refused action, with what the service needs to word its own
/// `AccessDeniedException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function {function} is not allowed {operation} on {}", resource_text(.resource))]
pub struct AccessDenied {
    pub function: String,
    pub operation: String,
    pub resource: Option<Address>,
}

fn resource_text(resource: &Option<Address>) -> String {
    match resource {
        Some(address) => address.to_string(),
        None => "the account".to_owned(),
    }
}

impl Principal {
    /// Allow or refuse one action.
    pub fn authorize(&self, action: &Action<'_>) -> Result<(), AccessDenied> {
        let grants = match self {
            Self::Developer => return Ok(()),
            Self::Function(grants) => grants,
        };
        let allowed = match (action.need, action.resource) {
            (Need::Level(needed), Some(resource)) => grants
                .grant(resource)
                .is_some_and(|held| held.covers(needed)),
            (Need::Stream, Some(table)) => grants.reads_stream(table),
            // A level without a resource, every stream of the account, or any
            // management action: nothing a function holds covers it.
            (Need::Level(_) | Need::Stream, None) | (Need::Manage, _) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(AccessDenied {
                function: grants.function.clone(),
                operation: action.operation.to_owned(),
                resource: action.resource.cloned(),
            })
        }
    }

    pub fn is_developer(&self) -> bool {
        matches!(self, Self::Developer)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Developer => f.write_str("developer"),
            Self::Function(grants) => write!(f, "function/{}", grants.function),
        }
    }
}

/// Access key id -> function grants, shared by the endpoint and whoever starts
/// functions. Reads happen on every request; writes only when a function
/// starts or goes away.
#[derive(Debug, Default)]
pub struct AccessRegistry {
    keys: RwLock<HashMap<String, Arc<FunctionGrants>>>,
}

impl AccessRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Give `access_key_id` to a function. Replaces an earlier registration of
    /// the same key.
    pub fn register(&self, access_key_id: impl Into<String>, grants: FunctionGrants) {
        // A panic elsewhere while holding the lock cannot leave the map half
        // updated (each insert or remove is one call), so a poisoned lock is
        // still safe to use.
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(access_key_id.into(), Arc::new(grants));
    }

    pub fn revoke(&self, access_key_id: &str) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(access_key_id);
    }

    /// The principal behind a request's access key id (`None`: the request
    /// was not signed).
    pub fn principal(&self, access_key_id: Option<&str>) -> Principal {
        let Some(key) = access_key_id else {
            return Principal::Developer;
        };
        match self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            Some(grants) => Principal::Function(Arc::clone(grants)),
            None => Principal::Developer,
        }
    }
}

#[cfg(test)]
mod tests {
    use strata_model::ResourceKind;

    use super::*;

    fn table(name: &str) -> Address {
        Address::new(ResourceKind::Table, name)
    }

    fn registry() -> AccessRegistry {
        let registry = AccessRegistry::new();
        registry.register(
            "AKFUNCREAD",
            FunctionGrants::new("getOrder", [(table("Orders"), Access::Read)]),
        );
        registry.register(
            "AKFUNCRW",
            FunctionGrants::new(
                "createOrder",
                [
                    (table("Orders"), Access::Read),
                    (table("Orders"), Access::Write),
                ],
            ),
        );
        registry
    }

    fn check(
        registry: &AccessRegistry,
        key: &str,
        op: &str,
        res: Option<&str>,
        need: Need,
    ) -> String {
        let address = res.map(table);
        let action = Action {
            operation: op,
            resource: address.as_ref(),
            need,
        };
        match registry.principal(Some(key)).authorize(&action) {
            Ok(()) => "allow".to_owned(),
            Err(denied) => denied.to_string(),
        }
    }

    #[test]
    fn unknown_and_missing_keys_are_the_developer_with_full_access() {
        let registry = registry();
        assert!(registry.principal(None).is_developer());
        assert!(registry.principal(Some("AKIDEXAMPLE")).is_developer());
        let manage = check(
            &registry,
            "AKIDEXAMPLE",
            "dynamodb:DeleteTable",
            Some("Orders"),
            Need::Manage,
        );
        assert_eq!(manage, "allow");
    }

    #[test]
    fn read_grant_allows_reads_and_refuses_writes() {
        let registry = registry();
        let read = Need::Level(Access::Read);
        let write = Need::Level(Access::Write);
        assert_eq!(
            check(
                &registry,
                "AKFUNCREAD",
                "dynamodb:GetItem",
                Some("Orders"),
                read
            ),
            "allow"
        );
        assert_eq!(
            check(
                &registry,
                "AKFUNCREAD",
                "dynamodb:PutItem",
                Some("Orders"),
                write
            ),
            "function getOrder is not allowed dynamodb:PutItem on table/Orders"
        );
    }

    #[test]
    fn grants_on_one_resource_add_up() {
        let registry = registry();
        let principal = registry.principal(Some("AKFUNCRW"));
        let Principal::Function(grants) = principal else {
            panic!("registered key must be a function");
        };
        assert_eq!(grants.grant(&table("Orders")), Some(Access::ReadWrite));
        let write = Need::Level(Access::Write);
        assert_eq!(
            check(
                &registry,
                "AKFUNCRW",
                "dynamodb:PutItem",
                Some("Orders"),
                write
            ),
            "allow"
        );
    }

    #[test]
    fn functions_never_reach_unlisted_resources_or_manage_anything() {
        let registry = registry();
        let read = Need::Level(Access::Read);
        assert_eq!(
            check(
                &registry,
                "AKFUNCRW",
                "dynamodb:GetItem",
                Some("Payments"),
                read
            ),
            "function createOrder is not allowed dynamodb:GetItem on table/Payments"
        );
        assert_eq!(
            check(
                &registry,
                "AKFUNCRW",
                "dynamodb:DeleteTable",
                Some("Orders"),
                Need::Manage
            ),
            "function createOrder is not allowed dynamodb:DeleteTable on table/Orders"
        );
        assert_eq!(
            check(&registry, "AKFUNCRW", "dynamodb:ListTables", None, read),
            "function createOrder is not allowed dynamodb:ListTables on the account"
        );
    }

    #[test]
    fn a_stream_grant_reads_the_stream_and_nothing_else() {
        let registry = AccessRegistry::new();
        registry.register(
            "AKSTREAM",
            FunctionGrants::new("onOrder", []).with_streams([table("Orders")]),
        );
        let on =
            |op: &str, res: Option<&str>, need: Need| check(&registry, "AKSTREAM", op, res, need);
        assert_eq!(
            on("dynamodb:GetRecords", Some("Orders"), Need::Stream),
            "allow"
        );
        assert_eq!(
            on("dynamodb:GetRecords", Some("Payments"), Need::Stream),
            "function onOrder is not allowed dynamodb:GetRecords on table/Payments"
        );
        assert_eq!(
            on("dynamodb:ListStreams", None, Need::Stream),
            "function onOrder is not allowed dynamodb:ListStreams on the account"
        );
        assert_eq!(
            on(
                "dynamodb:GetItem",
                Some("Orders"),
                Need::Level(Access::Read)
            ),
            "function onOrder is not allowed dynamodb:GetItem on table/Orders"
        );
    }

    #[test]
    fn revoked_key_no_longer_maps_to_the_function() {
        let registry = registry();
        registry.revoke("AKFUNCREAD");
        assert!(registry.principal(Some("AKFUNCREAD")).is_developer());
    }
}
