//! TLS to PostgreSQL, with libpq's `sslmode` meanings. tokio-postgres
//! knows only `disable`, `prefer` and `require` and leaves certificates to
//! the TLS connector, so `sslmode` and `sslrootcert` are taken out of the
//! URL here: tokio-postgres is told whether to ask for TLS, and the rustls
//! configuration decides what is checked of the server's certificate.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::TryFutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Config, Socket};
use tokio_rustls::rustls::pki_types::{InvalidDnsNameError, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::domain::der;
use crate::store::StoreError;
use crate::tls::{self, TlsError};

/// How much TLS a connection insists on, as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, its certificate not checked (the
    /// default, as in libpq).
    Prefer,
    /// TLS or no connection; the certificate is checked only against an
    /// `sslrootcert` given (as libpq does when it has a root certificate).
    Require,
    /// TLS with a certificate issued by a trusted authority.
    VerifyCa,
    /// As `VerifyCa`, and issued for the host connected to.
    VerifyFull,
}

/// A URL's TLS settings, and the URL without them for tokio-postgres.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub url: String,
    pub mode: SslMode,
    /// The authorities to trust (a PEM file); Mozilla's roots when absent.
    pub root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`.
pub fn split_url(url: &str) -> Result<Settings, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut settings = Settings {
        url: base.to_string(),
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => {
                settings.mode = match mode {
                    "disable" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, prefer, require, \
                             verify-ca, verify-full"
                        ));
                    }
                }
            }
            // `system` is libpq's name for the system's authorities; ours
            // are Mozilla's, built in.
            Some(("sslrootcert", "system")) => settings.root_cert = None,
            Some(("sslrootcert", path)) => {
                let path = percent_encoding::percent_decode_str(path)
                    .decode_utf8()
                    .map_err(|_| "sslrootcert is not a UTF-8 path".to_string())?;
                settings.root_cert = Some(PathBuf::from(path.as_ref()));
            }
            _ => kept.push(pair),
        }
    }
    if !kept.is_empty() {
        settings.url = format!("{base}?{}", kept.join("&"));
    }
    Ok(settings)
}

/// The connection settings of `url`, and the TLS connector they call for.
pub fn configure(url: &str) -> Result<(Config, Connector), StoreError> {
    let invalid = |reason: String| StoreError::Open {
        location: "the PostgreSQL URL".into(),
        reason,
    };
    let settings = split_url(url).map_err(invalid)?;
    let mut config: Config = settings.url.parse().map_err(|e| invalid(format!("{e}")))?;
    config.ssl_mode(match settings.mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    let client = client_config(settings.mode, settings.root_cert.as_deref())
        .map_err(|e| invalid(e.to_string()))?;
    let roots = match &settings.root_cert {
        Some(path) => format!("the authorities in {}", path.display()),
        None => "Mozilla's root authorities".into(),
    };
    let trusts = match settings.mode {
        SslMode::VerifyCa | SslMode::VerifyFull => Some(roots),
        SslMode::Require if settings.root_cert.is_some() => Some(roots),
        _ => None,
    };
    let connector = Connector {
        config: Arc::new(client),
        trusts: trusts.map(|roots| format!("sslmode={} trusts {roots}", settings.mode).into()),
    };
    Ok((config, connector))
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

fn client_config(mode: SslMode, root_cert: Option<&Path>) -> Result<ClientConfig, TlsError> {
    // `sslrootcert` alone, as libpq trusts it; else Mozilla's roots.
    let roots = || -> Result<RootCertStore, TlsError> {
        let Some(path) = root_cert else {
            return Ok(tls::mozilla_roots());
        };
        let mut roots = RootCertStore::empty();
        tls::add_authorities(&mut roots, path)?;
        Ok(roots)
    };
    let mut config = match (mode, root_cert) {
        (SslMode::VerifyFull, _) => tls::verifying(roots()?)?,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => {
            tls::verifying_chain_only(roots()?)?
        }
        _ => tls::accepting_any_client()?,
    };
    // What libpq offers, and what a server taking TLS directly requires.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// Wraps tokio-postgres's connections in TLS; one for the pool and the
/// listener alike.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
    /// What a server's certificate is checked against, if it is.
    trusts: Option<Arc<str>>,
}

impl Connector {
    /// `reason` a connection failed, with what was trusted when the
    /// server's certificate was refused.
    pub fn explain(&self, reason: String) -> String {
        match &self.trusts {
            Some(trusts) if reason.contains("invalid peer certificate") => {
                format!("{reason} ({trusts})")
            }
            _ => reason,
        }
    }
}

impl MakeTlsConnect<Socket> for Connector {
    type Stream = Stream;
    type TlsConnect = Handshake;
    type Error = InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, InvalidDnsNameError> {
        Ok(Handshake {
            config: self.config.clone(),
            server: ServerName::try_from(host)?.to_owned(),
        })
    }
}

pub struct Handshake {
    config: Arc<ClientConfig>,
    server: ServerName<'static>,
}

type Handshaking = futures_util::future::MapOk<
    tokio_rustls::Connect<Socket>,
    fn(tokio_rustls::client::TlsStream<Socket>) -> Stream,
>;

impl TlsConnect<Socket> for Handshake {
    type Stream = Stream;
    type Error = std::io::Error;
    type Future = Handshaking;

    fn connect(self, socket: Socket) -> Handshaking {
        tokio_rustls::TlsConnector::from(self.config)
            .connect(self.server, socket)
            .map_ok(Stream)
    }
}

/// A TLS connection to PostgreSQL.
pub struct Stream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for Stream {
    /// `tls-server-end-point` (RFC 5929), so that SCRAM authentication is
    /// bound to this connection (`SCRAM-SHA-256-PLUS`).
    fn channel_binding(&self) -> ChannelBinding {
        let certificate = self
            .0
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first());
        match certificate.and_then(|c| end_point_hash(c)) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// The certificate's hash under its signature's hash function (SHA-256
/// for MD5 and SHA-1), as PostgreSQL computes it; `None` for algorithms
/// without one (Ed25519, RSA-PSS), where the server cannot bind either.
fn end_point_hash(certificate: &[u8]) -> Option<Vec<u8>> {
    use ring::digest::{SHA256, SHA384, SHA512, digest};
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, ... }
    let (_, body, _) = der::element(certificate)?;
    let (_, _, after_tbs) = der::element(body)?;
    let (_, algorithm, _) = der::element(after_tbs)?;
    let (_, oid, _) = der::element(algorithm)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]; // 1.2.840.113549.1.1
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04]; // 1.2.840.10045.4
    let hash = match (oid.strip_prefix(RSA), oid.strip_prefix(ECDSA)) {
        (Some([0x04 | 0x05 | 0x0b]), _) | (_, Some([0x01] | [0x03, 0x02])) => &SHA256,
        (Some([0x0c]), _) | (_, Some([0x03, 0x03])) => &SHA384,
        (Some([0x0d]), _) | (_, Some([0x03, 0x04])) => &SHA512,
        _ => return None,
    };
    Some(digest(hash, certificate).as_ref().to_vec())
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, mode: SslMode, root_cert: Option<&str>) -> Settings {
        Settings {
            url: url.into(),
            mode,
            root_cert: root_cert.map(PathBuf::from),
        }
    }

    #[test]
    fn without_sslmode_tls_is_preferred() {
        assert_eq!(
            split_url("postgres://u:p@db:5432/mail").unwrap(),
            settings("postgres://u:p@db:5432/mail", SslMode::Prefer, None)
        );
    }

    #[test]
    fn every_libpq_mode_is_understood_and_taken_out() {
        for (name, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let url = format!("postgres://db/mail?sslmode={name}");
            assert_eq!(
                split_url(&url).unwrap(),
                settings("postgres://db/mail", mode, None)
            );
        }
    }

    #[test]
    fn the_root_certificate_is_taken_out_and_the_rest_kept() {
        assert_eq!(
            split_url(
                "postgresql://db/mail?application_name=x&sslrootcert=/etc/my%20ca.pem\
                 &sslmode=verify-full&connect_timeout=3"
            )
            .unwrap(),
            settings(
                "postgresql://db/mail?application_name=x&connect_timeout=3",
                SslMode::VerifyFull,
                Some("/etc/my ca.pem")
            )
        );
        assert_eq!(
            split_url("postgres://db?sslrootcert=system&sslmode=verify-full").unwrap(),
            settings("postgres://db", SslMode::VerifyFull, None)
        );
    }

    #[test]
    fn an_unknown_sslmode_is_named_with_the_known_ones() {
        let err = split_url("postgres://db/mail?sslmode=allow").unwrap_err();
        assert_eq!(
            err,
            "sslmode=allow is not one of disable, prefer, require, verify-ca, verify-full"
        );
        let Err(err) = configure("postgres://db/mail?sslmode=verify_full") else {
            panic!("an unknown sslmode must be refused");
        };
        assert!(err.to_string().contains("sslmode=verify_full"), "{err}");
    }

    #[test]
    fn tokio_postgres_is_asked_for_tls_as_the_mode_needs() {
        for (query, expected) in [
            ("", PgSslMode::Prefer),
            ("?sslmode=disable", PgSslMode::Disable),
            ("?sslmode=require", PgSslMode::Require),
            ("?sslmode=verify-ca", PgSslMode::Require),
            ("?sslmode=verify-full&user=x", PgSslMode::Require),
        ] {
            let (config, _) = configure(&format!("postgres://db/mail{query}")).unwrap();
            assert_eq!(config.get_ssl_mode(), expected, "{query}");
        }
    }

    #[test]
    fn a_missing_root_certificate_is_reported_by_path() {
        let Err(err) =
            configure("postgres://db/mail?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        else {
            panic!("a missing sslrootcert must be refused");
        };
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    fn certificate(algorithm: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        let params = rcgen::CertificateParams::new(vec!["db".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_algorithm() {
        let p256 = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let hash = end_point_hash(&p256).unwrap();
        assert_eq!(
            hash,
            ring::digest::digest(&ring::digest::SHA256, &p256).as_ref()
        );
        let p384 = certificate(&rcgen::PKCS_ECDSA_P384_SHA384);
        let hash = end_point_hash(&p384).unwrap();
        assert_eq!(
            hash,
            ring::digest::digest(&ring::digest::SHA384, &p384).as_ref()
        );
        assert_eq!(end_point_hash(&certificate(&rcgen::PKCS_ED25519)), None);
        assert_eq!(end_point_hash(&p256[..40]), None, "cut short");
    }
}
