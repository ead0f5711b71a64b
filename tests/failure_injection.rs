//! Failure injection by address: an app's SMTP client (lettre here) meets
//! the reply the recipient address asks for, with no configuration.

mod common;

use common::Letterbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

fn transport(lb: &Letterbox) -> Transport {
    Transport::builder_dangerous(lb.smtp_addr.ip().to_string())
        .port(lb.smtp_addr.port())
        .timeout(Some(common::TIMEOUT))
        .build()
}

fn letter(to: &str) -> Message {
    Message::builder()
        .from("App <app@example.test>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject(format!("to {to}"))
        .body("hello".to_string())
        .unwrap()
}

#[tokio::test]
async fn the_app_sees_the_reply_its_recipient_asks_for() {
    let lb = Letterbox::start();
    let smtp = transport(&lb);
    for (to, transient, code) in [
        ("fail-451@example.test", true, "451"),
        ("fail-452-data@example.test", true, "452"),
        ("fail-550@example.test", false, "550"),
        ("fail-554-after-data@example.test", false, "554"),
    ] {
        let err = smtp.send(letter(to)).await.expect_err(to);
        assert_eq!(err.is_transient(), transient, "{to}: {err}");
        assert_eq!(err.is_permanent(), !transient, "{to}: {err}");
        assert!(err.to_string().contains(code), "{to}: {err}");
    }
    // Nothing was stored, and an ordinary address still works.
    assert_eq!(lb.list().await["total"], 0);
    smtp.send(letter("fail-fast@example.test"))
        .await
        .expect("an ordinary address");
    assert_eq!(lb.list().await["total"], 1);
}

#[tokio::test]
async fn a_retry_after_a_temporary_failure_can_succeed() {
    // What an app's retry logic does: the first attempt gets 451, the
    // retry (to the real address) is stored.
    let lb = Letterbox::start();
    let smtp = transport(&lb);
    let first = smtp.send(letter("fail-451@example.test")).await;
    assert!(first.is_err_and(|e| e.is_transient()));
    let retry = smtp
        .send(letter("user@example.test"))
        .await
        .expect("the retry");
    assert!(retry.is_positive());
    let stored = lb.list().await;
    assert_eq!(stored["total"], 1);
    assert_eq!(
        stored["messages"][0]["To"][0]["Address"],
        "user@example.test"
    );
}

#[tokio::test]
async fn code_421_closes_the_connection() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    smtp.expect("RCPT TO:<fail-421@example.test>", 421, "4.3.2")
        .await;
    assert!(
        smtp.try_reply().await.is_none(),
        "the server closed the connection"
    );
}
