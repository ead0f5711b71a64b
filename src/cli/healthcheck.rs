//! `letterbox healthcheck`: exits 0 when the Letterbox on this machine
//! answers `/readyz` with 200, for Docker's `HEALTHCHECK` and compose's
//! `--wait`. Without a URL it checks where `letterbox` started in the same
//! environment would listen ([`LocalServer`], found by the configuration).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::client::http::{self as client, ClientError};
use crate::tls::{self, TlsError};

/// Docker runs the check with its own timeout; ours is shorter so a hung
/// server gives a message rather than a kill.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Which server to check.
#[derive(Debug, Clone)]
pub struct HealthcheckOptions {
    /// Base URL of the web server, as printed at start; `None` for
    /// [`HealthcheckOptions::local`].
    pub url: Option<String>,
    pub local: LocalServer,
}

/// Where `letterbox` started in this environment listens.
#[derive(Debug, Clone)]
pub struct LocalServer {
    pub http: SocketAddr,
    /// Path prefix starting and ending with `/`.
    pub webroot: String,
    /// The web UI's certificate, if it serves HTTPS; also trusted when
    /// checking.
    pub ui_tls_cert: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{url} answered {status}: {body}")]
    NotReady {
        url: String,
        status: u16,
        body: String,
    },
}

/// Checks readiness; `Ok` carries the URL that answered.
pub async fn run(args: &HealthcheckOptions) -> Result<String, HealthError> {
    let base = match &args.url {
        // A bare `host:port` is fine on the command line.
        Some(url) if !url.contains("://") => format!("http://{url}"),
        Some(url) => url.clone(),
        None => args.local.url(),
    };
    let certificate = match &args.local.ui_tls_cert {
        Some(path) if base.starts_with("https://") => {
            tls::load_certificates(path)?.into_iter().next()
        }
        _ => None,
    };
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let response = client::get_trusting(&base, "/readyz", TIMEOUT, certificate).await?;
    if response.status == 200 {
        return Ok(url);
    }
    Err(HealthError::NotReady {
        url,
        status: response.status,
        body: String::from_utf8_lossy(&response.body)
            .trim()
            .chars()
            .take(200)
            .collect(),
    })
}

impl LocalServer {
    /// Where the server can be reached from this machine: its listen
    /// address, with "all interfaces" replaced by loopback.
    pub fn url(&self) -> String {
        let ip = match self.http.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let scheme = if self.ui_tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let addr = SocketAddr::new(ip, self.http.port());
        format!("{scheme}://{addr}{}", self.webroot)
    }
}
