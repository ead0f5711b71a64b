//! The one SMTP client: the relay delivers released mail with it and
//! `letterbox sendmail` hands a message to Letterbox. Plain TCP, STARTTLS or
//! implicit TLS, AUTH PLAIN or LOGIN, and transactions; replies are read
//! with `smtp-proto`'s parser. Every step is bounded by one timeout.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::response::parser::ResponseReceiver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// How much of a reply that is not SMTP an error quotes.
const QUOTED: usize = 80;

/// Why talking to the server failed. `peer` names the server in the text
/// (`the relay`, `127.0.0.1:1025`).
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("{doing} {peer}: {source}")]
    Io {
        doing: &'static str,
        peer: String,
        source: std::io::Error,
    },
    #[error("{doing} {peer}: timed out")]
    Timeout { doing: &'static str, peer: String },
    #[error("{peer} closed the connection")]
    Closed { peer: String },
    #[error("{peer} sent an overlong reply")]
    TooLong { peer: String },
    #[error("the answer from {peer} is not SMTP: {quoted:?}")]
    NotSmtp { peer: String, quoted: String },
    #[error("{peer} sent data before the TLS handshake")]
    DataBeforeTls { peer: String },
    #[error("TLS server name {name:?}: {why}")]
    ServerName { name: String, why: String },
    /// The server answered `command` (credentials left out) with `reply`.
    #[error("{command}: {reply}")]
    Refused { command: String, reply: Reply },
}

impl SmtpError {
    /// A 5xx refusal: trying again will not help. Anything else (4xx, no
    /// connection, a timeout, broken TLS) is temporary.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SmtpError::Refused { reply, .. } if reply.is_permanent())
    }
}

/// One reply as the client reads it: the code, the enhanced status code
/// when the server gave one, and the text lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `2.0.0` for `250 2.0.0 Ok`.
    pub status: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    fn from_response(response: smtp_proto::Response<String>) -> Reply {
        let [class, subject, detail] = response.esc;
        Reply {
            code: response.code,
            status: (class != 0).then(|| format!("{class}.{subject}.{detail}")),
            text: response.message.trim_end_matches(['\r', '\n']).to_string(),
        }
    }
}

/// `451 4.3.0 Try again`, on one line.
impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(status) = &self.status {
            write!(f, " {status}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text.replace('\n', " "))?;
        }
        Ok(())
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection to an SMTP server.
pub struct SmtpClient {
    stream: Option<Box<dyn Io>>,
    /// Received bytes not yet parsed as a reply.
    buf: Vec<u8>,
    peer: String,
    timeout: Duration,
    /// EHLO keyword lines, upper case (`AUTH PLAIN LOGIN`, `8BITMIME`).
    extensions: Vec<String>,
}

impl SmtpClient {
    /// Opens a TCP connection to `addr` (`host:port`); the greeting is not
    /// read yet (implicit TLS comes first). `peer` names the server in
    /// errors; `timeout` bounds connecting and every step after.
    pub async fn connect(addr: &str, peer: &str, timeout: Duration) -> Result<Self, SmtpError> {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => {
                return Err(SmtpError::Io {
                    doing: "connecting to",
                    peer: addr.to_string(),
                    source,
                });
            }
            Err(_) => {
                return Err(SmtpError::Timeout {
                    doing: "connecting to",
                    peer: addr.to_string(),
                });
            }
        };
        Ok(SmtpClient {
            stream: Some(Box::new(tcp)),
            buf: Vec::new(),
            peer: peer.to_string(),
            timeout,
            extensions: Vec::new(),
        })
    }

    /// Reads the `220` greeting.
    pub async fn greeting(&mut self) -> Result<Reply, SmtpError> {
        self.expect("greeting", 220).await
    }

    /// `EHLO`, which must succeed; remembers the extensions offered.
    pub async fn ehlo(&mut self, name: &str) -> Result<(), SmtpError> {
        let reply = self.command(&format!("EHLO {name}"), 250).await?;
        self.remember_extensions(&reply);
        Ok(())
    }

    /// `EHLO`, falling back to `HELO` for a server without ESMTP.
    pub async fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        let reply = self.command_reply(&format!("EHLO {name}")).await?;
        if reply.code == 250 {
            self.remember_extensions(&reply);
            return Ok(());
        }
        self.command(&format!("HELO {name}"), 250).await.map(drop)
    }

    fn remember_extensions(&mut self, reply: &Reply) {
        self.extensions = reply
            .text
            .split('\n')
            .skip(1)
            .map(str::to_ascii_uppercase)
            .collect();
    }

    /// The server offered the EHLO keyword (`STARTTLS`, `8BITMIME`).
    pub fn supports(&self, keyword: &str) -> bool {
        self.extensions
            .iter()
            .any(|e| e.split_whitespace().next() == Some(keyword))
    }

    fn auth_mechanism(&self, mechanism: &str) -> bool {
        self.extensions.iter().any(|e| {
            let mut words = e.split_whitespace();
            words.next() == Some("AUTH") && words.any(|w| w == mechanism)
        })
    }

    /// Runs the TLS handshake on the connection as it stands (after the
    /// `220` to STARTTLS, or first thing for implicit TLS). Nothing may be
    /// buffered: bytes read before the handshake would be plaintext
    /// injected into the session.
    pub async fn start_tls(
        &mut self,
        config: Arc<ClientConfig>,
        host: &str,
    ) -> Result<(), SmtpError> {
        if !self.buf.is_empty() {
            return Err(SmtpError::DataBeforeTls {
                peer: self.peer.clone(),
            });
        }
        let name = ServerName::try_from(host.to_string()).map_err(|e| SmtpError::ServerName {
            name: host.to_string(),
            why: e.to_string(),
        })?;
        let plain = self.stream.take().expect("a connection is open");
        let handshake = TlsConnector::from(config).connect(name, plain);
        let doing = "TLS handshake with";
        let tls = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(source)) => return Err(self.io_error(doing, source)),
            Err(_) => return Err(self.timed_out(doing)),
        };
        self.stream = Some(Box::new(tls));
        Ok(())
    }

    /// AUTH PLAIN, or LOGIN when only that is offered.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), SmtpError> {
        if self.auth_mechanism("PLAIN") || !self.auth_mechanism("LOGIN") {
            let token = BASE64.encode(format!("\0{user}\0{password}"));
            return self
                .command(&format!("AUTH PLAIN {token}"), 235)
                .await
                .map(drop);
        }
        self.command("AUTH LOGIN", 334).await?;
        self.send_line(&BASE64.encode(user)).await?;
        self.expect("AUTH LOGIN", 334).await?;
        self.send_line(&BASE64.encode(password)).await?;
        self.expect("AUTH LOGIN", 235).await.map(drop)
    }

    /// `MAIL FROM`, with `BODY=8BITMIME` and `SMTPUTF8` when the message
    /// needs them and the server offers them.
    pub async fn mail(
        &mut self,
        from: &str,
        recipients: &[String],
        data: &[u8],
    ) -> Result<Reply, SmtpError> {
        let mut mail = format!("MAIL FROM:<{from}>");
        if !data.is_ascii() && self.supports("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let international = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if international && self.supports("SMTPUTF8") {
            mail.push_str(" SMTPUTF8");
        }
        self.command(&mail, 250).await
    }

    /// `RCPT TO`; the reply, whatever it is, is the caller's to judge.
    pub async fn rcpt(&mut self, recipient: &str) -> Result<Reply, SmtpError> {
        self.command_reply(&format!("RCPT TO:<{recipient}>")).await
    }

    /// `DATA` and the message (see [`data_payload`]); the reply accepting it.
    pub async fn data(&mut self, data: &[u8]) -> Result<Reply, SmtpError> {
        self.command("DATA", 354).await?;
        self.write(&data_payload(data)).await?;
        self.expect("the message", 250).await
    }

    /// One whole transaction that every recipient must accept.
    pub async fn send(
        &mut self,
        from: &str,
        recipients: &[String],
        data: &[u8],
    ) -> Result<Reply, SmtpError> {
        self.mail(from, recipients, data).await?;
        for rcpt in recipients {
            self.command(&format!("RCPT TO:<{rcpt}>"), 250).await?;
        }
        self.data(data).await
    }

    /// `QUIT`, without waiting for the reply: the work is done.
    pub async fn quit(mut self) {
        let _ = self.send_line("QUIT").await;
    }

    /// Sends `line` and expects `code` in reply.
    pub async fn command(&mut self, line: &str, code: u16) -> Result<Reply, SmtpError> {
        self.send_line(line).await?;
        self.expect(line, code).await
    }

    /// Sends `line` and returns the reply, whatever its code.
    pub async fn command_reply(&mut self, line: &str) -> Result<Reply, SmtpError> {
        self.send_line(line).await?;
        self.read_reply().await
    }

    /// Reads a reply to `what`, which must have `code`.
    async fn expect(&mut self, what: &str, code: u16) -> Result<Reply, SmtpError> {
        let reply = self.read_reply().await?;
        if reply.code == code {
            return Ok(reply);
        }
        Err(SmtpError::Refused {
            command: without_credentials(what),
            reply,
        })
    }

    async fn send_line(&mut self, line: &str) -> Result<(), SmtpError> {
        self.write(format!("{line}\r\n").as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        let stream = self.stream.as_mut().expect("a connection is open");
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(self.io_error("sending to", source)),
            Err(_) => Err(self.timed_out("sending to")),
        }
    }

    /// Reads one (possibly multi-line) reply with `smtp-proto`'s parser,
    /// leaving whatever follows it buffered.
    async fn read_reply(&mut self) -> Result<Reply, SmtpError> {
        let mut receiver = ResponseReceiver::default();
        // The start of the reply as received, to quote if it is not SMTP.
        let mut seen = Vec::new();
        loop {
            if !self.buf.is_empty() {
                let mut bytes = self.buf.iter();
                let parsed = receiver.parse(&mut bytes);
                let consumed = self.buf.len() - bytes.as_slice().len();
                let room = QUOTED.saturating_sub(seen.len()).min(consumed);
                seen.extend_from_slice(&self.buf[..room]);
                self.buf.drain(..consumed);
                match parsed {
                    Ok(response) if (200..600).contains(&response.code) => {
                        return Ok(Reply::from_response(response));
                    }
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => {}
                    Err(smtp_proto::Error::ResponseTooLong) => {
                        return Err(SmtpError::TooLong {
                            peer: self.peer.clone(),
                        });
                    }
                    Ok(_) | Err(_) => {
                        // The parser stops at the first wrong byte: quote
                        // the line as far as it came.
                        seen.extend_from_slice(&self.buf);
                        let quoted = String::from_utf8_lossy(&seen);
                        let line = quoted.split(['\r', '\n']).next().unwrap_or("");
                        return Err(SmtpError::NotSmtp {
                            peer: self.peer.clone(),
                            quoted: line.chars().take(QUOTED).collect(),
                        });
                    }
                }
            }
            let stream = self.stream.as_mut().expect("a connection is open");
            let mut chunk = [0u8; 1024];
            let doing = "waiting for a reply from";
            match tokio::time::timeout(self.timeout, stream.read(&mut chunk)).await {
                Ok(Ok(0)) => {
                    return Err(SmtpError::Closed {
                        peer: self.peer.clone(),
                    });
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(source)) => return Err(self.io_error("reading from", source)),
                Err(_) => return Err(self.timed_out(doing)),
            }
        }
    }

    fn io_error(&self, doing: &'static str, source: std::io::Error) -> SmtpError {
        SmtpError::Io {
            doing,
            peer: self.peer.clone(),
            source,
        }
    }

    fn timed_out(&self, doing: &'static str) -> SmtpError {
        SmtpError::Timeout {
            doing,
            peer: self.peer.clone(),
        }
    }
}

/// A command as errors name it: never a credential, even one the server
/// echoed back.
fn without_credentials(command: &str) -> String {
    if command.starts_with("AUTH") {
        command
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        command.to_string()
    }
}

/// The DATA payload for a message: every line ending made CRLF (a bare LF
/// and a bare CR end a line too), lines that start with `.` dot-stuffed,
/// and the terminating `.` line. Whatever the stored bytes hold, the
/// receiver sees exactly one message (no smuggled end of data), with the
/// same lines it would have read from the bytes as stored.
pub fn data_payload(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 5);
    let mut rest = data;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr2(b'\r', b'\n', rest) {
            Some(end) if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') => {
                (&rest[..end], end + 2)
            }
            Some(end) => (&rest[..end], end + 1),
            None => (rest, rest.len()),
        };
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        rest = &rest[next..];
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_crlf_and_dot_stuffed() {
        assert_eq!(
            data_payload(b"Subject: x\n\n.hidden\nlast"),
            b"Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n"
        );
        assert_eq!(data_payload(b"a\r\nb\r\n"), b"a\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b""), b".\r\n");
    }

    #[test]
    fn bare_cr_and_lone_dots_cannot_end_the_data_early() {
        // Lone dots stored as content (after a bare LF or before one) go
        // out stuffed; a bare CR ends a line, so `\r.\r` is a stuffed line.
        assert_eq!(
            data_payload(b"a\n.\r\nMAIL FROM:<x@y>\r\n"),
            b"a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"
        );
        assert_eq!(data_payload(b"a\r\n.\nb\r\n"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b"a\r.\rb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b"a\n\n"), b"a\r\n\r\n.\r\n");
    }

    #[test]
    fn permanent_and_temporary_failures() {
        let refused = |code| SmtpError::Refused {
            command: "RCPT".into(),
            reply: Reply {
                code,
                status: None,
                text: String::new(),
            },
        };
        assert!(refused(550).is_permanent());
        assert!(!refused(451).is_permanent());
        assert!(!SmtpError::Closed { peer: "x".into() }.is_permanent());
    }

    /// A server that sends `replies` one after another, each after reading
    /// a line (the first unprompted); returns the lines it read.
    async fn server(
        replies: &'static [&'static [u8]],
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let (addr, task) = crate::client::scripted::serve(replies).await;
        (addr.to_string(), task)
    }

    #[tokio::test]
    async fn replies_are_parsed_with_their_status_codes_and_lines() {
        let (addr, server) = server(&[
            b"220 mx.test ESMTP\r\n",
            // Split across reads and multi-line, as servers send them.
            b"250-mx.test hello\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
            b"250 2.1.0 Ok\r\n",
            b"550 5.1.1 no such user\r\n",
            b"354 go ahead\r\n",
            b"250 2.0.0 Ok: queued as X\r\n",
        ])
        .await;
        let mut client = SmtpClient::connect(&addr, "the server", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(client.greeting().await.unwrap().text, "mx.test ESMTP");
        client.ehlo("me.test").await.unwrap();
        assert!(client.supports("8BITMIME") && client.supports("STARTTLS"));
        assert!(client.auth_mechanism("LOGIN") && !client.supports("SMTPUTF8"));
        let data = "Subject: é\r\n\r\nhi\r\n".as_bytes();
        let mail = client.mail("a@x.test", &[], data).await.unwrap();
        assert_eq!(mail.to_string(), "250 2.1.0 Ok");
        let refused = client.rcpt("b@y.test").await.unwrap();
        assert_eq!(
            (
                refused.code,
                refused.status.as_deref(),
                refused.text.as_str()
            ),
            (550, Some("5.1.1"), "no such user")
        );
        let queued = client.data(data).await.unwrap();
        assert_eq!(queued.to_string(), "250 2.0.0 Ok: queued as X");
        let seen = server.await.unwrap();
        assert_eq!(
            seen[..4],
            [
                "EHLO me.test",
                "MAIL FROM:<a@x.test> BODY=8BITMIME",
                "RCPT TO:<b@y.test>",
                "DATA"
            ]
        );
    }

    #[tokio::test]
    async fn an_answer_that_is_not_smtp_is_quoted() {
        let (addr, _server) = server(&[b"HTTP/1.1 400 Bad Request\r\n\r\n"]).await;
        let mut client = SmtpClient::connect(&addr, "the relay", Duration::from_secs(10))
            .await
            .unwrap();
        let err = client.greeting().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the answer from the relay is not SMTP: \"HTTP/1.1 400 Bad Request\""
        );
    }

    #[tokio::test]
    async fn a_refused_auth_names_the_mechanism_only() {
        let (addr, _server) = server(&[
            b"220 hi\r\n",
            b"250-hello\r\n250 AUTH PLAIN\r\n",
            b"535 5.7.8 bad credentials\r\n",
        ])
        .await;
        let mut client = SmtpClient::connect(&addr, "the relay", Duration::from_secs(10))
            .await
            .unwrap();
        client.greeting().await.unwrap();
        client.ehlo("me").await.unwrap();
        let err = client.login("me", "secret").await.unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.to_string(), "AUTH PLAIN: 535 5.7.8 bad credentials");
    }
}
