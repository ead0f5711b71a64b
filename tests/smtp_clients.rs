//! A real SMTP client library (lettre, over tokio and rustls) against the
//! binary: plain, STARTTLS, implicit TLS and AUTH.

mod common;

use std::net::SocketAddr;

use common::{Letterbox, expected_stored};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn tls_parameters() -> TlsParameters {
    TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .build_rustls()
        .expect("building rustls parameters")
}

/// A transport for `addr` with the given TLS mode and, optionally, login.
fn transport(addr: SocketAddr, tls: Tls, login: Option<(&str, &str, Mechanism)>) -> Transport {
    let mut builder = Transport::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(common::TIMEOUT))
        .tls(tls);
    if let Some((user, pass, mechanism)) = login {
        builder = builder
            .credentials(Credentials::new(user.into(), pass.into()))
            .authentication(vec![mechanism]);
    }
    builder.build()
}

fn mailbox(text: &str) -> Mailbox {
    text.parse().expect("a valid mailbox")
}

fn letter(subject: &str) -> Message {
    Message::builder()
        .from(mailbox("Sender <sender@example.com>"))
        .to(mailbox("To One <to@example.com>"))
        .cc(mailbox("cc@example.com"))
        .bcc(mailbox("Hidden <bcc@example.com>"))
        .subject(subject)
        .body(format!("Hello from lettre: {subject}"))
        .expect("a valid message")
}

/// Sends `message` and returns the ID from the `250 ... queued as ID` reply.
async fn send(transport: &Transport, message: &Message) -> String {
    let response = transport
        .send(message.clone())
        .await
        .expect("lettre sends the message");
    assert!(response.is_positive(), "{response:?}");
    let line = response.first_line().expect("a reply line");
    line.rsplit(' ')
        .next()
        .expect("split yields one")
        .to_string()
}

/// Sends with lettre and checks what the API shows; returns the envelope.
async fn send_and_check(lb: &Letterbox, transport: &Transport, subject: &str) -> Value {
    let message = letter(subject);
    let id = send(transport, &message).await;
    // lettre ends the content with CRLF "." CRLF; the body has no final line
    // break, so that CRLF completes its last line.
    assert_eq!(
        lb.raw(&id).await,
        expected_stored(&message.formatted()),
        "stored bytes differ from what lettre sent"
    );
    let shown = lb.message(&id).await;
    assert_eq!(shown["Subject"], subject);
    assert_eq!(
        shown["From"],
        json!({"Name": "Sender", "Address": "sender@example.com"})
    );
    assert_eq!(
        shown["To"],
        json!([{"Name": "To One", "Address": "to@example.com"}])
    );
    assert_eq!(
        shown["Cc"],
        json!([{"Name": "", "Address": "cc@example.com"}])
    );
    assert_eq!(shown["Text"], format!("Hello from lettre: {subject}\r\n"));
    let envelope = shown["Envelope"].clone();
    assert_eq!(envelope["MailFrom"], "sender@example.com");
    let mut rcpts: Vec<&str> = envelope["RcptTo"]
        .as_array()
        .expect("RcptTo is an array")
        .iter()
        .map(|r| r.as_str().expect("a string"))
        .collect();
    rcpts.sort_unstable();
    assert_eq!(
        rcpts,
        ["bcc@example.com", "cc@example.com", "to@example.com"],
        "Bcc recipients are part of the envelope"
    );
    envelope
}

#[tokio::test]
async fn plain_smtp() {
    let lb = Letterbox::start();
    let envelope = send_and_check(&lb, &transport(lb.smtp_addr, Tls::None, None), "plain").await;
    assert_eq!(envelope["TLS"], false);
    assert_eq!(envelope["AuthUser"], Value::Null);
    assert!(
        envelope["ClientAddr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{envelope}"
    );
    // lettre keeps the Bcc header out of the transmitted message.
    let id = &lb.ids().await[0];
    let raw = String::from_utf8(lb.raw(id).await).expect("ASCII message");
    assert!(!raw.contains("bcc@example.com"), "{raw}");
}

#[tokio::test]
async fn starttls() {
    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let tls = Tls::Required(tls_parameters());
    let envelope = send_and_check(&lb, &transport(lb.smtp_addr, tls, None), "starttls").await;
    assert_eq!(envelope["TLS"], true);
}

#[tokio::test]
async fn starttls_when_the_server_requires_it() {
    let lb = Letterbox::with_args(&["--smtp-require-tls", "--smtp-tls", "self-signed"]);
    let tls = Tls::Required(tls_parameters());
    let envelope = send_and_check(&lb, &transport(lb.smtp_addr, tls, None), "required").await;
    assert_eq!(envelope["TLS"], true);

    // Without TLS the same client is turned away with 530.
    let err = transport(lb.smtp_addr, Tls::None, None)
        .send(letter("refused"))
        .await
        .expect_err("MAIL must be refused without TLS");
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(u16::from), Some(530), "{err:?}");
    assert_eq!(lb.list().await["total"], 1);
}

#[tokio::test]
async fn implicit_tls() {
    let lb = Letterbox::with_args(&["--smtps", "127.0.0.1:0", "--smtp-tls", "self-signed"]);
    let addr = lb.smtps_addr.expect("an SMTPS address on stdout");
    let tls = Tls::Wrapper(tls_parameters());
    let envelope = send_and_check(&lb, &transport(addr, tls, None), "smtps").await;
    assert_eq!(envelope["TLS"], true);
    // The plain port keeps working next to it.
    let envelope = send_and_check(&lb, &transport(lb.smtp_addr, Tls::None, None), "plain").await;
    assert_eq!(envelope["TLS"], false);
}

#[tokio::test]
async fn auth_plain_and_login() {
    let lb = Letterbox::with_args(&[
        "--smtp-auth",
        "alice:s3cret,bob:pa ss:word",
        "--smtp-tls",
        "self-signed",
    ]);
    for (user, pass, mechanism, tls) in [
        ("alice", "s3cret", Mechanism::Plain, Tls::None),
        ("bob", "pa ss:word", Mechanism::Login, Tls::None),
        (
            "alice",
            "s3cret",
            Mechanism::Login,
            Tls::Required(tls_parameters()),
        ),
        (
            "bob",
            "pa ss:word",
            Mechanism::Plain,
            Tls::Required(tls_parameters()),
        ),
    ] {
        let encrypted = matches!(tls, Tls::Required(_));
        let login = Some((user, pass, mechanism));
        let subject = format!("{user} {mechanism:?} tls={encrypted}");
        let envelope = send_and_check(&lb, &transport(lb.smtp_addr, tls, login), &subject).await;
        assert_eq!(envelope["AuthUser"], user, "{subject}");
        assert_eq!(envelope["TLS"], encrypted, "{subject}");
    }
    let list = lb.list().await;
    let users: Vec<&Value> = list["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["Username"])
        .collect();
    assert_eq!(
        users,
        [
            &json!("bob"),
            &json!("alice"),
            &json!("bob"),
            &json!("alice")
        ]
    );
}

#[tokio::test]
async fn auth_failures_are_permanent_errors() {
    let lb = Letterbox::with_args(&["--smtp-auth", "alice:s3cret"]);
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let login = Some(("alice", "wrong", mechanism));
        let err = transport(lb.smtp_addr, Tls::None, login)
            .send(letter("bad password"))
            .await
            .expect_err("a wrong password is refused");
        assert_eq!(err.status().map(u16::from), Some(535), "{err:?}");
    }
    // No credentials at all: MAIL is refused.
    let err = transport(lb.smtp_addr, Tls::None, None)
        .send(letter("anonymous"))
        .await
        .expect_err("authentication is required");
    assert_eq!(err.status().map(u16::from), Some(530), "{err:?}");
    assert_eq!(lb.list().await["total"], 0);
}

#[tokio::test]
async fn any_login_is_accepted_without_configured_credentials() {
    let lb = Letterbox::start();
    let login = Some(("whoever", "whatever", Mechanism::Plain));
    let envelope = send_and_check(&lb, &transport(lb.smtp_addr, Tls::None, login), "anyone").await;
    assert_eq!(envelope["AuthUser"], "whoever");
}

#[tokio::test]
async fn concurrent_clients() {
    const CLIENTS: usize = 6;
    const EACH: usize = 5;
    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let addr = lb.smtp_addr;
        tasks.spawn(async move {
            let transport = if client % 2 == 0 {
                transport(addr, Tls::None, None)
            } else {
                transport(addr, Tls::Required(tls_parameters()), None)
            };
            let mut ids = Vec::new();
            for n in 0..EACH {
                ids.push(send(&transport, &letter(&format!("client {client} #{n}"))).await);
            }
            ids
        });
    }
    let mut sent: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), CLIENTS * EACH, "IDs are unique");
    let mut listed = lb.ids().await;
    listed.sort();
    assert_eq!(listed, sent);
}
