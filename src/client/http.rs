//! A minimal HTTP/1.1 GET for the command-line helpers that talk to a
//! running Letterbox, usually on loopback: plain HTTP, or HTTPS to a server
//! whose certificate is known. So little is needed that a client crate
//! would be most of the binary's weight.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::tls;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("no answer from {0} in time")]
    Timeout(String),
    #[error("{0} sent a response that is not HTTP")]
    BadResponse(String),
    #[error("{0} is https: the server's certificate is needed to trust it (LETTERBOX_UI_TLS_CERT)")]
    NoCertificate(String),
    #[error("TLS with {addr}: {source}")]
    Tls {
        addr: String,
        source: tokio_rustls::rustls::Error,
    },
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET base + path` (the path includes any query string) over plain HTTP.
pub async fn get(base: &str, path: &str, timeout: Duration) -> Result<Response, ClientError> {
    get_trusting(base, path, timeout, None).await
}

/// `GET base + path`; an `https://` base is spoken to only if the server
/// presents exactly `certificate` (Letterbox's own, read from its file).
pub async fn get_trusting(
    base: &str,
    path: &str,
    timeout: Duration,
    certificate: Option<CertificateDer<'static>>,
) -> Result<Response, ClientError> {
    let (https, rest) = if let Some(rest) = base.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = base.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(ClientError::BadUrl(base.to_string()));
    };
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.is_empty() {
        return Err(ClientError::BadUrl(base.to_string()));
    }
    let addr = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let prefix = prefix.trim_end_matches('/');
    let target = if prefix.is_empty() {
        path.to_string()
    } else {
        format!("/{prefix}{path}")
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    let exchange = async {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let raw = if https {
            let certificate =
                certificate.ok_or_else(|| ClientError::NoCertificate(base.to_string()))?;
            let tls_error = |source| ClientError::Tls {
                addr: addr.clone(),
                source,
            };
            let config = tls::trusting_only(certificate).map_err(tls_error)?;
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|_| ClientError::BadUrl(base.to_string()))?;
            let stream = TlsConnector::from(Arc::new(config))
                .connect(name, stream)
                .await
                .map_err(|source| ClientError::Io {
                    addr: addr.clone(),
                    source,
                })?;
            send(stream, &request, &addr).await?
        } else {
            send(stream, &request, &addr).await?
        };
        parse_response(&raw).ok_or_else(|| ClientError::BadResponse(addr.clone()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout(addr.clone()))?
}

/// Writes the request and reads until the server closes the connection.
async fn send(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &str,
    addr: &str,
) -> Result<Vec<u8>, ClientError> {
    let io = |source| ClientError::Io {
        addr: addr.to_string(),
        source,
    };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw).await {
        // A TLS peer that closes without close_notify has still sent a
        // whole `Connection: close` response.
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        other => drop(other.map_err(io)?),
    }
    Ok(raw)
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(Response { status, body })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(b"HTTP/1.1 408 Request Timeout\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (408, &b"abcde"[..]));
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("subject:\"a b\"&x"), "subject%3A%22a%20b%22%26x");
    }
}
