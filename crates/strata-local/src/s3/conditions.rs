//! Conditional requests on objects: `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`, in RFC 9110's order, which
//! is also what S3 documents for GetObject and HeadObject:
//!
//! 1. `If-Match` present and no match: 412. Else, `If-Unmodified-Since`
//!    present (and no `If-Match`) and modified since: 412.
//! 2. `If-None-Match` present and a match: 304. Else, `If-Modified-Since`
//!    present (and no `If-None-Match`) and not modified since: 304.
//!
//! So `If-Match` true with `If-Unmodified-Since` false is 200, and
//! `If-None-Match` false with `If-Modified-Since` true is 304, as S3 says.
//! Dates that do not parse are ignored, as HTTP requires. Times compare at
//! whole seconds, the precision of `Last-Modified`.

use axum::http::HeaderMap;
use chrono::DateTime;

/// The outcome of the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// `etag` quoted as stored; `modified_s` the object's Last-Modified in
/// seconds since the epoch.
pub fn evaluate(headers: &HeaderMap, etag: &str, modified_s: i64) -> Verdict {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let date = |name: &str| {
        text(name)
            .and_then(|t| DateTime::parse_from_rfc2822(t.trim()).ok())
            .map(|d| d.timestamp())
    };
    if let Some(wanted) = text("if-match") {
        if !etag_matches(wanted, etag) {
            return Verdict::PreconditionFailed;
        }
    } else if let Some(since) = date("if-unmodified-since")
        && modified_s > since
    {
        return Verdict::PreconditionFailed;
    }
    if let Some(wanted) = text("if-none-match") {
        if etag_matches(wanted, etag) {
            return Verdict::NotModified;
        }
    } else if let Some(since) = date("if-modified-since")
        && modified_s <= since
    {
        return Verdict::NotModified;
    }
    Verdict::Proceed
}

/// Whether a list of entity tags (`"a", W/"b"`, or `*`) names `etag`.
/// Quotes are optional on the request side: S3 compares the bare hex.
pub fn etag_matches(list: &str, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || candidate
                .strip_prefix("W/")
                .unwrap_or(candidate)
                .trim_matches('"')
                == bare
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const ETAG: &str = "\"abc\"";
    // Sun, 06 Nov 1994 08:49:37 GMT
    const MODIFIED: i64 = 784_111_777;

    fn check(pairs: &[(&'static str, &'static str)]) -> Verdict {
        let mut headers = HeaderMap::new();
        for &(name, value) in pairs {
            headers.insert(name, HeaderValue::from_static(value));
        }
        evaluate(&headers, ETAG, MODIFIED)
    }

    #[test]
    fn follows_the_documented_order() {
        use Verdict::*;
        const BEFORE: &str = "Sat, 05 Nov 1994 08:49:37 GMT";
        const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
        const AFTER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";
        assert_eq!(check(&[]), Proceed);
        assert_eq!(check(&[("if-match", "\"abc\"")]), Proceed);
        assert_eq!(check(&[("if-match", "abc")]), Proceed);
        assert_eq!(check(&[("if-match", "\"x\", \"abc\"")]), Proceed);
        assert_eq!(check(&[("if-match", "*")]), Proceed);
        assert_eq!(check(&[("if-match", "\"x\"")]), PreconditionFailed);
        assert_eq!(check(&[("if-none-match", "\"abc\"")]), NotModified);
        assert_eq!(check(&[("if-none-match", "\"x\"")]), Proceed);
        assert_eq!(check(&[("if-modified-since", AT)]), NotModified);
        assert_eq!(check(&[("if-modified-since", AFTER)]), NotModified);
        assert_eq!(check(&[("if-modified-since", BEFORE)]), Proceed);
        assert_eq!(
            check(&[("if-unmodified-since", BEFORE)]),
            PreconditionFailed
        );
        assert_eq!(check(&[("if-unmodified-since", AT)]), Proceed);
        assert_eq!(check(&[("if-modified-since", "garbage")]), Proceed);
        // If-Match true wins over If-Unmodified-Since false.
        assert_eq!(
            check(&[("if-match", "\"abc\""), ("if-unmodified-since", BEFORE)]),
            Proceed
        );
        // If-None-Match false (a match) with If-Modified-Since true: 304.
        assert_eq!(
            check(&[("if-none-match", "\"abc\""), ("if-modified-since", BEFORE)]),
            NotModified
        );
        // If-None-Match not matching overrides If-Modified-Since.
        assert_eq!(
            check(&[("if-none-match", "\"x\""), ("if-modified-since", AFTER)]),
            Proceed
        );
        // 412 comes before 304.
        assert_eq!(
            check(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]),
            PreconditionFailed
        );
    }
}
