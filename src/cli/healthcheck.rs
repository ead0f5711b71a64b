//! `letterbox healthcheck`: exits 0 when the Letterbox on this machine
//! answers `/readyz` with 200, for Docker's `HEALTHCHECK` and compose's
//! `--wait`. Without `--http` it finds the server the way `letterbox`
//! started in the same environment would listen (`LETTERBOX_HTTP`,
//! `LETTERBOX_WEBROOT`, `LETTERBOX_UI_TLS_CERT`, or their `MP_*` aliases).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::client::http::{self as client, ClientError};
use crate::config::{Config, ConfigError};
use crate::tls::{self, TlsError};

/// Docker runs the check with its own timeout; ours is shorter so a hung
/// server gives a message rather than a kill.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Base URL of the web server, as printed at start (e.g.
    /// http://127.0.0.1:8025/). Default: where `letterbox` started with
    /// this environment listens.
    #[arg(long = "http", value_name = "URL", env = "LETTERBOX_URL")]
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Config(#[from] ConfigError),
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
pub async fn run(args: &Args) -> Result<String, HealthError> {
    let config = Config::from_env()?;
    let base = match &args.url {
        // A bare `host:port` is fine on the command line.
        Some(url) if !url.contains("://") => format!("http://{url}"),
        Some(url) => url.clone(),
        None => local_url(&config),
    };
    let certificate = match &config.ui_tls_cert {
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

/// Where a server with `config` can be reached from this machine: its
/// listen address, with "all interfaces" replaced by loopback.
fn local_url(config: &Config) -> String {
    let ip = match config.http.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if config.ui_tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let addr = SocketAddr::new(ip, config.http.port());
    format!("{scheme}://{addr}{}", config.webroot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};

    fn config(args: &[&str]) -> Config {
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        match Cli::try_parse_with(args, &|_| None).unwrap().into_command() {
            Command::Serve(config) => *config,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn all_interfaces_become_loopback() {
        let url = local_url(&config(&["--http", "0.0.0.0:8025"]));
        assert_eq!(url, "http://127.0.0.1:8025/");
        let url = local_url(&config(&["--http", "[::]:8025", "--webroot", "/mail"]));
        assert_eq!(url, "http://[::1]:8025/mail/");
        let url = local_url(&config(&[
            "--http",
            "10.1.2.3:80",
            "--ui-tls-cert",
            "c.pem",
            "--ui-tls-key",
            "k.pem",
        ]));
        assert_eq!(url, "https://10.1.2.3:80/");
    }
}
