//! Engine scenarios on an in-memory provider: the safety rules, retention and
//! adoption, renames, and recovery from a run killed half-way. (The local
//! target's provider repeats the end-to-end ones against real services.)

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde_json::Value;
use strata_model::{Address, CodeTree, Resource, Service};

use super::*;
use crate::provider::{DataAtRisk, Live};

/// A target in memory: physical id -> (properties, items of data).
#[derive(Default)]
struct Memory {
    resources: RefCell<BTreeMap<String, (Value, u64)>>,
    /// After this many more successful effects, the next effect happens and
    /// then reports failure: a run killed right after the target changed.
    crash_after: Cell<Option<usize>>,
}

impl Memory {
    fn effect(&self, address: &Address) -> Result<(), ProviderError> {
        match self.crash_after.get() {
            Some(0) => {
                self.crash_after.set(None);
                Err(ProviderError::Unreachable {
                    address: address.clone(),
                    message: "killed".into(),
                })
            }
            Some(n) => {
                self.crash_after.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn put_data(&self, physical: &str, items: u64) {
        self.resources
            .borrow_mut()
            .get_mut(physical)
            .expect("exists")
            .1 = items;
    }

    fn data(&self, physical: &str) -> Option<u64> {
        self.resources.borrow().get(physical).map(|r| r.1)
    }
}

impl Provider for Memory {
    fn physical_id(&self, resource: &Resource) -> String {
        format!("shop-dev-{}", resource.name)
    }

    fn create(&self, resource: &Resource, physical_id: &str) -> Result<Live, ProviderError> {
        let mut map = self.resources.borrow_mut();
        // Adopting keeps the data that is there.
        let items = map.get(physical_id).map_or(0, |r| r.1);
        map.insert(physical_id.to_owned(), (plan::properties(resource), items));
        drop(map);
        self.effect(&resource.address())?;
        Ok(Live {
            properties: plan::properties(resource),
            outputs: BTreeMap::from([("name".into(), physical_id.to_owned())]),
        })
    }

    fn update(
        &self,
        resource: &Resource,
        physical_id: &str,
        _previous: &Value,
    ) -> Result<Live, ProviderError> {
        self.resources
            .borrow_mut()
            .get_mut(physical_id)
            .expect("updated resources exist")
            .0 = plan::properties(resource);
        self.effect(&resource.address())?;
        Ok(Live {
            properties: plan::properties(resource),
            outputs: BTreeMap::new(),
        })
    }

    fn delete(&self, address: &Address, physical_id: &str) -> Result<(), ProviderError> {
        self.resources.borrow_mut().remove(physical_id);
        self.effect(address)
    }

    fn read(&self, _: &Address, physical_id: &str) -> Result<Option<Live>, ProviderError> {
        Ok(self.resources.borrow().get(physical_id).map(|(p, _)| Live {
            properties: p.clone(),
            outputs: BTreeMap::new(),
        }))
    }

    fn data_at_risk(&self, _: &Address, physical_id: &str) -> Result<DataAtRisk, ProviderError> {
        Ok(DataAtRisk {
            items: self.data(physical_id),
            ..DataAtRisk::default()
        })
    }
}

struct AnyCode;

impl CodeTree for AnyCode {
    fn is_dir(&self, _: &str) -> bool {
        true
    }

    fn is_file(&self, _: &str) -> bool {
        true
    }
}

fn service(stateful: &str) -> Service {
    let yaml = format!("service: shop\nstateful:\n{stateful}");
    strata_model::check_str(&yaml, &AnyCode)
        .unwrap_or_else(|d| panic!("invalid test manifest: {d:?}"))
        .service
}

fn addr(text: &str) -> Address {
    text.parse().expect("address")
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: StateStore,
    target: Memory,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::new(dir.path().join("state"));
        Self {
            _dir: dir,
            store,
            target: Memory::default(),
        }
    }

    fn deploy(&self, service: &Service, allow: &AllowDestroy) -> Result<Outcome, ApplyError> {
        stateful(
            service,
            "dev",
            &self.store,
            &self.target,
            Run {
                allow,
                execute: true,
                refresh: false,
                command: "strata deploy",
            },
        )
    }

    fn plan(&self, service: &Service) -> Plan {
        stateful(
            service,
            "dev",
            &self.store,
            &self.target,
            Run {
                allow: &AllowDestroy::default(),
                execute: false,
                refresh: false,
                command: "strata plan",
            },
        )
        .expect("plans")
        .plan
    }

    fn state(&self) -> StackState {
        self.store
            .load("shop", "dev", StackKind::Stateful)
            .expect("state loads")
    }
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

const ORDERS: &str = "  tables:\n    Orders: { partition_key: pk:S, sort_key: sk:S }\n";

#[test]
fn first_deploy_creates_then_nothing_changes() {
    let f = Fixture::new();
    let s = service(&format!(
        "{ORDERS}  queues:\n    Jobs: {{ dead_letter: {{ queue: JobsDlq, max_receives: 3 }} }}\n    JobsDlq: {{}}\n"
    ));
    let out = f.deploy(&s, &AllowDestroy::default()).expect("deploys");
    // The dead-letter queue comes before the queue that names it.
    assert_eq!(
        actions(&out.plan),
        [
            ("queue/JobsDlq".into(), Action::Create),
            ("table/Orders".into(), Action::Create),
            ("queue/Jobs".into(), Action::Create)
        ]
    );
    assert_eq!(f.state().resources.len(), 3);
    assert_eq!(
        f.state().resources[&addr("table/Orders")].physical_id,
        "shop-dev-Orders"
    );
    assert!(!f.plan(&s).has_changes());
    assert!(
        f.store
            .journal(StackKind::Stateful)
            .expect("readable")
            .is_none()
    );
}

#[test]
fn sort_key_change_is_refused_naming_the_property_and_the_data() {
    let f = Fixture::new();
    f.deploy(&service(ORDERS), &AllowDestroy::default())
        .expect("deploys");
    f.target.put_data("shop-dev-Orders", 1204);
    let changed =
        service("  tables:\n    Orders: { partition_key: pk:S, sort_key: createdAt:N }\n");
    let Err(ApplyError::Refused { refusals, .. }) = f.deploy(&changed, &AllowDestroy::default())
    else {
        panic!("must refuse")
    };
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].address, addr("table/Orders"));
    assert_eq!(refusals[0].action, Action::Replace);
    assert_eq!(refusals[0].forced_by, ["sort_key"]);
    assert_eq!(refusals[0].data_at_risk.and_then(|d| d.items), Some(1204));
    // Nothing happened: data and state as before.
    assert_eq!(f.target.data("shop-dev-Orders"), Some(1204));
    assert_eq!(
        f.state().resources[&addr("table/Orders")].properties["sort_key"]["name"],
        "sk"
    );

    let allow = AllowDestroy {
        all: false,
        addresses: [addr("table/Orders")].into(),
    };
    let out = f.deploy(&changed, &allow).expect("allowed");
    assert_eq!(
        actions(&out.plan),
        [("table/Orders".into(), Action::Replace)]
    );
    assert_eq!(
        out.plan.changes[0].data_at_risk.and_then(|d| d.items),
        Some(1204)
    );
    assert_eq!(f.target.data("shop-dev-Orders"), Some(0));
}

#[test]
fn a_removed_queue_is_retained_and_adopted_back_with_its_messages() {
    let f = Fixture::new();
    let with_queue = service(&format!("{ORDERS}  queues:\n    Jobs: {{}}\n"));
    f.deploy(&with_queue, &AllowDestroy::default())
        .expect("deploys");
    f.target.put_data("shop-dev-Jobs", 7);

    let without = service(ORDERS);
    let out = f
        .deploy(&without, &AllowDestroy::default())
        .expect("removal is not destructive");
    assert!(actions(&out.plan).contains(&("queue/Jobs".into(), Action::Retain)));
    let state = f.state();
    assert!(!state.resources.contains_key(&addr("queue/Jobs")));
    assert!(state.retained.contains_key(&addr("queue/Jobs")));
    assert_eq!(
        f.target.data("shop-dev-Jobs"),
        Some(7),
        "retained data stays"
    );

    let out = f
        .deploy(&with_queue, &AllowDestroy::default())
        .expect("adopts");
    assert!(actions(&out.plan).contains(&("queue/Jobs".into(), Action::Adopt)));
    assert_eq!(
        f.target.data("shop-dev-Jobs"),
        Some(7),
        "adopted with its messages"
    );
    assert!(f.state().resources.contains_key(&addr("queue/Jobs")));
    assert!(f.state().retained.is_empty());
}

#[test]
fn a_removed_resource_is_deleted_only_when_named() {
    let f = Fixture::new();
    f.deploy(
        &service(&format!("{ORDERS}  buckets:\n    Files: {{}}\n")),
        &AllowDestroy::default(),
    )
    .expect("deploys");
    let allow = AllowDestroy {
        all: false,
        addresses: [addr("bucket/Files")].into(),
    };
    let out = f.deploy(&service(ORDERS), &allow).expect("deploys");
    assert!(actions(&out.plan).contains(&("bucket/Files".into(), Action::Delete)));
    assert_eq!(f.target.data("shop-dev-Files"), None);
}

#[test]
fn adding_an_index_is_an_in_place_update() {
    let f = Fixture::new();
    f.deploy(&service(ORDERS), &AllowDestroy::default())
        .expect("deploys");
    f.target.put_data("shop-dev-Orders", 50);
    let indexed = service(
        "  tables:\n    Orders:\n      partition_key: pk:S\n      sort_key: sk:S\n      indexes:\n        ByCustomer: { partition_key: customerId:S }\n",
    );
    let out = f
        .deploy(&indexed, &AllowDestroy::default())
        .expect("not destructive");
    assert_eq!(
        actions(&out.plan),
        [("table/Orders".into(), Action::Update)]
    );
    assert_eq!(
        out.plan.changes[0].changes[0].property,
        "indexes.ByCustomer"
    );
    assert_eq!(f.target.data("shop-dev-Orders"), Some(50));
}

#[test]
fn a_rename_is_hinted_and_state_mv_keeps_the_resource() {
    let f = Fixture::new();
    f.deploy(&service(ORDERS), &AllowDestroy::default())
        .expect("deploys");
    f.target.put_data("shop-dev-Orders", 9);
    let renamed = service("  tables:\n    Purchases: { partition_key: pk:S, sort_key: sk:S }\n");
    let plan = f.plan(&renamed);
    assert_eq!(plan.renames.len(), 1);
    assert_eq!(
        (
            plan.renames[0].from.to_string(),
            plan.renames[0].to.to_string()
        ),
        ("table/Orders".into(), "table/Purchases".into())
    );

    state_mv(
        &f.store,
        "shop",
        "dev",
        &addr("table/Orders"),
        &addr("table/Purchases"),
    )
    .expect("moves");
    let plan = f.plan(&renamed);
    assert!(!plan.has_changes(), "{:?}", actions(&plan));
    assert_eq!(
        f.state().resources[&addr("table/Purchases")].physical_id,
        "shop-dev-Orders"
    );
    assert_eq!(f.target.data("shop-dev-Orders"), Some(9));
    assert!(matches!(
        state_mv(
            &f.store,
            "shop",
            "dev",
            &addr("table/Purchases"),
            &addr("queue/Purchases")
        ),
        Err(StateMvError::KindDiffers { .. })
    ));
}

#[test]
fn a_run_killed_after_a_change_is_reconciled_by_the_next() {
    let f = Fixture::new();
    let s = service(&format!(
        "{ORDERS}  buckets:\n    Files: {{}}\n    Logs: {{}}\n"
    ));
    // The second create happens on the target, then the run dies.
    f.target.crash_after.set(Some(1));
    assert!(matches!(
        f.deploy(&s, &AllowDestroy::default()),
        Err(ApplyError::Provider(_))
    ));
    let journal = f
        .store
        .journal(StackKind::Stateful)
        .expect("readable")
        .expect("left behind");
    assert_eq!(journal.unfinished().count(), 2);
    // State knows only the first create.
    assert_eq!(f.state().resources.len(), 1);

    let out = f.deploy(&s, &AllowDestroy::default()).expect("recovers");
    assert_eq!(out.reconciled.len(), 2);
    assert_eq!(
        out.reconciled.iter().filter(|r| r.exists).count(),
        1,
        "{:?}",
        out.reconciled
    );
    assert_eq!(f.state().resources.len(), 3);
    assert!(
        f.store
            .journal(StackKind::Stateful)
            .expect("readable")
            .is_none()
    );
    assert!(!f.plan(&s).has_changes());
}

#[test]
fn destroy_plans_delete_everything_and_needs_permission() {
    let f = Fixture::new();
    f.deploy(&service(ORDERS), &AllowDestroy::default())
        .expect("deploys");
    let plan = Plan::destroy(&f.state());
    assert_eq!(actions(&plan), [("table/Orders".into(), Action::Delete)]);
    assert_eq!(plan.refusals(&AllowDestroy::default()).len(), 1);
    assert!(
        plan.refusals(&AllowDestroy {
            all: true,
            addresses: Default::default()
        })
        .is_empty()
    );
}

#[test]
fn one_apply_at_a_time_and_a_dead_holder_is_reported() {
    let f = Fixture::new();
    let held = f
        .store
        .lock(StackKind::Stateful, "strata deploy")
        .expect("free");
    let Err(ApplyError::Store(StoreError::Lock(crate::state::LockError::Held { holder, .. }))) =
        f.deploy(&service(ORDERS), &AllowDestroy::default())
    else {
        panic!("must be locked")
    };
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.command, "strata deploy");
    drop(held);

    // A record with no live lock behind it: its process died without cleaning up.
    let record = serde_json::json!({"owner": "ci", "pid": 999_999, "host": "box", "since": 1, "command": "strata deploy"});
    std::fs::write(f.store.dir().join("stateful.lock"), record.to_string()).expect("write record");
    let out = f
        .deploy(&service(ORDERS), &AllowDestroy::default())
        .expect("takes over");
    assert_eq!(out.stale_lock.map(|l| l.pid), Some(999_999));
    // Released cleanly this time: nothing stale left.
    assert_eq!(f.store.unlock(StackKind::Stateful).expect("free"), None);
}

impl Fixture {
    fn refreshed_plan(
        &self,
        service: &Service,
        allow: &AllowDestroy,
    ) -> Result<Outcome, ApplyError> {
        stateful(
            service,
            "dev",
            &self.store,
            &self.target,
            Run {
                allow,
                execute: false,
                refresh: true,
                command: "strata plan",
            },
        )
    }
}

#[test]
fn refresh_plans_to_recreate_what_vanished_under_its_recorded_name() {
    let f = Fixture::new();
    let s = service(&format!("{ORDERS}  queues:\n    Jobs: {{}}\n"));
    f.deploy(&s, &AllowDestroy::default()).expect("deploys");
    f.target.resources.borrow_mut().remove("shop-dev-Jobs");

    assert!(
        !f.plan(&s).has_changes(),
        "without refresh, state is believed"
    );
    let out = f
        .refreshed_plan(&s, &AllowDestroy::default())
        .expect("plans");
    assert_eq!(out.drift.len(), 1);
    assert!(
        matches!(&out.drift[0], crate::drift::Drift::Vanished { physical_id, .. } if physical_id == "shop-dev-Jobs")
    );
    let jobs = out
        .plan
        .changes
        .iter()
        .find(|c| c.address == addr("queue/Jobs"))
        .expect("planned");
    assert_eq!(jobs.action, Action::Create);
    assert_eq!(jobs.physical_id, "shop-dev-Jobs");
    assert_eq!(
        f.state().resources.len(),
        2,
        "a plan never writes the refreshed state"
    );
}

#[test]
fn refresh_puts_back_a_property_changed_outside_and_refuses_a_changed_key() {
    let f = Fixture::new();
    let s = service(ORDERS);
    f.deploy(&s, &AllowDestroy::default()).expect("deploys");
    f.target.put_data("shop-dev-Orders", 7);
    // Someone recreated the table by hand with another sort key.
    f.target
        .resources
        .borrow_mut()
        .get_mut("shop-dev-Orders")
        .expect("exists")
        .0["sort_key"] = serde_json::json!({"name": "other", "type": "S"});

    let Err(ApplyError::Refused { refusals, outcome }) =
        f.refreshed_plan(&s, &AllowDestroy::default())
    else {
        panic!("putting the key back replaces the table: refused")
    };
    assert_eq!(refusals[0].forced_by, ["sort_key"]);
    assert_eq!(refusals[0].data_at_risk.and_then(|d| d.items), Some(7));
    assert_eq!(outcome.drift.len(), 1);
}
