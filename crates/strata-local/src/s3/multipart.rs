//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts and
//! ListMultipartUploads.
//!
//! Parts are blobs of their own with a row in `parts`. Completion checks
//! the client's list against the uploaded parts (ascending numbers, known
//! ETags, every part but the last at least 5 MiB), joins the chosen parts
//! into one new blob on the blocking pool, then in one transaction writes
//! the object row and drops the upload; the part blobs are unlinked after.
//! The ETag is S3's: the MD5 of the parts' binary MD5s, `-<count>`.

use axum::body::Body;
use axum::http::header::ETAG;
use axum::http::{Response, StatusCode};

use super::blobs::hex;
use super::bucket_ops::no_content;
use super::error::S3Error;
use super::objects::check_key;
use super::store::{self, NewObject, Part};
use super::wire::{self, iso_time, xml_ok};
use super::xml::{self, Xml};
use super::{Call, CreatedBy, EventKind, S3};
use crate::buckets::Versioning;
use crate::sqlite::now_ms;

/// Part numbers S3 accepts.
const PART_NUMBERS: std::ops::RangeInclusive<u32> = 1..=10_000;

impl S3 {
    pub(super) async fn create_upload(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        check_key(&key)?;
        let headers = wire::stored_headers(&call.headers);
        let upload_id = {
            let (bucket, key) = (bucket.clone(), key.clone());
            self.db
                .run(move |conn, _| store::create_upload(conn, &bucket, &key, &headers))
                .await?
        };
        let mut xml = Xml::new();
        xml.root("InitiateMultipartUploadResult");
        xml.leaf("Bucket", &bucket);
        xml.leaf("Key", &key);
        xml.leaf("UploadId", &upload_id);
        xml.close("InitiateMultipartUploadResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn upload_part(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        let upload_id = call.query.get("uploadId").unwrap_or_default().to_owned();
        let number = call
            .query
            .get("partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| PART_NUMBERS.contains(n))
            .ok_or_else(|| S3Error::InvalidArgument {
                message: "Part number must be an integer between 1 and 10000, inclusive".to_owned(),
            })?;
        // NoSuchUpload before the body is read.
        {
            let (bucket, key, upload_id) = (bucket.clone(), key.clone(), upload_id.clone());
            self.db
                .run(move |conn, _| store::upload(conn, &bucket, &key, &upload_id))
                .await?;
        }
        let staged = call.receive(self).await?;
        let part = Part {
            number,
            blob: staged.id.clone(),
            size: staged.size,
            etag: format!("\"{}\"", hex(&staged.md5)),
            modified_ms: now_ms(),
        };
        let etag = part.etag.clone();
        let result = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction().map_err(|_| S3Error::Internal)?;
                let freed = store::put_part(&tx, &bucket, &key, &upload_id, &part)?;
                tx.commit().map_err(|_| S3Error::Internal)?;
                Ok::<_, S3Error>(freed)
            })
            .await;
        match result {
            Ok(freed) => self.blobs.remove(freed).await,
            Err(error) => {
                self.blobs.remove(vec![staged.id]).await;
                return Err(error);
            }
        }
        Ok(wire::response(StatusCode::OK, &call.request_id)
            .header(ETAG, etag)
            .body(Body::empty())
            .unwrap_or_default())
    }

    pub(super) async fn complete_upload(&self, call: &mut Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        let upload_id = call.query.get("uploadId").unwrap_or_default().to_owned();
        let body = call.small_body().await?;
        let (upload, uploaded) = {
            let (bucket, key, upload_id) = (bucket.clone(), key.clone(), upload_id.clone());
            self.db
                .run(move |conn, _| {
                    let upload = store::upload(conn, &bucket, &key, &upload_id)?;
                    let parts = store::parts(conn, &upload_id)?;
                    Ok::<_, S3Error>((upload, parts))
                })
                .await?
        };
        let requested = xml::parse_complete(&body)?;
        let (chosen, etag) = store::plan_completion(&uploaded, &requested)?;
        let joined = self
            .blobs
            .concat(chosen.iter().map(|p| p.blob.clone()).collect())
            .await?;
        let object = NewObject {
            blob: Some(joined.id.clone()),
            size: joined.size,
            etag: etag.clone(),
            headers: upload.headers,
        };
        let result = {
            let (bucket, key, upload_id) = (bucket.clone(), key.clone(), upload_id.clone());
            self.db
                .run(move |conn, _| {
                    let tx = conn.transaction().map_err(|_| S3Error::Internal)?;
                    // The upload may have been completed or aborted while
                    // the parts were being joined.
                    store::upload(&tx, &bucket, &key, &upload_id)?;
                    let info = store::bucket(&tx, &bucket)?;
                    let (row, mut freed) = store::put(&tx, &bucket, &key, &object)?;
                    freed.extend(store::drop_upload(&tx, &upload_id)?);
                    tx.commit().map_err(|_| S3Error::Internal)?;
                    Ok::<_, S3Error>((row, freed, info.versioning))
                })
                .await
        };
        let (row, freed, versioning) = match result {
            Ok(done) => done,
            Err(error) => {
                self.blobs.remove(vec![joined.id]).await;
                return Err(error);
            }
        };
        self.blobs.remove(freed).await;
        self.emit(
            &bucket,
            &row,
            EventKind::Created(CreatedBy::CompleteMultipartUpload),
            versioning != Versioning::Unset,
        );
        let mut xml = Xml::new();
        xml.root("CompleteMultipartUploadResult");
        xml.leaf("Location", &format!("/{bucket}/{key}"));
        xml.leaf("Bucket", &bucket);
        xml.leaf("Key", &key);
        xml.leaf("ETag", &etag);
        xml.close("CompleteMultipartUploadResult");
        let mut response = wire::response(StatusCode::OK, &call.request_id)
            .header(axum::http::header::CONTENT_TYPE, "application/xml");
        if row.version_id != "null" {
            response = response.header("x-amz-version-id", row.version_id.as_str());
        }
        response
            .body(Body::from(xml.finish()))
            .map_err(|_| S3Error::Internal)
    }

    pub(super) async fn abort_upload(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        let upload_id = call.query.get("uploadId").unwrap_or_default().to_owned();
        let freed = self
            .db
            .run(move |conn, _| {
                let tx = conn.transaction().map_err(|_| S3Error::Internal)?;
                store::upload(&tx, &bucket, &key, &upload_id)?;
                let freed = store::drop_upload(&tx, &upload_id)?;
                tx.commit().map_err(|_| S3Error::Internal)?;
                Ok::<_, S3Error>(freed)
            })
            .await?;
        self.blobs.remove(freed).await;
        Ok(no_content(&call.request_id))
    }

    pub(super) async fn list_parts(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let key = call.key()?.to_owned();
        let upload_id = call.query.get("uploadId").unwrap_or_default().to_owned();
        let max_parts = call.query.count("max-parts", 1000, 1000)?;
        let marker = call.query.count("part-number-marker", 0, usize::MAX)?;
        let parts = {
            let (bucket, key, upload_id) = (bucket.clone(), key.clone(), upload_id.clone());
            self.db
                .run(move |conn, _| {
                    store::upload(conn, &bucket, &key, &upload_id)?;
                    store::parts(conn, &upload_id)
                })
                .await?
        };
        let after: Vec<&Part> = parts
            .iter()
            .filter(|p| usize::try_from(p.number).unwrap_or(usize::MAX) > marker)
            .collect();
        let truncated = after.len() > max_parts;
        let page = &after[..after.len().min(max_parts)];
        let mut xml = Xml::new();
        xml.root("ListPartsResult");
        xml.leaf("Bucket", &bucket);
        xml.leaf("Key", &key);
        xml.leaf("UploadId", &upload_id);
        xml.leaf("PartNumberMarker", &marker.to_string());
        if let Some(last) = page.last() {
            xml.leaf("NextPartNumberMarker", &last.number.to_string());
        }
        xml.leaf("MaxParts", &max_parts.to_string());
        xml.leaf("IsTruncated", if truncated { "true" } else { "false" });
        xml.leaf("StorageClass", "STANDARD");
        for part in page {
            xml.open("Part");
            xml.leaf("PartNumber", &part.number.to_string());
            xml.leaf("LastModified", &iso_time(part.modified_ms));
            xml.leaf("ETag", &part.etag);
            xml.leaf("Size", &part.size.to_string());
            xml.close("Part");
        }
        xml.close("ListPartsResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }

    pub(super) async fn list_uploads(&self, call: &Call) -> Result<Response<Body>, S3Error> {
        let bucket = call.bucket()?.to_owned();
        let prefix = call.query.get("prefix").unwrap_or("").to_owned();
        let uploads = {
            let (bucket, prefix) = (bucket.clone(), prefix.clone());
            self.db
                .run(move |conn, _| store::list_uploads(conn, &bucket, &prefix))
                .await?
        };
        let mut xml = Xml::new();
        xml.root("ListMultipartUploadsResult");
        xml.leaf("Bucket", &bucket);
        xml.leaf("KeyMarker", "");
        xml.leaf("UploadIdMarker", "");
        xml.leaf("Prefix", &prefix);
        xml.leaf("MaxUploads", "1000");
        xml.leaf("IsTruncated", "false");
        for upload in uploads {
            xml.open("Upload");
            xml.leaf("Key", &upload.key);
            xml.leaf("UploadId", &upload.upload_id);
            xml.leaf("StorageClass", "STANDARD");
            xml.leaf("Initiated", &iso_time(upload.created_ms));
            xml.close("Upload");
        }
        xml.close("ListMultipartUploadsResult");
        Ok(xml_ok(&call.request_id, xml.finish()))
    }
}
