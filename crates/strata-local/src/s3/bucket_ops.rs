//! Bucket operations: Create, Head, Delete, List (buckets), versioning,
//! location, and the three listings of a bucket's keys (ListObjects,
//! ListObjectsV2, ListObjectVersions).

use axum::body::Body;
use axum::http::{Response, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use super::error::S3Error;
use super::listing::Lister;
use super::store::{self, ObjectRow};
use super::wire::{self, iso_time, url_encode, xml_ok};
use super::xml::{self, Xml};
use super::{Call, S3};
use crate::buckets::Versioning;
use crate::sqs::REGION;

/// The owner every local bucket and object has.
const OWNER_ID: &str = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a";
const OWNER_NAME: &str = "strata";

fn owner(xml: &mut Xml) {
    xml.open("Owner");
    xml.leaf("ID", OWNER_ID);
    xml.leaf("DisplayName", OWNER_NAME);
    xml.close("Owner");
}

impl S3 {
    pub(super) async fn list_buckets(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let buckets = self.db.run(|conn, _| store::list_buckets(conn)).await?;
        let mut xml = Xml::new();
        xml.root("ListAllMyBucketsResult");
        owner(&mut xml);
        xml.open("Buckets");
        for bucket in buckets {
            xml.open("Bucket");
            xml.leaf("Name", &bucket.name);
            xml.leaf("CreationDate", &iso_time(bucket.created_ms));
            xml.close("Bucket");
        }
        xml.close("Buckets");
        xml.close("ListAllMyBucketsResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn create_bucket(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        if !wire::valid_bucket_name(&name) {
            return Err(S3Error::InvalidBucketName { bucket: name });
        }
        let body = call.small_body().await?;
        xml::parse_create_bucket(&body)?;
        let created = name.clone();
        self.db
            .run(move |conn, _| store::create_bucket(conn, &created))
            .await?;
        Ok(wire::response(StatusCode::OK, &call.request_id)
            .header("location", format!("/{name}"))
            .body(Body::empty())
            .unwrap_or_default())
    }

    pub(super) async fn head_bucket(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        self.db
            .run(move |conn, _| store::bucket(conn, &name))
            .await?;
        Ok(wire::response(StatusCode::OK, &call.request_id)
            .header("x-amz-bucket-region", REGION)
            .body(Body::empty())
            .unwrap_or_default())
    }

    pub(super) async fn delete_bucket(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        let freed = self
            .db
            .run(move |conn, _| store::delete_bucket(conn, &name))
            .await?;
        self.blobs.remove(freed).await;
        Ok(no_content(&call.request_id))
    }

    pub(super) async fn get_versioning(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        let info = self
            .db
            .run(move |conn, _| store::bucket(conn, &name))
            .await?;
        let mut xml = Xml::new();
        xml.root("VersioningConfiguration");
        if info.versioning != Versioning::Unset {
            xml.leaf("Status", info.versioning.as_str());
        }
        xml.close("VersioningConfiguration");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn put_versioning(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        let body = call.small_body().await?;
        let status = match xml::parse_versioning(&body)?.as_deref() {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => return Err(S3Error::MalformedXml),
        };
        self.db
            .run(move |conn, _| store::set_versioning(conn, &name, status))
            .await?;
        Ok(wire::response(StatusCode::OK, &call.request_id)
            .body(Body::empty())
            .unwrap_or_default())
    }

    pub(super) async fn get_location(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        self.db
            .run(move |conn, _| store::bucket(conn, &name))
            .await?;
        // us-east-1 is reported as an empty constraint, as S3 does.
        let mut xml = Xml::new();
        xml.root("LocationConstraint");
        xml.close("LocationConstraint");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    /// ListObjects (v1, `marker`) and ListObjectsV2 (`continuation-token`,
    /// `start-after`), on the same [`Lister`].
    pub(super) async fn list_objects(
        &self,
        call: &Call,
        v2: bool,
    ) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        let q = &call.query;
        let prefix = q.get("prefix").unwrap_or("").to_owned();
        let delimiter = q.get("delimiter").map(str::to_owned);
        let max_keys = q.count("max-keys", 1000, 1000)?;
        let encode = match q.get("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => {
                return Err(S3Error::InvalidArgument {
                    message: "Invalid Encoding Method specified in Request".to_owned(),
                });
            }
        };
        let token = q.get("continuation-token").map(str::to_owned);
        let after = if v2 {
            match &token {
                Some(token) => Some(decode_token(token)?),
                None => q.get("start-after").map(str::to_owned),
            }
        } else {
            q.get("marker").map(str::to_owned)
        };
        let lister = {
            let (prefix, delimiter, after) = (prefix.clone(), delimiter.clone(), after.clone());
            let bucket = name.clone();
            self.db
                .run(move |conn, _| {
                    let mut lister: Lister<ObjectRow> =
                        Lister::new(&prefix, delimiter.as_deref(), max_keys, after.as_deref());
                    store::list_current(conn, &bucket, &mut lister)?;
                    Ok::<_, S3Error>(lister)
                })
                .await?
        };
        let text = |t: &str| if encode { url_encode(t) } else { t.to_owned() };
        let mut xml = Xml::new();
        xml.root("ListBucketResult");
        xml.leaf("Name", &name);
        xml.leaf("Prefix", &text(&prefix));
        if v2 {
            if let Some(token) = &token {
                xml.leaf("ContinuationToken", token);
            }
            if let Some(start) = q.get("start-after") {
                xml.leaf("StartAfter", &text(start));
            }
            xml.leaf(
                "KeyCount",
                &(lister.contents.len() + lister.common_prefixes.len()).to_string(),
            );
        } else {
            xml.leaf("Marker", &text(after.as_deref().unwrap_or("")));
        }
        if let Some(delimiter) = &delimiter {
            xml.leaf("Delimiter", &text(delimiter));
        }
        xml.leaf("MaxKeys", &max_keys.to_string());
        if encode {
            xml.leaf("EncodingType", "url");
        }
        xml.leaf(
            "IsTruncated",
            if lister.truncated { "true" } else { "false" },
        );
        if lister.truncated
            && let Some(last) = &lister.last
        {
            if v2 {
                xml.leaf("NextContinuationToken", &B64URL.encode(last));
            } else {
                xml.leaf("NextMarker", &text(last));
            }
        }
        let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
        for object in &lister.contents {
            xml.open("Contents");
            xml.leaf("Key", &text(&object.key));
            xml.leaf("LastModified", &iso_time(object.modified_ms));
            xml.leaf("ETag", &object.etag);
            xml.leaf("Size", &object.size.to_string());
            if fetch_owner {
                owner(&mut xml);
            }
            xml.leaf("StorageClass", "STANDARD");
            xml.close("Contents");
        }
        for prefix in &lister.common_prefixes {
            xml.open("CommonPrefixes");
            xml.leaf("Prefix", &text(prefix));
            xml.close("CommonPrefixes");
        }
        xml.close("ListBucketResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn list_versions(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let name = call.bucket()?.to_owned();
        let q = &call.query;
        let prefix = q.get("prefix").unwrap_or("").to_owned();
        let delimiter = q.get("delimiter").map(str::to_owned);
        let max_keys = q.count("max-keys", 1000, 1000)?;
        let key_marker = q.get("key-marker").map(str::to_owned);
        let version_marker = q
            .get("version-id-marker")
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let encode = q.get("encoding-type") == Some("url");
        let page = {
            let (bucket, prefix, delimiter, key_marker, version_marker) = (
                name.clone(),
                prefix.clone(),
                delimiter.clone(),
                key_marker.clone(),
                version_marker.clone(),
            );
            self.db
                .run(move |conn, _| {
                    store::list_versions(
                        conn,
                        &bucket,
                        &prefix,
                        delimiter.as_deref(),
                        key_marker.as_deref(),
                        version_marker.as_deref(),
                        max_keys,
                    )
                })
                .await?
        };
        let text = |t: &str| if encode { url_encode(t) } else { t.to_owned() };
        let mut xml = Xml::new();
        xml.root("ListVersionsResult");
        xml.leaf("Name", &name);
        xml.leaf("Prefix", &text(&prefix));
        xml.leaf("KeyMarker", &text(key_marker.as_deref().unwrap_or("")));
        xml.leaf("VersionIdMarker", version_marker.as_deref().unwrap_or(""));
        if let Some(marker) = &page.next_key_marker {
            xml.leaf("NextKeyMarker", &text(marker));
        }
        if let Some(marker) = &page.next_version_marker {
            xml.leaf("NextVersionIdMarker", marker);
        }
        xml.leaf("MaxKeys", &max_keys.to_string());
        if let Some(delimiter) = &delimiter {
            xml.leaf("Delimiter", &text(delimiter));
        }
        if encode {
            xml.leaf("EncodingType", "url");
        }
        xml.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
        for (object, latest) in &page.versions {
            let tag = if object.delete_marker {
                "DeleteMarker"
            } else {
                "Version"
            };
            xml.open(tag);
            xml.leaf("Key", &text(&object.key));
            xml.leaf("VersionId", &object.version_id);
            xml.leaf("IsLatest", if *latest { "true" } else { "false" });
            xml.leaf("LastModified", &iso_time(object.modified_ms));
            if !object.delete_marker {
                xml.leaf("ETag", &object.etag);
                xml.leaf("Size", &object.size.to_string());
                xml.leaf("StorageClass", "STANDARD");
            }
            owner(&mut xml);
            xml.close(tag);
        }
        for prefix in &page.common_prefixes {
            xml.open("CommonPrefixes");
            xml.leaf("Prefix", &text(prefix));
            xml.close("CommonPrefixes");
        }
        xml.close("ListVersionsResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }
}

/// Continuation tokens are the last key or prefix returned, base64url: opaque
/// to clients, stable across restarts.
fn decode_token(token: &str) -> Result<String, S3Error> {
    B64URL
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| S3Error::InvalidArgument {
            message: "The continuation token provided is incorrect".to_owned(),
        })
}

pub(super) fn no_content(request_id: &str) -> Response<Body> {
    wire::response(StatusCode::NO_CONTENT, request_id)
        .body(Body::empty())
        .unwrap_or_default()
}
