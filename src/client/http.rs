//! A minimal HTTP/1.1 client: GET for the command-line helpers that talk to a
//! running Letterbox, usually on loopback (plain HTTP, or HTTPS to a server
//! whose certificate is known), and POST for webhooks, which reads no more
//! of the answer than its status. So little is needed that a client crate
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

/// An `http://` or `https://` URL, split for a request. Only what a
/// request line and a `Host` header can carry safely is accepted: no
/// credentials, no whitespace or control characters (no header injection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// Where to connect: `host:port`, with the scheme's port by default.
    pub addr: String,
    /// The host alone (an IPv6 address without brackets), for TLS.
    pub host: String,
    /// Path and query, starting with `/`; the fragment is left out.
    pub target: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, ClientError> {
        let bad = || ClientError::BadUrl(text.to_string());
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| bad())?)
            }
            _ => (authority, if https { 443 } else { 80 }),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty() {
            return Err(bad());
        }
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Url {
            https,
            authority: authority.to_string(),
            addr: format!("{host}:{port}"),
            host: bare.to_string(),
            target,
        })
    }
}

impl Url {
    /// `scheme://host[:port]`, without the path (which may hold a token).
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// The most of a response [`post`] reads: its status line, headers and
/// the start of its body. The rest is never read.
pub const POST_RESPONSE_LIMIT: usize = 8 * 1024;

/// `POST` of `body` to `url` with `headers`, answered by the response's
/// status, headers and however much of its body came with them (at most
/// [`POST_RESPONSE_LIMIT`] bytes in all). Redirects are not followed;
/// `https` is spoken with `tls` (none: refused). The whole exchange, from
/// connecting to the response's headers, takes at most `timeout`.
pub async fn post(
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<PostResponse, ClientError> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.target,
        url.authority,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let addr = url.addr.clone();
    let exchange = async {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let raw = if url.https {
            let config = tls.ok_or_else(|| ClientError::NoCertificate(addr.clone()))?;
            let name = ServerName::try_from(url.host.clone())
                .map_err(|_| ClientError::BadUrl(url.host.clone()))?;
            let stream = TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|source| ClientError::Io {
                    addr: addr.clone(),
                    source,
                })?;
            send_head_first(stream, head.as_bytes(), body, &addr).await?
        } else {
            send_head_first(stream, head.as_bytes(), body, &addr).await?
        };
        parse_head(&raw).ok_or_else(|| ClientError::BadResponse(addr.clone()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout(addr.clone()))?
}

/// What [`post`] read of a response.
#[derive(Debug)]
pub struct PostResponse {
    pub status: u16,
    /// The `Location` header, for a redirect's error message.
    pub location: Option<String>,
    /// The start of the body, whatever came with the headers.
    pub body_start: Vec<u8>,
}

/// Writes the request and reads until the response's headers are in (or
/// the server closes, or [`POST_RESPONSE_LIMIT`] is reached).
async fn send_head_first(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    head: &[u8],
    body: &[u8],
    addr: &str,
) -> Result<Vec<u8>, ClientError> {
    let io = |source| ClientError::Io {
        addr: addr.to_string(),
        source,
    };
    stream.write_all(head).await.map_err(io)?;
    stream.write_all(body).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 2048];
    while raw.len() < POST_RESPONSE_LIMIT && !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(err) => return Err(io(err)),
        };
        if n == 0 {
            break;
        }
        let room = POST_RESPONSE_LIMIT - raw.len();
        raw.extend_from_slice(&chunk[..n.min(room)]);
    }
    Ok(raw)
}

fn parse_head(raw: &[u8]) -> Option<PostResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    if !status_line.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let location = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    });
    Some(PostResponse {
        status,
        location,
        body_start: raw[head_end + 4..].to_vec(),
    })
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
    fn urls_are_split_for_a_request() {
        let url = Url::parse("https://hooks.example.com/in?x=1#frag").unwrap();
        assert!(url.https);
        assert_eq!(url.addr, "hooks.example.com:443");
        assert_eq!(
            (url.authority.as_str(), url.host.as_str()),
            ("hooks.example.com", "hooks.example.com")
        );
        assert_eq!(url.target, "/in?x=1");
        let url = Url::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (url.addr.as_str(), url.host.as_str(), url.target.as_str()),
            ("[::1]:8080", "::1", "/")
        );
        assert_eq!(Url::parse("http://127.0.0.1?a").unwrap().target, "/?a");
        for bad in [
            "ftp://x/",
            "http://",
            "http://user:pw@host/",
            "http://host:99999/",
            "http://host/a\r\nX-Injected: 1",
            "http://host/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_post_answer_is_read_up_to_its_headers() {
        let r =
            parse_head(b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\n\r\nmoved").unwrap();
        assert_eq!(
            (r.status, r.location.as_deref()),
            (302, Some("http://elsewhere/"))
        );
        assert_eq!(r.body_start, b"moved");
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\n").is_none(),
            "headers not complete"
        );
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("subject:\"a b\"&x"), "subject%3A%22a%20b%22%26x");
    }
}
