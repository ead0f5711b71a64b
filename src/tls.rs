//! TLS for every listener (SMTP STARTTLS and SMTPS, HTTPS for the web UI):
//! load a PEM certificate and key, or generate a self-signed pair, and build
//! a rustls server configuration on the ring provider; and the client side
//! for the helpers that talk to our own HTTPS server.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::verify_server_cert_signed_by_trust_anchor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime,
};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading certificate {path}: {source}")]
    Certificate {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("certificate {path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("reading private key {path}: {source}")]
    Key {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration from {cert} and {key}: {source}")]
    Config {
        cert: String,
        key: String,
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("certificate {path} cannot be trusted as an authority: {source}")]
    Authority { path: String, source: rustls::Error },
}

/// An acceptor for PEM files, or for a fresh self-signed certificate (for
/// `localhost` and `hostname`) when no files are given. `alpn` lists the
/// application protocols offered, e.g. `http/1.1`; SMTP offers none.
pub fn acceptor(
    cert_key: Option<(&Path, &Path)>,
    hostname: &str,
    alpn: &[&[u8]],
) -> Result<TlsAcceptor, TlsError> {
    let mut config = match cert_key {
        Some((cert, key)) => {
            let (chain, private) = load(cert, key)?;
            server_config(chain, private).map_err(|source| TlsError::Config {
                cert: cert.display().to_string(),
                key: key.display().to_string(),
                source,
            })?
        }
        None => {
            let (chain, private) = self_signed(hostname)?;
            server_config(chain, private)?
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The ring provider, picked explicitly: with a process-wide default
/// provider rustls would panic if another dependency ever compiled in a
/// second one.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The certificates in a PEM file, in order (leaf first).
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let cert_err = |source| TlsError::Certificate {
        path: path.display().to_string(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(cert_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(chain)
}

fn load(cert: &Path, key: &Path) -> Result<CertAndKey, TlsError> {
    let chain = load_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.display().to_string(),
        source,
    })?;
    Ok((chain, key))
}

fn self_signed(hostname: &str) -> Result<CertAndKey, TlsError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !names.iter().any(|n| n == hostname) {
        names.push(hostname.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    Ok((
        vec![generated.cert.der().clone()],
        PrivateKeyDer::Pkcs8(key),
    ))
}

/// A client configuration that trusts exactly one certificate, whatever its
/// name or issuer: for talking to our own server, whose certificate file
/// the client can read (the health check over HTTPS).
pub fn trusting_only(certificate: CertificateDer<'static>) -> Result<ClientConfig, rustls::Error> {
    checking(ServerCheck::Pinned(certificate))
}

/// Mozilla's roots, built in, so a container image without a CA store can
/// verify servers on the internet.
pub fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Adds the authorities of the PEM file at `path` to `roots`.
pub fn add_authorities(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    for cert in load_certificates(path)? {
        roots.add(cert).map_err(|source| TlsError::Authority {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// A client configuration that verifies servers' certificates, names
/// included, against `roots`.
pub fn verifying(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client configuration for talking to servers on the internet (the
/// relay): certificates verified against Mozilla's roots plus the
/// authorities in `extra_roots` (a PEM file), for a relay with a private CA.
pub fn verifying_client(extra_roots: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let mut roots = mozilla_roots();
    if let Some(path) = extra_roots {
        add_authorities(&mut roots, path)?;
    }
    Ok(verifying(roots)?)
}

/// A client configuration that verifies that a server's certificate leads
/// to one of `roots`, whatever name it was issued for (PostgreSQL's
/// `sslmode=verify-ca`).
pub fn verifying_chain_only(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    checking(ServerCheck::ChainOnly(roots))
}

/// A client configuration that accepts any certificate (a relay with a
/// self-signed one, when the user opts out of verification). The traffic
/// is still encrypted, but anyone in the path could read it.
pub fn accepting_any_client() -> Result<ClientConfig, rustls::Error> {
    checking(ServerCheck::Any)
}

fn checking(check: ServerCheck) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(check))
        .with_no_client_auth())
}

/// How a server's certificate is checked where rustls's own verifier does
/// not fit. Whatever the check, the handshake signature is verified too, so
/// only the holder of the certificate's key can pass.
#[derive(Debug)]
enum ServerCheck {
    /// Any certificate.
    Any,
    /// Exactly this one.
    Pinned(CertificateDer<'static>),
    /// One leading to these authorities, for any name.
    ChainOnly(RootCertStore),
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self {
            ServerCheck::Any => {}
            ServerCheck::Pinned(pinned) => {
                if end_entity.as_ref() != pinned.as_ref() {
                    return Err(rustls::Error::General(
                        "the server's certificate is not the configured one".into(),
                    ));
                }
            }
            ServerCheck::ChainOnly(roots) => {
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    roots,
                    intermediates,
                    now,
                    provider().signature_verification_algorithms.all,
                )?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_acceptor_builds() {
        acceptor(None, "letterbox.test", &[]).unwrap();
    }

    #[test]
    fn missing_files_are_reported_with_their_path() {
        let Err(err) = acceptor(
            Some((Path::new("/nonexistent/cert.pem"), Path::new("/k"))),
            "x",
            &[],
        ) else {
            panic!("a missing certificate file must fail");
        };
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let path = std::env::temp_dir().join(format!("letterbox-notacert-{}", std::process::id()));
        std::fs::write(&path, "this is not PEM\n").unwrap();
        let err = load_certificates(&path).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("notacert"), "{err}");
    }
}
