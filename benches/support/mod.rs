//! What the Rust benchmarks share: a Letterbox process of the release build
//! on free loopback ports, a plain SMTP connection, and percentiles.
#![allow(dead_code)] // each bench uses its own subset

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A running Letterbox with its own database directory, removed on drop.
pub struct Server {
    child: Child,
    dir: PathBuf,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let dir = std::env::temp_dir().join(format!("letterbox-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (smtp, http) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_letterbox"))
            .args(["--smtp", &smtp.to_string(), "--http", &http.to_string()])
            .arg("--db")
            .arg(dir.join("bench.db"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting letterbox");
        let server = Server {
            child,
            dir,
            smtp,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(server.http, "/readyz").await.is_err() {
            assert!(Instant::now() < deadline, "letterbox did not become ready");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server
    }

    /// A field of `/proc/PID/status` in KiB, such as `VmRSS` or `VmHWM`.
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.http)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A GET over a fresh connection with HTTP/1.0 semantics: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..end]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(std::io::Error::other("chunked responses are not read here"));
    }
    Ok((status, response.split_off(end + 4)))
}

/// One SMTP connection that sends messages one after the other.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    line: String,
}

impl Smtp {
    pub async fn connect(addr: SocketAddr) -> Smtp {
        let stream = TcpStream::connect(addr).await.expect("connecting to SMTP");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut smtp = Smtp {
            reader: BufReader::new(stream),
            line: String::new(),
        };
        smtp.expect(220).await;
        smtp.command("EHLO bench.example.test", 250).await;
        smtp
    }

    /// Reads one (possibly multi-line) reply; returns its last line.
    async fn reply(&mut self) -> String {
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_line(&mut self.line)
                .await
                .expect("reading a reply");
            assert!(n > 0, "the server closed the connection");
            if self.line.as_bytes().get(3) != Some(&b'-') {
                return self.line.trim_end().to_string();
            }
        }
    }

    async fn expect(&mut self, code: u16) -> String {
        let reply = self.reply().await;
        assert!(
            reply.starts_with(&code.to_string()),
            "expected {code}, got {reply:?}"
        );
        reply
    }

    async fn command(&mut self, line: &str, code: u16) -> String {
        let stream = self.reader.get_mut();
        stream.write_all(line.as_bytes()).await.expect("writing");
        stream.write_all(b"\r\n").await.expect("writing");
        self.expect(code).await
    }

    /// Sends `data` (CRLF lines, no lone dot lines) and returns the `250`
    /// reply to the final dot.
    pub async fn send(&mut self, from: &str, to: &str, data: &[u8]) -> String {
        self.command(&format!("MAIL FROM:<{from}>"), 250).await;
        self.command(&format!("RCPT TO:<{to}>"), 250).await;
        self.command("DATA", 354).await;
        let stream = self.reader.get_mut();
        stream.write_all(data).await.expect("writing the message");
        stream
            .write_all(b"\r\n.\r\n")
            .await
            .expect("writing the end");
        self.expect(250).await
    }
}

/// The `p`-th percentile (0-100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
