//! The SMTP client that delivers a released message to the relay: plain,
//! STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, then one transaction.
//! The message bytes go out as stored (only dot-stuffed on the wire).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::settings::{RelaySettings, TlsMode};
use crate::cli::smtp_client::data_payload;
use crate::smtp::address::Mailbox;

/// Longest reply line accepted from the relay.
const MAX_LINE: usize = 4096;

/// A failed delivery, with the text recorded as the attempt's reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// 4xx, no connection, timeout, broken TLS: try again later.
    #[error("{0}")]
    Temporary(String),
    /// 5xx: the relay refuses this for good.
    #[error("{0}")]
    Permanent(String),
}

/// What one transaction did: the recipients the relay took the message
/// for, with its reply to the message, and those it refused at RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sent: Vec<String>,
    /// `250 2.0.0 Ok: queued as ...`; empty when every recipient was refused
    /// (the message was then not sent).
    pub reply: String,
    pub refused: Vec<Refusal>,
}

/// A recipient the relay refused, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub recipient: String,
    pub error: DeliveryError,
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_config: Arc<ClientConfig>,
    pub login: Option<(String, String)>,
    /// Our name in EHLO.
    pub helo_name: String,
    /// For connecting, and for each reply.
    pub timeout: Duration,
}

impl Upstream {
    pub fn new(
        settings: &RelaySettings,
        tls_config: Arc<ClientConfig>,
        helo_name: &str,
    ) -> Upstream {
        Upstream {
            host: settings.host.clone(),
            port: settings.port,
            tls: settings.tls,
            tls_config,
            login: settings.login.clone(),
            helo_name: helo_name.to_string(),
            timeout: Duration::from_secs(60),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Reply {
    code: u16,
    /// Lines joined with `\n`, without the codes.
    text: String,
}

impl Reply {
    /// `451 4.3.0 Try again` as one line.
    fn line(&self) -> String {
        format!("{} {}", self.code, self.text.replace('\n', " "))
    }
}

struct Connection<'a> {
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    upstream: &'a Upstream,
    /// EHLO keyword lines, upper case (`AUTH PLAIN LOGIN`, `8BITMIME`).
    extensions: Vec<String>,
}

fn temporary(what: &str, err: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Temporary(format!("{what}: {err}"))
}

/// Delivers `data` from `from` to those of `recipients` the relay accepts.
/// An error means nobody got it (and says whether to try again); refused
/// recipients come back in the [`Delivery`], each with its reply.
pub async fn deliver(
    upstream: &Upstream,
    from: &str,
    recipients: &[String],
    data: &[u8],
) -> Result<Delivery, DeliveryError> {
    let addr = format!("{}:{}", upstream.host, upstream.port);
    let connect = tokio::time::timeout(upstream.timeout, TcpStream::connect(&addr));
    let tcp = match connect.await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => return Err(temporary(&format!("connecting to {addr}"), err)),
        Err(_) => return Err(temporary(&format!("connecting to {addr}"), "timed out")),
    };
    let mut conn = Connection {
        stream: Some(Box::new(tcp)),
        buf: Vec::new(),
        upstream,
        extensions: Vec::new(),
    };
    if upstream.tls == TlsMode::Tls {
        conn.start_tls().await?;
    }
    conn.expect("greeting", 220).await?;
    conn.ehlo().await?;
    if upstream.tls == TlsMode::StartTls {
        if !conn.supports("STARTTLS") {
            return Err(DeliveryError::Temporary(format!(
                "{addr} does not offer STARTTLS (--relay-tls starttls)"
            )));
        }
        conn.command("STARTTLS", 220).await?;
        conn.start_tls().await?;
        conn.ehlo().await?;
    }
    if let Some((user, password)) = &upstream.login {
        conn.login(user, password).await?;
    }
    let delivery = conn.transaction(from, recipients, data).await?;
    let _ = conn.send_line("QUIT").await;
    Ok(delivery)
}

impl Connection<'_> {
    fn supports(&self, keyword: &str) -> bool {
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

    async fn ehlo(&mut self) -> Result<(), DeliveryError> {
        let name = self.upstream.helo_name.clone();
        let reply = self.command(&format!("EHLO {name}"), 250).await?;
        self.extensions = reply
            .text
            .split('\n')
            .skip(1)
            .map(str::to_ascii_uppercase)
            .collect();
        Ok(())
    }

    /// Wraps the connection in TLS. Nothing may be buffered: bytes read
    /// before the handshake would be plaintext injected into the session.
    async fn start_tls(&mut self) -> Result<(), DeliveryError> {
        if !self.buf.is_empty() {
            return Err(DeliveryError::Temporary(
                "the relay sent data before the TLS handshake".into(),
            ));
        }
        let host = self.upstream.host.clone();
        let name = ServerName::try_from(host.clone())
            .map_err(|e| temporary(&format!("TLS server name {host:?}"), e))?;
        let plain = self.stream.take().expect("a connection is open");
        let connector = TlsConnector::from(self.upstream.tls_config.clone());
        let handshake = tokio::time::timeout(self.upstream.timeout, connector.connect(name, plain));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => return Err(temporary("TLS handshake with the relay", err)),
            Err(_) => return Err(temporary("TLS handshake with the relay", "timed out")),
        };
        self.stream = Some(Box::new(tls));
        Ok(())
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<(), DeliveryError> {
        if self.auth_mechanism("PLAIN") || !self.auth_mechanism("LOGIN") {
            let token = BASE64.encode(format!("\0{user}\0{password}"));
            self.send_line(&format!("AUTH PLAIN {token}")).await?;
            return self.expect("AUTH PLAIN", 235).await.map(drop);
        }
        self.command("AUTH LOGIN", 334).await?;
        self.send_line(&BASE64.encode(user)).await?;
        self.expect("AUTH LOGIN", 334).await?;
        self.send_line(&BASE64.encode(password)).await?;
        self.expect("AUTH LOGIN", 235).await.map(drop)
    }

    async fn transaction(
        &mut self,
        from: &str,
        recipients: &[String],
        data: &[u8],
    ) -> Result<Delivery, DeliveryError> {
        // Addresses go out in the form the allowlist checked; one that
        // cannot be written safely is never put in a command.
        let from = match from {
            "" => String::new(),
            from => Mailbox::parse(from)
                .map_err(|err| {
                    DeliveryError::Permanent(format!("the sender {from:?} cannot be sent: {err}"))
                })?
                .into_string(),
        };
        let mut mail = format!("MAIL FROM:<{from}>");
        if !data.is_ascii() && self.supports("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let international = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if international && self.supports("SMTPUTF8") {
            mail.push_str(" SMTPUTF8");
        }
        self.command(&mail, 250).await?;
        // Each recipient stands alone: the message goes to those accepted,
        // and the refused ones are retried or failed on their own.
        let mut sent = Vec::new();
        let mut refused = Vec::new();
        for rcpt in recipients {
            let mailbox = match Mailbox::parse(rcpt) {
                Ok(mailbox) => mailbox,
                Err(err) => {
                    refused.push(Refusal {
                        recipient: rcpt.clone(),
                        error: DeliveryError::Permanent(format!(
                            "the recipient {rcpt:?} cannot be sent: {err}"
                        )),
                    });
                    continue;
                }
            };
            let line = format!("RCPT TO:<{mailbox}>");
            let reply = self.command_reply(&line).await?;
            if matches!(reply.code, 250 | 251) {
                sent.push(rcpt.clone());
            } else {
                refused.push(Refusal {
                    recipient: rcpt.clone(),
                    error: refusal(&line, &reply),
                });
            }
        }
        if sent.is_empty() {
            return Ok(Delivery {
                sent,
                reply: String::new(),
                refused,
            });
        }
        self.command("DATA", 354).await?;
        self.write(&data_payload(data)).await?;
        let reply = self.expect("the message", 250).await?.line();
        Ok(Delivery {
            sent,
            reply,
            refused,
        })
    }

    async fn command(&mut self, line: &str, code: u16) -> Result<Reply, DeliveryError> {
        self.send_line(line).await?;
        self.expect(line, code).await
    }

    async fn command_reply(&mut self, line: &str) -> Result<Reply, DeliveryError> {
        self.send_line(line).await?;
        self.read_reply().await
    }

    async fn expect(&mut self, what: &str, code: u16) -> Result<Reply, DeliveryError> {
        let reply = self.read_reply().await?;
        if reply.code == code {
            Ok(reply)
        } else {
            Err(refusal(what, &reply))
        }
    }

    async fn send_line(&mut self, line: &str) -> Result<(), DeliveryError> {
        self.write(format!("{line}\r\n").as_bytes()).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), DeliveryError> {
        let stream = self.stream.as_mut().expect("a connection is open");
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.upstream.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(temporary("sending to the relay", err)),
            Err(_) => Err(temporary("sending to the relay", "timed out")),
        }
    }

    async fn read_line(&mut self) -> Result<String, DeliveryError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                return Ok(line.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(DeliveryError::Temporary(
                    "the relay sent an overlong reply line".into(),
                ));
            }
            let stream = self.stream.as_mut().expect("a connection is open");
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(self.upstream.timeout, stream.read(&mut chunk));
            match read.await {
                Ok(Ok(0)) => {
                    return Err(DeliveryError::Temporary(
                        "the relay closed the connection".into(),
                    ));
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(err)) => return Err(temporary("reading from the relay", err)),
                Err(_) => return Err(temporary("waiting for the relay's reply", "timed out")),
            }
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, DeliveryError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    DeliveryError::Temporary(format!(
                        "the relay's answer is not SMTP: {:?}",
                        line.chars().take(80).collect::<String>()
                    ))
                })?;
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply {
                    code,
                    text: lines.join("\n"),
                });
            }
        }
    }
}

/// An unexpected reply to `what`: permanent for 5xx, temporary otherwise.
fn refusal(what: &str, reply: &Reply) -> DeliveryError {
    // Never record a credential, even one the relay echoed back.
    let what = if what.starts_with("AUTH") {
        what.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        what.to_string()
    };
    let text = format!("{what}: {}", reply.line());
    if (500..600).contains(&reply.code) {
        DeliveryError::Permanent(text)
    } else {
        DeliveryError::Temporary(text)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// Serves one connection: sends each scripted reply after reading one
    /// line (the greeting first, unprompted); returns the lines read.
    async fn script(
        replies: &'static [&'static str],
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut read = BufReader::new(read);
            let mut seen = Vec::new();
            for (n, reply) in replies.iter().enumerate() {
                if n > 0 {
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap() == 0 {
                        break;
                    }
                    seen.push(line.trim_end().to_string());
                }
                write.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (port, task)
    }

    fn upstream(port: u16, tls: TlsMode, login: Option<(&str, &str)>) -> Upstream {
        Upstream {
            host: "127.0.0.1".into(),
            port,
            tls,
            tls_config: Arc::new(tls::accepting_any_client().unwrap()),
            login: login.map(|(u, p)| (u.into(), p.into())),
            helo_name: "letterbox.test".into(),
            timeout: Duration::from_secs(10),
        }
    }

    use crate::tls;

    #[tokio::test]
    async fn logs_in_with_login_when_plain_is_not_offered() {
        let (port, server) = script(&[
            "220 hi\r\n",
            "250-hello\r\n250 AUTH LOGIN\r\n",
            "334 VXNlcm5hbWU6\r\n",
            "334 UGFzc3dvcmQ6\r\n",
            "235 2.7.0 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "354 go\r\n",
        ])
        .await;
        let up = upstream(port, TlsMode::None, Some(("me", "pw")));
        let result = deliver(
            &up,
            "a@x.test",
            &["b@y.test".into()],
            b"Subject: x\r\n\r\nhi\r\n",
        )
        .await;
        // The script ends before the final reply: the connection closes.
        assert!(
            matches!(result, Err(DeliveryError::Temporary(_))),
            "{result:?}"
        );
        let seen = server.await.unwrap();
        assert_eq!(
            seen,
            [
                "EHLO letterbox.test",
                "AUTH LOGIN",
                "bWU=",
                "cHc=",
                "MAIL FROM:<a@x.test>",
                "RCPT TO:<b@y.test>",
                "DATA"
            ]
        );
    }

    #[tokio::test]
    async fn refusals_are_permanent_or_temporary_by_code_and_hide_credentials() {
        let (port, _server) = script(&[
            "220 hi\r\n",
            "250-hello\r\n250 AUTH PLAIN\r\n",
            "535 5.7.8 bad credentials\r\n",
        ])
        .await;
        let up = upstream(port, TlsMode::None, Some(("me", "secret")));
        let err = deliver(&up, "a@x.test", &["b@y.test".into()], b"x")
            .await
            .unwrap_err();
        let DeliveryError::Permanent(text) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(text, "AUTH PLAIN: 535 5.7.8 bad credentials");

        let (port, _server) = script(&["220 hi\r\n", "250 hello\r\n", "421 4.3.2 busy\r\n"]).await;
        let err = deliver(
            &upstream(port, TlsMode::None, None),
            "",
            &["b@y.test".into()],
            b"x",
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            DeliveryError::Temporary("MAIL FROM:<>: 421 4.3.2 busy".into())
        );
    }

    #[tokio::test]
    async fn each_recipient_is_accepted_or_refused_on_its_own() {
        let (port, server) = script(&[
            "220 hi\r\n",
            "250 hello\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "550 5.1.1 no such user\r\n",
            "451 4.3.0 later\r\n",
            "354 go\r\n",
            "250 2.0.0 queued as X\r\n",
        ])
        .await;
        let rcpts = ["a@y.test".to_string(), "b@y.test".into(), "c@y.test".into()];
        let delivery = deliver(
            &upstream(port, TlsMode::None, None),
            "s@x.test",
            &rcpts,
            b"x\r\n",
        )
        .await
        .unwrap();
        assert_eq!(delivery.sent, ["a@y.test"]);
        assert_eq!(delivery.reply, "250 2.0.0 queued as X");
        assert_eq!(
            delivery.refused,
            [
                Refusal {
                    recipient: "b@y.test".into(),
                    error: DeliveryError::Permanent(
                        "RCPT TO:<b@y.test>: 550 5.1.1 no such user".into()
                    ),
                },
                Refusal {
                    recipient: "c@y.test".into(),
                    error: DeliveryError::Temporary("RCPT TO:<c@y.test>: 451 4.3.0 later".into()),
                },
            ]
        );
        let seen = server.await.unwrap();
        assert_eq!(seen[5], "DATA", "{seen:?}");

        // Nobody accepted: no DATA, the refusals come back.
        let (port, server) = script(&[
            "220 hi\r\n",
            "250 hello\r\n",
            "250 ok\r\n",
            "550 5.1.1 no\r\n",
            "221 bye\r\n",
        ])
        .await;
        let delivery = deliver(
            &upstream(port, TlsMode::None, None),
            "s@x.test",
            &rcpts[..1],
            b"x",
        )
        .await
        .unwrap();
        assert!(delivery.sent.is_empty() && delivery.reply.is_empty());
        assert_eq!(delivery.refused.len(), 1);
        assert_eq!(server.await.unwrap().last().unwrap(), "QUIT");
    }

    #[tokio::test]
    async fn starttls_is_required_when_asked_for() {
        let (port, _server) = script(&["220 hi\r\n", "250 hello\r\n"]).await;
        let err = deliver(
            &upstream(port, TlsMode::StartTls, None),
            "a@x",
            &["b@y".into()],
            b"x",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("does not offer STARTTLS"), "{err}");
    }

    #[tokio::test]
    async fn nothing_may_follow_the_starttls_reply_before_the_handshake() {
        // A reply smuggled in after "220 ready" would be read as if it came
        // over TLS: the client must refuse.
        let (port, _server) = script(&[
            "220 hi\r\n",
            "250-hello\r\n250 STARTTLS\r\n",
            "220 ready\r\n250 injected\r\n",
        ])
        .await;
        let err = deliver(
            &upstream(port, TlsMode::StartTls, None),
            "a@x",
            &["b@y".into()],
            b"x",
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("before the TLS handshake"),
            "{err}"
        );
    }
}
