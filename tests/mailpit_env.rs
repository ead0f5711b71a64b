//! Switching from Mailpit is changing the image name: Mailpit's variables
//! configure Letterbox when no flag or LETTERBOX_* variable does.

mod common;

use common::{Launch, Letterbox, TempDir};

#[tokio::test]
async fn a_mailpit_compose_environment() {
    let dir = TempDir::new("mailpit-env");
    let db = dir.file("mailpit.db");
    // Mailpit's documented compose example, on loopback test ports.
    let lb = Launch::default()
        .env("MP_SMTP_BIND_ADDR", "127.0.0.1:0")
        .env("MP_UI_BIND_ADDR", "127.0.0.1:0")
        .env("MP_DATABASE", &db)
        .env("MP_MAX_MESSAGES", "2")
        .env("MP_SMTP_AUTH_ACCEPT_ANY", "1")
        .env("MP_SMTP_AUTH_ALLOW_INSECURE", "1")
        .env("MP_UI_AUTH", "dev:secret ops:other")
        .start();
    let store = lb.next_stdout_line().expect("a Store line");
    assert!(store.trim().ends_with("mailpit.db"), "{store}");

    // Any login is accepted over plain SMTP.
    for n in 0..3 {
        let mut smtp = lb.session().await;
        smtp.expect("AUTH PLAIN AHVzZXIAcGFzcw==", 235, "2.7.0")
            .await;
        smtp.send_note(&format!("note {n}")).await;
        smtp.quit().await;
    }

    let (status, _) = lb.get_json("/api/v1/messages").await;
    assert_eq!(status, 401);
    // MP_MAX_MESSAGES=2: the oldest is pruned after its commit.
    common::eventually("pruned to MP_MAX_MESSAGES=2", async || {
        let response = lb.get_with_login("/api/v1/messages", "ops", "other").await;
        let list: serde_json::Value = response.json().await.unwrap();
        (list["total"] == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn letterbox_settings_win() {
    let lb = Launch::default()
        .env("MP_MAX_MESSAGES", "1")
        .env("LETTERBOX_MAX_MESSAGES", "3")
        .env("MP_UI_AUTH", "dev:secret")
        .args(&["--ui-auth", "admin:admin"])
        .start();
    lb.send_numbered(3).await;
    let list = lb
        .get_with_login("/api/v1/messages", "admin", "admin")
        .await;
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.unwrap();
    assert_eq!(list["total"], 3, "{list}");
    let mailpit_login = lb.get_with_login("/api/v1/messages", "dev", "secret").await;
    assert_eq!(mailpit_login.status(), 401);
}

/// Mailpit's relay variables: `MP_SMTP_RELAY_ALL` sends every message on to
/// the relay at `MP_SMTP_RELAY_HOST`:`MP_SMTP_RELAY_PORT`, here a second
/// Letterbox.
#[tokio::test]
async fn a_mailpit_relay_environment_relays_everything() {
    let upstream = Letterbox::start();
    let lb = Launch::default()
        .env("MP_SMTP_RELAY_HOST", &upstream.smtp_addr.ip().to_string())
        .env("MP_SMTP_RELAY_PORT", &upstream.smtp_addr.port().to_string())
        .env("MP_SMTP_RELAY_ALL", "true")
        .env("MP_SMTP_RELAY_ALLOWED_RECIPIENTS", "@example\\.com$")
        .start();
    lb.send_simple("relayed by Mailpit's variables").await;
    let message = upstream.the_one_message().await;
    assert_eq!(message["Subject"], "relayed by Mailpit's variables");
    assert_eq!(
        message["Envelope"]["RcptTo"],
        serde_json::json!(["rcpt@example.com"])
    );
}

/// A relay setting Letterbox cannot honour stops the start with a message
/// that names it and says what to use instead.
#[test]
fn a_relay_setting_that_cannot_be_honoured_stops_the_start() {
    let finished = Launch::default()
        .env("MP_SMTP_RELAY_HOST", "smtp.example.com")
        .env("MP_SMTP_RELAY_OVERRIDE_FROM", "noreply@example.com")
        .run_to_exit();
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("MP_SMTP_RELAY_OVERRIDE_FROM")
            && finished.stderr.contains("MP_SMTP_RELAY_RETURN_PATH"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn a_generated_certificate_asked_for_by_mailpit_variables() {
    // `sans:...` is Mailpit's way to ask for a self-signed certificate:
    // STARTTLS is offered then, and only then.
    let lb = Launch::default()
        .env("MP_SMTP_TLS_CERT", "sans:mail.local")
        .env("MP_SMTP_TLS_KEY", "sans:mail.local")
        .start();
    let mut smtp = lb.smtp().await;
    let ehlo = smtp.ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    let mut tls = smtp.starttls().await;
    tls.ehlo().await;
    tls.send_note("over TLS").await;
    tls.quit().await;

    let plain = Letterbox::start();
    let ehlo = plain.smtp().await.ehlo().await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
}
