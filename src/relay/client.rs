//! Delivering a released message to the relay with the SMTP client:
//! plain, STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, then one
//! transaction. The message bytes go out as stored (only dot-stuffed on the
//! wire).

use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::ClientConfig;

use super::settings::{RelaySettings, TlsMode};
use crate::client::smtp::{SmtpClient, SmtpError};
use crate::smtp::address::Mailbox;

/// How the relay is named in the replies recorded for an attempt.
const PEER: &str = "the relay";

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
    let mut client = SmtpClient::connect(&addr, PEER, upstream.timeout).await?;
    if upstream.tls == TlsMode::Tls {
        client
            .start_tls(upstream.tls_config.clone(), &upstream.host)
            .await?;
    }
    client.greeting().await?;
    client.ehlo(&upstream.helo_name).await?;
    if upstream.tls == TlsMode::StartTls {
        if !client.supports("STARTTLS") {
            return Err(DeliveryError::Temporary(format!(
                "{addr} does not offer STARTTLS (--relay-tls starttls)"
            )));
        }
        client.command("STARTTLS", 220).await?;
        client
            .start_tls(upstream.tls_config.clone(), &upstream.host)
            .await?;
        client.ehlo(&upstream.helo_name).await?;
    }
    if let Some((user, password)) = &upstream.login {
        client.login(user, password).await?;
    }
    let delivery = transaction(&mut client, from, recipients, data).await?;
    client.quit().await;
    Ok(delivery)
}

async fn transaction(
    client: &mut SmtpClient,
    from: &str,
    recipients: &[String],
    data: &[u8],
) -> Result<Delivery, DeliveryError> {
    // Addresses go out in the form the allowlist checked; one that cannot
    // be written safely is never put in a command.
    let from = match from {
        "" => String::new(),
        from => Mailbox::parse(from)
            .map_err(|err| {
                DeliveryError::Permanent(format!("the sender {from:?} cannot be sent: {err}"))
            })?
            .into_string(),
    };
    client.mail(&from, recipients, data).await?;
    // Each recipient stands alone: the message goes to those accepted, and
    // the refused ones are retried or failed on their own.
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
        let reply = client.rcpt(mailbox.as_str()).await?;
        if matches!(reply.code, 250 | 251) {
            sent.push(rcpt.clone());
        } else {
            let error = SmtpError::Refused {
                command: format!("RCPT TO:<{mailbox}>"),
                reply,
            };
            refused.push(Refusal {
                recipient: rcpt.clone(),
                error: error.into(),
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
    let reply = client.data(data).await?.to_string();
    Ok(Delivery {
        sent,
        reply,
        refused,
    })
}

/// Permanent for a 5xx refusal, temporary for anything else.
impl From<SmtpError> for DeliveryError {
    fn from(err: SmtpError) -> DeliveryError {
        if err.is_permanent() {
            DeliveryError::Permanent(err.to_string())
        } else {
            DeliveryError::Temporary(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one connection with the scripted replies; returns its port.
    async fn script(
        replies: &'static [&'static str],
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let (addr, task) = crate::client::scripted::serve(replies).await;
        (addr.port(), task)
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
