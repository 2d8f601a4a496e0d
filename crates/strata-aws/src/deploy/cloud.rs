//! What the deploy needs from AWS, as one small trait, and the plain data it
//! answers with. The AWS SDK implements it (`crate::sdk`, behind the `aws`
//! feature); the tests implement it in memory, so the deploy logic (bootstrap,
//! uploads, change sets, waiting, refusals) is tested without a network.
//!
//! Values stay as CloudFormation spells them (`UPDATE_COMPLETE`, `Modify`,
//! `Conditional`): they are shown to people as they are, and an enum per
//! status would only hide a status AWS adds tomorrow.

use std::collections::BTreeMap;
use std::time::Duration;

/// One stack, as DescribeStacks gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackInfo {
    pub status: String,
    pub status_reason: Option<String>,
    /// RFC 3339; absent until the first update.
    pub last_updated: Option<String>,
    pub termination_protection: bool,
    pub outputs: BTreeMap<String, String>,
    /// The template parameters it was deployed with, as given (an SSM-typed
    /// parameter's value is the parameter's name).
    pub parameters: BTreeMap<String, String>,
    /// The values CloudFormation read for SSM-typed parameters
    /// (`ResolvedValue`), by parameter key. moto sends none: it gives the
    /// value itself in `parameters`.
    pub resolved: BTreeMap<String, String>,
}

impl StackInfo {
    /// A stack operation is running (`REVIEW_IN_PROGRESS` is not one: it is a
    /// stack that only has a change set, and nothing runs on it).
    pub fn is_busy(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS") && self.status != "REVIEW_IN_PROGRESS"
    }
}

/// Where CreateChangeSet takes the template from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline, at most `DIRECT_UPLOAD_MAX_BYTES`.
    Body(String),
    /// An object in the artifact bucket, for larger templates.
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetType {
    Create,
    Update,
}

impl ChangeSetType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    pub stack: String,
    pub name: String,
    pub kind: ChangeSetType,
    pub template: TemplateSource,
    /// Template parameters given a value; the others keep their defaults.
    pub parameters: Vec<(String, String)>,
    pub description: String,
}

/// One `Details` entry of a resource change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeDetail {
    /// `Properties`, `Metadata`, `Tags`, ...
    pub attribute: Option<String>,
    /// The property, when `attribute` is `Properties`.
    pub name: Option<String>,
    /// `Never`, `Conditionally` or `Always`.
    pub requires_recreation: Option<String>,
}

/// One `ResourceChange` of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceChange {
    /// `Add`, `Modify`, `Remove`, `Import` or `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// `True`, `False` or `Conditional`; only for `Modify`, and not every
    /// endpoint sends it (moto does not).
    pub replacement: Option<String>,
    pub details: Vec<ChangeDetail>,
}

/// A change set as DescribeChangeSet gives it, all pages joined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSetInfo {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: String,
    pub execution_status: Option<String>,
    pub reason: Option<String>,
    pub changes: Vec<ResourceChange>,
}

/// A change set of a stack, as ListChangeSets names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetSummary {
    pub name: String,
    pub stack: String,
    pub execution_status: Option<String>,
}

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackEvent {
    pub id: String,
    /// RFC 3339.
    pub timestamp: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// One resource of a stack, as ListStackResources gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    /// Absent until the resource is created.
    pub physical_id: Option<String>,
    pub status: String,
}

/// A drift detection, as DescribeStackDriftDetectionStatus gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriftDetection {
    /// `DETECTION_IN_PROGRESS`, `DETECTION_COMPLETE` or `DETECTION_FAILED`
    /// (some resources could not be checked; the others were).
    pub status: String,
    /// `DRIFTED`, `IN_SYNC`, `NOT_CHECKED` or `UNKNOWN`.
    pub stack_drift_status: Option<String>,
    pub reason: Option<String>,
}

/// One property of a resource that differs from its template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyDifference {
    /// `/VersioningConfiguration/Status`, `/Tags/0/Value`.
    pub path: String,
    /// As CloudFormation sends them: JSON text for objects and arrays.
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// One resource of the last drift detection, as DescribeStackResourceDrifts
/// gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// `IN_SYNC`, `MODIFIED`, `DELETED`, `NOT_CHECKED` or `UNKNOWN`.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

/// Why a call to AWS failed, in the terms the fix is chosen by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("no AWS credentials were found ({detail})")]
    NoCredentials { detail: String },
    #[error("cannot reach {endpoint} ({detail})")]
    Unreachable { endpoint: String, detail: String },
    /// The service answered with an error of its own.
    #[error("{operation} was refused: {code}: {message}")]
    Rejected {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// The endpoint does not know the operation (moto lacks some).
    #[error("{operation} is not implemented by the endpoint ({detail})")]
    NotImplemented {
        operation: &'static str,
        detail: String,
    },
    #[error("{operation} failed: {detail}")]
    Other {
        operation: &'static str,
        detail: String,
    },
}

/// The AWS calls a deploy makes. Implemented by the SDK client and by the
/// tests' in-memory cloud.
///
/// `async fn` in a public trait cannot promise `Send` futures; the deploy
/// only ever awaits them on one thread (the CLI's current-thread runtime),
/// so none is needed.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    /// The region calls go to, for messages and template URLs.
    fn region(&self) -> &str;
    /// Where calls go, for messages (`https://...amazonaws.com` or the
    /// `--endpoint-url`).
    fn endpoint(&self) -> String;

    /// The account the credentials belong to (STS GetCallerIdentity). The
    /// first call of every command: it proves credentials and endpoint.
    async fn account(&self) -> Result<String, CloudError>;

    /// `None` when the stack does not exist (or was deleted).
    async fn describe_stack(&self, stack: &str) -> Result<Option<StackInfo>, CloudError>;
    /// The template the stack was last deployed with (its original form).
    async fn get_template(&self, stack: &str) -> Result<Option<String>, CloudError>;
    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<(), CloudError>;
    async fn describe_change_set(
        &self,
        stack: &str,
        name: &str,
    ) -> Result<ChangeSetInfo, CloudError>;
    async fn list_change_sets(&self, stack: &str) -> Result<Vec<ChangeSetSummary>, CloudError>;
    async fn execute_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError>;
    async fn delete_change_set(&self, stack: &str, name: &str) -> Result<(), CloudError>;
    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError>;
    /// Newest first, as CloudFormation lists them; at most the first pages.
    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError>;
    async fn set_stack_policy(&self, stack: &str, policy: &str) -> Result<(), CloudError>;
    async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<(), CloudError>;

    /// HeadObject: whether the key exists.
    async fn object_exists(&self, bucket: &str, key: &str) -> Result<bool, CloudError>;
    async fn put_object(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), CloudError>;
    /// The URL CloudFormation reads an uploaded template from.
    fn object_url(&self, bucket: &str, key: &str) -> String;

    /// The physical id of one resource of a stack (DescribeStackResource).
    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError>;

    /// Every resource of a stack (ListStackResources, all pages); none when
    /// the stack does not exist.
    async fn stack_resources(&self, stack: &str) -> Result<Vec<StackResource>, CloudError>;

    /// Starts a drift detection of the stack (DetectStackDrift); gives its id.
    async fn detect_drift(&self, stack: &str) -> Result<String, CloudError>;
    /// Where that detection is (DescribeStackDriftDetectionStatus).
    async fn drift_detection(&self, detection_id: &str) -> Result<DriftDetection, CloudError>;
    /// Each resource of the stack as the last detection found it
    /// (DescribeStackResourceDrifts, all pages).
    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CloudError>;

    /// Waits between two polls (the tests' cloud returns at once).
    async fn pause(&self, duration: Duration);
}
