//! The credential scope of an AWS Signature Version 4 request.
//!
//! The scope (`Credential=AKID/20260101/us-east-1/dynamodb/aws4_request`)
//! names who signed (the access key id) and for which service, which is all
//! the endpoint needs to route and to pick a principal. The signature itself
//! is not verified: locally the access key id is an identity, not a secret
//! (see `access`). The scope comes from the `Authorization` header, or from
//! the `X-Amz-Credential` query parameter of a presigned URL.

use axum::http::{HeaderMap, Uri, header::AUTHORIZATION};

/// The parts of a SigV4 credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Read the scope of a request, header first, then presigned query.
    pub fn of_request(headers: &HeaderMap, uri: &Uri) -> Option<Self> {
        if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            return Self::from_authorization(value);
        }
        uri.query().and_then(Self::from_query)
    }

    /// `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=..., Signature=...`
    pub fn from_authorization(value: &str) -> Option<Self> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?;
        let credential = rest
            .split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix("Credential="))?;
        Self::parse(credential)
    }

    /// `...&X-Amz-Credential=AKID%2Fdate%2Fregion%2Fservice%2Faws4_request&...`
    pub fn from_query(query: &str) -> Option<Self> {
        let encoded = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))?;
        Self::parse(&percent_decode(encoded)?)
    }

    fn parse(credential: &str) -> Option<Self> {
        let mut parts = credential.trim().split('/');
        let access_key_id = parts.next().filter(|s| !s.is_empty())?;
        let date = parts.next()?;
        let region = parts.next()?;
        let service = parts.next().filter(|s| !s.is_empty())?;
        if parts.next()? != "aws4_request" || parts.next().is_some() {
            return None;
        }
        Some(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }
}

/// Decode `%XX` escapes; `None` on a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(akid: &str, region: &str, service: &str) -> Option<CredentialScope> {
        Some(CredentialScope {
            access_key_id: akid.to_owned(),
            date: "20260101".to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    #[test]
    fn reads_the_scope_botocore_sends() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc123";
        assert_eq!(
            CredentialScope::from_authorization(header),
            scope("AKIDEXAMPLE", "us-east-1", "dynamodb")
        );
    }

    #[test]
    fn reads_a_presigned_url_scope() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z";
        assert_eq!(
            CredentialScope::from_query(query),
            scope("AKID", "eu-west-1", "s3")
        );
    }

    #[test]
    fn refuses_what_is_not_a_v4_scope() {
        for header in [
            "",
            "AWS AKID:signature",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request/extra",
            "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/dynamodb/aws4_request",
        ] {
            assert_eq!(
                CredentialScope::from_authorization(header),
                None,
                "{header:?}"
            );
        }
        assert_eq!(CredentialScope::from_query("X-Amz-Credential=AKID%2"), None);
    }
}
