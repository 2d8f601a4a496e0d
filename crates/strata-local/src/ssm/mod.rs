//! SSM Parameter Store (JSON protocol 1.1, target prefix `AmazonSSM`) on the
//! stage's own SQLite file, `<data>/ssm.sqlite`, with SecureString values
//! encrypted by the stage's key (`<data>/ssm.key`, see [`crypto`]).
//!
//! This file is the operation table and the wire shapes; [`store`] keeps the
//! versions and [`names`] the naming rules. Every write commits before the
//! answer is sent.

mod crypto;
mod names;
mod parameters;
mod store;

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Map, Value, json};
use strata_model::{Access, Address, ResourceKind};

pub use self::crypto::{KEY_FILE, KeyError, SecretKey};
pub use self::parameters::ParameterInfo;
use self::store::Version;
use crate::access::{AccessDenied, Action, Need, Principal};
use crate::durability::Durability;
use crate::endpoint::{AwsService, Rejection, ServiceFuture, ServiceRequest};
use crate::sqlite::{Db, DbError, now_ms};
use crate::store::DataDir;

pub const TARGET_PREFIX: &str = "AmazonSSM";
pub const DATABASE_FILE: &str = "ssm.sqlite";
const AMZ_JSON_11: &str = "application/x-amz-json-1.1";
const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";
/// The key id SSM reports for SecureStrings under the account's default key.
const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

/// Everything an SSM request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("parameter {name} not found")]
    ParameterNotFound { name: String },
    #[error("parameter {name} already exists")]
    ParameterAlreadyExists { name: String },
    #[error("parameter {name} has no version {selector}")]
    ParameterVersionNotFound { name: String, selector: String },
    #[error("{message}")]
    Validation { message: String },
    #[error("parameter hierarchy deeper than {} levels", names::MAX_LEVELS)]
    HierarchyLevelLimitExceeded,
    #[error("value does not match the allowed pattern {pattern}")]
    PatternMismatch { pattern: String },
    #[error("invalid next token")]
    InvalidNextToken,
    #[error("invalid filter key {key}")]
    InvalidFilterKey { key: String },
    #[error("request body is not a JSON object")]
    Serialization,
    #[error("unknown operation {operation}")]
    UnknownOperation { operation: String },
    #[error("request body of more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    AccessDenied(AccessDenied),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("a stored secure value could not be decrypted")]
    Undecryptable,
    #[error("internal error")]
    Internal,
}

impl From<rusqlite::Error> for SsmError {
    fn from(source: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite {
            path: DATABASE_FILE.into(),
            source,
        })
    }
}

impl SsmError {
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
        }
    }

    fn into_response(self) -> Response {
        let (status, shape, message) = match &self {
            // SSM answers a missing parameter with no message at all.
            Self::ParameterNotFound { .. } => (StatusCode::BAD_REQUEST, "ParameterNotFound", String::new()),
            Self::ParameterAlreadyExists { .. } => (
                StatusCode::BAD_REQUEST,
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.".to_owned(),
            ),
            Self::ParameterVersionNotFound { name, selector } => (
                StatusCode::BAD_REQUEST,
                "ParameterVersionNotFound",
                format!("Systems Manager could not find version {selector} of {name}. Verify the version and try again."),
            ),
            Self::Validation { message } => (StatusCode::BAD_REQUEST, "ValidationException", message.clone()),
            Self::HierarchyLevelLimitExceeded => (
                StatusCode::BAD_REQUEST,
                "HierarchyLevelLimitExceededException",
                "A hierarchy can have a maximum of 15 levels.".to_owned(),
            ),
            Self::PatternMismatch { pattern } => (
                StatusCode::BAD_REQUEST,
                "ParameterPatternMismatchException",
                format!("Parameter value, cannot be validated against allowedPattern: {pattern}"),
            ),
            Self::InvalidNextToken => (StatusCode::BAD_REQUEST, "InvalidNextToken", "The specified token isn't valid.".to_owned()),
            Self::InvalidFilterKey { key } => (StatusCode::BAD_REQUEST, "InvalidFilterKey", format!("The following filter key is not valid: {key}.")),
            Self::Serialization => (StatusCode::BAD_REQUEST, "SerializationException", String::new()),
            Self::UnknownOperation { .. } => (StatusCode::BAD_REQUEST, "UnknownOperationException", String::new()),
            Self::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                format!("Request size exceeds the limit of {limit} bytes"),
            ),
            Self::AccessDenied(denied) => (
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                format!(
                    "User: arn:aws:sts::{ACCOUNT}:assumed-role/{f}/{f} is not authorized to perform: \
                     {op} on resource: {res} because no identity-based policy allows the {op} action",
                    f = denied.function,
                    op = denied.operation,
                    res = denied.resource.as_ref().map_or_else(
                        || format!("arn:aws:ssm:{REGION}:{ACCOUNT}:*"),
                        |a| arn(&a.name),
                    ),
                ),
            ),
            Self::Db(_) | Self::Key(_) | Self::Undecryptable | Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An internal error occurred.".to_owned(),
            ),
        };
        let mut body = json!({ "__type": shape });
        if !message.is_empty() {
            body["message"] = Value::String(message);
        }
        let mut response = (status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_11));
        response
    }
}

/// The SSM Parameter Store of one stage.
#[derive(Debug, Clone)]
pub struct Ssm {
    db: Db,
    key: Arc<SecretKey>,
}

impl Ssm {
    pub fn open(data: &DataDir, durability: Durability) -> Result<Self, SsmError> {
        Ok(Self {
            db: Db::open(data, DATABASE_FILE, durability, store::SCHEMA)?,
            key: Arc::new(SecretKey::load_or_create(data.path())?),
        })
    }
}

impl AwsService for Ssm {
    fn signing_name(&self) -> &'static str {
        "ssm"
    }

    fn target_prefixes(&self) -> &'static [&'static str] {
        &[TARGET_PREFIX]
    }

    fn call(&self, request: ServiceRequest) -> ServiceFuture {
        let ssm = self.clone();
        Box::pin(async move {
            match ssm.answer(request).await {
                Ok(body) => {
                    let mut response = (StatusCode::OK, body.to_string()).into_response();
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_11));
                    response
                }
                Err(error) => error.into_response(),
            }
        })
    }

    fn reject(&self, rejection: Rejection) -> Response {
        match rejection {
            Rejection::BodyTooLarge { limit } => SsmError::TooLarge { limit },
            Rejection::BodyUnreadable => SsmError::Serialization,
            Rejection::Internal => SsmError::Internal,
        }
        .into_response()
    }
}

fn arn(name: &str) -> String {
    format!(
        "arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// The address a parameter answers to in `uses`: `parameter/<its name>`.
pub fn parameter_address(name: &str) -> Address {
    Address::new(ResourceKind::Parameter, name)
}

/// `read` in `uses` gives GetParameter and GetParameters on the parameter,
/// exactly what the aws target's IAM grants; everything else (writes,
/// listing, history) is the stateful stack's or the developer's.
pub fn authorize(
    principal: &Principal,
    operation: &str,
    name: Option<&str>,
) -> Result<(), SsmError> {
    let need = match operation {
        "GetParameter" | "GetParameters" => Need::Level(Access::Read),
        _ => Need::Manage,
    };
    let address = name.map(parameter_address);
    principal
        .authorize(&Action {
            operation: &format!("ssm:{operation}"),
            resource: address.as_ref(),
            need,
        })
        .map_err(SsmError::AccessDenied)
}

// ---- request decoding -------------------------------------------------------

fn opt_str<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, SsmError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SsmError::Serialization),
    }
}

fn req_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, SsmError> {
    opt_str(body, key)?.ok_or_else(|| {
        SsmError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(key)
        ))
    })
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn opt_bool(body: &Value, key: &str) -> Result<bool, SsmError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(SsmError::Serialization),
    }
}

fn max_results(body: &Value, high: i64) -> Result<usize, SsmError> {
    match body.get("MaxResults") {
        None | Some(Value::Null) => Ok(high as usize),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (1..=high).contains(&v) => Ok(v as usize),
            _ => Err(SsmError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {high}"
            ))),
        },
        Some(_) => Err(SsmError::Serialization),
    }
}

fn names_list(body: &Value) -> Result<Vec<String>, SsmError> {
    let names: Vec<String> = match body.get("Names") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(SsmError::Serialization))
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(SsmError::Serialization),
    };
    if names.is_empty() || names.len() > 10 {
        return Err(SsmError::validation(format!(
            "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
        )));
    }
    Ok(names)
}

/// Paging tokens are the last name (or version) returned, opaque to clients.
fn decode_token(body: &Value) -> Result<Option<String>, SsmError> {
    match opt_str(body, "NextToken")? {
        None => Ok(None),
        Some(token) => B64URL
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or(SsmError::InvalidNextToken),
    }
}

/// Take one page after `after` and the token for the next.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    after: Option<&str>,
    max: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.is_none_or(|a| key(i).as_str() > a))
        .collect();
    if rest.len() > max {
        rest.truncate(max);
        let token = rest.last().map(|i| B64URL.encode(key(i)));
        (rest, token)
    } else {
        (rest, None)
    }
}

// ---- operations -------------------------------------------------------------

impl Ssm {
    async fn answer(&self, request: ServiceRequest) -> Result<Value, SsmError> {
        let operation = request.operation.clone().unwrap_or_default();
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(value @ Value::Object(_)) => value,
            _ if request.body.is_empty() => Value::Object(Map::new()),
            _ => return Err(SsmError::Serialization),
        };
        let principal = &request.principal;
        let user = request.scope.as_ref().map_or_else(
            || format!("arn:aws:iam::{ACCOUNT}:root"),
            |s| format!("arn:aws:iam::{ACCOUNT}:user/{}", s.access_key_id),
        );
        match operation.as_str() {
            "PutParameter" => self.put_parameter(principal, body, user).await,
            "GetParameter" => self.get_parameter(principal, body).await,
            "GetParameters" => self.get_parameters(principal, body).await,
            "GetParametersByPath" => self.get_parameters_by_path(principal, body).await,
            "DeleteParameter" => self.delete_parameter(principal, body).await,
            "DeleteParameters" => self.delete_parameters(principal, body).await,
            "DescribeParameters" => self.describe_parameters(principal, body).await,
            "GetParameterHistory" => self.get_parameter_history(principal, body).await,
            _ => Err(SsmError::UnknownOperation { operation }),
        }
    }

    /// The value as returned: plain, or for a SecureString either decrypted
    /// (`decrypt`) or the sealed bytes in base64, which is what SSM returns
    /// without WithDecryption (its own ciphertext).
    fn value(&self, v: &Version, decrypt: bool) -> Result<String, SsmError> {
        if v.kind != "SecureString" {
            return String::from_utf8(v.value.clone()).map_err(|_| SsmError::Internal);
        }
        if decrypt {
            self.key
                .open(&v.name, v.version, &v.value)
                .map_err(|_| SsmError::Undecryptable)
        } else {
            Ok(BASE64.encode(&v.value))
        }
    }

    fn parameter_json(
        &self,
        v: &Version,
        decrypt: bool,
        selector: Option<&str>,
    ) -> Result<Value, SsmError> {
        let mut out = json!({
            "Name": v.name,
            "Type": v.kind,
            "Value": self.value(v, decrypt)?,
            "Version": v.version,
            "LastModifiedDate": v.modified_ms as f64 / 1000.0,
            "ARN": arn(&v.name),
            "DataType": v.data_type,
        });
        if let Some(selector) = selector {
            out["Selector"] = selector.into();
        }
        Ok(out)
    }

    fn metadata_json(v: &Version) -> Value {
        let mut out = json!({
            "Name": v.name,
            "ARN": arn(&v.name),
            "Type": v.kind,
            "LastModifiedDate": v.modified_ms as f64 / 1000.0,
            "LastModifiedUser": v.modified_user,
            "Version": v.version,
            "Tier": v.tier,
            "Policies": [],
            "DataType": v.data_type,
        });
        if v.kind == "SecureString" {
            out["KeyId"] = DEFAULT_KEY_ID.into();
        }
        if let Some(d) = &v.description {
            out["Description"] = d.clone().into();
        }
        if let Some(p) = &v.allowed_pattern {
            out["AllowedPattern"] = p.clone().into();
        }
        out
    }

    async fn put_parameter(
        &self,
        principal: &Principal,
        body: Value,
        user: String,
    ) -> Result<Value, SsmError> {
        let name = req_str(&body, "Name")?.to_owned();
        authorize(principal, "PutParameter", Some(&name))?;
        names::validate(&name)?;
        let value = req_str(&body, "Value")?.to_owned();
        let kind = opt_str(&body, "Type")?.map(str::to_owned);
        if let Some(k) = &kind
            && !matches!(k.as_str(), "String" | "StringList" | "SecureString")
        {
            return Err(SsmError::validation(format!(
                "1 validation error detected: Value '{k}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
            )));
        }
        let tier = opt_str(&body, "Tier")?.unwrap_or("Standard").to_owned();
        let limit = match tier.as_str() {
            "Standard" | "Intelligent-Tiering" => 4096,
            "Advanced" => 8192,
            other => {
                return Err(SsmError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
                )));
            }
        };
        if value.is_empty() || value.chars().count() > limit {
            return Err(SsmError::validation(format!(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to {limit} and greater than or equal to 1"
            )));
        }
        let data_type = opt_str(&body, "DataType")?.unwrap_or("text").to_owned();
        if !matches!(
            data_type.as_str(),
            "text" | "aws:ec2:image" | "aws:ssm:integration"
        ) {
            return Err(SsmError::validation(format!(
                "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
            )));
        }
        let overwrite = opt_bool(&body, "Overwrite")?;
        let description = opt_str(&body, "Description")?.map(str::to_owned);
        let pattern = opt_str(&body, "AllowedPattern")?.map(str::to_owned);
        let key = Arc::clone(&self.key);
        let version = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                let existing = store::current(&tx, &name)?;
                if existing.is_some() && !overwrite {
                    return Err(SsmError::ParameterAlreadyExists { name });
                }
                // Type, description and pattern carry over from the current
                // version when an overwrite leaves them out.
                let kind = match (kind, &existing) {
                    (Some(k), _) => k,
                    (None, Some(e)) => e.kind.clone(),
                    (None, None) => {
                        return Err(SsmError::validation(
                            "A parameter type is required when you create a parameter.",
                        ));
                    }
                };
                let description =
                    description.or_else(|| existing.as_ref().and_then(|e| e.description.clone()));
                let pattern =
                    pattern.or_else(|| existing.as_ref().and_then(|e| e.allowed_pattern.clone()));
                if let Some(p) = &pattern {
                    let re = regex::Regex::new(p).map_err(|_| {
                        SsmError::validation(format!(
                            "Parameter value, cannot be validated against allowedPattern: {p}"
                        ))
                    })?;
                    if !re.is_match(&value) {
                        return Err(SsmError::PatternMismatch { pattern: p.clone() });
                    }
                }
                let version = existing.as_ref().map_or(1, |e| e.version + 1);
                let stored = if kind == "SecureString" {
                    key.seal(&name, version, &value)?
                } else {
                    value.into_bytes()
                };
                store::insert(
                    &tx,
                    &Version {
                        name,
                        version,
                        kind,
                        value: stored,
                        description,
                        allowed_pattern: pattern,
                        tier: if tier == "Intelligent-Tiering" {
                            "Standard".to_owned()
                        } else {
                            tier.clone()
                        },
                        data_type,
                        modified_ms: now_ms(),
                        modified_user: user,
                    },
                )?;
                tx.commit()?;
                Ok((version, tier))
            })
            .await?;
        let tier = if version.1 == "Intelligent-Tiering" {
            "Standard".to_owned()
        } else {
            version.1
        };
        Ok(json!({ "Version": version.0, "Tier": tier }))
    }

    async fn lookup(&self, given: &str) -> Result<Option<(Version, Option<String>)>, SsmError> {
        let reference = names::parse_reference(given)?;
        let name = reference.name.clone();
        let found = self
            .db
            .run(move |conn, _| match reference.version {
                Some(v) => store::at_version(conn, &name, v),
                None => store::current(conn, &name),
            })
            .await?;
        if found.is_none()
            && let Some(version) = names::parse_reference(given)?.version
        {
            // The parameter exists but not at that version: a distinct error.
            let name = names::parse_reference(given)?.name;
            let lookup = name.clone();
            if self
                .db
                .run(move |conn, _| store::current(conn, &lookup))
                .await?
                .is_some()
            {
                return Err(SsmError::ParameterVersionNotFound {
                    name,
                    selector: version.to_string(),
                });
            }
        }
        Ok(found.map(|v| {
            (
                v,
                names::parse_reference(given).ok().and_then(|r| r.selector),
            )
        }))
    }

    async fn get_parameter(&self, principal: &Principal, body: Value) -> Result<Value, SsmError> {
        let given = req_str(&body, "Name")?.to_owned();
        let reference = names::parse_reference(&given)?;
        authorize(principal, "GetParameter", Some(&reference.name))?;
        let decrypt = opt_bool(&body, "WithDecryption")?;
        match self.lookup(&given).await? {
            Some((v, selector)) => {
                Ok(json!({ "Parameter": self.parameter_json(&v, decrypt, selector.as_deref())? }))
            }
            None => Err(SsmError::ParameterNotFound {
                name: reference.name,
            }),
        }
    }

    async fn get_parameters(&self, principal: &Principal, body: Value) -> Result<Value, SsmError> {
        let given = names_list(&body)?;
        for name in &given {
            let reference = names::parse_reference(name).map_or_else(|_| name.clone(), |r| r.name);
            authorize(principal, "GetParameters", Some(&reference))?;
        }
        let decrypt = opt_bool(&body, "WithDecryption")?;
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        for name in given {
            match self.lookup(&name).await {
                Ok(Some((v, selector))) => {
                    found.push(self.parameter_json(&v, decrypt, selector.as_deref())?)
                }
                Ok(None) | Err(SsmError::ParameterVersionNotFound { .. }) => {
                    invalid.push(Value::String(name))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(json!({ "Parameters": found, "InvalidParameters": invalid }))
    }

    async fn get_parameters_by_path(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<Value, SsmError> {
        authorize(principal, "GetParametersByPath", None)?;
        let path = req_str(&body, "Path")?.to_owned();
        if !path.starts_with('/') || path.contains("//") {
            return Err(SsmError::validation(format!(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_. Invalid value: {path}"
            )));
        }
        if names::levels(&path) > names::MAX_LEVELS {
            return Err(SsmError::HierarchyLevelLimitExceeded);
        }
        let recursive = opt_bool(&body, "Recursive")?;
        let decrypt = opt_bool(&body, "WithDecryption")?;
        let max = max_results(&body, 10)?;
        let after = decode_token(&body)?;
        let type_filter = type_filter(&body)?;
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let all = self.db.run(|conn, _| store::all_current(conn)).await?;
        let matching: Vec<Version> = all
            .into_iter()
            .filter(|v| {
                v.name
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| recursive || !rest.contains('/'))
            })
            .filter(|v| type_filter.as_ref().is_none_or(|t| t.contains(&v.kind)))
            .collect();
        let (items, token) = page(matching, |v| v.name.clone(), after.as_deref(), max);
        let params = items
            .iter()
            .map(|v| self.parameter_json(v, decrypt, None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = json!({ "Parameters": params });
        if let Some(token) = token {
            out["NextToken"] = token.into();
        }
        Ok(out)
    }

    async fn delete_parameter(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<Value, SsmError> {
        let name = req_str(&body, "Name")?.to_owned();
        authorize(principal, "DeleteParameter", Some(&name))?;
        let deleted = name.clone();
        if self
            .db
            .run(move |conn, _| store::delete(conn, &deleted))
            .await?
        {
            Ok(json!({}))
        } else {
            Err(SsmError::ParameterNotFound { name })
        }
    }

    async fn delete_parameters(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<Value, SsmError> {
        let given = names_list(&body)?;
        for name in &given {
            authorize(principal, "DeleteParameters", Some(name))?;
        }
        let (deleted, invalid) = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction()?;
                let mut deleted = Vec::new();
                let mut invalid = Vec::new();
                for name in given {
                    if store::delete(&tx, &name)? {
                        deleted.push(name);
                    } else {
                        invalid.push(name);
                    }
                }
                tx.commit()?;
                Ok::<_, SsmError>((deleted, invalid))
            })
            .await?;
        Ok(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
    }

    async fn describe_parameters(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<Value, SsmError> {
        authorize(principal, "DescribeParameters", None)?;
        let max = max_results(&body, 50)?;
        let after = decode_token(&body)?;
        let filters = describe_filters(&body)?;
        let all = self.db.run(|conn, _| store::all_current(conn)).await?;
        let matching: Vec<Version> = all
            .into_iter()
            .filter(|v| filters.iter().all(|f| f.matches(v)))
            .collect();
        let (items, token) = page(matching, |v| v.name.clone(), after.as_deref(), max);
        let mut out =
            json!({ "Parameters": items.iter().map(Self::metadata_json).collect::<Vec<_>>() });
        if let Some(token) = token {
            out["NextToken"] = token.into();
        }
        Ok(out)
    }

    async fn get_parameter_history(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<Value, SsmError> {
        let name = req_str(&body, "Name")?.to_owned();
        authorize(principal, "GetParameterHistory", Some(&name))?;
        let decrypt = opt_bool(&body, "WithDecryption")?;
        let max = max_results(&body, 50)?;
        let after = decode_token(&body)?;
        let lookup = name.clone();
        let versions = self
            .db
            .run(move |conn, _| store::history(conn, &lookup))
            .await?;
        if versions.is_empty() {
            return Err(SsmError::ParameterNotFound { name });
        }
        // Versions page in numeric order; the token holds a zero-padded
        // number so string order is numeric order.
        let (items, token) = page(
            versions,
            |v| format!("{:010}", v.version),
            after.as_deref(),
            max,
        );
        let params = items
            .iter()
            .map(|v| {
                let mut out = Self::metadata_json(v);
                out["Value"] = self.value(v, decrypt)?.into();
                out["Labels"] = json!([]);
                out.as_object_mut().map(|o| o.remove("ARN"));
                Ok(out)
            })
            .collect::<Result<Vec<_>, SsmError>>()?;
        let mut out = json!({ "Parameters": params });
        if let Some(token) = token {
            out["NextToken"] = token.into();
        }
        Ok(out)
    }
}

/// `ParameterFilters` of GetParametersByPath: only `Type` narrows here
/// (`Label` and `KeyId` have nothing to match locally and are refused).
fn type_filter(body: &Value) -> Result<Option<Vec<String>>, SsmError> {
    let Some(filters) = body.get("ParameterFilters").and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut kinds = None;
    for f in filters {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default();
        if key != "Type" {
            return Err(SsmError::InvalidFilterKey {
                key: key.to_owned(),
            });
        }
        kinds = Some(filter_values(f));
    }
    Ok(kinds)
}

fn filter_values(f: &Value) -> Vec<String> {
    f.get("Values")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// One DescribeParameters filter.
#[derive(Debug)]
struct Filter {
    key: String,
    option: String,
    values: Vec<String>,
}

impl Filter {
    fn matches(&self, v: &Version) -> bool {
        let field = match self.key.as_str() {
            "Name" => &v.name,
            "Type" => &v.kind,
            "Tier" => &v.tier,
            "DataType" => &v.data_type,
            "Path" => {
                return self.values.iter().any(|p| {
                    let prefix = format!("{}/", p.trim_end_matches('/'));
                    v.name
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| self.option == "Recursive" || !rest.contains('/'))
                });
            }
            _ => return false,
        };
        self.values.iter().any(|value| match self.option.as_str() {
            "BeginsWith" => field.starts_with(value.as_str()),
            "Contains" => field.contains(value.as_str()),
            _ => field == value,
        })
    }
}

fn describe_filters(body: &Value) -> Result<Vec<Filter>, SsmError> {
    let mut out = Vec::new();
    // The older `Filters` member: Name matches by prefix.
    for f in body
        .get("Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default();
        if !matches!(key, "Name" | "Type") {
            return Err(SsmError::InvalidFilterKey {
                key: key.to_owned(),
            });
        }
        out.push(Filter {
            key: key.to_owned(),
            option: if key == "Name" {
                "BeginsWith"
            } else {
                "Equals"
            }
            .to_owned(),
            values: filter_values(f),
        });
    }
    for f in body
        .get("ParameterFilters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default();
        if !matches!(key, "Name" | "Type" | "Tier" | "DataType" | "Path") {
            return Err(SsmError::InvalidFilterKey {
                key: key.to_owned(),
            });
        }
        let default = if key == "Path" { "OneLevel" } else { "Equals" };
        let option = f
            .get("Option")
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned();
        let allowed: &[&str] = match key {
            "Path" => &["OneLevel", "Recursive"],
            "Name" => &["Equals", "BeginsWith", "Contains"],
            _ => &["Equals", "BeginsWith"],
        };
        if !allowed.contains(&option.as_str()) {
            return Err(SsmError::validation(format!(
                "The following filter option is not valid: {option}. Valid options include: {allowed:?}."
            )));
        }
        out.push(Filter {
            key: key.to_owned(),
            option,
            values: filter_values(f),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{AccessRegistry, FunctionGrants};

    fn function(grants: &[&str]) -> Principal {
        let registry = AccessRegistry::new();
        registry.register(
            "AKFN",
            FunctionGrants::new(
                "fn",
                grants.iter().map(|p| (parameter_address(p), Access::Read)),
            ),
        );
        registry.principal(Some("AKFN"))
    }

    fn check(p: &Principal, op: &str, name: Option<&str>) -> &'static str {
        match authorize(p, op, name) {
            Ok(()) => "allow",
            Err(SsmError::AccessDenied(_)) => "deny",
            Err(_) => "other",
        }
    }

    #[test]
    fn read_grant_allows_get_parameter_s_only() {
        let p = function(&["SupportEmail"]);
        assert_eq!(check(&p, "GetParameter", Some("SupportEmail")), "allow");
        assert_eq!(check(&p, "GetParameters", Some("SupportEmail")), "allow");
        assert_eq!(check(&p, "GetParameter", Some("PaymentKey")), "deny");
        for op in ["PutParameter", "DeleteParameter", "GetParameterHistory"] {
            assert_eq!(check(&p, op, Some("SupportEmail")), "deny", "{op}");
        }
        assert_eq!(check(&p, "DescribeParameters", None), "deny");
        assert_eq!(check(&p, "GetParametersByPath", None), "deny");
        assert_eq!(
            check(&Principal::Developer, "PutParameter", Some("X")),
            "allow"
        );
    }

    #[test]
    fn pages_carry_a_token_only_when_more_remain() {
        let items: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let (first, token) = page(items.clone(), Clone::clone, None, 2);
        assert_eq!(first, ["a", "b"]);
        let after =
            String::from_utf8(B64URL.decode(token.expect("more")).expect("b64")).expect("utf8");
        let (second, token) = page(items, Clone::clone, Some(&after), 2);
        assert_eq!((second, token), (vec!["c".to_owned()], None));
    }
}
