//! Cross-origin protection and CORS (`--api-cors`).
//!
//! A web page on another site can make a visitor's browser send requests to
//! Letterbox (which usually listens on localhost, where no login guards
//! it). Reading the answers is already blocked by the browser's same-origin
//! policy; what it does not block is the request itself. So requests that
//! change something (anything but GET, HEAD and OPTIONS) and WebSocket
//! upgrades are refused when their `Origin` is another site, unless that
//! origin is listed in `--api-cors`, which also sends the CORS headers that
//! let its pages read the answers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Which foreign origins may use the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    any: bool,
    /// Normalised `scheme://host[:port]` values.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// From `--api-cors` values: origins such as `https://app.example:8443`,
    /// or `*` for any.
    pub fn new(values: &[String]) -> Result<OriginPolicy, String> {
        let mut policy = OriginPolicy::default();
        for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            if value == "*" {
                policy.any = true;
                continue;
            }
            let origin = normalise(value).ok_or_else(|| {
                format!("{value:?} is not an origin such as https://app.example:8443")
            })?;
            policy.allowed.push(origin);
        }
        Ok(policy)
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || normalise(origin).is_some_and(|o| self.allowed.contains(&o))
    }

    /// Whether a request with these headers and method may go ahead: it
    /// changes nothing and opens no WebSocket, or comes from no browser or
    /// from Letterbox's own pages, or from an allowed origin.
    ///
    /// A WebSocket handler can call this itself; the [`guard`] middleware
    /// already applies it to every route.
    pub fn permits(&self, method: &Method, headers: &HeaderMap) -> bool {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if safe && !is_websocket_upgrade(headers) {
            return true;
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            // curl, test suites and other non-browser clients send none.
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        is_same_origin(origin, headers) || self.allows(origin)
    }
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The origin's `host[:port]` is the `Host` the request was sent to. The
/// scheme is not compared: behind a TLS-terminating proxy the page is
/// https while Letterbox sees plain http.
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    host_and_port(authority, default_port) == host_and_port(host, default_port)
}

/// `host[:port]` split, lower-cased, with the default port filled in. The
/// port follows the last colon unless that colon is inside an IPv6 literal.
fn host_and_port(authority: &str, default_port: &str) -> (String, String) {
    let authority = authority.to_ascii_lowercase();
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && !port.contains(']') => {
            (host.to_string(), port.to_string())
        }
        _ => (authority, default_port.to_string()),
    }
}

/// `scheme://host[:port]`, lower-cased, without a path or trailing slash.
fn normalise(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let valid = matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' ']);
    valid.then_some(origin)
}

/// Middleware: refuses cross-origin state changes and WebSocket upgrades
/// (403), answers CORS preflights for allowed origins and adds the CORS
/// headers to their responses.
pub async fn guard(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if !policy.permits(request.method(), request.headers()) {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("cross-origin request from {origin} refused (allow it with --api-cors)"),
        )
        .into_response();
    }
    let allowed_origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| policy.allows(o)))
        .cloned();
    let Some(origin) = allowed_origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        if let Some(asked) = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), value.parse().unwrap());
        }
        map
    }

    fn policy(values: &[&str]) -> OriginPolicy {
        OriginPolicy::new(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn reads_and_non_browser_clients_pass() {
        let p = policy(&[]);
        let foreign = headers(&[
            (header::ORIGIN, "https://evil.example"),
            (header::HOST, "127.0.0.1:8025"),
        ]);
        assert!(p.permits(&Method::GET, &foreign));
        assert!(p.permits(
            &Method::DELETE,
            &headers(&[(header::HOST, "127.0.0.1:8025")])
        ));
    }

    #[test]
    fn foreign_writes_and_websockets_are_refused() {
        let p = policy(&[]);
        let foreign = headers(&[
            (header::ORIGIN, "https://evil.example"),
            (header::HOST, "127.0.0.1:8025"),
        ]);
        assert!(!p.permits(&Method::DELETE, &foreign));
        assert!(!p.permits(&Method::POST, &foreign));
        let ws = headers(&[
            (header::ORIGIN, "https://evil.example"),
            (header::HOST, "127.0.0.1:8025"),
            (header::UPGRADE, "websocket"),
        ]);
        assert!(!p.permits(&Method::GET, &ws));
        let null = headers(&[(header::ORIGIN, "null"), (header::HOST, "127.0.0.1:8025")]);
        assert!(!p.permits(&Method::PUT, &null));
    }

    #[test]
    fn same_origin_passes_whatever_the_scheme() {
        let p = policy(&[]);
        for (origin, host) in [
            ("http://127.0.0.1:8025", "127.0.0.1:8025"),
            ("https://mail.example", "mail.example"),
            ("https://mail.example", "mail.example:443"),
            ("http://MAIL.example:80", "mail.example"),
            ("http://[::1]:8025", "[::1]:8025"),
        ] {
            let same = headers(&[(header::ORIGIN, origin), (header::HOST, host)]);
            assert!(p.permits(&Method::DELETE, &same), "{origin} vs {host}");
        }
        // Cases the WebSocket's own check had (it now relies on this one).
        let upgrade = |origin: &str, host: &str| {
            headers(&[
                (header::ORIGIN, origin),
                (header::HOST, host),
                (header::UPGRADE, "websocket"),
            ])
        };
        assert!(p.permits(&Method::GET, &upgrade("https://mail.test", "Mail.test")));
        for (origin, host) in [
            ("http://127.0.0.1:8026", "127.0.0.1:8025"),
            ("http://127.0.0.1:8025.evil.example", "127.0.0.1:8025"),
            ("null", "127.0.0.1:8025"),
        ] {
            assert!(!p.permits(&Method::GET, &upgrade(origin, host)), "{origin}");
        }
        let other_port = headers(&[
            (header::ORIGIN, "http://127.0.0.1:3000"),
            (header::HOST, "127.0.0.1:8025"),
        ]);
        assert!(!p.permits(&Method::DELETE, &other_port));
    }

    #[test]
    fn listed_origins_and_wildcard() {
        let p = policy(&["https://app.example:8443/", "http://localhost:3000"]);
        let host = (header::HOST, "127.0.0.1:8025");
        let app = headers(&[(header::ORIGIN, "https://APP.example:8443"), host.clone()]);
        assert!(p.permits(&Method::DELETE, &app));
        let other = headers(&[(header::ORIGIN, "https://app.example"), host.clone()]);
        assert!(!p.permits(&Method::DELETE, &other));
        assert!(policy(&["*"]).permits(&Method::DELETE, &other));
        assert!(OriginPolicy::new(&["app.example".to_string()]).is_err());
        assert!(OriginPolicy::new(&["https://app.example/path".to_string()]).is_err());
    }
}
