//! CORS as HTTP APIs do it when `stateless.http.cors` configures it: API
//! Gateway answers a preflight `OPTIONS` itself, without invoking any
//! function and whatever the routes are, and adds the configured headers to
//! every other response whose `Origin` is allowed. CORS headers a function
//! returns are dropped, because API Gateway ignores them once CORS is
//! configured ("Configuring CORS for an HTTP API").

use strata_model::service::Cors;

use super::event::HttpRequest;
use super::response::GatewayResponse;

/// The manifest's documented default for `headers`.
const DEFAULT_HEADERS: &[&str] = &["Content-Type", "Authorization"];

#[derive(Debug, Clone, PartialEq)]
pub struct CorsPolicy {
    origins: Vec<String>,
    /// Empty means every method (`*`).
    methods: Vec<String>,
    headers: Vec<String>,
    allow_credentials: bool,
    max_age: Option<u32>,
}

impl CorsPolicy {
    pub fn new(cors: &Cors) -> Self {
        let headers = if cors.headers.is_empty() {
            DEFAULT_HEADERS.iter().map(|h| (*h).to_owned()).collect()
        } else {
            cors.headers.clone()
        };
        Self {
            origins: cors.origins.clone(),
            methods: cors.methods.iter().filter(|m| *m != "*").cloned().collect(),
            headers,
            allow_credentials: cors.allow_credentials,
            max_age: cors.max_age,
        }
    }

    /// A browser's preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`. A plain `OPTIONS` is routed as any
    /// other request.
    pub fn is_preflight(request: &HttpRequest) -> bool {
        request.method == "OPTIONS"
            && request.header("origin").is_some()
            && request.header("access-control-request-method").is_some()
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &str) -> Option<String> {
        let origin = origin.trim_end_matches('/');
        if self.origins.iter().any(|o| o == "*") {
            return Some("*".to_owned());
        }
        self.origins
            .iter()
            .any(|o| origin_matches(o.trim_end_matches('/'), origin))
            .then(|| origin.to_owned())
    }

    /// API Gateway's answer to a preflight: 204, with the allow headers when
    /// the origin is allowed and none when it is not (the browser then
    /// refuses the request).
    pub fn preflight(&self, request: &HttpRequest) -> GatewayResponse {
        let mut response = GatewayResponse {
            status: 204,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        };
        let Some(origin) = request.header("origin").and_then(|o| self.allow_origin(o)) else {
            return response;
        };
        let h = &mut response.headers;
        let wildcard = origin == "*";
        h.push(("access-control-allow-origin".to_owned(), origin));
        let methods = if !self.methods.is_empty() {
            self.methods.join(",")
        } else if self.allow_credentials {
            // Browsers do not take `*` on a credentialed request: name the
            // method asked for instead.
            request
                .header("access-control-request-method")
                .unwrap_or("*")
                .to_owned()
        } else {
            "*".to_owned()
        };
        h.push(("access-control-allow-methods".to_owned(), methods));
        h.push((
            "access-control-allow-headers".to_owned(),
            self.headers.join(",").to_ascii_lowercase(),
        ));
        if self.allow_credentials {
            h.push((
                "access-control-allow-credentials".to_owned(),
                "true".to_owned(),
            ));
        }
        if let Some(max_age) = self.max_age {
            h.push(("access-control-max-age".to_owned(), max_age.to_string()));
        }
        if !wildcard {
            h.push(("vary".to_owned(), "origin".to_owned()));
        }
        response
    }

    /// The CORS headers of a normal response.
    pub fn decorate(&self, request: &HttpRequest, response: &mut GatewayResponse) {
        response
            .headers
            .retain(|(name, _)| !name.starts_with("access-control-"));
        let Some(origin) = request.header("origin").and_then(|o| self.allow_origin(o)) else {
            return;
        };
        let wildcard = origin == "*";
        response
            .headers
            .push(("access-control-allow-origin".to_owned(), origin));
        if self.allow_credentials {
            response.headers.push((
                "access-control-allow-credentials".to_owned(),
                "true".to_owned(),
            ));
        }
        if !wildcard {
            response
                .headers
                .push(("vary".to_owned(), "origin".to_owned()));
        }
    }
}

/// `https://*.example.com` allows any subdomain, as HTTP APIs allow it.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    if allowed.eq_ignore_ascii_case(origin) {
        return true;
    }
    let Some((scheme, host)) = allowed.split_once("://*.") else {
        return false;
    };
    origin
        .strip_prefix(scheme)
        .and_then(|o| o.strip_prefix("://"))
        .is_some_and(|o| {
            o.len() > host.len()
                && o.to_ascii_lowercase()
                    .ends_with(&format!(".{}", host.to_ascii_lowercase()))
        })
}
