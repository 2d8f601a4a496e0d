//! SQS's JSON protocol on the wire: the error shapes AWS sends, and responses.
//!
//! SQS moved from the Query protocol to JSON 1.0 after SDKs had modelled its
//! errors by their old Query codes, so every error carries both: the JSON
//! `__type` (`com.amazonaws.sqs#QueueDoesNotExist`, the modelled shape) and
//! the `x-amzn-query-error` header (`AWS.SimpleQueueService.NonExistentQueue;Sender`,
//! the code older clients and the AWS CLI show). botocore reads the header's
//! code as `Error.Code` and keeps the shape name to pick the exception class,
//! so both must be right for `client.exceptions.QueueDoesNotExist` to match.

use axum::http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::access::AccessDenied;
use crate::sqlite::DbError;

pub(crate) const AMZ_JSON: &str = "application/x-amz-json-1.0";

/// Everything an SQS request can fail with, each mapped to AWS's shape.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("queue {queue} does not exist")]
    NonExistentQueue { queue: String },
    #[error("queue {queue} exists with other attributes")]
    QueueNameExists { queue: String },
    #[error("invalid parameter value: {message}")]
    InvalidParameterValue { message: String },
    #[error("missing parameter {parameter}")]
    MissingParameter { parameter: &'static str },
    #[error("unknown attribute {name}")]
    InvalidAttributeName { name: String },
    #[error("invalid value for attribute {name}: {message}")]
    InvalidAttributeValue { name: String, message: String },
    #[error("receipt handle {handle} is invalid")]
    ReceiptHandleIsInvalid { handle: String },
    #[error("message is not in flight")]
    MessageNotInflight,
    #[error("batch of {count} entries is over the limit of 10")]
    TooManyEntries { count: usize },
    #[error("batch has no entries")]
    EmptyBatch,
    #[error("batch entry id {id} is used twice")]
    BatchIdsNotDistinct { id: String },
    #[error("batch entry id {id} is invalid")]
    InvalidBatchEntryId { id: String },
    #[error("batch of {size} bytes is over the limit of {limit}")]
    BatchRequestTooLong { size: usize, limit: usize },
    #[error("message body holds characters SQS does not allow")]
    InvalidMessageContents,
    #[error("queue {queue} was purged less than 60 seconds ago")]
    PurgeQueueInProgress { queue: String },
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
    #[error("internal error")]
    Internal,
}

impl From<rusqlite::Error> for SqsError {
    fn from(source: rusqlite::Error) -> Self {
        Self::Db(DbError::Sqlite {
            path: "sqs.sqlite".into(),
            source,
        })
    }
}

impl SqsError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidParameterValue {
            message: message.into(),
        }
    }

    /// `(status, shape, query code, message)` as AWS sends them.
    fn wire(&self) -> (StatusCode, &'static str, Option<&'static str>, String) {
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Self::NonExistentQueue { .. } => (
                bad,
                "QueueDoesNotExist",
                Some("AWS.SimpleQueueService.NonExistentQueue"),
                "The specified queue does not exist.".to_owned(),
            ),
            Self::QueueNameExists { queue } => (
                bad,
                "QueueNameExists",
                Some("QueueAlreadyExists"),
                format!(
                    "A queue already exists with the same name and a different value for attribute(s) of {queue}"
                ),
            ),
            Self::InvalidParameterValue { message } => (
                bad,
                "InvalidParameterValueException",
                Some("InvalidParameterValue"),
                message.clone(),
            ),
            Self::MissingParameter { parameter } => (
                bad,
                "MissingRequiredParameterException",
                Some("MissingParameter"),
                format!("The request must contain the parameter {parameter}."),
            ),
            Self::InvalidAttributeName { name } => (
                bad,
                "InvalidAttributeName",
                Some("InvalidAttributeName"),
                format!("Unknown Attribute {name}."),
            ),
            Self::InvalidAttributeValue { name, message } => (
                bad,
                "InvalidAttributeValue",
                Some("InvalidAttributeValue"),
                format!("Invalid value for the parameter {name}. Reason: {message}"),
            ),
            Self::ReceiptHandleIsInvalid { handle } => (
                bad,
                "ReceiptHandleIsInvalid",
                Some("ReceiptHandleIsInvalid"),
                format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
            ),
            Self::MessageNotInflight => (
                bad,
                "MessageNotInflight",
                Some("AWS.SimpleQueueService.MessageNotInflight"),
                "The message referred to isn't in flight.".to_owned(),
            ),
            Self::TooManyEntries { count } => (
                bad,
                "TooManyEntriesInBatchRequest",
                Some("AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
                format!("Maximum number of entries per request are 10. You have sent {count}."),
            ),
            Self::EmptyBatch => (
                bad,
                "EmptyBatchRequest",
                Some("AWS.SimpleQueueService.EmptyBatchRequest"),
                "There should be at least one entry in the request.".to_owned(),
            ),
            Self::BatchIdsNotDistinct { id } => (
                bad,
                "BatchEntryIdsNotDistinct",
                Some("AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
                format!("Id {id} repeated."),
            ),
            Self::InvalidBatchEntryId { .. } => (
                bad,
                "InvalidBatchEntryId",
                Some("AWS.SimpleQueueService.InvalidBatchEntryId"),
                "A batch entry id can only contain alphanumeric characters, hyphens and \
                 underscores. It can be at most 80 letters long."
                    .to_owned(),
            ),
            Self::BatchRequestTooLong { size, limit } => (
                bad,
                "BatchRequestTooLong",
                Some("AWS.SimpleQueueService.BatchRequestTooLong"),
                format!(
                    "Batch requests cannot be longer than {limit} bytes. You have sent {size} bytes."
                ),
            ),
            Self::InvalidMessageContents => (
                bad,
                "InvalidMessageContents",
                Some("InvalidMessageContents"),
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | \
                 #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
                    .to_owned(),
            ),
            Self::PurgeQueueInProgress { queue } => (
                bad,
                "PurgeQueueInProgress",
                Some("AWS.SimpleQueueService.PurgeQueueInProgress"),
                format!("Only one PurgeQueue operation on {queue} is allowed every 60 seconds."),
            ),
            Self::Serialization => (bad, "SerializationException", None, String::new()),
            Self::UnknownOperation { .. } => {
                (bad, "UnknownOperationException", None, String::new())
            }
            Self::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidParameterValueException",
                Some("InvalidParameterValue"),
                format!("Request size exceeds the limit of {limit} bytes"),
            ),
            Self::AccessDenied(denied) => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                Some("AccessDenied"),
                format!(
                    "User: arn:aws:sts::{account}:assumed-role/{f}/{f} is not authorized to \
                     perform: {op} on resource: {res} because no identity-based policy allows \
                     the {op} action",
                    account = super::ACCOUNT,
                    f = denied.function,
                    op = denied.operation,
                    res = denied.resource.as_ref().map_or_else(
                        || format!("arn:aws:sqs:{}:{}:*", super::REGION, super::ACCOUNT),
                        |a| format!(
                            "arn:aws:sqs:{}:{}:{}",
                            super::REGION,
                            super::ACCOUNT,
                            a.name
                        ),
                    ),
                ),
            ),
            Self::Db(_) | Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                Some("InternalError"),
                "We encountered an internal error. Please try again.".to_owned(),
            ),
        }
    }

    /// The error as a client-visible response.
    pub(crate) fn into_response(self) -> Response {
        let (status, shape, query, message) = self.wire();
        // Coral-level failures (body not understood, unknown operation) come
        // from the shared front end, not from SQS, and keep its namespace.
        let namespace = match self {
            Self::Serialization | Self::UnknownOperation { .. } => "com.amazon.coral.service",
            _ => "com.amazonaws.sqs",
        };
        let mut body = json!({ "__type": format!("{namespace}#{shape}") });
        if !message.is_empty() {
            body["message"] = Value::String(message);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
        if let Some(code) = query {
            let fault = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
                headers.insert("x-amzn-query-error", value);
            }
        }
        response
    }

    /// The `(Code, SenderFault, Message)` of a failed batch entry.
    pub(crate) fn batch_entry(&self, id: &str) -> Value {
        let (status, shape, query, message) = self.wire();
        json!({
            "Id": id,
            "Code": query.unwrap_or(shape),
            "SenderFault": !status.is_server_error(),
            "Message": message,
        })
    }
}

/// A successful answer.
pub(crate) fn ok(body: &Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    response
}
