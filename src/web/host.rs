//! DNS-rebinding protection.
//!
//! A web page can point a host name of its own at 127.0.0.1; the browser
//! then treats Letterbox on localhost as that page's own origin and lets
//! it read every message through the API. Such requests carry the page's
//! host name in `Host`, so when Letterbox listens on loopback only loopback
//! names (and those listed in `--allowed-hosts`) are served. On any other
//! address it was exposed on purpose and every name is served.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Only loopback names and `extra` are served.
    restricted: bool,
    /// Lower-case host names allowed besides the loopback ones.
    extra: Vec<String>,
}

impl HostPolicy {
    /// The policy for an HTTP listener on `bound`.
    pub fn for_listener(bound: SocketAddr, allowed_hosts: &[String]) -> HostPolicy {
        HostPolicy {
            restricted: bound.ip().is_loopback(),
            extra: allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Whether a request for `host` (a `Host` header value) is served.
    pub fn permits(&self, host: Option<&str>) -> bool {
        if !self.restricted {
            return true;
        }
        // HTTP/1.0 clients may send no Host: they are no browser page.
        let Some(host) = host else {
            return true;
        };
        let name = strip_port(host).to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        name == "localhost"
            || name.ends_with(".localhost")
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self.extra.iter().any(|h| h == name)
    }
}

/// `example.test:8025` -> `example.test`, `[::1]:8025` -> `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

pub async fn guard(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    if policy.permits(host.as_deref()) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "requests for host {:?} are refused while Letterbox listens on loopback (allow the name with --allowed-hosts)",
            host.unwrap_or_default()
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(extra: &[&str]) -> HostPolicy {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        HostPolicy::for_listener("127.0.0.1:8025".parse().unwrap(), &extra)
    }

    #[test]
    fn loopback_listeners_serve_loopback_names_only() {
        let policy = loopback(&["Mail.Test"]);
        for ok in [
            "localhost:8025",
            "LOCALHOST",
            "app.localhost:8025",
            "127.0.0.1:8025",
            "127.8.9.1",
            "[::1]:8025",
            "mail.test:8025",
            "localhost.",
        ] {
            assert!(policy.permits(Some(ok)), "{ok} refused");
        }
        assert!(policy.permits(None));
        for bad in [
            "evil.example",
            "evil.example:8025",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1:8025",
        ] {
            assert!(!policy.permits(Some(bad)), "{bad} served");
        }
    }

    #[test]
    fn exposed_listeners_serve_any_name() {
        let policy = HostPolicy::for_listener("0.0.0.0:8025".parse().unwrap(), &[]);
        assert!(policy.permits(Some("letterbox.internal:8025")));
    }
}
