//! HTTP routes as API Gateway HTTP APIs take them: `METHOD /path`, with
//! `{param}` segments and a greedy `{name+}` as the last segment.

use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl Method {
    pub const ALL: &'static [&'static str] = &[
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
    ];

    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            "ANY" => Self::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL[self as usize]
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Segment {
    Literal(String),
    /// `{id}`: exactly one segment.
    Param(String),
    /// `{proxy+}`: the rest of the path, one or more segments.
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub method: Method,
    pub segments: Vec<Segment>,
}

impl Route {
    /// The path as written, normalised (`/orders/{id}`).
    pub fn path(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_owned();
        }
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Param(p) => format!("/{{{p}}}"),
                Segment::Greedy(p) => format!("/{{{p}+}}"),
            })
            .collect()
    }

    /// The route with parameter names erased: API Gateway treats `/a/{x}` and
    /// `/a/{y}` as the same route, so duplicates are found on this shape.
    pub fn shape(&self) -> (Method, Vec<Segment>) {
        let segments = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Segment::Literal(l.clone()),
                Segment::Param(_) => Segment::Param(String::new()),
                Segment::Greedy(_) => Segment::Greedy(String::new()),
            })
            .collect();
        (self.method, segments)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path())
    }
}

/// Why a route was refused, and the fix where there is an obvious one.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteError {
    pub reason: String,
    pub help: Option<String>,
}

fn fail(reason: impl Into<String>, help: Option<String>) -> RouteError {
    RouteError {
        reason: reason.into(),
        help,
    }
}

pub fn parse(text: &str) -> Result<Route, RouteError> {
    let mut parts = text.split_whitespace();
    let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(fail(
            "expected `METHOD /path`",
            Some("for example `GET /orders/{id}`".into()),
        ));
    };
    let method = Method::parse(method).ok_or_else(|| {
        let upper = method.to_ascii_uppercase();
        let help = if Method::parse(&upper).is_some() {
            format!("write the method in capitals: `{upper} {path}`")
        } else {
            format!(
                "the method is one of {}",
                crate::diagnostic::one_of(Method::ALL)
            )
        };
        fail(format!("unknown method `{method}`"), Some(help))
    })?;
    let Some(rest) = path.strip_prefix('/') else {
        return Err(fail(
            "the path must start with `/`",
            Some(format!("write `{} /{path}`", method.as_str())),
        ));
    };
    if rest.is_empty() {
        return Ok(Route {
            method,
            segments: vec![],
        });
    }
    if rest.ends_with('/') {
        return Err(fail(
            "the path ends with `/`",
            Some(format!("write `{}`", path.trim_end_matches('/'))),
        ));
    }
    let mut segments = Vec::new();
    let mut params: Vec<&str> = Vec::new();
    let raw: Vec<&str> = rest.split('/').collect();
    for (i, seg) in raw.iter().enumerate() {
        if seg.is_empty() {
            return Err(fail("the path has an empty segment (`//`)", None));
        }
        if let Some(inner) = seg.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(fail(
                    format!("segment `{seg}` opens `{{` without closing it"),
                    None,
                ));
            };
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(fail(
                    format!("`{{{inner}}}` is not a valid path parameter name"),
                    Some("use letters, digits, `_` or `-`".into()),
                ));
            }
            if params.contains(&name) {
                return Err(fail(format!("path parameter `{name}` appears twice"), None));
            }
            params.push(name);
            if greedy && i + 1 != raw.len() {
                return Err(fail(
                    format!("`{{{name}+}}` must be the last segment"),
                    Some("a greedy parameter takes the rest of the path".into()),
                ));
            }
            segments.push(if greedy {
                Segment::Greedy(name.to_owned())
            } else {
                Segment::Param(name.to_owned())
            });
        } else {
            if seg.contains(['{', '}']) {
                return Err(fail(format!("segment `{seg}` mixes text and a parameter"), Some("API Gateway takes a parameter only as a whole segment, like `/files/{name}`".into())));
            }
            if !seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()*,;=%".contains(c))
            {
                return Err(fail(
                    format!("segment `{seg}` has characters a URL path cannot hold"),
                    None,
                ));
            }
            segments.push(Segment::Literal((*seg).to_owned()));
        }
    }
    Ok(Route { method, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params_and_greedy() {
        let r = parse("GET /orders/{id}/files/{proxy+}").expect("valid");
        assert_eq!(r.path(), "/orders/{id}/files/{proxy+}");
        assert_eq!(r.to_string(), "GET /orders/{id}/files/{proxy+}");
    }

    #[test]
    fn root_route() {
        assert_eq!(parse("ANY /").expect("valid").path(), "/");
    }

    #[test]
    fn same_shape_with_other_param_names() {
        let a = parse("GET /a/{x}").expect("valid");
        let b = parse("GET /a/{y}").expect("valid");
        assert_eq!(a.shape(), b.shape());
        assert_ne!(a.shape(), parse("POST /a/{x}").expect("valid").shape());
    }

    #[test]
    fn refuses_bad_routes() {
        for bad in [
            "GET",
            "get /x",
            "GET x",
            "GET /x/",
            "GET /a//b",
            "GET /{proxy+}/x",
            "GET /{a}/{a}",
            "GET /a{b}",
            "GET /{}",
            "GET /{a",
            "GET /a b",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }
}
