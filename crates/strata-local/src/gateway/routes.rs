//! The route table of the HTTP API: every function's `http` events, and
//! the matching rule API Gateway HTTP APIs document ("Routing API
//! requests"): the most specific route for the path wins, and on the same
//! path an explicit method beats `ANY`.
//!
//! Specificity, segment by segment from the left: a literal beats a
//! `{param}`, which beats a greedy `{proxy+}`. So for `GET /pets/dog/1` the
//! routes `GET /pets/dog/1`, `GET /pets/dog/{id}`, `GET /pets/{proxy+}` and
//! `ANY /{proxy+}` are preferred in that order, as in AWS's own example.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use strata_model::{Event, Method, PayloadVersion, Route, Segment, Service};

/// One route: what it matches and which function answers it, with which
/// payload format.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEntry {
    pub route: Route,
    pub function: String,
    pub payload: PayloadVersion,
}

impl RouteEntry {
    /// `GET /orders/{id}`: the routeKey of the events.
    pub fn key(&self) -> String {
        self.route.to_string()
    }
}

/// A route that matched a request, with its path parameters decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch<'a> {
    pub entry: &'a RouteEntry,
    pub path_parameters: BTreeMap<String, String>,
}

/// The routes of one release.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
}

impl RouteTable {
    /// Every `http` event of every function, in file order. Validation has
    /// already refused two routes of the same shape, so at most one entry
    /// can win any request.
    pub fn from_service(service: &Service) -> Self {
        let mut entries = Vec::new();
        for function in &service.stateless.functions {
            for event in &function.events {
                if let Event::Http { route, payload } = event {
                    entries.push(RouteEntry {
                        route: route.clone(),
                        function: function.name.to_string(),
                        payload: *payload,
                    });
                }
            }
        }
        Self { entries }
    }

    pub fn new(entries: Vec<RouteEntry>) -> Self {
        Self { entries }
    }

    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The route for `method` and the raw (still percent-encoded) `path`.
    /// `None` is API Gateway's 404: that covers a path that exists only
    /// with another method too (HTTP APIs answer 404 there, not 405).
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let segments = split(path)?;
        self.entries
            .iter()
            .filter(|e| e.route.method == Method::Any || e.route.method.as_str() == method)
            .filter_map(|e| {
                let params = match_segments(&e.route.segments, &segments)?;
                Some(RouteMatch {
                    entry: e,
                    path_parameters: params,
                })
            })
            .min_by(|a, b| precedence(a.entry, b.entry))
    }
}

/// `Less` when `a` is preferred over `b`.
fn precedence(a: &RouteEntry, b: &RouteEntry) -> Ordering {
    let rank = |s: &Segment| match s {
        Segment::Literal(_) => 0u8,
        Segment::Param(_) => 1,
        Segment::Greedy(_) => 2,
    };
    let by_path = a
        .route
        .segments
        .iter()
        .map(rank)
        .cmp(b.route.segments.iter().map(rank));
    // Same shape: the explicit method is the more specific route.
    by_path.then_with(|| (a.route.method == Method::Any).cmp(&(b.route.method == Method::Any)))
}

/// The raw path split into its segments, each percent-decoded. `/` is no
/// segment at all; `None` when the path is not absolute.
fn split(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    Some(rest.split('/').map(|s| percent_decode(s, false)).collect())
}

fn match_segments(route: &[Segment], path: &[String]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, segment) in route.iter().enumerate() {
        match segment {
            Segment::Literal(l) => {
                if path.get(i)? != l {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = path.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), value.clone());
            }
            Segment::Greedy(name) => {
                // One segment at least: `/{proxy+}` does not match `/`.
                let rest = path.get(i..).filter(|r| !r.is_empty())?;
                let value = rest.join("/");
                if value.is_empty() {
                    return None;
                }
                params.insert(name.clone(), value);
                return Some(params);
            }
        }
    }
    (route.len() == path.len()).then_some(params)
}

/// `%XX` escapes decoded (and `+` as a space when `plus_is_space`, as in a
/// query string). Invalid escapes stay as written; bytes that are not UTF-8
/// become U+FFFD, since the event is JSON text.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let Some(hi) = bytes.get(i + 1).and_then(|c| hex(*c))
            && let Some(lo) = bytes.get(i + 2).and_then(|c| hex(*c))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(if b == b'+' && plus_is_space { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        RouteTable::new(
            routes
                .iter()
                .map(|(r, f)| RouteEntry {
                    route: strata_model::route::parse(r).expect("valid route"),
                    function: (*f).to_owned(),
                    payload: PayloadVersion::V2,
                })
                .collect(),
        )
    }

    /// The function that answers `method path`, `-` for 404.
    fn check(t: &RouteTable, method: &str, path: &str) -> String {
        t.find(method, path)
            .map_or("-".to_owned(), |m| m.entry.function.clone())
    }

    #[test]
    fn aws_routing_example_priority() {
        // AWS's own example in "Routing API requests" for HTTP APIs.
        let t = table(&[
            ("ANY /{proxy+}", "anyProxy"),
            ("GET /pets/{proxy+}", "petsProxy"),
            ("GET /pets/dog/{id}", "dogId"),
            ("GET /pets/dog/1", "dog1"),
        ]);
        assert_eq!(check(&t, "GET", "/pets/dog/1"), "dog1");
        assert_eq!(check(&t, "GET", "/pets/dog/2"), "dogId");
        assert_eq!(check(&t, "GET", "/pets/cat/1"), "petsProxy");
        assert_eq!(check(&t, "POST", "/pets/dog/1"), "anyProxy");
        assert_eq!(check(&t, "GET", "/"), "-");
    }

    #[test]
    fn explicit_method_beats_any_on_the_same_path() {
        let t = table(&[("ANY /orders", "any"), ("POST /orders", "post")]);
        assert_eq!(check(&t, "POST", "/orders"), "post");
        assert_eq!(check(&t, "DELETE", "/orders"), "any");
    }

    #[test]
    fn another_method_on_an_existing_path_is_not_found() {
        let t = table(&[("GET /orders", "get")]);
        assert_eq!(check(&t, "POST", "/orders"), "-");
        assert_eq!(check(&t, "GET", "/orders/"), "-");
        assert_eq!(check(&t, "GET", "/orders/1"), "-");
    }

    #[test]
    fn params_are_decoded_and_greedy_takes_the_rest() {
        let t = table(&[
            ("GET /orders/{id}", "get"),
            ("GET /files/{path+}", "files"),
            ("GET /", "root"),
        ]);
        let m = t.find("GET", "/orders/a%20b%2Fc").expect("matches");
        assert_eq!(m.path_parameters["id"], "a b/c");
        let m = t.find("GET", "/files/x/y%21/z").expect("matches");
        assert_eq!(m.path_parameters["path"], "x/y!/z");
        assert_eq!(check(&t, "GET", "/files"), "-");
        assert_eq!(check(&t, "GET", "/"), "root");
        assert_eq!(check(&t, "GET", "/orders/"), "-");
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%2x%41%", false), "a%2xA%");
        assert_eq!(percent_decode("a+b%2B", true), "a b+");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }
}
