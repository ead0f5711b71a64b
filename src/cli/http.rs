//! A minimal blocking HTTP/1.1 GET client, enough for the health check:
//! the image has no curl, and a full client library would double the size
//! of the binary.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::ConnectError;
use crate::tls;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("https:// needs the server's certificate to trust (set LETTERBOX_UI_TLS_CERT)")]
    NoCertificate,
    #[error("the answer is not HTTP: {0:?}")]
    BadResponse(String),
}

/// The parts of an `http(s)://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    /// Parses a URL; a bare `host:port` means `http://host:port/`.
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        let bad = || HttpError::BadUrl(text.to_string());
        let (https, rest) = match text.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            Some(_) => return Err(bad()),
            None => (false, text),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let default_port = if https { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse().map_err(|_| bad())?),
            _ => (authority, default_port),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Url {
            https,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// This URL with `relative` appended to its path (`/mail/` + `readyz`).
    pub fn join(&self, relative: &str) -> Url {
        let mut url = self.clone();
        if !url.path.ends_with('/') {
            url.path.push('/');
        }
        url.path.push_str(relative.trim_start_matches('/'));
        url
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

/// GETs `url` and returns the status code and body. For https, the server
/// must present exactly `trusted` as its certificate: the health check
/// talks to our own server, whose certificate file it can read.
pub fn get(
    url: &Url,
    trusted: Option<CertificateDer<'static>>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    let io = |what: &str| {
        let what = format!("{what} {url}");
        move |source| HttpError::Io { what, source }
    };
    let host = url.host.trim_matches(['[', ']']);
    let stream = super::connect(&format!("{}:{}", url.host, url.port), timeout)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: letterbox-healthcheck\r\nConnection: close\r\n\r\n",
        url.path, url.host, url.port
    );
    let mut response = Vec::new();
    if url.https {
        let trusted = trusted.ok_or(HttpError::NoCertificate)?;
        let config = ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned(trusted)))
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| HttpError::BadUrl(url.to_string()))?;
        let connection = rustls::ClientConnection::new(Arc::new(config), name)?;
        let mut tls = rustls::StreamOwned::new(connection, stream);
        tls.write_all(request.as_bytes())
            .map_err(io("sending to"))?;
        read_until_close(&mut tls, &mut response).map_err(io("reading from"))?;
    } else {
        let mut stream = stream;
        stream
            .write_all(request.as_bytes())
            .map_err(io("sending to"))?;
        read_until_close(&mut stream, &mut response).map_err(io("reading from"))?;
    }
    parse_response(&response)
}

/// Reads to the end; a TLS peer that closes without `close_notify` has
/// still sent a complete `Connection: close` response.
fn read_until_close(stream: &mut impl Read, out: &mut Vec<u8>) -> io::Result<()> {
    match stream.read_to_end(out) {
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(()),
        other => other.map(drop),
    }
}

fn parse_response(response: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&response[..head_end]);
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| HttpError::BadResponse(status_line.chars().take(80).collect()))?;
    Ok((status, response[head_end..].to_vec()))
}

/// Trusts exactly one certificate, whatever its name or issuer.
#[derive(Debug)]
struct Pinned(CertificateDer<'static>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the configured one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = tls::provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = tls::provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("http://127.0.0.1:8025/mail/").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:8025/mail/");
        assert_eq!(url.join("readyz").path, "/mail/readyz");
        let bare = Url::parse("letterbox:8025").unwrap();
        assert_eq!(
            (bare.https, bare.host.as_str(), bare.port),
            (false, "letterbox", 8025)
        );
        assert_eq!(bare.join("/readyz").path, "/readyz");
        let https = Url::parse("https://[::1]").unwrap();
        assert_eq!((https.host.as_str(), https.port), ("[::1]", 443));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("http://:80").is_err());
        assert!(Url::parse("http://x:port").is_err());
    }

    #[test]
    fn responses() {
        let (status, body) =
            parse_response(b"HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\nstore").unwrap();
        assert_eq!((status, body.as_slice()), (503, &b"store"[..]));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n").is_err());
    }
}
