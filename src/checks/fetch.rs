//! One link's HTTP status: `HEAD` (then `GET` if the server answers 405),
//! over a connection opened here, to an address checked here, so that a
//! name resolving to an internal address, or a redirect to one, is refused
//! before anything is sent, and DNS cannot change its answer between the
//! check and the connection. Only the status line and headers are read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::address::internal_kind;

/// One DNS lookup, one connection, one request each get this long.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed (with `follow=true`) before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// Requests to one host start at least this far apart.
pub const HOST_INTERVAL: Duration = Duration::from_millis(200);
/// Addresses of one name tried before giving up.
const MAX_ADDRESSES: usize = 4;

/// Why a link's status could not be had. Shown as the link's `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not a valid URL")]
    InvalidUrl,
    #[error("not checked: only http and https links are checked")]
    UnsupportedScheme,
    #[error(
        "refused: {} an internal address ({kind}) (start Letterbox with \
         --link-check-allow-internal to check internal links)",
        which(.host, .ip)
    )]
    Internal {
        host: String,
        ip: IpAddr,
        kind: &'static str,
    },
    #[error("DNS: {host}: {reason}")]
    Dns { host: String, reason: String },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("timed out: {0} took more than {secs} s", secs = STEP_TIMEOUT.as_secs())]
    TimedOut(&'static str),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// `localhost is 127.0.0.1,`, or just `10.0.0.1 is` for an address.
fn which(host: &str, ip: &IpAddr) -> String {
    if host.parse::<IpAddr>().as_ref() == Ok(ip) {
        format!("{ip} is")
    } else {
        format!("{host} is {ip},")
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
struct Target {
    https: bool,
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
    /// `host[:port]` as the URL gave it, for the `Host` header.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, FetchError> {
        let url = url.trim();
        let without_fragment = url.split('#').next().unwrap_or_default();
        let uri: Uri = encode_unsafe_bytes(without_fragment)
            .parse()
            .map_err(|_| FetchError::InvalidUrl)?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(FetchError::UnsupportedScheme),
            None => return Err(FetchError::InvalidUrl),
        };
        let authority = uri.authority().ok_or(FetchError::InvalidUrl)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(FetchError::InvalidUrl);
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        // The Host header never carries credentials.
        let authority = authority
            .as_str()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Target {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority,
            path_and_query: uri
                .path_and_query()
                .map_or("/".into(), |p| p.as_str().to_string()),
        })
    }

    /// The target of a `Location` header given in answer to a request here.
    fn redirect(&self, location: &str) -> Result<Target, FetchError> {
        let location = location.trim();
        let scheme = if self.https { "https" } else { "http" };
        let absolute = if location.contains("://") {
            location.to_string()
        } else if let Some(rest) = location.strip_prefix("//") {
            format!("{scheme}://{rest}")
        } else if location.starts_with('/') {
            format!("{scheme}://{}{location}", self.authority)
        } else {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            let base = if location.starts_with('?') {
                path
            } else {
                &path[..path.rfind('/').map_or(0, |i| i + 1)]
            };
            format!("{scheme}://{}{base}{location}", self.authority)
        };
        Target::parse(&absolute)
    }
}

/// Bytes a URL in a message may carry but `http::Uri` refuses (spaces,
/// non-ASCII, quotes, ...), percent-encoded as browsers do.
fn encode_unsafe_bytes(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Tells what kind of internal address an address is, or `None` if it may
/// be requested.
pub type AddressPolicy = fn(IpAddr) -> Option<&'static str>;

/// Fetches statuses. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    tls: TlsConnector,
    refused: AddressPolicy,
    /// host → when its next request may start.
    next_slot: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Fetcher {
    /// `allow_internal`: `--link-check-allow-internal`.
    pub fn new(tls: Arc<ClientConfig>, allow_internal: bool) -> Fetcher {
        let refused: AddressPolicy = if allow_internal {
            |_| None
        } else {
            internal_kind
        };
        Fetcher::with_policy(tls, refused)
    }

    pub fn with_policy(tls: Arc<ClientConfig>, refused: AddressPolicy) -> Fetcher {
        Fetcher {
            tls: TlsConnector::from(tls),
            refused,
            next_slot: Arc::default(),
        }
    }

    /// The status of `url`; with `follow`, of where its redirects lead.
    pub async fn status(&self, url: &str, follow: bool) -> Result<StatusCode, FetchError> {
        let mut target = Target::parse(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let (mut status, mut location) = self.request(&target, Method::HEAD).await?;
            if status == StatusCode::METHOD_NOT_ALLOWED {
                (status, location) = self.request(&target, Method::GET).await?;
            }
            match location {
                Some(location) if follow && status.is_redirection() => {
                    // The new target's address is checked like the first.
                    target = target.redirect(&location)?;
                }
                _ => return Ok(status),
            }
        }
        Err(FetchError::TooManyRedirects)
    }

    /// Waits for the host's turn, then claims the next one.
    async fn pace(&self, host: &str) {
        let now = Instant::now();
        let slot = {
            let mut slots = self.next_slot.lock().expect("pacing lock");
            slots.retain(|_, at| *at > now);
            let slot = slots.get(host).copied().unwrap_or(now).max(now);
            slots.insert(host.to_string(), slot + HOST_INTERVAL);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The addresses to connect to: the host's, without internal ones
    /// unless they are allowed.
    async fn addresses(&self, target: &Target) -> Result<Vec<SocketAddr>, FetchError> {
        let all: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => {
                let dns = |reason: String| FetchError::Dns {
                    host: target.host.clone(),
                    reason,
                };
                let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
                timeout(STEP_TIMEOUT, lookup)
                    .await
                    .map_err(|_| FetchError::TimedOut("the DNS lookup"))?
                    .map_err(|e| dns(e.to_string()))?
                    .collect()
            }
        };
        let allowed: Vec<SocketAddr> = all
            .iter()
            .copied()
            .filter(|a| (self.refused)(a.ip()).is_none())
            .collect();
        match (allowed.is_empty(), all.first()) {
            (false, _) => Ok(allowed),
            (true, Some(first)) => Err(FetchError::Internal {
                host: target.host.clone(),
                ip: first.ip(),
                kind: (self.refused)(first.ip()).unwrap_or("internal"),
            }),
            (true, None) => Err(FetchError::Dns {
                host: target.host.clone(),
                reason: "no address".into(),
            }),
        }
    }

    async fn connect(&self, target: &Target) -> Result<TcpStream, FetchError> {
        let addresses = self.addresses(target).await?;
        // Only requests that will be made wait for their turn: refusals
        // are answered at once.
        self.pace(&target.host).await;
        let mut last = FetchError::Connect("no address".into());
        for addr in addresses.into_iter().take(MAX_ADDRESSES) {
            match timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = FetchError::Connect(format!("{addr}: {e}")),
                Err(_) => last = FetchError::TimedOut("connecting"),
            }
        }
        Err(last)
    }

    /// One request; the status and the `Location` header.
    async fn request(
        &self,
        target: &Target,
        method: Method,
    ) -> Result<(StatusCode, Option<String>), FetchError> {
        let tcp = self.connect(target).await?;
        let request = Request::builder()
            .method(method)
            .uri(target.path_and_query.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(
                header::USER_AGENT,
                concat!("Letterbox/", env!("CARGO_PKG_VERSION"), " link check"),
            )
            .header(header::ACCEPT, "*/*")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        if !target.https {
            return send(tcp, request).await;
        }
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        let tls = timeout(STEP_TIMEOUT, self.tls.connect(name, tcp))
            .await
            .map_err(|_| FetchError::TimedOut("the TLS handshake"))?
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        send(tls, request).await
    }
}

async fn send<S>(
    stream: S,
    request: Request<Empty<Bytes>>,
) -> Result<(StatusCode, Option<String>), FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| FetchError::Http(e.to_string());
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(connection);
        let result = sender.send_request(request).await.map_err(http);
        // The body is never read: the connection is simply dropped.
        driver.abort();
        let response = result?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok((response.status(), location))
    };
    timeout(STEP_TIMEOUT, exchange)
        .await
        .map_err(|_| FetchError::TimedOut("waiting for the answer"))?
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on 127.0.0.1 that answers every request with `answer`;
    /// returns its port and a count of the requests it got.
    async fn server(answer: String) -> (u16, Arc<Mutex<usize>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(Mutex::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                *seen.lock().unwrap() += 1;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (port, count)
    }

    /// As in production, except that 127.0.0.1 counts as a public address,
    /// standing in for a public server that redirects inwards.
    fn loopback_is_public(ip: IpAddr) -> Option<&'static str> {
        if ip == IpAddr::from([127, 0, 0, 1]) {
            return None;
        }
        internal_kind(ip)
    }

    fn fetcher() -> Fetcher {
        let tls = Arc::new(crate::tls::verifying_client(None).unwrap());
        Fetcher::with_policy(tls, loopback_is_public)
    }

    #[tokio::test]
    async fn a_redirect_to_an_internal_address_is_refused() {
        for (location, ip, kind) in [
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254",
                "cloud metadata",
            ),
            ("http://127.0.0.2/", "127.0.0.2", "loopback"),
            (
                "http://[::ffff:10.0.0.1]:8080/",
                "::ffff:10.0.0.1",
                "private",
            ),
        ] {
            let answer =
                format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            let (port, count) = server(answer).await;
            let url = format!("http://127.0.0.1:{port}/go");
            let fetcher = fetcher();
            assert_eq!(fetcher.status(&url, false).await, Ok(StatusCode::FOUND));
            match fetcher.status(&url, true).await {
                Err(FetchError::Internal {
                    ip: got,
                    kind: got_kind,
                    ..
                }) => {
                    assert_eq!((got.to_string().as_str(), got_kind), (ip, kind));
                }
                other => panic!("{location}: {other:?}"),
            }
            assert_eq!(*count.lock().unwrap(), 2, "only the first server was asked");
        }
    }

    #[tokio::test]
    async fn head_then_get_on_405() {
        let answer = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".to_string();
        let (port, count) = server(answer).await;
        let status = fetcher()
            .status(&format!("http://127.0.0.1:{port}/"), false)
            .await;
        assert_eq!(status, Ok(StatusCode::METHOD_NOT_ALLOWED));
        assert_eq!(*count.lock().unwrap(), 2);
    }

    #[test]
    fn targets() {
        let t = Target::parse("https://User:pw@Example.TEST:8443/a b/ü?q=1#frag").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("example.test", 8443));
        assert_eq!(t.authority, "Example.TEST:8443");
        assert_eq!(t.path_and_query, "/a%20b/%C3%BC?q=1");
        let v6 = Target::parse("http://[::1]/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
        assert_eq!(
            Target::parse("ftp://x.test/").unwrap_err(),
            FetchError::UnsupportedScheme
        );
        assert_eq!(
            Target::parse("http://").unwrap_err(),
            FetchError::InvalidUrl
        );
    }

    #[test]
    fn redirects_resolve_against_the_request() {
        let base = Target::parse("http://a.test:81/dir/page?x=1").unwrap();
        let to = |loc: &str| {
            let t = base.redirect(loc).unwrap();
            format!("{}|{}:{}|{}", t.https, t.host, t.port, t.path_and_query)
        };
        assert_eq!(to("https://b.test/x"), "true|b.test:443|/x");
        assert_eq!(to("//c.test/y"), "false|c.test:80|/y");
        assert_eq!(to("/root"), "false|a.test:81|/root");
        assert_eq!(to("other"), "false|a.test:81|/dir/other");
        assert_eq!(to("?y=2"), "false|a.test:81|/dir/page?y=2");
    }
}
