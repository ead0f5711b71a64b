//! TLS for SMTP (STARTTLS and implicit TLS): load a PEM certificate and key,
//! or generate a self-signed pair at start so STARTTLS always works.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading certificate {path}: {source}")]
    Certificate {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("reading private key {path}: {source}")]
    Key {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the acceptor from PEM files, or from a fresh self-signed
/// certificate for `localhost` and `hostname` when no files are given.
pub fn acceptor(cert_key: Option<(&Path, &Path)>, hostname: &str) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = match cert_key {
        Some((cert, key)) => load(cert, key)?,
        None => self_signed(hostname)?,
    };
    // Pick ring explicitly: with a process-wide default provider rustls would
    // panic if another dependency ever compiled in a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load(cert: &Path, key: &Path) -> Result<CertAndKey, TlsError> {
    let cert_err = |source| TlsError::Certificate {
        path: cert.display().to_string(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(cert_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_acceptor_builds() {
        acceptor(None, "letterbox.test").unwrap();
    }

    #[test]
    fn missing_files_are_reported_with_their_path() {
        let Err(err) = acceptor(
            Some((Path::new("/nonexistent/cert.pem"), Path::new("/k"))),
            "x",
        ) else {
            panic!("a missing certificate file must fail");
        };
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
