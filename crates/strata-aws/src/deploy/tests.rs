//! The deploy against an in-memory cloud that behaves like moto (change sets
//! list action, logical id and type; no `Replacement`, no `Details`), or like
//! CloudFormation when a test hands it the rows to answer with: bootstrap
//! and uploads once per content, the order of the stacks, refusals before
//! anything runs, leftovers of a killed run, and clear failures.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use strata_engine::AllowDestroy;
use strata_model::{Address, Service};

use super::changes::{self, Row, Side, Verdict};
use super::cloud::*;
use super::*;

#[derive(Debug, Default, Clone)]
struct FakeStack {
    status: String,
    template: String,
    parameters: Vec<(String, String)>,
    outputs: BTreeMap<String, String>,
    protection: bool,
    policy: Option<String>,
    events: Vec<StackEvent>,
}

#[derive(Debug, Default)]
struct State {
    stacks: BTreeMap<String, FakeStack>,
    change_sets: BTreeMap<(String, String), (ChangeSetRequest, ChangeSetInfo)>,
    objects: BTreeMap<(String, String), Vec<u8>>,
    parameters: BTreeSet<String>,
    /// Operations, in order: `Execute orders-prod-stateful`, `Put code/...`.
    calls: Vec<String>,
    /// Rows CloudFormation would send (with Replacement and Details), by
    /// logical id; others get moto's bare rows.
    detailed: BTreeMap<String, ResourceChange>,
    /// A resource that fails on the next execute, with its reason.
    fail: Option<(String, String)>,
    no_credentials: bool,
    termination_protection_missing: bool,
    /// Describes that still show the stack busy (a killed run's update).
    busy_polls: u32,
    /// A change set CloudFormation refuses, with its reason.
    reject: Option<String>,
    events: u64,
    /// Like moto: no drift detection at all (an HTML 500).
    drift_missing: bool,
    /// What DescribeStackResourceDrifts answers besides `IN_SYNC` for every
    /// other resource, by logical id.
    drifts: BTreeMap<String, ResourceDrift>,
    /// Status polls that still show the detection running.
    detection_polls: u32,
    /// `ResolvedValue`s the stateless stack reports, by SSM name (AWS does,
    /// moto does not).
    resolved: BTreeMap<String, String>,
    /// Logical ids ListStackResources shows as `DELETE_COMPLETE`.
    deleted: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct FakeCloud {
    s: RefCell<State>,
}

/// Key and SSM name of each SSM-typed parameter of a template.
fn ssm_parameters(template: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    v.get("Parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| {
            p["Type"]
                .as_str()
                .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value"))
        })
        .filter_map(|(k, p)| Some((k.clone(), p["Default"].as_str()?.to_owned())))
        .collect()
}

/// The physical id CloudFormation gives a resource of the templates Strata
/// writes: the name it sets (a queue's URL, a bucket's name with the account
/// filled in), else the logical id.
fn physical_id_of(logical_id: &str, r: &Value) -> String {
    let p = &r["Properties"];
    if let Some(name) = p["QueueName"].as_str() {
        return format!("https://sqs.eu-west-1.amazonaws.com/123456789012/{name}");
    }
    for key in ["TableName", "Name", "FunctionName"] {
        if let Some(name) = p[key].as_str() {
            return name.to_owned();
        }
    }
    if let Some(sub) = p["BucketName"]["Fn::Sub"].as_str() {
        return sub.replace("${AWS::AccountId}", "123456789012");
    }
    logical_id.to_owned()
}

fn resources(template: &str) -> BTreeMap<String, Value> {
    let v: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    v.get("Resources")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl FakeCloud {
    fn calls(&self) -> Vec<String> {
        self.s.borrow().calls.clone()
    }

    fn executes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("Execute "))
            .collect()
    }

    fn clear_calls(&self) {
        self.s.borrow_mut().calls.clear();
    }

    fn event(
        s: &mut State,
        stack: &str,
        logical: &str,
        kind: &str,
        status: &str,
        reason: Option<&str>,
    ) {
        s.events += 1;
        let e = StackEvent {
            id: format!("e{}", s.events),
            timestamp: format!("2026-01-01T00:00:{:02}Z", s.events % 60),
            logical_id: logical.to_owned(),
            resource_type: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
        };
        if let Some(st) = s.stacks.get_mut(stack) {
            st.events.insert(0, e);
        }
    }
}

impl Cloud for FakeCloud {
    fn region(&self) -> &str {
        "eu-west-1"
    }

    fn endpoint(&self) -> String {
        "memory".to_owned()
    }

    async fn account(&self) -> Result<String, CloudError> {
        if self.s.borrow().no_credentials {
            return Err(CloudError::NoCredentials {
                detail: "no providers in chain provided credentials".to_owned(),
            });
        }
        Ok("123456789012".to_owned())
    }

    async fn describe_stack(&self, stack: &str) -> Result<Option<StackInfo>, CloudError> {
        let mut state = self.s.borrow_mut();
        let busy = state.busy_polls > 0 && state.stacks.contains_key(stack);
        if busy {
            state.busy_polls -= 1;
        }
        Ok(state.stacks.get(stack).map(|s| StackInfo {
            status: if busy {
                "UPDATE_IN_PROGRESS".to_owned()
            } else {
                s.status.clone()
            },
            status_reason: None,
            last_updated: None,
            termination_protection: s.protection,
            outputs: s.outputs.clone(),
            parameters: s.parameters.iter().cloned().collect(),
            resolved: ssm_parameters(&s.template)
                .into_iter()
                .filter_map(|(key, name)| Some((key, state.resolved.get(&name)?.clone())))
                .collect(),
        }))
    }

    async fn get_template(&self, stack: &str) -> Result<Option<String>, CloudError> {
        Ok(self
            .s
            .borrow()
            .stacks
            .get(stack)
            .map(|s| s.template.clone()))
    }

    async fn create_change_set(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        s.calls
            .push(format!("CreateChangeSet {} {}", r.stack, r.kind.as_str()));
        let body = match &r.template {
            TemplateSource::Body(b) => b.clone(),
            TemplateSource::Url(u) => {
                let key = u
                    .split_once("/memory-bucket/")
                    .map(|x| x.1)
                    .unwrap_or_default();
                String::from_utf8(
                    s.objects
                        .get(&("memory-bucket".to_owned(), key.to_owned()))
                        .cloned()
                        .unwrap_or_default(),
                )
                .unwrap_or_default()
            }
        };
        let (old, old_params) = match (r.kind, s.stacks.get(&r.stack)) {
            (ChangeSetType::Update, Some(st)) => (st.template.clone(), st.parameters.clone()),
            (ChangeSetType::Update, None) => {
                return Err(CloudError::Rejected {
                    operation: "CreateChangeSet",
                    code: "ValidationError".into(),
                    message: format!("Stack [{}] does not exist", r.stack),
                });
            }
            (ChangeSetType::Create, _) => {
                s.stacks.insert(
                    r.stack.clone(),
                    FakeStack {
                        status: "REVIEW_IN_PROGRESS".into(),
                        ..FakeStack::default()
                    },
                );
                (String::new(), vec![])
            }
        };
        let (before, after) = (resources(&old), resources(&body));
        let params_changed = old_params != r.parameters;
        let mut changes = Vec::new();
        for (id, b) in &after {
            // Like moto: rows from the templates alone; a change of
            // parameters alone lists nothing (but executing applies it).
            let action = match before.get(id) {
                None => "Add",
                Some(a) if a != b => "Modify",
                Some(_) => continue,
            };
            let kind = b["Type"].as_str().unwrap_or_default().to_owned();
            changes.push(s.detailed.get(id).cloned().unwrap_or(ResourceChange {
                action: action.into(),
                logical_id: id.clone(),
                resource_type: kind,
                ..ResourceChange::default()
            }));
        }
        for (id, a) in &before {
            if !after.contains_key(id) {
                changes.push(ResourceChange {
                    action: "Remove".into(),
                    logical_id: id.clone(),
                    resource_type: a["Type"].as_str().unwrap_or_default().to_owned(),
                    ..ResourceChange::default()
                });
            }
        }
        let info = if let Some(reason) = s.reject.take() {
            ChangeSetInfo {
                status: "FAILED".into(),
                execution_status: Some("UNAVAILABLE".into()),
                reason: Some(reason),
                changes: vec![],
            }
        } else if changes.is_empty() && !params_changed {
            ChangeSetInfo {
                status: "FAILED".into(),
                execution_status: Some("UNAVAILABLE".into()),
                reason: Some("The submitted information didn't contain changes. Submit different information to create a change set.".into()),
                changes,
            }
        } else {
            ChangeSetInfo {
                status: "CREATE_COMPLETE".into(),
                execution_status: Some("AVAILABLE".into()),
                reason: None,
                changes,
            }
        };
        let mut request = r.clone();
        request.template = TemplateSource::Body(body);
        s.change_sets
            .insert((r.stack.clone(), r.name.clone()), (request, info));
        Ok(())
    }

    async fn describe_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> Result<ChangeSetInfo, CloudError> {
        self.s
            .borrow()
            .change_sets
            .get(&(stack.to_owned(), name.to_owned()))
            .map(|c| c.1.clone())
            .ok_or_else(|| CloudError::Rejected {
                operation: "DescribeChangeSet",
                code: "ChangeSetNotFound".into(),
                message: name.to_owned(),
            })
    }

    async fn list_change_sets(&self, stack: &str) -> Result<Vec<ChangeSetSummary>, CloudError> {
        Ok(self
            .s
            .borrow()
            .change_sets
            .iter()
            .filter(|((st, _), _)| st == stack)
            .map(|((st, name), (_, info))| ChangeSetSummary {
                name: name.clone(),
                stack: st.clone(),
                execution_status: info.execution_status.clone(),
            })
            .collect())
    }

    async fn execute_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        s.calls.push(format!("Execute {stack}"));
        let (request, _) = s
            .change_sets
            .remove(&(stack.to_owned(), name.to_owned()))
            .ok_or_else(|| CloudError::Rejected {
                operation: "ExecuteChangeSet",
                code: "ChangeSetNotFound".into(),
                message: name.to_owned(),
            })?;
        let TemplateSource::Body(body) = request.template else {
            unreachable!("stored as a body")
        };
        let creating = request.kind == ChangeSetType::Create;
        if let Some((logical, reason)) = s.fail.take() {
            FakeCloud::event(
                &mut s,
                stack,
                &logical,
                "AWS::Lambda::Function",
                if creating {
                    "CREATE_FAILED"
                } else {
                    "UPDATE_FAILED"
                },
                Some(&reason),
            );
            let st = s.stacks.get_mut(stack).expect("stack of the change set");
            st.status = if creating {
                "ROLLBACK_COMPLETE"
            } else {
                "UPDATE_ROLLBACK_COMPLETE"
            }
            .into();
            return Ok(());
        }
        let mut published = Vec::new();
        for (id, r) in resources(&body) {
            if r["Type"] == "AWS::SSM::Parameter"
                && let Some(n) = r["Properties"]["Name"].as_str()
            {
                published.push(n.to_owned());
            }
            let _ = id;
        }
        s.parameters.extend(published);
        let status = if creating {
            "CREATE_COMPLETE"
        } else {
            "UPDATE_COMPLETE"
        };
        FakeCloud::event(
            &mut s,
            stack,
            stack,
            "AWS::CloudFormation::Stack",
            status,
            None,
        );
        let st = s.stacks.get_mut(stack).expect("stack of the change set");
        st.status = status.into();
        st.template = body.clone();
        st.parameters = request.parameters.clone();
        // Like moto, a stack made through a change set shows no Outputs: the
        // bucket is found through DescribeStackResource.
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError> {
        self.s
            .borrow_mut()
            .change_sets
            .remove(&(stack.to_owned(), name.to_owned()));
        Ok(())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        s.calls.push(format!("DeleteStack {stack}"));
        s.stacks.remove(stack);
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError> {
        Ok(self
            .s
            .borrow()
            .stacks
            .get(stack)
            .map(|s| s.events.clone())
            .unwrap_or_default())
    }

    async fn set_stack_policy(&self, stack: &str, policy: &str) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        s.calls.push(format!("SetStackPolicy {stack}"));
        if let Some(st) = s.stacks.get_mut(stack) {
            st.policy = Some(policy.to_owned());
        }
        Ok(())
    }

    async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        if s.termination_protection_missing {
            return Err(CloudError::NotImplemented {
                operation: "UpdateTerminationProtection",
                detail: "HTTP 500".into(),
            });
        }
        if let Some(st) = s.stacks.get_mut(stack) {
            st.protection = on;
        }
        Ok(())
    }

    async fn object_exists(&self, bucket: &str, key: &str) -> Result<bool, CloudError> {
        Ok(self
            .s
            .borrow()
            .objects
            .contains_key(&(bucket.to_owned(), key.to_owned())))
    }

    async fn put_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), CloudError> {
        let mut s = self.s.borrow_mut();
        s.calls.push(format!("Put {key}"));
        s.objects.insert((bucket.to_owned(), key.to_owned()), bytes);
        Ok(())
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("memory:///{bucket}/{key}")
    }

    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let known = self.s.borrow().stacks.contains_key(stack);
        Ok(
            (known && stack == bootstrap::STACK && logical_id == bootstrap::BUCKET_OUTPUT)
                .then(|| "memory-bucket".to_owned()),
        )
    }

    async fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, CloudError> {
        let s = self.s.borrow();
        Ok(s.stacks
            .get(stack)
            .map(|st| {
                resources(&st.template)
                    .into_iter()
                    .map(|(id, r)| StackResource {
                        physical_id: Some(physical_id_of(&id, &r)),
                        resource_type: r["Type"].as_str().unwrap_or_default().to_owned(),
                        status: if s.deleted.contains(&id) {
                            "DELETE_COMPLETE"
                        } else {
                            "CREATE_COMPLETE"
                        }
                        .into(),
                        logical_id: id,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn detect_drift(&self, stack: &str) -> Result<String, CloudError> {
        let mut s = self.s.borrow_mut();
        if s.drift_missing {
            return Err(CloudError::NotImplemented {
                operation: "DetectStackDrift",
                detail: "HTTP 500 without an AWS error".into(),
            });
        }
        s.calls.push(format!("DetectStackDrift {stack}"));
        Ok(format!("detection-{stack}"))
    }

    async fn drift_detection(&self, _: &str) -> Result<DriftDetection, CloudError> {
        let mut s = self.s.borrow_mut();
        if s.detection_polls > 0 {
            s.detection_polls -= 1;
            return Ok(DriftDetection {
                status: "DETECTION_IN_PROGRESS".into(),
                ..DriftDetection::default()
            });
        }
        let drifted = !s.drifts.is_empty();
        Ok(DriftDetection {
            status: "DETECTION_COMPLETE".into(),
            stack_drift_status: Some(if drifted { "DRIFTED" } else { "IN_SYNC" }.into()),
            reason: None,
        })
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CloudError> {
        let s = self.s.borrow();
        let Some(st) = s.stacks.get(stack) else {
            return Ok(vec![]);
        };
        Ok(resources(&st.template)
            .into_iter()
            .map(|(id, r)| {
                s.drifts.get(&id).cloned().unwrap_or_else(|| ResourceDrift {
                    physical_id: Some(physical_id_of(&id, &r)),
                    resource_type: r["Type"].as_str().unwrap_or_default().to_owned(),
                    status: "IN_SYNC".into(),
                    differences: vec![],
                    logical_id: id,
                })
            })
            .collect())
    }

    async fn pause(&self, _: Duration) {}
}

/// Records notes; approves everything unless told otherwise.
#[derive(Debug, Default)]
struct Recorder {
    notes: Vec<String>,
    decline: bool,
}

impl Observer for Recorder {
    fn note(&mut self, note: Note<'_>) {
        self.notes.push(match note {
            Note::Plan(p) => format!("plan {} {} rows", p.stack, p.rows.len()),
            Note::Event(e) => format!("event {} {}", e.logical_id, e.status),
            other => format!("{other:?}"),
        });
    }

    fn approve(&mut self, _: &StackPlan) -> bool {
        !self.decline
    }
}

/// Runs a future to completion on a current-thread runtime, as the CLI does.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

const MANIFEST: &str = r#"
service: shop
stages:
  prod: { target: aws, region: eu-west-1 }
stateful:
  tables:
    Orders: { partition_key: pk:S, sort_key: sk:S }
  queues:
    Jobs: {}
  parameters:
    Email: { value: a@example.com }
stateless:
  defaults: { runtime: python3.12, code: src }
  functions:
    reader:
      handler: app.read
      uses: { Orders: read, Email: read }
      events: [ { http: GET /orders } ]
    worker:
      handler: app.work
      events: [ { queue: Jobs } ]
"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(manifest: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("src")).expect("src");
        std::fs::write(
            dir.path().join("src/app.py"),
            "def read(e, c):\n    return 1\n",
        )
        .expect("code");
        std::fs::write(dir.path().join("strata.yaml"), manifest).expect("manifest");
        Self { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn set_manifest(&self, manifest: &str) {
        std::fs::write(self.root().join("strata.yaml"), manifest).expect("manifest");
    }

    fn service(&self) -> Service {
        let text = std::fs::read_to_string(self.root().join("strata.yaml")).expect("read");
        struct Tree<'a>(&'a Path);
        impl strata_model::CodeTree for Tree<'_> {
            fn is_dir(&self, p: &str) -> bool {
                self.0.join(p).is_dir()
            }
            fn is_file(&self, p: &str) -> bool {
                self.0.join(p).is_file()
            }
        }
        match strata_model::check_str(&text, &Tree(self.root())) {
            Ok(c) => c.service,
            Err(d) => panic!("invalid test manifest: {d:?}"),
        }
    }

    fn deploy(
        &self,
        cloud: &FakeCloud,
        allow: &AllowDestroy,
    ) -> (Result<DeployOutcome, DeployError>, Recorder) {
        let service = self.service();
        let mut rec = Recorder::default();
        let target = Target {
            service: &service,
            stage: "prod",
            root: self.root(),
        };
        let out = block(deploy(cloud, target, Stacks::BOTH, allow, &mut rec));
        (out, rec)
    }

    fn plan(&self, cloud: &FakeCloud) -> Vec<StackPlan> {
        let service = self.service();
        let mut rec = Recorder::default();
        let target = Target {
            service: &service,
            stage: "prod",
            root: self.root(),
        };
        block(plan(cloud, target, &AllowDestroy::default(), &mut rec)).expect("plan")
    }
}

fn done(out: Result<DeployOutcome, DeployError>) -> Vec<StackResult> {
    match out.expect("deploy succeeds") {
        DeployOutcome::Done(r) => r,
        other => panic!("expected a finished deploy, got {other:?}"),
    }
}

#[test]
fn a_first_deploy_bootstraps_uploads_and_creates_stateful_before_stateless() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    let results = done(p.deploy(&cloud, &AllowDestroy::default()).0);
    assert!(results.iter().all(|r| r.changed), "{results:?}");
    assert_eq!(
        cloud.executes(),
        [
            "Execute strata-bootstrap",
            "Execute shop-prod-stateful",
            "Execute shop-prod-stateless"
        ]
    );
    let calls = cloud.calls();
    let put = calls
        .iter()
        .position(|c| c.starts_with("Put code/"))
        .expect("code uploaded");
    let stateless = calls
        .iter()
        .position(|c| c == "CreateChangeSet shop-prod-stateless CREATE")
        .expect("stateless change set");
    assert!(put < stateless, "{calls:?}");
    let s = cloud.s.borrow();
    let stateful = &s.stacks["shop-prod-stateful"];
    assert!(stateful.protection, "termination protection on");
    assert!(
        stateful
            .policy
            .as_deref()
            .is_some_and(|p| p.contains("Update:Replace"))
    );
    assert!(
        s.change_sets.is_empty(),
        "no change set left: {:?}",
        s.change_sets.keys()
    );
}

#[test]
fn a_second_deploy_without_changes_executes_and_uploads_nothing() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    cloud.clear_calls();
    let (out, rec) = p.deploy(&cloud, &AllowDestroy::default());
    let results = done(out);
    assert!(results.iter().all(|r| !r.changed), "{results:?}");
    assert!(cloud.executes().is_empty(), "{:?}", cloud.calls());
    assert!(
        !cloud.calls().iter().any(|c| c.starts_with("Put ")),
        "{:?}",
        cloud.calls()
    );
    assert!(
        rec.notes.iter().any(|n| n.starts_with("AlreadyUploaded")),
        "{:?}",
        rec.notes
    );
    assert!(cloud.s.borrow().change_sets.is_empty());
}

#[test]
fn a_code_change_uploads_one_zip_and_redeploys_only_the_stateless_stack() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 2\n",
    )
    .expect("edit");
    cloud.clear_calls();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    assert_eq!(cloud.executes(), ["Execute shop-prod-stateless"]);
    let puts: Vec<String> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("Put "))
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
}

#[test]
fn a_sort_key_change_is_refused_before_anything_executes_from_the_template_diff() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    p.set_manifest(&MANIFEST.replace("sort_key: sk:S", "sort_key: created:N"));
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 3\n",
    )
    .expect("edit");
    cloud.clear_calls();
    let (out, _) = p.deploy(&cloud, &AllowDestroy::default());
    let DeployOutcome::Refused(plan) = out.expect("a refusal is an outcome") else {
        panic!("expected a refusal")
    };
    assert_eq!(plan.refusals.len(), 1);
    let r = &plan.refusals[0];
    assert_eq!(r.address.to_string(), "table/Orders");
    assert_eq!(r.action, strata_engine::Action::Replace);
    assert_eq!(r.forced_by, ["KeySchema"]);
    assert!(cloud.executes().is_empty(), "{:?}", cloud.calls());
    assert!(
        cloud.s.borrow().change_sets.is_empty(),
        "the refused change set is deleted"
    );

    // Allowed by name, it runs, and the stack policy lets exactly it through.
    let allow = AllowDestroy {
        all: false,
        addresses: [Address::new(strata_model::ResourceKind::Table, "Orders")].into(),
    };
    cloud.clear_calls();
    done(p.deploy(&cloud, &allow).0);
    assert_eq!(
        cloud.executes(),
        ["Execute shop-prod-stateful", "Execute shop-prod-stateless"]
    );
    let calls = cloud.calls();
    let policy = calls
        .iter()
        .position(|c| c == "SetStackPolicy shop-prod-stateful")
        .expect("policy set");
    let exec = calls
        .iter()
        .position(|c| c == "Execute shop-prod-stateful")
        .expect("executed");
    assert!(policy < exec, "{calls:?}");
}

#[test]
fn cloudformation_details_name_the_forcing_property_and_conditional_counts() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    // A queue change CloudFormation calls a conditional replacement: refused.
    p.set_manifest(&MANIFEST.replace("Jobs: {}", "Jobs: { visibility_timeout: 99 }"));
    cloud.s.borrow_mut().detailed.insert(
        "QueueJobs".into(),
        ResourceChange {
            action: "Modify".into(),
            logical_id: "QueueJobs".into(),
            resource_type: "AWS::SQS::Queue".into(),
            replacement: Some("Conditional".into()),
            details: vec![ChangeDetail {
                attribute: Some("Properties".into()),
                name: Some("VisibilityTimeout".into()),
                requires_recreation: Some("Conditionally".into()),
            }],
            ..ResourceChange::default()
        },
    );
    let (out, _) = p.deploy(&cloud, &AllowDestroy::default());
    let DeployOutcome::Refused(plan) = out.expect("outcome") else {
        panic!("expected a refusal")
    };
    assert_eq!(plan.refusals[0].address.to_string(), "queue/Jobs");
    assert_eq!(plan.refusals[0].forced_by, ["VisibilityTimeout"]);
    // Strata's own verdict is shown beside it: in place.
    let row = plan
        .rows
        .iter()
        .find(|r| r.logical_id == "QueueJobs")
        .expect("row");
    assert_eq!(row.strata.as_ref().and_then(|v| v.replacement), Some(false));
}

#[test]
fn a_removed_resource_is_refused_and_when_allowed_goes_stateless_first() {
    let with_bucket = MANIFEST.replace("  parameters:", "  buckets:\n    Files: {}\n  parameters:");
    let p = Project::new(&with_bucket);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    p.set_manifest(MANIFEST);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 4\n",
    )
    .expect("edit");
    let (out, _) = p.deploy(&cloud, &AllowDestroy::default());
    let DeployOutcome::Refused(plan) = out.expect("outcome") else {
        panic!("expected a refusal")
    };
    assert_eq!(plan.refusals[0].address.to_string(), "bucket/Files");
    assert_eq!(plan.refusals[0].action, strata_engine::Action::Delete);

    cloud.clear_calls();
    let allow = AllowDestroy {
        all: false,
        addresses: [Address::new(strata_model::ResourceKind::Bucket, "Files")].into(),
    };
    done(p.deploy(&cloud, &allow).0);
    assert_eq!(
        cloud.executes(),
        ["Execute shop-prod-stateless", "Execute shop-prod-stateful"]
    );
}

#[test]
fn a_leftover_change_set_of_a_killed_run_is_deleted_and_a_review_stack_created_again() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    // A run killed after CreateChangeSet on the new stateful stack.
    {
        let mut s = cloud.s.borrow_mut();
        s.stacks.insert(
            "shop-prod-stateful".into(),
            FakeStack {
                status: "REVIEW_IN_PROGRESS".into(),
                ..FakeStack::default()
            },
        );
        let req = ChangeSetRequest {
            stack: "shop-prod-stateful".into(),
            name: "strata-stateful-1".into(),
            kind: ChangeSetType::Create,
            template: TemplateSource::Body("{}".into()),
            parameters: vec![],
            description: String::new(),
        };
        s.change_sets.insert(
            ("shop-prod-stateful".into(), "strata-stateful-1".into()),
            (
                req,
                ChangeSetInfo {
                    status: "CREATE_COMPLETE".into(),
                    execution_status: Some("AVAILABLE".into()),
                    ..ChangeSetInfo::default()
                },
            ),
        );
    }
    let (out, rec) = p.deploy(&cloud, &AllowDestroy::default());
    done(out);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("LeftoverChangeSet") && n.contains("strata-stateful-1")),
        "{:?}",
        rec.notes
    );
    assert!(
        cloud
            .calls()
            .contains(&"CreateChangeSet shop-prod-stateful CREATE".to_owned())
    );
    assert_eq!(
        cloud.s.borrow().stacks["shop-prod-stateful"].status,
        "CREATE_COMPLETE"
    );
}

#[test]
fn a_failed_execution_names_the_resource_and_its_reason() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 5\n",
    )
    .expect("edit");
    cloud.s.borrow_mut().fail = Some(("readerFunction".into(), "Code is too large".into()));
    let err = p
        .deploy(&cloud, &AllowDestroy::default())
        .0
        .expect_err("fails");
    let text = err.to_string();
    assert!(
        text.contains("shop-prod-stateless ended in UPDATE_ROLLBACK_COMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("readerFunction (AWS::Lambda::Function) UPDATE_FAILED: Code is too large"),
        "{text}"
    );
}

#[test]
fn no_credentials_stop_before_any_other_call() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    cloud.s.borrow_mut().no_credentials = true;
    let err = p
        .deploy(&cloud, &AllowDestroy::default())
        .0
        .expect_err("fails");
    assert!(
        matches!(
            err,
            DeployError::Cloud {
                source: CloudError::NoCredentials { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(cloud.calls().is_empty());
}

#[test]
fn an_endpoint_without_termination_protection_gives_a_warning_not_a_failure() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    cloud.s.borrow_mut().termination_protection_missing = true;
    let (out, rec) = p.deploy(&cloud, &AllowDestroy::default());
    done(out);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("termination protection of shop-prod-stateful is not on")),
        "{:?}",
        rec.notes
    );
}

#[test]
fn a_declined_change_set_is_deleted_and_nothing_runs() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 6\n",
    )
    .expect("edit");
    cloud.clear_calls();
    let service = p.service();
    let mut rec = Recorder {
        decline: true,
        ..Recorder::default()
    };
    let target = Target {
        service: &service,
        stage: "prod",
        root: p.root(),
    };
    let out = block(deploy(
        &cloud,
        target,
        Stacks::BOTH,
        &AllowDestroy::default(),
        &mut rec,
    ))
    .expect("outcome");
    assert!(matches!(out, DeployOutcome::Declined { .. }), "{out:?}");
    assert!(cloud.executes().is_empty());
    assert!(cloud.s.borrow().change_sets.is_empty());
}

#[test]
fn plan_on_a_new_stage_leaves_nothing_behind_and_lists_the_stateless_stack_from_its_template() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    let plans = p.plan(&cloud);
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0].source, Source::ChangeSet);
    assert!(
        plans[0]
            .rows
            .iter()
            .any(|r| r.logical_id == "TableOrders" && r.action == "Add")
    );
    assert_eq!(plans[1].source, Source::Template);
    assert!(
        plans[1]
            .rows
            .iter()
            .any(|r| r.logical_id == "readerFunction")
    );
    let s = cloud.s.borrow();
    assert!(
        s.stacks.is_empty(),
        "plan deleted its review stack: {:?}",
        s.stacks.keys()
    );
    assert!(s.change_sets.is_empty());
    assert!(s.objects.is_empty(), "plan uploads nothing");
}

#[test]
fn plan_after_a_deploy_reads_both_change_sets_and_deletes_them() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 7\n",
    )
    .expect("edit");
    cloud.clear_calls();
    let plans = p.plan(&cloud);
    assert!(!plans[0].has_changes());
    assert_eq!(plans[1].source, Source::ChangeSet);
    assert!(
        plans[1].rows.iter().all(|r| r.action == "Modify"),
        "{:?}",
        plans[1].rows
    );
    assert!(cloud.executes().is_empty());
    assert!(cloud.s.borrow().change_sets.is_empty());
}

#[test]
fn destroy_stateless_deletes_only_the_stateless_stack() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let service = p.service();
    let target = Target {
        service: &service,
        stage: "prod",
        root: p.root(),
    };
    let mut rec = Recorder::default();
    assert!(block(destroy_stateless(&cloud, target, &mut rec)).expect("destroy"));
    let s = cloud.s.borrow();
    assert!(!s.stacks.contains_key("shop-prod-stateless"));
    assert!(s.stacks.contains_key("shop-prod-stateful"));
    assert!(s.stacks.contains_key(bootstrap::STACK));
    drop(s);
    assert!(!block(destroy_stateless(&cloud, target, &mut rec)).expect("nothing left"));
}

#[test]
fn a_template_over_51200_bytes_goes_through_the_bucket() {
    let mut manifest =
        String::from("service: big\nstages:\n  prod: { target: aws }\nstateful:\n  queues:\n");
    for i in 0..100 {
        manifest.push_str(&format!("    Queue{i}: {{}}\n"));
    }
    manifest.push_str("stateless:\n  defaults: { runtime: python3.12, code: src }\n  functions:\n    f:\n      handler: app.read\n");
    let p = Project::new(&manifest);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let puts: Vec<String> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("Put templates/big-prod-stateful/"))
        .collect();
    assert_eq!(puts.len(), 1, "{:?}", cloud.calls());
    // Plan of a new stage cannot upload, and says why.
    let p2 = Project::new(&manifest.replace("service: big", "service: big2"));
    let fresh = FakeCloud::default();
    let service = p2.service();
    let mut rec = Recorder::default();
    let target = Target {
        service: &service,
        stage: "prod",
        root: p2.root(),
    };
    let err = block(plan(&fresh, target, &AllowDestroy::default(), &mut rec))
        .expect_err("needs the bucket");
    assert!(
        err.to_string()
            .contains("over the 51200 CloudFormation takes inline"),
        "{err}"
    );
}

#[test]
fn quotas_are_checked_before_any_call() {
    let mut manifest =
        String::from("service: huge\nstages:\n  prod: { target: aws }\nstateful:\n  queues:\n");
    for i in 0..200 {
        manifest.push_str(&format!("    Queue{i}: {{}}\n"));
    }
    manifest.push_str("stateless:\n  defaults: { runtime: python3.12, code: src }\n  functions:\n    f:\n      handler: app.read\n");
    let p = Project::new(&manifest);
    let cloud = FakeCloud::default();
    let err = p
        .deploy(&cloud, &AllowDestroy::default())
        .0
        .expect_err("over 500 resources");
    assert!(
        err.to_string()
            .contains("has 800 resources; CloudFormation allows at most 500"),
        "{err}"
    );
    assert!(cloud.calls().is_empty());
}

// Classification alone, on rows as CloudFormation and moto send them.

fn table_template(keys: &str) -> Value {
    serde_json::from_str(&format!(
        r#"{{"Resources":{{"TableOrders":{{"Type":"AWS::DynamoDB::Table","Metadata":{{"strata:address":"table/Orders"}},
            "Properties":{{"TableName":"t","KeySchema":{keys},"BillingMode":"PAY_PER_REQUEST"}}}},
            "OutputTableOrdersName":{{"Type":"AWS::SSM::Parameter","Properties":{{"Name":"/strata/x","Value":"{keys_len}"}}}}}}}}"#,
        keys_len = keys.len()
    ))
    .expect("json")
}

fn modify(id: &str, kind: &str) -> ResourceChange {
    ResourceChange {
        action: "Modify".into(),
        logical_id: id.into(),
        resource_type: kind.into(),
        ..ResourceChange::default()
    }
}

fn classify(changes: &[ResourceChange], old: &Value, new: &Value) -> Vec<Row> {
    let none = BTreeMap::new();
    changes::rows(
        changes,
        Side {
            template: Some(old),
            parameters: &none,
        },
        Side {
            template: Some(new),
            parameters: &none,
        },
    )
}

#[test]
fn without_details_the_template_diff_decides_and_names_key_schema() {
    let old = table_template(r#"[{"AttributeName":"pk","KeyType":"HASH"}]"#);
    let new = table_template(r#"[{"AttributeName":"id","KeyType":"HASH"}]"#);
    let rows = classify(
        &[
            modify("TableOrders", "AWS::DynamoDB::Table"),
            modify("OutputTableOrdersName", "AWS::SSM::Parameter"),
        ],
        &old,
        &new,
    );
    let refusals = changes::refusals(&rows, &AllowDestroy::default());
    assert_eq!(
        refusals.len(),
        1,
        "the output parameter is no data: {rows:?}"
    );
    assert_eq!(refusals[0].address.to_string(), "table/Orders");
    assert_eq!(refusals[0].forced_by, ["KeySchema"]);
    assert_eq!(
        rows[1].strata,
        Some(Verdict {
            action: "Modify",
            replacement: Some(true),
            forced_by: vec!["KeySchema".into()],
            changed: vec!["KeySchema".into()]
        })
    );
    assert!(
        changes::refusals(
            &rows,
            &AllowDestroy {
                all: true,
                addresses: BTreeSet::new()
            }
        )
        .is_empty()
    );
}

#[test]
fn cloudformation_replacement_false_wins_over_nothing_and_details_are_deduplicated() {
    let old = table_template(r#"[{"AttributeName":"pk","KeyType":"HASH"}]"#);
    let mut change = modify("TableOrders", "AWS::DynamoDB::Table");
    change.replacement = Some("True".into());
    change.details = vec![
        ChangeDetail {
            attribute: Some("Properties".into()),
            name: Some("KeySchema".into()),
            requires_recreation: Some("Always".into()),
        },
        ChangeDetail {
            attribute: Some("Properties".into()),
            name: Some("KeySchema".into()),
            requires_recreation: Some("Always".into()),
        },
        ChangeDetail {
            attribute: Some("Properties".into()),
            name: Some("BillingMode".into()),
            requires_recreation: Some("Never".into()),
        },
    ];
    let rows = classify(&[change.clone()], &old, &old);
    assert_eq!(
        changes::refusals(&rows, &AllowDestroy::default())[0].forced_by,
        ["KeySchema"]
    );
    change.replacement = Some("False".into());
    change.details.clear();
    let rows = classify(&[change], &old, &old);
    assert!(changes::refusals(&rows, &AllowDestroy::default()).is_empty());
}

#[test]
fn a_removed_data_resource_is_a_deletion_and_an_added_one_is_nothing() {
    let old = table_template(r#"[{"AttributeName":"pk","KeyType":"HASH"}]"#);
    let empty: Value = serde_json::json!({ "Resources": {} });
    let remove = ResourceChange {
        action: "Remove".into(),
        ..modify("TableOrders", "AWS::DynamoDB::Table")
    };
    let rows = classify(&[remove], &old, &empty);
    let r = changes::refusals(&rows, &AllowDestroy::default());
    assert_eq!(
        (r[0].address.to_string(), r[0].action),
        ("table/Orders".to_owned(), strata_engine::Action::Delete)
    );
    let add = ResourceChange {
        action: "Add".into(),
        ..modify("TableOrders", "AWS::DynamoDB::Table")
    };
    assert!(
        changes::refusals(&classify(&[add], &empty, &old), &AllowDestroy::default()).is_empty()
    );
}

#[test]
fn a_stack_still_updating_from_a_killed_run_is_waited_for() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 8\n",
    )
    .expect("edit");
    cloud.s.borrow_mut().busy_polls = 3;
    let (out, rec) = p.deploy(&cloud, &AllowDestroy::default());
    done(out);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("Waiting") && n.contains("UPDATE_IN_PROGRESS")),
        "{:?}",
        rec.notes
    );
    assert_eq!(cloud.s.borrow().busy_polls, 0);
}

#[test]
fn a_rejected_change_set_is_an_error_with_the_reason_and_is_deleted() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    std::fs::write(
        p.root().join("src/app.py"),
        "def read(e, c):\n    return 9\n",
    )
    .expect("edit");
    cloud.s.borrow_mut().reject =
        Some("Template format error: Unresolved resource dependencies [X]".into());
    cloud.clear_calls();
    let err = p
        .deploy(&cloud, &AllowDestroy::default())
        .0
        .expect_err("rejected");
    assert!(
        err.to_string().contains(
            "CloudFormation rejected the change set for shop-prod-stateful: Template format error"
        ),
        "{err}"
    );
    assert!(cloud.executes().is_empty());
    assert!(cloud.s.borrow().change_sets.is_empty());
}

fn outputs_of(cloud: &FakeCloud) -> Option<Vec<Output>> {
    block(outputs(cloud, "shop", "prod")).expect("outputs")
}

fn value_of<'a>(outputs: &'a [Output], address: &str, attr: &str) -> Option<&'a str> {
    outputs
        .iter()
        .find(|o| o.address.to_string() == address && o.attr == attr)
        .unwrap_or_else(|| panic!("no output {address} {attr} in {outputs:?}"))
        .value
        .as_deref()
}

#[test]
fn outputs_are_worked_out_from_the_deployed_template_and_its_resources() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let out = outputs_of(&cloud).expect("deployed");
    let t = "table/Orders";
    assert_eq!(value_of(&out, t, "name"), Some("shop-prod-Orders"));
    assert_eq!(
        value_of(&out, t, "arn"),
        Some("arn:aws:dynamodb:eu-west-1:123456789012:table/shop-prod-Orders")
    );
    let q = "queue/Jobs";
    assert_eq!(
        value_of(&out, q, "url"),
        Some("https://sqs.eu-west-1.amazonaws.com/123456789012/shop-prod-Jobs")
    );
    assert_eq!(value_of(&out, q, "name"), Some("shop-prod-Jobs"));
    assert_eq!(
        value_of(&out, q, "arn"),
        Some("arn:aws:sqs:eu-west-1:123456789012:shop-prod-Jobs")
    );
    assert_eq!(
        value_of(&out, "parameter/Email", "name"),
        Some("/shop/prod/Email")
    );
    assert_eq!(
        value_of(&out, "parameter/Email", "arn"),
        Some("arn:aws:ssm:eu-west-1:123456789012:parameter/shop/prod/Email")
    );
    // Every published parameter is there once, in address then attribute order.
    let keys: Vec<String> = out
        .iter()
        .map(|o| format!("{} {} {}", o.address, o.attr, o.parameter))
        .collect();
    assert_eq!(
        keys,
        [
            "table/Orders arn /strata/shop/prod/Orders/arn",
            "table/Orders name /strata/shop/prod/Orders/name",
            "queue/Jobs arn /strata/shop/prod/Jobs/arn",
            "queue/Jobs name /strata/shop/prod/Jobs/name",
            "queue/Jobs url /strata/shop/prod/Jobs/url",
            "parameter/Email arn /strata/shop/prod/Email/arn",
            "parameter/Email name /strata/shop/prod/Email/name",
        ]
    );
}

#[test]
fn outputs_of_a_resource_cloudformation_deleted_are_unknown() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    cloud.s.borrow_mut().deleted.insert("TableOrders".into());
    let out = outputs_of(&cloud).expect("deployed");
    assert_eq!(value_of(&out, "table/Orders", "name"), None);
    assert_eq!(value_of(&out, "table/Orders", "arn"), None);
    assert_eq!(value_of(&out, "queue/Jobs", "name"), Some("shop-prod-Jobs"));
}

#[test]
fn outputs_of_a_stage_never_deployed_are_none() {
    let cloud = FakeCloud::default();
    assert_eq!(outputs_of(&cloud), None);
}

#[test]
fn a_secure_parameter_outside_the_template_still_has_its_outputs() {
    let p = Project::new(&MANIFEST.replace(
        "    Email: { value: a@example.com }\n",
        "    Email: { value: a@example.com }\n    Key: { secure: true }\n",
    ));
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let out = outputs_of(&cloud).expect("deployed");
    assert_eq!(
        value_of(&out, "parameter/Key", "name"),
        Some("/shop/prod/Key")
    );
    assert_eq!(
        value_of(&out, "parameter/Key", "arn"),
        Some("arn:aws:ssm:eu-west-1:123456789012:parameter/shop/prod/Key")
    );
}

#[test]
fn a_stream_arn_is_read_from_the_stateless_stack_or_is_unknown() {
    let streamed = MANIFEST.replace(
        "Orders: { partition_key: pk:S, sort_key: sk:S }",
        "Orders: { partition_key: pk:S, sort_key: sk:S, stream: new_image }",
    );
    let p = Project::new(&streamed);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    // No function reads the stream: CloudFormation cannot tell its ARN.
    let out = outputs_of(&cloud).expect("deployed");
    assert_eq!(value_of(&out, "table/Orders", "stream_arn"), None);

    // A table event makes the stateless stack read it; CloudFormation then
    // reports what it resolved the parameter to.
    let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-prod-Orders/stream/2026-01-01T00:00:00.000";
    cloud
        .s
        .borrow_mut()
        .resolved
        .insert("/strata/shop/prod/Orders/stream_arn".into(), arn.into());
    p.set_manifest(&streamed.replace(
        "      events: [ { queue: Jobs } ]\n",
        "      events: [ { queue: Jobs }, { table: Orders } ]\n",
    ));
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let out = outputs_of(&cloud).expect("deployed");
    assert_eq!(value_of(&out, "table/Orders", "stream_arn"), Some(arn));
}

fn drift_of(cloud: &FakeCloud) -> Result<Option<DriftReport>, DeployError> {
    block(drift(cloud, "shop", "prod"))
}

#[test]
fn drift_maps_what_cloudformation_found_to_addresses_property_by_property() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    {
        let mut s = cloud.s.borrow_mut();
        s.detection_polls = 3;
        s.drifts.insert(
            "TableOrders".into(),
            ResourceDrift {
                logical_id: "TableOrders".into(),
                resource_type: "AWS::DynamoDB::Table".into(),
                physical_id: Some("shop-prod-Orders".into()),
                status: "MODIFIED".into(),
                differences: vec![
                    PropertyDifference {
                        path: "/BillingMode".into(),
                        expected: Some("PAY_PER_REQUEST".into()),
                        actual: Some("PROVISIONED".into()),
                        kind: "NOT_EQUAL".into(),
                    },
                    PropertyDifference {
                        path: "/Tags/0".into(),
                        expected: None,
                        actual: Some(r#"{"Key":"team","Value":"a"}"#.into()),
                        kind: "ADD".into(),
                    },
                ],
            },
        );
        s.drifts.insert(
            "QueueJobs".into(),
            ResourceDrift {
                logical_id: "QueueJobs".into(),
                resource_type: "AWS::SQS::Queue".into(),
                physical_id: Some("https://sqs/shop-prod-Jobs".into()),
                status: "DELETED".into(),
                differences: vec![],
            },
        );
        s.drifts.insert(
            "OutputTableOrdersName".into(),
            ResourceDrift {
                logical_id: "OutputTableOrdersName".into(),
                resource_type: "AWS::SSM::Parameter".into(),
                physical_id: Some("/strata/shop/prod/Orders/name".into()),
                status: "MODIFIED".into(),
                differences: vec![PropertyDifference {
                    path: "/Value".into(),
                    expected: Some("shop-prod-Orders".into()),
                    actual: Some("elsewhere".into()),
                    kind: "NOT_EQUAL".into(),
                }],
            },
        );
    }
    let report = drift_of(&cloud).expect("drift").expect("deployed");
    assert!(report.has_drift());
    assert_eq!(report.stack, "shop-prod-stateful");
    assert_eq!(
        cloud.s.borrow().detection_polls,
        0,
        "waited for the detection"
    );
    assert!(report.not_checked.is_empty() && report.incomplete.is_none());
    assert_eq!(
        serde_json::to_value(&report.drift).expect("json"),
        serde_json::json!([
            {
                "drift": "changed",
                "address": "table/Orders",
                "physical_id": "shop-prod-Orders",
                "changes": [
                    { "property": "BillingMode", "before": "PAY_PER_REQUEST", "after": "PROVISIONED", "forces_replacement": false },
                    { "property": "Tags.0", "before": null, "after": { "Key": "team", "Value": "a" }, "forces_replacement": false },
                ],
            },
            {
                "drift": "vanished",
                "address": "queue/Jobs",
                "physical_id": "https://sqs/shop-prod-Jobs",
            },
        ])
    );
    assert_eq!(report.published.len(), 1);
    let published = &report.published[0];
    assert_eq!(published.address.to_string(), "table/Orders");
    assert_eq!(published.parameter, "/strata/shop/prod/Orders/name");
    assert!(published.exists);
    assert_eq!(published.changes[0].property, "Value");
    // Every resource of the stateful stack was checked (data and outputs).
    let template = cloud.s.borrow().stacks["shop-prod-stateful"]
        .template
        .clone();
    assert_eq!(report.checked, resources(&template).len());
}

#[test]
fn drift_of_an_untouched_stack_is_empty() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    let report = drift_of(&cloud).expect("drift").expect("deployed");
    assert!(!report.has_drift(), "{report:?}");
    assert!(report.checked > 0);
}

#[test]
fn drift_of_a_stage_never_deployed_is_none_and_detects_nothing() {
    let cloud = FakeCloud::default();
    assert!(drift_of(&cloud).expect("drift").is_none());
    assert!(cloud.calls().is_empty());
}

#[test]
fn drift_where_the_endpoint_has_no_detection_is_not_implemented() {
    let p = Project::new(MANIFEST);
    let cloud = FakeCloud::default();
    done(p.deploy(&cloud, &AllowDestroy::default()).0);
    cloud.s.borrow_mut().drift_missing = true;
    match drift_of(&cloud) {
        Err(DeployError::Cloud {
            source: CloudError::NotImplemented { operation, .. },
            ..
        }) => assert_eq!(operation, "DetectStackDrift"),
        other => panic!("expected NotImplemented, got {other:?}"),
    }
}
