//! Switching from Mailpit is changing the image name: Mailpit's variables
//! configure Letterbox when no flag or LETTERBOX_* variable does.

mod common;

use common::{Launch, TempDir};

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
