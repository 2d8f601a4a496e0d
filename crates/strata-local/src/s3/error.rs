//! S3's errors and their wire shape: an XML `<Error>` document with `Code`,
//! `Message`, `Resource` and `RequestId`, and the status code AWS gives each
//! code. A HEAD request gets the status with no body (HTTP forbids one, and
//! botocore then reads the code from the status alone).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use super::xml::Xml;
use crate::sqlite::DbError;

/// One S3 error, with what its message needs.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket { bucket: String },
    #[error("The specified key does not exist.")]
    NoSuchKey { key: String, delete_marker: bool },
    #[error("The specified version does not exist.")]
    NoSuchVersion { key: String },
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload { upload_id: String },
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou { bucket: String },
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty { bucket: String },
    #[error("The specified bucket is not valid.")]
    InvalidBucketName { bucket: String },
    #[error("The requested range is not satisfiable")]
    InvalidRange { size: u64 },
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart,
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// Not an error to the client, but it ends the request the same way.
    #[error("Not Modified")]
    NotModified { etag: String },
    #[error("{message}")]
    AccessDenied { message: String },
    #[error("{message}")]
    InvalidArgument { message: String },
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    #[error("A header you provided implies functionality that is not implemented")]
    NotImplemented,
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header")]
    IncompleteBody,
    #[error("We encountered an internal error. Please try again.")]
    Internal,
}

impl From<DbError> for S3Error {
    fn from(_: DbError) -> Self {
        Self::Internal
    }
}

impl From<std::io::Error> for S3Error {
    fn from(_: std::io::Error) -> Self {
        Self::Internal
    }
}

impl S3Error {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSuchBucket { .. } => "NoSuchBucket",
            Self::NoSuchKey { .. } => "NoSuchKey",
            Self::NoSuchVersion { .. } => "NoSuchVersion",
            Self::NoSuchUpload { .. } => "NoSuchUpload",
            Self::BucketAlreadyOwnedByYou { .. } => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty { .. } => "BucketNotEmpty",
            Self::InvalidBucketName { .. } => "InvalidBucketName",
            Self::InvalidRange { .. } => "InvalidRange",
            Self::MalformedXml => "MalformedXML",
            Self::InvalidPart => "InvalidPart",
            Self::InvalidPartOrder => "InvalidPartOrder",
            Self::EntityTooSmall => "EntityTooSmall",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::NotModified { .. } => "NotModified",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::InvalidRequest { .. } => "InvalidRequest",
            Self::KeyTooLong => "KeyTooLongError",
            Self::BadDigest => "BadDigest",
            Self::InvalidDigest => "InvalidDigest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotImplemented => "NotImplemented",
            Self::IncompleteBody => "IncompleteBody",
            Self::Internal => "InternalError",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoSuchBucket { .. }
            | Self::NoSuchKey { .. }
            | Self::NoSuchVersion { .. }
            | Self::NoSuchUpload { .. } => StatusCode::NOT_FOUND,
            Self::BucketAlreadyOwnedByYou { .. } | Self::BucketNotEmpty { .. } => {
                StatusCode::CONFLICT
            }
            Self::InvalidRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::NotModified { .. } => StatusCode::NOT_MODIFIED,
            Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidBucketName { .. }
            | Self::MalformedXml
            | Self::InvalidPart
            | Self::InvalidPartOrder
            | Self::EntityTooSmall
            | Self::EntityTooLarge
            | Self::InvalidArgument { .. }
            | Self::InvalidRequest { .. }
            | Self::KeyTooLong
            | Self::BadDigest
            | Self::InvalidDigest
            | Self::IncompleteBody => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer: `resource` is the request path, `head` drops the body.
    pub fn into_response(self, resource: &str, request_id: &str, head: bool) -> Response<Body> {
        let status = self.status();
        let mut builder = Response::builder()
            .status(status)
            .header("x-amz-request-id", request_id);
        match &self {
            Self::NoSuchKey {
                delete_marker: true,
                ..
            } => builder = builder.header("x-amz-delete-marker", "true"),
            Self::NotModified { etag } => builder = builder.header(header::ETAG, etag.as_str()),
            Self::InvalidRange { size } => {
                builder = builder.header(header::CONTENT_RANGE, format!("bytes */{size}"));
            }
            _ => {}
        }
        if head || matches!(self, Self::NotModified { .. }) {
            return builder
                .body(Body::empty())
                .unwrap_or_else(|_| fallback(status));
        }
        let mut xml = Xml::new();
        xml.open("Error");
        xml.leaf("Code", self.code());
        xml.leaf("Message", &self.to_string());
        match &self {
            Self::NoSuchBucket { bucket }
            | Self::BucketAlreadyOwnedByYou { bucket }
            | Self::BucketNotEmpty { bucket }
            | Self::InvalidBucketName { bucket } => xml.leaf("BucketName", bucket),
            Self::NoSuchKey { key, .. } | Self::NoSuchVersion { key } => xml.leaf("Key", key),
            Self::NoSuchUpload { upload_id } => xml.leaf("UploadId", upload_id),
            Self::InvalidRange { size } => xml.leaf("ActualObjectSize", &size.to_string()),
            _ => {}
        }
        xml.leaf("Resource", resource);
        xml.leaf("RequestId", request_id);
        xml.close("Error");
        builder
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            )
            .body(Body::from(xml.finish()))
            .unwrap_or_else(|_| fallback(status))
    }
}

fn fallback(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
