//! Reading S3 requests and shaping S3 responses: which bucket and key a
//! request addresses (path-style or `bucket.localhost` virtual host), its
//! query parameters, the headers an object keeps, dates in S3's two
//! formats, and the `encoding-type=url` escaping of listings.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Response, StatusCode, Uri};
use chrono::{DateTime, Utc};

use super::error::S3Error;
use super::store::Headers;

/// The bucket and key a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Virtual-hosted requests name the bucket in the host: `bucket.localhost`
/// (with any port). Everything else is path-style: `/bucket/key`.
pub fn target(headers: &HeaderMap, uri: &Uri) -> Result<Target, S3Error> {
    let path = percent_decode(uri.path(), false).ok_or_else(|| S3Error::InvalidArgument {
        message: "the request path is not valid percent-encoded UTF-8".to_owned(),
    })?;
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .unwrap_or_default();
    let rest = path.strip_prefix('/').unwrap_or(&path);
    if let Some(bucket) = host.strip_suffix(".localhost").filter(|b| !b.is_empty()) {
        return Ok(Target {
            bucket: Some(bucket.to_ascii_lowercase()),
            key: (!rest.is_empty()).then(|| rest.to_owned()),
        });
    }
    let (bucket, key) = match rest.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key)),
        None => (rest, None),
    };
    Ok(Target {
        bucket: (!bucket.is_empty()).then(|| bucket.to_owned()),
        key: key.filter(|k| !k.is_empty()).map(str::to_owned),
    })
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Decode `%XX` escapes (and `+` as a space in query strings only: in a
/// path, `+` is itself). `None` on a bad escape or non-UTF-8 bytes.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
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
            b'+' if plus_is_space => {
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

/// Escape for `encoding-type=url`: everything but unreserved characters and
/// `/`, as S3 does (botocore decodes it back).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The query string as decoded pairs, in order. A parameter without `=`
/// (`?uploads`, `?versioning`) has an empty value.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(uri: &Uri) -> Result<Self, S3Error> {
        let mut pairs = Vec::new();
        for piece in uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |t: &str| {
                percent_decode(t, true).ok_or_else(|| S3Error::InvalidArgument {
                    message: "the query string is not valid percent-encoded UTF-8".to_owned(),
                })
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// An integer parameter within `0..=max` (clamped to `max` above it,
    /// as S3 does for max-keys), `default` when absent.
    pub fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, S3Error> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(max))
                .ok_or_else(|| S3Error::InvalidArgument {
                    message: format!("Provided {name} not an integer or within integer range"),
                }),
        }
    }
}

/// The content headers an object keeps, besides `x-amz-meta-*`.
pub const CONTENT_HEADERS: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "cache-control",
    "content-language",
    "expires",
];

/// The headers of a PutObject (or CreateMultipartUpload, or a CopyObject
/// replacing metadata) that the object keeps. `aws-chunked` is the upload's
/// transfer framing, not the object's encoding, and is dropped.
pub fn stored_headers(headers: &HeaderMap) -> Headers {
    let mut out = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        let keep = CONTENT_HEADERS.contains(&name) || name.starts_with("x-amz-meta-");
        let Ok(value) = value.to_str() else {
            continue;
        };
        if !keep {
            continue;
        }
        if name == "content-encoding" {
            let rest: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.eq_ignore_ascii_case("aws-chunked") && !v.is_empty())
                .collect();
            if !rest.is_empty() {
                out.push((name.to_owned(), rest.join(", ")));
            }
            continue;
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    out.sort();
    out
}

/// ISO 8601 with milliseconds, as S3 writes times in XML.
pub fn iso_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// RFC 7231 date, as S3 writes `Last-Modified`.
pub fn http_date(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A 200 with an XML document.
pub fn xml_ok(request_id: &str, xml: String) -> Response<Body> {
    response(StatusCode::OK, request_id)
        .header(CONTENT_TYPE, "application/xml")
        .body(Body::from(xml))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// A response builder with the request id headers every S3 answer has.
pub fn response(status: StatusCode, request_id: &str) -> axum::http::response::Builder {
    Response::builder()
        .status(status)
        .header("x-amz-request-id", request_id)
        .header("x-amz-id-2", request_id)
}

/// AWS's bucket naming rules (general purpose buckets).
pub fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bytes.first().copied().is_some_and(edge_ok)
        && bytes.last().copied().is_some_and(edge_ok)
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && name.parse::<std::net::Ipv4Addr>().is_err()
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn check(host: &str, path: &str) -> (Option<String>, Option<String>) {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host).expect("host"));
        let uri: Uri = path.parse().expect("uri");
        let t = target(&headers, &uri).expect("target");
        (t.bucket, t.key)
    }

    fn some(a: &str) -> Option<String> {
        Some(a.to_owned())
    }

    #[test]
    fn reads_path_style_and_virtual_hosted_addresses() {
        assert_eq!(check("127.0.0.1:4566", "/"), (None, None));
        assert_eq!(check("127.0.0.1:4566", "/b"), (some("b"), None));
        assert_eq!(check("127.0.0.1:4566", "/b/"), (some("b"), None));
        assert_eq!(
            check("127.0.0.1:4566", "/b/a/c.txt"),
            (some("b"), some("a/c.txt"))
        );
        assert_eq!(check("127.0.0.1:4566", "/b//x"), (some("b"), some("/x")));
        assert_eq!(
            check("127.0.0.1", "/b/%E2%9C%93%20a+b%2F..%2F"),
            (some("b"), some("✓ a+b/../"))
        );
        assert_eq!(check("b.localhost:4566", "/"), (some("b"), None));
        assert_eq!(
            check("my.b.localhost:9", "/k/j"),
            (some("my.b"), some("k/j"))
        );
        assert_eq!(check("localhost:4566", "/b/k"), (some("b"), some("k")));
    }

    #[test]
    fn query_pairs_decode_plus_and_flags() {
        let uri: Uri = "/b?list-type=2&prefix=a+b%2Fc&uploads"
            .parse()
            .expect("uri");
        let q = Query::parse(&uri).expect("query");
        assert_eq!(q.get("prefix"), Some("a b/c"));
        assert!(q.has("uploads"));
        assert_eq!(q.count("max-keys", 1000, 1000).expect("default"), 1000);
        let bad: Uri = "/b?max-keys=x".parse().expect("uri");
        assert!(
            Query::parse(&bad)
                .expect("q")
                .count("max-keys", 1, 1)
                .is_err()
        );
    }

    #[test]
    fn bucket_names_follow_aws_rules() {
        for ok in ["abc", "my-bucket.data", "a1b", "orders-dev-receipts"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "a.-b",
            &"a".repeat(64),
            "b-s3alias",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(url_encode("a b+c/é~"), "a%20b%2Bc/%C3%A9~");
    }

    #[test]
    fn stored_headers_keep_content_and_meta_and_drop_aws_chunked() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        headers.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        headers.insert("authorization", HeaderValue::from_static("secret"));
        assert_eq!(
            stored_headers(&headers),
            vec![
                ("content-encoding".to_owned(), "gzip".to_owned()),
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x-amz-meta-color".to_owned(), "blue".to_owned()),
            ]
        );
    }

    #[test]
    fn dates_in_both_formats() {
        assert_eq!(iso_time(784_111_777_000), "1994-11-06T08:49:37.000Z");
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
