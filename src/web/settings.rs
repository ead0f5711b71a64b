//! What the web side is told at start: plain values, checked by the
//! configuration before they get here.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::WebOptions;

/// The HTTP listener's settings.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The web UI and API.
    pub listen: SocketAddr,
    /// PEM certificate (chain) and key to serve HTTPS with.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// A listener of its own for `/metrics`, without the UI's login.
    pub metrics: Option<SocketAddr>,
    /// Webroot, login, allowed origins and host names.
    pub options: WebOptions,
}
